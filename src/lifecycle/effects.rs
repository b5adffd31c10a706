//! What a lifecycle script did, as it reports it: decoded into [`Effect`]s,
//! which become log lines and metrics here.
//!
//! The scripts publish and write; the orchestrator only tells the operator.
//! Each effect is reported by the one process whose script made it, so with
//! any number of replicas each grant or termination is logged once.

use std::time::Duration;

use crate::lifecycle::metrics::{Cause, LifecycleMetrics};
use crate::log::{Line, Lines};

/// One thing a script did (or found), as its row of strings says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Created {
        claim: String,
    },
    Duplicate {
        existing: String,
    },
    NotFound,
    Invalid {
        reason: String,
    },
    /// Terminal, Failure and Review artefacts get no claim.
    Skipped {
        structural_type: String,
        artefact_type: String,
    },
    Delivered {
        claim: String,
        phase: String,
        role: String,
        artefact: String,
    },
    Granted {
        claim: String,
        phase: String,
        agents: Vec<String>,
    },
    ReviewApproved {
        claim: String,
        role: String,
        review: String,
    },
    ReviewRejected {
        claim: String,
        role: String,
        review: String,
    },
    Complete {
        claim: String,
    },
    Terminated {
        claim: String,
        cause: String,
        reason: String,
    },
    FeedbackClaim {
        claim: String,
        feedback_claim: String,
        agent: String,
        iteration: String,
    },
    FailureArtefact {
        claim: String,
        artefact: String,
        kind: String,
    },
    Reworked {
        claim: String,
        artefact: String,
    },
    Dormant {
        claim: String,
    },
    BidTimeout {
        claim: String,
        agents: Vec<String>,
    },
    InvalidBid {
        claim: String,
        agent: String,
        value: String,
    },
    UnknownBidder {
        claim: String,
        agent: String,
    },
    /// A bids hash too large to list: this many fields of unknown names.
    UnknownBidders {
        claim: String,
        count: u64,
    },
    Waiting {
        claim: String,
        missing: u64,
    },
    NotBidding {
        claim: String,
    },
    NotActive {
        claim: String,
    },
    Running {
        claim: String,
    },
}

/// A reply no script of ours gives (another script under our SHA?).
#[derive(Debug, PartialEq, Eq)]
pub struct UnexpectedReply;

fn list(csv: &str) -> Vec<String> {
    csv.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Effect {
    /// Decodes one row of a script's reply.
    pub fn from_row(row: &[String]) -> Result<Effect, UnexpectedReply> {
        let s = |i: usize| row.get(i).cloned().ok_or(UnexpectedReply);
        let claim = || s(1);
        Ok(
            match row.first().map(String::as_str).ok_or(UnexpectedReply)? {
                "created" => Effect::Created { claim: claim()? },
                "duplicate" => Effect::Duplicate { existing: s(1)? },
                "not_found" => Effect::NotFound,
                "invalid" => Effect::Invalid { reason: s(1)? },
                "skipped" => Effect::Skipped {
                    structural_type: s(1)?,
                    artefact_type: s(2)?,
                },
                "delivered" => Effect::Delivered {
                    claim: claim()?,
                    phase: s(2)?,
                    role: s(3)?,
                    artefact: s(4)?,
                },
                "granted" => Effect::Granted {
                    claim: claim()?,
                    phase: s(2)?,
                    agents: list(&s(3)?),
                },
                "review_approved" => Effect::ReviewApproved {
                    claim: claim()?,
                    role: s(2)?,
                    review: s(3)?,
                },
                "review_rejected" => Effect::ReviewRejected {
                    claim: claim()?,
                    role: s(2)?,
                    review: s(3)?,
                },
                "complete" => Effect::Complete { claim: claim()? },
                "terminated" => Effect::Terminated {
                    claim: claim()?,
                    cause: s(2)?,
                    reason: s(3)?,
                },
                "feedback_claim" => Effect::FeedbackClaim {
                    claim: claim()?,
                    feedback_claim: s(2)?,
                    agent: s(3)?,
                    iteration: s(4)?,
                },
                "failure_artefact" => Effect::FailureArtefact {
                    claim: claim()?,
                    artefact: s(2)?,
                    kind: s(3)?,
                },
                "reworked" => Effect::Reworked {
                    claim: claim()?,
                    artefact: s(2)?,
                },
                "dormant" => Effect::Dormant { claim: claim()? },
                "bid_timeout" => Effect::BidTimeout {
                    claim: claim()?,
                    agents: list(&s(2)?),
                },
                "invalid_bid" => Effect::InvalidBid {
                    claim: claim()?,
                    agent: s(2)?,
                    value: s(3)?,
                },
                "unknown_bidder" => Effect::UnknownBidder {
                    claim: claim()?,
                    agent: s(2)?,
                },
                "unknown_bidders" => Effect::UnknownBidders {
                    claim: claim()?,
                    count: s(2)?.parse().map_err(|_| UnexpectedReply)?,
                },
                "waiting" => Effect::Waiting {
                    claim: claim()?,
                    missing: s(2)?.parse().map_err(|_| UnexpectedReply)?,
                },
                "not_bidding" => Effect::NotBidding { claim: claim()? },
                "not_active" => Effect::NotActive { claim: claim()? },
                "running" => Effect::Running { claim: claim()? },
                _ => return Err(UnexpectedReply),
            },
        )
    }

    /// Decodes a whole reply (a list of rows).
    pub fn from_rows(rows: &[Vec<String>]) -> Result<Vec<Effect>, UnexpectedReply> {
        rows.iter().map(|r| Effect::from_row(r)).collect()
    }
}

fn json_list(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::log::push_json_str(&mut out, item);
    }
    out.push(']');
    out
}

