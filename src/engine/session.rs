//! One session: its tasks started on the session's connections, watched
//! until shutdown or until the session is lost, then stopped.
//!
//! One way to stop: raise the session's signal, then wait for every task for
//! a bounded time (a batch in flight answers or fails within the 10 s
//! response timeout). Ids still queued are left to the catch-up.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt as _;
use smol::channel::Receiver;

use super::catchup::{self, CatchUp};
use super::ctx::SessionCtx;
use super::retry::{self, Retries};
use super::shared::Shared;
use super::subscription::{self, Item, Notice};
use super::{pool, sweep, watchdog};
use crate::deadline::within;
use crate::log::Line;
use crate::metrics::inc;
use crate::redis_io::connect::RESPONSE_TIMEOUT;
use crate::redis_io::Session;
use crate::shutdown;

/// How long in-flight claims may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the tasks of a lost session may take to stop: a batch in flight
/// answers or fails within the response timeout.
const STOP_TIMEOUT: Duration = Duration::from_secs(RESPONSE_TIMEOUT.as_secs() + 1);

/// How a session ended.
pub(super) enum SessionEnd {
    Shutdown,
    Lost(String),
}

/// Runs one session to its end; hands back the catch-up state.
pub(super) async fn run_session(
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
    let (ctx, requests) = SessionCtx::new(shared.clone(), conn, stop);
    let mut tasks: Vec<smol::Task<()>> = (0..pool::TASKS)
        .map(|_| smol::spawn(pool::run(ctx.clone(), inbox.work.clone(), retries.clone())))
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
        tasks.push(smol::spawn(sweep::run(ctx.clone())));
    }
    if shared.workers.is_some() {
        tasks.push(smol::spawn(super::workers::run_reconcile(ctx.clone())));
    }
    let interval = catch_up.as_ref().map(CatchUp::interval);
    // Bid events published while no session listened are lost: the first
    // pass of a session looks at the dormant claims for late bids.
    if let Some(lc) = &shared.lifecycle {
        lc.walk_dormant_set();
    }
    let catch_up = catch_up.map(|state| {
        ctx.request_catch_up();
        smol::spawn(catchup::run(ctx.clone(), state, requests.catch_up))
    });
    shared.health.session_up();
    shared.metrics.redis_up.store(1, Relaxed);
    // The blocks freed by the start-up and the connect (the registry's
    // parse, the scripts' texts) go back to the system: the allocator's
    // cache is for bursts, and idle it held ~90 KiB of them (docs/performance.md).
    crate::alloc_cache::release();

    let end = watch_session(&ctx, &inbox.notices, &requests.end).await;

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
        Notice::Dropped(Item::Bids {
            claim: claim_id,
            to_work,
        }) => {
            inc(&m.events_dropped);
            Line::warn("event_dropped")
                .str("claim_id", claim_id.as_str())
                .str("reason", "queue full; the bid sweep will decide it")
                .emit();
            // A late bid's claim is in no set the sweep walks: a catch-up
            // pass's recheck finds it (without a bid timeout only a bid to
            // work can be late).
            if let Some(lc) = &ctx.shared.lifecycle {
                if lc.bid_timeout.is_some() || to_work {
                    lc.walk_dormant_set();
                    ctx.request_catch_up();
                }
            }
        }
        Notice::Disconnected(why) => return Some(format!("subscription: {why}")),
    }
    None
}
