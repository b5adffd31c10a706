//! What lifecycle and worker decisions did, logged and counted the same way
//! wherever they ran (the decision pool, the sweep, the catch-up, the
//! workers' passes), and the `Report` of a batch its caller acts on: end
//! the session, ask for a catch-up pass.

use std::time::Duration;

use redis::RedisError;

use super::shared::Shared;
use crate::blackboard::effects::Effect;
use crate::lifecycle::{report, Lifecycle};
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::redis_io::ends_session;
use crate::redis_io::scripts::Decided;

/// What became of a batch, for the caller's bookkeeping.
#[derive(Default)]
pub struct Report {
    pub created: u64,
    /// Claims Redis refused (e.g. MISCONF, OOM, NOREPLICAS): the catch-up retries them.
    pub failed: u64,
    /// Set when the session must end: the connection is gone, or the server
    /// is no longer the primary (READONLY, MASTERDOWN).
    pub end_session: Option<String>,
    /// A claim someone else made was met live (`Effect::Foreign`): a
    /// catch-up pass adopts it now rather than at the next interval.
    pub catch_up: bool,
    /// Lifecycle decisions Redis refused (one `redis_error` line each; the
    /// whole batch refused counts one): not `failed`, as the sweep or the
    /// caller decides them again.
    pub refused: u64,
}

/// Logs and counts what a batch of lifecycle decisions did (`since`: how long
/// ago the event that ran each arrived, when one did). A decision Redis
/// refused is one `redis_error` line; not counted as `failed`, which asks for
/// an artefact catch-up: the sweep decides again (bids: see `bids_and_report`).
pub fn report_decisions(
    shared: &Shared,
    lc: &Lifecycle,
    operation: &str,
    decided: Result<Vec<Decided>, RedisError>,
    since: impl Iterator<Item = Option<Duration>>,
) -> Report {
    let mut report = Report::default();
    let mut lines = Lines::default();
    match decided {
        Ok(all) => {
            for (one, since) in all.into_iter().zip(since) {
                match one {
                    Ok(effects) => {
                        report_effects(shared, lc, operation, &effects, since, &mut lines)
                    }
                    Err(e) => {
                        report.refused += 1;
                        lines.push(decision_error(shared, operation, &e.to_string()));
                        if e.ends_session() {
                            report
                                .end_session
                                .get_or_insert_with(|| format!("{operation}: {e}"));
                        }
                    }
                }
            }
        }
        Err(e) => {
            report.refused += 1;
            lines.push(decision_error(shared, operation, &e.to_string()));
            if ends_session(&e) {
                report.end_session = Some(format!("{operation}: {e}"));
            }
        }
    }
    lines.emit();
    report
}

/// Logs and counts a decision's lifecycle and worker effects; a worker slot
/// granted wakes the worker launcher (its container is to be launched).
pub fn report_effects(
    shared: &Shared,
    lc: &Lifecycle,
    operation: &str,
    effects: &[Effect],
    since: Option<Duration>,
    lines: &mut Lines,
) {
    for effect in effects {
        if let Effect::KeyConflict { key, key_type } = effect {
            inc(&shared.metrics.key_conflicts);
            lines.push(key_conflict_line(key, key_type).str("operation", operation));
        }
    }
    report::effects(effects, &lc.metrics, since, lines);
    if let Some(w) = &shared.workers {
        if crate::workers::report::effects(effects, &w.metrics, lines) {
            for effect in effects {
                if let Effect::WorkerGranted { claim, role, .. } = effect {
                    w.granted(claim.as_str(), role);
                }
            }
        }
    }
}

/// A decision found a key it would write holding another type, and wrote
/// nothing: one `key_conflict` line (rate-limited per kind, `log::PER_EVENT`).
pub fn key_conflict_line(key: &str, key_type: &str) -> Line {
    Line::warn("key_conflict")
        .str("key", key)
        .str("key_type", key_type)
}

/// A decision Redis refused or answered oddly: one `redis_error` line.
pub fn decision_error(shared: &Shared, operation: &str, error: &str) -> Line {
    inc(&shared.metrics.redis_errors);
    Line::error("redis_error")
        .str("operation", operation)
        .str("error", error)
}
