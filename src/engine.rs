//! The claim engine: reads `artefact_events`, claims, and survives Redis loss.
//!
//! The subscription is read as fast as it arrives and each message is cut down
//! to its artefact id at once (payloads may be megabytes; Redis disconnects a
//! subscriber that falls behind). Ids go to a queue served by a fixed pool of
//! workers, which pipeline their claim scripts over one multiplexed connection.
//! Whatever slips through a gap (queue full, connection lost, restart) is found
//! by the catch-up scan (`reconcile`) that follows every subscribe.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{FutureExt as _, StreamExt as _};
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{Client, Value};
use smol::channel::{Receiver, Sender};
use uuid::Uuid;

use crate::blackboard::{decode_event, safe_sample};
use crate::claim::{claim_artefact, ClaimError, ClaimOutcome};
use crate::health::PING_TIMEOUT;
use crate::log::Line;
use crate::metrics::inc;
use crate::session::{reconnect, within, Reconnect, Session};
use crate::{reconcile, Shared};

/// Claim scripts in flight at most, per process.
pub const MAX_IN_FLIGHT: usize = 256;
/// Ids waiting for a worker at most (~32 B each); beyond that they are left to catch-up.
pub const MAX_QUEUED: usize = 100_000;
/// How long in-flight claims may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

/// Where an artefact id came from (live event or catch-up scan).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Event,
    Reconcile,
}

/// What became of one claim attempt, for the caller's bookkeeping.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Created,
    NotCreated,
    /// The connection is gone: the caller must end the session.
    ConnectionLost,
}

/// An artefact id waiting for a worker.
struct Pending {
    artefact_id: Uuid,
    received: Instant,
}

enum SessionEnd {
    Shutdown,
    Lost(String),
}

/// Redis stayed unreachable for longer than `SETT_REDIS_RETRY_TIMEOUT`.
#[derive(Debug)]
pub struct GaveUp;

/// Runs sessions until shutdown, reconnecting whenever one is lost.
pub async fn run(shared: Arc<Shared>, client: Client, first: Session) -> Result<(), GaveUp> {
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
        session = match reconnect(&shared, &client, lost_at).await {
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
        mut events,
        sink,
    } = session;
    let (lost_tx, lost_rx) = smol::channel::bounded::<String>(1);
    let (queue_tx, queue_rx) = smol::channel::unbounded::<Pending>();
    let (reconcile_tx, reconcile_rx) = smol::channel::bounded::<()>(1);
    let workers: Vec<_> = (0..MAX_IN_FLIGHT)
        .map(|_| {
            smol::spawn(worker(
                shared.clone(),
                conn.clone(),
                queue_rx.clone(),
                lost_tx.clone(),
            ))
        })
        .collect();
    let watchdog = smol::spawn(watchdog(conn.clone(), sink, lost_tx.clone()));
    let catch_up = shared.config.reconcile.then(|| {
        let _ = reconcile_tx.try_send(());
        smol::spawn(reconcile::run(
            shared.clone(),
            conn.clone(),
            reconcile_rx,
            lost_tx.clone(),
        ))
    });
    shared.health.session_up(conn);
    shared.metrics.redis_up.store(1, Relaxed);

    enum Step {
        Message(Option<redis::Msg>),
        Stop,
        Lost(String),
    }
    let end = loop {
        let step = async { Step::Message(events.next().await) }
            .or(async {
                shared.shutdown.wait().await;
                Step::Stop
            })
            .or(async { Step::Lost(lost_rx.recv().await.unwrap_or_default()) })
            .await;
        match step {
            // Checked on every message too, so a flood cannot hold off SIGTERM.
            _ if shared.shutdown.is_triggered() => break SessionEnd::Shutdown,
            Step::Message(Some(msg)) => {
                accept_message(shared, msg.get_payload_bytes(), &queue_tx, &reconcile_tx)
            }
            Step::Message(None) => break SessionEnd::Lost("subscription closed by Redis".into()),
            Step::Stop => break SessionEnd::Shutdown,
            Step::Lost(reason) => break SessionEnd::Lost(reason),
        }
    };
    drop(events);
    watchdog.cancel().await;
    queue_tx.close();
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
            // The connection is gone: queued ids are left to the catch-up after reconnecting.
            let abandoned = queue_rx.len();
            for w in workers {
                w.cancel().await;
            }
            if let Some(task) = catch_up {
                task.cancel().await;
            }
            if abandoned > 0 {
                Line::warn("events_abandoned")
                    .num("count", abandoned as u64)
                    .emit();
            }
        }
    }
    end
}

