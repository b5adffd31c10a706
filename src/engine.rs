//! The claim engine: turns queued artefact ids into claims, and survives
//! Redis loss.
//!
//! The subscription (see `subscription`) queues only ids. A fixed pool of
//! workers takes them in batches and sends each batch as one pipeline of claim
//! scripts over the one multiplexed command connection: one event costs one
//! round trip when idle, and a burst is pipelined instead of served one round
//! trip at a time. Whatever slips through a gap (queue full, connection lost,
//! restart) is found by the catch-up scan (`reconcile`) after every subscribe.
//!
//! Each session's tasks (workers, retries, watchdog, catch-up) share one stop
//! signal ([`SessionCtx::stop`]). When the session ends (shutdown, or a loss
//! the watchdog or a task reports), the signal is raised; every task returns
//! at its next batch boundary, never inside a batch, so every claim sent is
//! logged and counted when its answer arrives; then they are awaited, for a
//! bounded time (a claim in flight answers or fails within the 10 s response
//! timeout). Ids still queued are left to the catch-up.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use smol::channel::{Receiver, Sender};

use crate::lifecycle::work::{bids_and_report, BidJob};
use crate::log::Line;
use crate::metrics::inc;
use crate::outcome::{claim_and_report, Job, Report, Source};
use crate::reconcile::CatchUp;
use crate::retry::Retries;
use crate::session::{reconnect, within, Clients, Reconnect, Session, RESPONSE_TIMEOUT};
use crate::shutdown::{self, Shutdown};
use crate::subscription::{self, Item, Notice, Pending};
use crate::{lifecycle, reconcile, retry, watchdog, Shared};

/// Workers, each with at most one batch in flight.
const WORKERS: usize = 8;
/// Claims per batch at most: WORKERS x BATCH = 256 claim scripts in flight at most.
pub const BATCH: usize = 32;
/// How long in-flight claims may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the tasks of a lost session may take to stop: a batch in flight
/// answers or fails within the response timeout.
const STOP_TIMEOUT: Duration = Duration::from_secs(RESPONSE_TIMEOUT.as_secs() + 1);

enum SessionEnd {
    Shutdown,
    Lost(String),
}

/// Redis stayed unreachable for longer than `SETT_REDIS_RETRY_TIMEOUT`.
#[derive(Debug)]
pub struct GaveUp;

/// What every task of one session holds.
#[derive(Clone)]
pub struct SessionCtx {
    pub shared: Arc<Shared>,
    /// The session's command connection.
    pub conn: MultiplexedConnection,
    /// Raised when the session ends: tasks return at their next batch boundary.
    pub stop: Shutdown,
    end: Sender<String>,
    catch_up: Sender<()>,
}

impl SessionCtx {
    pub fn stopping(&self) -> bool {
        self.stop.is_triggered()
    }

    /// Ends the session (the first reason given wins).
    pub fn end(&self, reason: String) {
        let _ = self.end.try_send(reason);
    }

    /// Asks for a catch-up pass (requests coalesce; ignored when it is off).
    pub fn request_catch_up(&self) {
        let _ = self.catch_up.try_send(());
    }

    /// Acts on a batch's report; true when the task must return (session over).
    pub fn after_batch(&self, report: Report) -> bool {
        if let Some(reason) = report.end_session {
            self.end(reason);
            return true;
        }
        if report.failed > 0 {
            // Not lost: the catch-up scan retries what Redis refused.
            self.request_catch_up();
        }
        false
    }
}

