//! What a lifecycle decision did, told to the operator: each effect becomes
//! a log line and a metric.
//!
//! The scripts publish and write; the orchestrator only tells the operator.
//! Each effect is reported by the one process whose script made it, so with
//! any number of replicas each grant or termination is logged once.

use std::time::Duration;

use crate::blackboard::effects::Effect;
use crate::log::{json_array, Line, Lines};
use crate::metrics::inc;
use crate::metrics::lifecycle::LifecycleMetrics;

/// Logs and counts the lifecycle effects of one script call. Claim creation
/// and the Phase-1 outcomes (duplicate, not found…) are the caller's to report.
/// `since_bid`: how long ago the bid event that ran this script arrived.
pub fn effects(
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
                m.granted(*phase);
                if let Some(took) = since_bid {
                    m.observe_bid_to_grant(took);
                }
                Line::info("claim_granted")
                    .str("claim_id", claim.as_str())
                    .str("phase", phase.as_str())
                    .raw_json("agents", &json_array(agents))
            }
            Effect::ReviewApproved {
                claim,
                role,
                review,
            } => Line::info("review_approved")
                .str("claim_id", claim.as_str())
                .str("reviewer_role", role)
                .str("review_id", review),
            Effect::ReviewRejected {
                claim,
                role,
                review,
            } => Line::info("review_rejected")
                .str("claim_id", claim.as_str())
                .str("reviewer_role", role)
                .str("review_id", review),
            Effect::Complete { claim } => {
                m.completed();
                Line::info("claim_complete").str("claim_id", claim.as_str())
            }
            Effect::Terminated {
                claim,
                cause,
                reason,
            } => {
                m.terminated(*cause);
                Line::info("claim_terminated")
                    .str("claim_id", claim.as_str())
                    .str("cause", cause.as_str())
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
                    .str("claim_id", claim.as_str())
                    .str("feedback_claim_id", feedback_claim.as_str())
                    .str("agent", agent)
                    .num("iteration", *iteration)
            }
            Effect::FailureArtefact {
                claim,
                artefact,
                kind,
            } => {
                m.failure_artefact();
                Line::info("failure_artefact_written")
                    .str("claim_id", claim.as_str())
                    .str("artefact_id", artefact.as_str())
                    .str("type", kind)
            }
            Effect::Reworked { claim, artefact } => Line::info("feedback_claim_reworked")
                .str("claim_id", claim.as_str())
                .str("artefact_id", artefact.as_str()),
            Effect::Dormant { claim } => {
                m.dormant();
                Line::info("claim_dormant").str("claim_id", claim.as_str())
            }
            Effect::BidTimeout { claim, agents } => {
                m.bid_timeout();
                Line::warn("bid_timeout")
                    .str("claim_id", claim.as_str())
                    .raw_json("agents", &json_array(agents))
            }
            Effect::InvalidBid {
                claim,
                agent,
                value,
            } => Line::warn("invalid_bid")
                .str("claim_id", claim.as_str())
                .str("agent_name", agent)
                .str("bid", value),
            Effect::UnknownBidder { claim, agent } => Line::warn("unknown_bidder")
                .str("claim_id", claim.as_str())
                .str("agent_name", agent),
            Effect::UnknownBidders { claim, count } => Line::warn("unknown_bidder")
                .str("claim_id", claim.as_str())
                .num("count", *count),
            Effect::LateBidHonoured {
                claim,
                agent,
                bid,
                phase,
            } => {
                inc(&m.late_bids_honoured);
                Line::info("late_bid_honoured")
                    .str("claim_id", claim.as_str())
                    .str("agent_name", agent)
                    .str("bid", bid)
                    .str("phase", phase.as_str())
            }
            Effect::LateBid {
                claim,
                agent,
                bid,
                at,
            } => {
                inc(&m.late_bids);
                Line::warn("late_bid")
                    .str("claim_id", claim.as_str())
                    .str("agent_name", agent)
                    .str("bid", bid)
                    .str("claim_at", at)
            }
            Effect::BidsOverdue {
                claim,
                waited_ms,
                agents,
                more,
            } => {
                inc(&m.bids_overdue);
                Line::warn("bids_overdue")
                    .str("claim_id", claim.as_str())
                    .num("waited_s", waited_ms / 1000)
                    .raw_json("missing", &json_array(agents))
                    .num("more_missing", *more)
                    .limited()
            }
            Effect::Adopted { claim, how } => {
                inc(&m.claims_adopted);
                // Thousands at once when the lifecycle is switched on: a line
                // is built only within the rate limit (the rest are summed up).
                if !crate::log::allow("claim_adopted") {
                    continue;
                }
                Line::info("claim_adopted")
                    .str("claim_id", claim.as_str())
                    .str("as", how)
            }
            Effect::NotAdopted { claim, reason } => Line::warn("claim_not_adopted")
                .str("claim_id", claim.as_str())
                .str("reason", reason)
                .limited(),
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
                    .str("claim_id", claim.as_str())
                    .str("phase", phase.as_str())
                    .str("role", role)
                    .str("artefact_id", artefact.as_str())
            }
            Effect::NotCounted {
                claim,
                phase,
                role,
                artefact,
            } => Line::info("delivery_not_counted")
                .str("claim_id", claim.as_str())
                .str("phase", phase.as_str())
                .str("role", role)
                .str("artefact_id", artefact.as_str())
                .str("reason", "written before the phase began")
                .limited(),
            _ => continue,
        };
        out.push(line);
    }
}
