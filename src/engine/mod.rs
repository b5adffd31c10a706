//! The engine: runs sessions against Redis and, in each, the tasks that feed
//! the deciders (Phase 1, the lifecycle) and report what they decided; it
//! survives Redis loss.
//!
//! The subscription (`subscription`) queues only ids. A fixed pool of tasks
//! (`pool`) takes them in batches and sends each batch as one pipeline of
//! decision scripts over the one multiplexed command connection: one event
//! costs one round trip when idle, and a burst is pipelined instead of served
//! one round trip at a time. Whatever slips through a gap (queue full,
//! connection lost, restart) is found by the catch-up scan (`catchup`) after
//! every subscribe; events that came before their hash are retried (`retry`);
//! what no event announces is swept (`sweep`); slow and dead Redis are told
//! apart (`watchdog`); `outcome` logs and counts what each decision did.
//!
//! Each session's tasks share one stop signal ([`SessionCtx::stop`], see
//! `session`). When the session ends (shutdown, or a loss the watchdog or a
//! task reports), the signal is raised; every task returns at its next batch
//! boundary, never inside a batch, so every decision sent is logged and
//! counted when its answer arrives. The deciders never see the engine: they
//! take a connection and their inputs, and give back effects.

mod catchup;
mod ctx;
mod decisions;
mod outcome;
mod pool;
mod reconnect;
mod retry;
mod session;
mod shared;
mod subscription;
mod sweep;
mod watchdog;
pub mod workers;
mod workers_shared;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::blackboard::Keys;
use crate::config::Config;
use crate::log::Line;
use crate::metrics::inc;
use crate::redis_io::subscriber::Decode;
use crate::redis_io::{Clients, Session};
use crate::{lifecycle, phase1};
use catchup::CatchUp;
use reconnect::{reconnect, Reconnect};
use retry::Retries;
use session::{run_session, SessionEnd};

pub use ctx::SessionCtx;
pub use decisions::Report;
pub use session::DRAIN_TIMEOUT;
pub use shared::Shared;

/// Redis stayed unreachable for longer than `SETT_REDIS_RETRY_TIMEOUT`; the
/// last reconnect attempt's error.
#[derive(Debug)]
pub struct GaveUp(pub String);

/// How every session connects: the channels it subscribes to (artefact events
/// first; in lifecycle mode also `workflow_events`, for bids) and the scripts
/// of the deciders that run.
pub fn clients(config: &Config, keys: &Keys) -> Result<Clients, String> {
    let mut channels = vec![(keys.artefact_events(), Decode::ArtefactEvent)];
    let mut scripts = phase1::scripts();
    if config.registry.is_some() {
        channels.push((
            keys.workflow_events(),
            Decode::Capture {
                max: lifecycle::bids::MAX_WORKFLOW_MESSAGE,
            },
        ));
        scripts.extend(lifecycle::scripts::scripts());
        if config
            .registry
            .as_ref()
            .is_some_and(|r| r.controllers().next().is_some())
        {
            scripts.extend(crate::workers::scripts::scripts());
        }
    }
    Clients::new(config, channels, scripts)
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
            Reconnect::GaveUp(last_error) => {
                Line::error("redis_unavailable")
                    .str(
                        "error",
                        "Redis unreachable for longer than SETT_REDIS_RETRY_TIMEOUT; exiting",
                    )
                    .num(
                        "retry_timeout_ms",
                        shared.config.retry_timeout.as_millis() as u64,
                    )
                    .str("last_error", &last_error)
                    .emit();
                return Err(GaveUp(last_error));
            }
        };
    }
}
