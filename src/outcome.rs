//! Outcomes: claim a batch, then log and count what became of each artefact.
//!
//! Shared by the live workers (`engine`) and the catch-up scan (`reconcile`),
//! so both report a claim the same way. A batch's log lines go out in one write.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::ids::ArtefactId;
use redis::aio::MultiplexedConnection;

use crate::claim::{claim_batch, ClaimError, ClaimOutcome};
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::Shared;

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
    /// Redis refused this claim (e.g. MISCONF, OOM, READONLY): retry it later.
    Failed,
    /// The connection is gone: the caller must end the session.
    ConnectionLost,
}

/// Claims a batch of artefacts (one pipeline) and logs and counts each outcome.
/// `received[i]` is when `ids[i]` arrived (for `latency_ms`).
pub async fn claim_and_report(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    ids: &[ArtefactId],
    received: &[Instant],
    source: Source,
) -> Vec<Reported> {
    let m = &shared.metrics;
    m.claims_in_flight.fetch_add(ids.len() as i64, Relaxed);
    let results = claim_batch(conn, &shared.keys, ids).await;
    m.claims_in_flight.fetch_sub(ids.len() as i64, Relaxed);
    let mut lines = Lines::default();
    let reported = match results {
        Ok(results) => ids
            .iter()
            .zip(received)
            .zip(results)
            .map(|((id, at), result)| report(shared, id, at.elapsed(), result, source, &mut lines))
            .collect(),
        Err(e) => ids
            .iter()
            .map(|id| report_claim_error(shared, id, &e, &mut lines))
            .collect(),
    };
    lines.emit();
    reported
}

fn report(
    shared: &Shared,
    artefact_id: &ArtefactId,
    took: Duration,
    result: Result<ClaimOutcome, ClaimError>,
    source: Source,
    out: &mut Lines,
) -> Reported {
    let m = &shared.metrics;

    let from_event = source == Source::Event;
    match result {
        Ok(ClaimOutcome::Created { claim_id }) => {
            inc(&m.claims_created);
            m.observe_claim(took);
            if !from_event {
                inc(&m.reconcile_claimed);
            }
            out.push(
                Line::info("claim_created")
                    .str("artefact_id", artefact_id.as_str())
                    .uuid("claim_id", &claim_id)
                    .str("status", crate::blackboard::PENDING_REVIEW)
                    .millis("latency_ms", took)
                    .str("source", if from_event { "event" } else { "reconcile" }),
            );
            return Reported::Created;
        }
        // Catch-up sees these on every pass: counted by the scan, not logged.
        Ok(_) if !from_event => {}
        Ok(ClaimOutcome::Terminal { artefact_type }) => {
            inc(&m.terminal_skipped);
            out.push(
                Line::info("terminal_skipped")
                    .str("artefact_id", artefact_id.as_str())
                    .str("type", &artefact_type),
            );
        }
        Ok(ClaimOutcome::Duplicate { existing_claim_id }) => {
            inc(&m.duplicate_events);
            out.push(
                Line::warn("duplicate_artefact")
                    .str("artefact_id", artefact_id.as_str())
                    .str("existing_claim_id", &existing_claim_id),
            );
        }
        Ok(ClaimOutcome::NotFound) => {
            inc(&m.artefacts_not_found);
            out.push(Line::warn("artefact_not_found").str("artefact_id", artefact_id.as_str()));
        }
        Ok(ClaimOutcome::Invalid { reason }) => {
            inc(&m.artefacts_invalid);
            out.push(
                Line::warn("artefact_invalid")
                    .str("artefact_id", artefact_id.as_str())
                    .str("reason", &reason),
            );
        }
        Err(e) => return report_claim_error(shared, artefact_id, &e, out),
    }
    Reported::NotCreated
}

fn report_claim_error(
    shared: &Shared,
    artefact_id: &ArtefactId,
    e: &ClaimError,
    out: &mut Lines,
) -> Reported {
    inc(&shared.metrics.redis_errors);
    out.push(
        Line::error("redis_error")
            .str("operation", "claim")
            .str("artefact_id", artefact_id.as_str())
            .display("error", e),
    );
    if e.is_connection_lost() {
        Reported::ConnectionLost
    } else {
        Reported::Failed
    }
}