/// Logs and counts the lifecycle effects of one script call. Claim creation
/// and the Phase-1 outcomes (duplicate, not found…) are the caller's to report.
/// `since_bid`: how long ago the bid event that ran this script arrived.
pub fn report(
    effects: &[Effect],
    m: &LifecycleMetrics,
    since_bid: Option<Duration>,
    out: &mut Lines,
) {
    for effect in effects {
        let line = match effect {
            Effect::Granted {
                claim,
                phase,
                agents,
            } => {
                m.granted(phase);
                if let Some(took) = since_bid {
                    m.observe_bid_to_grant(took);
                }
                Line::info("claim_granted")
                    .str("claim_id", claim)
                    .str("phase", phase)
                    .raw_json("agents", &json_list(agents))
            }
            Effect::ReviewApproved {
                claim,
                role,
                review,
            } => Line::info("review_approved")
                .str("claim_id", claim)
                .str("reviewer_role", role)
                .str("review_id", review),
            Effect::ReviewRejected {
                claim,
                role,
                review,
            } => Line::info("review_rejected")
                .str("claim_id", claim)
                .str("reviewer_role", role)
                .str("review_id", review),
            Effect::Complete { claim } => {
                m.completed();
                Line::info("claim_complete").str("claim_id", claim)
            }
            Effect::Terminated {
                claim,
                cause,
                reason,
            } => {
                m.terminated(Cause::parse(cause));
                Line::info("claim_terminated")
                    .str("claim_id", claim)
                    .str("cause", cause)
                    .str("reason", reason)
            }
            Effect::FeedbackClaim {
                claim,
                feedback_claim,
                agent,
                iteration,
            } => {
                m.feedback_claim();
                Line::info("feedback_claim_created")
                    .str("claim_id", claim)
                    .str("feedback_claim_id", feedback_claim)
                    .str("agent", agent)
                    .raw_json("iteration", iteration)
            }
            Effect::FailureArtefact {
                claim,
                artefact,
                kind,
            } => {
                m.failure_artefact();
                Line::info("failure_artefact_written")
                    .str("claim_id", claim)
                    .str("artefact_id", artefact)
                    .str("type", kind)
            }
            Effect::Reworked { claim, artefact } => Line::info("feedback_claim_reworked")
                .str("claim_id", claim)
                .str("artefact_id", artefact),
            Effect::Dormant { claim } => {
                m.dormant();
                Line::info("claim_dormant").str("claim_id", claim)
            }
            Effect::BidTimeout { claim, agents } => {
                m.bid_timeout();
                Line::warn("bid_timeout")
                    .str("claim_id", claim)
                    .raw_json("agents", &json_list(agents))
            }
            Effect::InvalidBid {
                claim,
                agent,
                value,
            } => Line::warn("invalid_bid")
                .str("claim_id", claim)
                .str("agent_name", agent)
                .str("bid", value),
            Effect::UnknownBidder { claim, agent } => Line::warn("unknown_bidder")
                .str("claim_id", claim)
                .str("agent_name", agent),
            Effect::UnknownBidders { claim, count } => Line::warn("unknown_bidder")
                .str("claim_id", claim)
                .num("count", *count),
            Effect::Delivered {
                claim,
                phase,
                role,
                artefact,
            } => {
                if !crate::log::debug_enabled() {
                    continue;
                }
                Line::debug("phase_artefact_received")
                    .str("claim_id", claim)
                    .str("phase", phase)
                    .str("role", role)
                    .str("artefact_id", artefact)
            }
            _ => continue,
        };
        out.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_decode() {
        assert_eq!(
            Effect::from_row(&row(&["granted", "c", "review", "A,B"])),
            Ok(Effect::Granted {
                claim: "c".into(),
                phase: "review".into(),
                agents: vec!["A".into(), "B".into()]
            })
        );
        assert_eq!(
            Effect::from_row(&row(&["waiting", "c", "2"])),
            Ok(Effect::Waiting {
                claim: "c".into(),
                missing: 2
            })
        );
        assert_eq!(Effect::from_row(&row(&["not_found"])), Ok(Effect::NotFound));
        assert_eq!(
            Effect::from_row(&row(&["granted", "c"])),
            Err(UnexpectedReply)
        );
        assert_eq!(Effect::from_row(&row(&["what"])), Err(UnexpectedReply));
        assert_eq!(Effect::from_row(&[]), Err(UnexpectedReply));
    }
}
