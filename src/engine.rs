//! The claim engine: turns queued artefact ids into claims, and survives
//! Redis loss.
//!
//! The subscription (see `subscription`) queues only ids. A fixed pool of
//! workers takes them in batches and sends each batch as one pipeline of claim
//! scripts over the one multiplexed command connection: one event costs one
//! round trip when idle, and a burst is pipelined instead of served one round
//! trip at a time. Whatever slips through a gap (queue full, connection lost,
//! restart) is found by the catch-up scan (`reconcile`) after every subscribe.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use redis::Value;
use smol::channel::{Receiver, Sender};

use crate::health::PING_TIMEOUT;
use crate::ids::ArtefactId;
use crate::log::{Line, RateLimit};
use crate::metrics::inc;
use crate::outcome::{claim_and_report, Reported, Source};
use crate::session::{reconnect, within, Clients, Reconnect, Session};
use crate::subscription::{Notice, Pending};
use crate::{reconcile, Shared};

/// Workers, each with at most one batch in flight.
const WORKERS: usize = 8;
/// Claims per batch at most: WORKERS x BATCH = 256 claim scripts in flight at most.
pub const BATCH: usize = 32;
/// How long in-flight claims may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

enum SessionEnd {
    Shutdown,
    Lost(String),
}

/// Redis stayed unreachable for longer than `SETT_REDIS_RETRY_TIMEOUT`.
#[derive(Debug)]
pub struct GaveUp;

/// Runs sessions until shutdown, reconnecting whenever one is lost.
pub async fn run(shared: Arc<Shared>, clients: Clients, first: Session) -> Result<(), GaveUp> {
    let mut session = first;
    loop {
        let reason = match run_session(&shared, session).await {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Lost(reason) => reason,
        };
        let lost_at = Instant::now();
        shared.health.session_down(&reason);
        shared.metrics.redis_up.store(0, Relaxed);
        inc(&shared.metrics.redis_errors);
        Line::error("redis_error")
            .str("operation", "session")
            .str("error", &reason)
            .emit();
        session = match reconnect(&shared, &clients, lost_at).await {
            Reconnect::Connected(s) => s,
            Reconnect::ShuttingDown => return Ok(()),
            Reconnect::GaveUp => {
                Line::error("redis_unavailable")
                    .str(
                        "error",
                        "Redis unreachable for longer than SETT_REDIS_RETRY_TIMEOUT; exiting",
                    )
                    .num(
                        "retry_timeout_ms",
                        shared.config.retry_timeout.as_millis() as u64,
                    )
                    .emit();
                return Err(GaveUp);
            }
        };
    }
}

async fn run_session(shared: &Arc<Shared>, session: Session) -> SessionEnd {
    let Session {
        conn,
        subscription,
        inbox,
    } = session;
    let (lost_tx, lost_rx) = smol::channel::bounded::<String>(1);
    let (reconcile_tx, reconcile_rx) = smol::channel::bounded::<()>(1);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (shared, conn) = (shared.clone(), conn.clone());
            let (queue, lost, retry) = (inbox.work.clone(), lost_tx.clone(), reconcile_tx.clone());
            smol::spawn(worker(shared, conn, queue, lost, retry))
        })
        .collect();
    let watchdog = smol::spawn(watchdog(conn.clone(), subscription, lost_tx.clone()));
    let catch_up = shared.config.reconcile.then(|| {
        let _ = reconcile_tx.try_send(());
        let task = reconcile::run(shared.clone(), conn.clone(), reconcile_rx, lost_tx.clone());
        smol::spawn(task)
    });
    shared.health.session_up(conn);
    shared.metrics.redis_up.store(1, Relaxed);

    let mut limit = RateLimit::default();
    enum Step {
        Notice(Option<Notice>),
        Stop,
        Lost(String),
    }
    let end = loop {
        let step = async { Step::Notice(inbox.notices.recv().await.ok()) }
            .or(async {
                shared.shutdown.wait().await;
                Step::Stop
            })
            .or(async { Step::Lost(lost_rx.recv().await.unwrap_or_default()) })
            .await;
        match step {
            Step::Notice(Some(notice)) => {
                match log_notice(shared, notice, &reconcile_tx, &mut limit) {
                    Some(reason) => break SessionEnd::Lost(reason),
                    None => continue,
                }
            }
            Step::Notice(None) => break SessionEnd::Lost("subscription closed".into()),
            Step::Stop => break SessionEnd::Shutdown,
            Step::Lost(reason) => break SessionEnd::Lost(reason),
        }
    };
    // Stop taking events; what is queued stays receivable.
    inbox.work.close();
    watchdog.cancel().await;
    reconcile_tx.close();
    match end {
        SessionEnd::Shutdown => {
            // Workers finish what is queued; catch-up stops at its next batch.
            let drain = async {
                for w in workers {
                    w.await;
                }
                if let Some(task) = catch_up {
                    task.await;
                }
            };
            if within(DRAIN_TIMEOUT, drain).await.is_none() {
                Line::warn("shutdown_drain_timeout")
                    .num("timeout_ms", DRAIN_TIMEOUT.as_millis() as u64)
                    .emit();
            }
        }
        SessionEnd::Lost(_) => {
            // Queued ids are left to the catch-up after reconnecting. Batches in
            // flight are not cancelled: a script Redis already ran is still
            // logged and counted when its answer arrives (or fails within the
            // response timeout).
            let mut abandoned = 0u64;
            while inbox.work.try_recv().is_ok() {
                abandoned += 1;
            }
            for w in workers {
                w.detach();
            }
            if let Some(task) = catch_up {
                task.cancel().await;
            }
            if abandoned > 0 {
                Line::warn("events_abandoned")
                    .num("count", abandoned)
                    .emit();
            }
        }
    }
    end
}