/// Runs sessions until shutdown, reconnecting whenever one is lost.
pub async fn run(shared: Arc<Shared>, clients: Clients, first: Session) -> Result<(), GaveUp> {
    let retries = Arc::new(Retries::default());
    // SETT_CATCHUP_INTERVAL (default 5 min; 0: only after a subscribe).
    let interval = shared.config.catchup_interval;
    let mut catch_up = shared.config.reconcile.then(|| CatchUp::new(interval));
    let mut session = first;
    loop {
        let (end, state) = run_session(&shared, session, catch_up.take(), &retries).await;
        catch_up = state;
        let reason = match end {
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
            Reconnect::Connected(s) => *s,
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

/// Runs one session to its end; hands back the catch-up state.
async fn run_session(
    shared: &Arc<Shared>,
    session: Session,
    catch_up: Option<CatchUp>,
    retries: &Arc<Retries>,
) -> (SessionEnd, Option<CatchUp>) {
    let Session {
        conn,
        reader,
        writer,
    } = session;
    let (outbox, inbox) = subscription::channel();
    let received = reader.received();
    let (raise_stop, stop) = shutdown::channel();
    let (end_tx, end_rx) = smol::channel::bounded::<String>(1);
    let (catch_up_tx, catch_up_rx) = smol::channel::bounded::<()>(1);
    let ctx = SessionCtx {
        shared: shared.clone(),
        conn,
        stop,
        end: end_tx,
        catch_up: catch_up_tx,
    };
    let mut tasks: Vec<smol::Task<()>> = (0..WORKERS)
        .map(|_| smol::spawn(worker(ctx.clone(), inbox.work.clone(), retries.clone())))
        .collect();
    tasks.push(smol::spawn(retry::run(ctx.clone(), retries.clone())));
    tasks.push(smol::spawn(subscription::run(ctx.clone(), reader, outbox)));
    tasks.push(smol::spawn(watchdog::run(
        ctx.clone(),
        writer,
        inbox.pongs.clone(),
        received,
    )));
    if shared.lifecycle.is_some() {
        tasks.push(smol::spawn(lifecycle::sweep::run_task(ctx.clone())));
    }
    let interval = catch_up.as_ref().map(CatchUp::interval);
    let catch_up = catch_up.map(|state| {
        ctx.request_catch_up();
        smol::spawn(reconcile::run(ctx.clone(), state, catch_up_rx))
    });
    shared.health.session_up();
    shared.metrics.redis_up.store(1, Relaxed);

    let end = watch_session(&ctx, &inbox.notices, &end_rx).await;

    // One way to stop: raise the signal, then wait for every task.
    raise_stop.trigger();
    let (limit, timeout_event) = match end {
        SessionEnd::Shutdown => (DRAIN_TIMEOUT, "shutdown_drain_timeout"),
        SessionEnd::Lost(_) => (STOP_TIMEOUT, "session_stop_timeout"),
    };
    let all = async {
        let state = match catch_up {
            Some(task) => Some(task.await),
            None => None,
        };
        for task in tasks {
            task.await;
        }
        state
    };
    // Past the limit, dropping `all` cancels what is left (the gauges are drop-safe).
    let state = match within(limit, all).await {
        Some(state) => state,
        None => {
            Line::warn(timeout_event)
                .num("timeout_ms", limit.as_millis() as u64)
                .emit();
            interval.map(CatchUp::new)
        }
    };
    let mut abandoned = 0u64;
    while inbox.work.try_recv().is_ok() {
        abandoned += 1;
    }
    if abandoned > 0 {
        Line::warn("events_abandoned")
            .num("count", abandoned)
            .emit();
    }
    (end, state)
}

/// Logs the subscription's notices until shutdown or until the session is lost.
async fn watch_session(
    ctx: &SessionCtx,
    notices: &Receiver<Notice>,
    end: &Receiver<String>,
) -> SessionEnd {
    enum Step {
        Notice(Option<Notice>),
        Stop,
        Lost(String),
    }
    loop {
        let step = async { Step::Notice(notices.recv().await.ok()) }
            .or(async {
                ctx.shared.shutdown.wait().await;
                Step::Stop
            })
            .or(async { Step::Lost(end.recv().await.unwrap_or_default()) })
            .await;
        match step {
            Step::Notice(Some(notice)) => {
                if let Some(reason) = log_notice(ctx, notice) {
                    return SessionEnd::Lost(reason);
                }
            }
            Step::Notice(None) => {
                let why = end
                    .try_recv()
                    .unwrap_or_else(|_| "subscription closed".into());
                return SessionEnd::Lost(why);
            }
            Step::Stop => return SessionEnd::Shutdown,
            Step::Lost(reason) => return SessionEnd::Lost(reason),
        }
    }
}

/// Logs and counts a notice; `Some(reason)` when the session is lost.
/// Lines for bad or dropped events are rate-limited per kind by the log (a
/// flood of junk must not turn into a flood of log writes); every event is
/// still counted.
fn log_notice(ctx: &SessionCtx, notice: Notice) -> Option<String> {
    let m = &ctx.shared.metrics;
    match notice {
        Notice::Malformed(bad) => {
            inc(&m.malformed_events);
            Line::warn("malformed_event")
                .str("reason", bad.reason)
                .num("bytes", bad.bytes as u64)
                .str("sample", &bad.sample)
                .emit();
        }
        Notice::Dropped(Item::Artefact(artefact_id)) => {
            inc(&m.events_dropped);
            Line::warn("event_dropped")
                .str("artefact_id", artefact_id.as_str())
                .str("reason", "claim queue full; catch-up will claim it")
                .emit();
            ctx.request_catch_up();
        }
        Notice::Dropped(Item::Bids(claim_id)) => {
            inc(&m.events_dropped);
            Line::warn("event_dropped")
                .str("claim_id", claim_id.as_str())
                .str("reason", "queue full; the bid sweep will decide it")
                .emit();
        }
        Notice::Disconnected(why) => return Some(format!("subscription: {why}")),
    }
    None
}

/// Decides queued items a batch at a time until the session stops: claims
/// for artefacts, and in lifecycle mode bidding decisions.
async fn worker(ctx: SessionCtx, queue: Receiver<Pending>, retries: Arc<Retries>) {
    let mut conn = ctx.conn.clone();
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    let mut bids: Vec<BidJob> = Vec::new();
    loop {
        if ctx.stopping() {
            return;
        }
        let Some(Ok(first)) = ctx.stop.unless_triggered(queue.recv()).await else {
            return;
        };
        let mut take = |p: Pending| match p.item {
            Item::Artefact(id) => jobs.push(Job::new(id, p.received)),
            Item::Bids(claim) => bids.push(BidJob {
                claim,
                received: p.received,
            }),
        };
        take(first);
        for _ in 1..BATCH {
            match queue.try_recv() {
                Ok(p) => take(p),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            let report =
                claim_and_report(&ctx.shared, &mut conn, &jobs, Source::Event, Some(&retries))
                    .await;
            jobs.clear();
            if ctx.after_batch(report) {
                return;
            }
        }
        if let (false, Some(lc)) = (bids.is_empty(), &ctx.shared.lifecycle) {
            let report = bids_and_report(&ctx.shared, lc, &mut conn, &bids).await;
            bids.clear();
            if ctx.after_batch(report) {
                return;
            }
        }
    }
}