/// Cuts one subscription message down to an id and queues it.
fn accept_message(
    shared: &Shared,
    message: &[u8],
    queue: &Sender<Pending>,
    reconcile: &Sender<()>,
) {
    let received = Instant::now();
    let artefact_id = match decode_event(message) {
        Ok(id) => id,
        Err(why) => {
            inc(&shared.metrics.malformed_events);
            Line::warn("malformed_event")
                .str("reason", why.reason())
                .num("bytes", message.len() as u64)
                .str("sample", &safe_sample(message))
                .emit();
            return;
        }
    };
    if queue.len() >= MAX_QUEUED
        || queue
            .try_send(Pending {
                artefact_id,
                received,
            })
            .is_err()
    {
        inc(&shared.metrics.events_dropped);
        Line::warn("event_dropped")
            .display("artefact_id", artefact_id.hyphenated())
            .str("reason", "claim queue full; catch-up will claim it")
            .emit();
        let _ = reconcile.try_send(());
    }
}

async fn worker(
    shared: Arc<Shared>,
    mut conn: MultiplexedConnection,
    queue: Receiver<Pending>,
    lost: Sender<String>,
) {
    while let Ok(p) = queue.recv().await {
        let reported = claim_and_report(
            &shared,
            &mut conn,
            &p.artefact_id,
            p.received,
            Source::Event,
        )
        .await;
        if reported == Reported::ConnectionLost {
            let _ = lost.try_send("claim connection lost".into());
            return;
        }
    }
}

/// Claims one artefact and logs and counts the outcome.
pub async fn claim_and_report(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    artefact_id: &Uuid,
    received: Instant,
    source: Source,
) -> Reported {
    let m = &shared.metrics;
    m.claims_in_flight.fetch_add(1, Relaxed);
    let result = claim_artefact(conn, &shared.keys, artefact_id).await;
    m.claims_in_flight.fetch_sub(1, Relaxed);
    let took = received.elapsed();
    let id = artefact_id.hyphenated();
    let from_event = source == Source::Event;
    match result {
        Ok(ClaimOutcome::Created { claim_id }) => {
            inc(&m.claims_created);
            m.observe_claim(took);
            if !from_event {
                inc(&m.reconcile_claimed);
            }
            Line::info("claim_created")
                .display("artefact_id", id)
                .display("claim_id", claim_id.hyphenated())
                .str("status", crate::blackboard::PENDING_REVIEW)
                .millis("latency_ms", took)
                .str("source", if from_event { "event" } else { "reconcile" })
                .emit();
            return Reported::Created;
        }
        // Catch-up sees these on every pass: counted by the scan, not logged.
        Ok(_) if !from_event => {}
        Ok(ClaimOutcome::Terminal { artefact_type }) => {
            inc(&m.terminal_skipped);
            Line::info("terminal_skipped")
                .display("artefact_id", id)
                .str("type", &artefact_type)
                .emit();
        }
        Ok(ClaimOutcome::Duplicate { existing_claim_id }) => {
            inc(&m.duplicate_events);
            Line::warn("duplicate_artefact")
                .display("artefact_id", id)
                .str("existing_claim_id", &existing_claim_id)
                .emit();
        }
        Ok(ClaimOutcome::NotFound) => {
            inc(&m.artefacts_not_found);
            Line::warn("artefact_not_found")
                .display("artefact_id", id)
                .emit();
        }
        Ok(ClaimOutcome::Invalid { reason }) => {
            inc(&m.artefacts_invalid);
            Line::warn("artefact_invalid")
                .display("artefact_id", id)
                .str("reason", &reason)
                .emit();
        }
        Err(e) => return report_claim_error(shared, id, &e),
    }
    Reported::NotCreated
}

fn report_claim_error(shared: &Shared, id: uuid::fmt::Hyphenated, e: &ClaimError) -> Reported {
    inc(&shared.metrics.redis_errors);
    Line::error("redis_error")
        .str("operation", "claim")
        .display("artefact_id", id)
        .display("error", e)
        .emit();
    if e.is_connection_lost() {
        Reported::ConnectionLost
    } else {
        Reported::NotCreated
    }
}

/// PINGs both connections every second; a miss ends the session.
async fn watchdog(mut conn: MultiplexedConnection, mut sink: PubSubSink, lost: Sender<String>) {
    loop {
        smol::Timer::after(WATCHDOG_PERIOD).await;
        let command = within(
            PING_TIMEOUT,
            redis::cmd("PING").query_async::<Value>(&mut conn),
        )
        .await;
        let subscription = within(PING_TIMEOUT, sink.ping::<Value>()).await;
        let failure = match (command, subscription) {
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