/// Logs and counts a notice; `Some(reason)` when the session is lost.
/// Lines for bad or dropped events are rate-limited (a flood of junk must not
/// turn into a flood of log writes); every event is still counted.
fn log_notice(
    shared: &Shared,
    notice: Notice,
    reconcile: &Sender<()>,
    limit: &mut RateLimit,
) -> Option<String> {
    if matches!(notice, Notice::Malformed { .. } | Notice::Dropped(_)) && !limit.allow() {
        if let Notice::Dropped(_) = notice {
            inc(&shared.metrics.events_dropped);
            let _ = reconcile.try_send(());
        } else {
            inc(&shared.metrics.malformed_events);
        }
        return None;
    }
    match notice {
        Notice::Malformed {
            reason,
            bytes,
            sample,
        } => {
            inc(&shared.metrics.malformed_events);
            Line::warn("malformed_event")
                .str("reason", reason)
                .num("bytes", bytes as u64)
                .str("sample", &sample)
                .emit();
        }
        Notice::Dropped(artefact_id) => {
            inc(&shared.metrics.events_dropped);
            Line::warn("event_dropped")
                .str("artefact_id", artefact_id.as_str())
                .str("reason", "claim queue full; catch-up will claim it")
                .emit();
            let _ = reconcile.try_send(());
        }
        Notice::Disconnected => return Some("subscription connection lost".into()),
    }
    None
}

async fn worker(
    shared: Arc<Shared>,
    mut conn: MultiplexedConnection,
    queue: Receiver<Pending>,
    lost: Sender<String>,
    catch_up: Sender<()>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    while let Ok(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let ids: Vec<ArtefactId> = batch.iter().map(|p| p.artefact_id).collect();
        let received: Vec<Instant> = batch.drain(..).map(|p| p.received).collect();
        let reported = claim_and_report(&shared, &mut conn, &ids, &received, Source::Event).await;
        if reported.contains(&Reported::ConnectionLost) {
            let _ = lost.try_send("claim connection lost".into());
            return;
        }
        if reported.contains(&Reported::Failed) {
            // Not lost: the catch-up scan retries what Redis refused.
            let _ = catch_up.try_send(());
        }
    }
}

/// PINGs both connections every second; a miss ends the session.
async fn watchdog(
    mut conn: MultiplexedConnection,
    mut subscription: MultiplexedConnection,
    lost: Sender<String>,
) {
    loop {
        smol::Timer::after(WATCHDOG_PERIOD).await;
        let ping = redis::cmd("PING");
        let command = within(PING_TIMEOUT, ping.query_async::<Value>(&mut conn)).await;
        let sub = within(PING_TIMEOUT, ping.query_async::<Value>(&mut subscription)).await;
        let failure = match (command, sub) {
            (Some(Ok(_)), Some(Ok(_))) => continue,
            (None, _) => "command connection: PING timed out".to_string(),
            (Some(Err(e)), _) => format!("command connection: {e}"),
            (_, None) => "subscription: PING timed out".to_string(),
            (_, Some(Err(e))) => format!("subscription: {e}"),
        };
        let _ = lost.try_send(failure);
        return;
    }
}
