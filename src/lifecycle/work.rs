//! The lifecycle's decisions for a batch of events, as one pipeline:
//! artefacts (`artefact.lua`: claim it, count it for its sources' claims) and
//! bids (`bids.lua`: grant when bidding is complete).
//!
//! An artefact's reply is split in two: its claim outcome (created,
//! duplicate, not found…), which `outcome` reports exactly as in Phase 1
//! (same log lines, metrics and retries), and the lifecycle effects it set
//! off (deliveries, grants, verdicts, completions…), reported by `effects`.

use std::time::Instant;

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::effects::{self, Effect};
use super::Lifecycle;
use crate::blackboard::{Keys, TERMINAL};
use crate::claim::{new_claim_id, ClaimError, ClaimOutcome};
use crate::ids::ArtefactId;
use crate::log::Lines;
use crate::outcome::Report;
use crate::scripts::{rows, run_batch};
use crate::session::ends_session;
use crate::Shared;

/// What the artefact script decided for one artefact: its claim outcome and
/// the lifecycle effects.
pub type Decided = Result<(ClaimOutcome, Vec<Effect>), ClaimError>;

/// Runs the artefact script for each id (one pipeline). `Err` only when the
/// pipeline as a whole failed (the connection is gone).
pub async fn artefact_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    lc: &Lifecycle,
    ids: &[ArtefactId],
) -> Result<Vec<Decided>, ClaimError> {
    let claim_ids: Vec<Uuid> = ids.iter().map(|_| new_claim_id()).collect();
    let calls: Vec<_> = ids
        .iter()
        .zip(&claim_ids)
        .map(|(id, claim)| lc.scripts.artefact(keys, id, claim))
        .collect();
    let replies = run_batch(conn, &calls).await.map_err(ClaimError::Redis)?;
    Ok(replies
        .into_iter()
        .zip(claim_ids)
        .map(|(reply, claim_id)| {
            let value = reply.map_err(ClaimError::Redis)?;
            let rows = rows(&value).ok_or(ClaimError::UnexpectedReply)?;
            let effects = Effect::from_rows(&rows).map_err(|_| ClaimError::UnexpectedReply)?;
            split(effects, claim_id)
        })
        .collect())
}

/// The claim outcome among an artefact script's effects, and the rest.
fn split(effects: Vec<Effect>, claim_id: Uuid) -> Decided {
    let mut outcome = None;
    let mut rest = Vec::with_capacity(effects.len());
    for effect in effects {
        let claim = match &effect {
            Effect::Created { .. } => Some(ClaimOutcome::Created { claim_id }),
            Effect::Duplicate { existing } => Some(ClaimOutcome::Duplicate {
                existing_claim_id: existing.clone(),
            }),
            Effect::NotFound => Some(ClaimOutcome::NotFound),
            Effect::Invalid { reason } => Some(ClaimOutcome::Invalid {
                reason: reason.clone(),
            }),
            Effect::Skipped {
                structural_type,
                artefact_type,
            } => Some(if structural_type == TERMINAL {
                ClaimOutcome::Terminal {
                    artefact_type: artefact_type.clone(),
                }
            } else {
                ClaimOutcome::Deliverable {
                    structural_type: structural_type.clone(),
                }
            }),
            _ => None,
        };
        match claim {
            Some(c) => outcome = Some(c),
            None => rest.push(effect),
        }
    }
    outcome
        .map(|o| (o, rest))
        .ok_or(ClaimError::UnexpectedReply)
}

/// A claim whose bidding may be complete, and when its bid event arrived.
pub struct BidJob {
    pub claim: ArtefactId,
    pub received: Instant,
}

/// Runs the bids decision for each claim (one pipeline), then logs and
/// counts what it did.
pub async fn bids_and_report(
    shared: &Shared,
    lc: &Lifecycle,
    conn: &mut MultiplexedConnection,
    jobs: &[BidJob],
) -> Report {
    let calls: Vec<_> = jobs
        .iter()
        .map(|j| lc.scripts.bids(j.claim.as_str(), lc.bid_timeout))
        .collect();
    let mut report = Report::default();
    let mut lines = Lines::default();
    match super::sweep::run(conn, &calls).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.iter().zip(outcomes) {
                match outcome {
                    Ok(effects) => effects::report(
                        &effects,
                        &lc.metrics,
                        Some(job.received.elapsed()),
                        &mut lines,
                    ),
                    // Not counted as `failed`, which asks for an artefact
                    // catch-up: the sweep decides this claim again.
                    Err(refused) => {
                        lines.push(decision_error(shared, "bids", &refused.reason));
                        if refused.ends_session {
                            report
                                .end_session
                                .get_or_insert_with(|| format!("bids: {}", refused.reason));
                        }
                    }
                }
            }
        }
        Err(e) => {
            lines.push(decision_error(shared, "bids", &e.to_string()));
            if ends_session(&e) {
                report.end_session = Some(format!("bids: {e}"));
            }
        }
    }
    lines.emit();
    report
}

/// A decision Redis refused or answered oddly: one `redis_error` line.
pub fn decision_error(shared: &Shared, operation: &str, error: &str) -> crate::log::Line {
    crate::metrics::inc(&shared.metrics.redis_errors);
    crate::log::Line::error("redis_error")
        .str("operation", operation)
        .str("error", error)
}
