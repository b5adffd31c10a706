//! Lifecycle metrics: grants by phase, completions, terminations by cause,
//! bid timeouts, the claims waiting (for bids, in a phase) and the time from
//! the last bid to its grant. Rendered after the Phase-1 metrics, in the same
//! Prometheus text; scraping reads memory only.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::{inc, metric_head, Histogram, PREFIX};
use crate::blackboard::effects::{Cause, Phase};
/// Upper bounds (seconds) of the last-bid-to-grant histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct LifecycleMetrics {
    grants: [AtomicU64; 3],
    completed: AtomicU64,
    terminated: [AtomicU64; Cause::ALL.len()],
    dormant: AtomicU64,
    bid_timeouts: AtomicU64,
    feedback_claims: AtomicU64,
    failure_artefacts: AtomicU64,
    bids_received: AtomicU64,
    /// Late bids honoured (`late_bid_honoured`) and reported (`late_bid`).
    pub late_bids_honoured: AtomicU64,
    pub late_bids: AtomicU64,
    /// `bids_overdue` warnings this process wrote.
    pub bids_overdue: AtomicU64,
    /// Claims someone else made that joined ours.
    pub claims_adopted: AtomicU64,
    /// Seconds the oldest claim collecting bids has waited (last sweep).
    pub oldest_bid_wait: AtomicI64,
    /// Claims collecting bids, as the last sweep counted them (all replicas').
    pub awaiting_bids: AtomicI64,
    /// Claims in a phase or awaiting rework, as the last sweep counted them.
    pub in_phase: AtomicI64,
    /// Age in seconds of the oldest of those (0 when none).
    pub oldest_phase_age: AtomicI64,
    bid_to_grant: Histogram<{ BUCKETS.len() }>,
}

impl LifecycleMetrics {
    pub fn granted(&self, phase: Phase) {
        if let Some(i) = Phase::ALL.iter().position(|p| *p == phase) {
            inc(&self.grants[i]);
        }
    }

    pub fn completed(&self) {
        inc(&self.completed);
    }

    pub fn terminated(&self, cause: Cause) {
        if let Some(i) = Cause::ALL.iter().position(|c| *c == cause) {
            inc(&self.terminated[i]);
        }
    }

    pub fn dormant(&self) {
        inc(&self.dormant);
    }

    pub fn bid_timeout(&self) {
        inc(&self.bid_timeouts);
    }

    pub fn feedback_claim(&self) {
        inc(&self.feedback_claims);
    }

    pub fn failure_artefact(&self) {
        inc(&self.failure_artefacts);
    }

    pub fn bid_received(&self) {
        inc(&self.bids_received);
    }

    pub fn observe_bid_to_grant(&self, took: Duration) {
        self.bid_to_grant.observe(&BUCKETS, took);
    }

    pub fn render(&self, out: &mut String) {
        let name = "grants_total";
        metric_head(out, name, "counter", "Phases granted, by phase.");
        for (phase, n) in Phase::ALL.iter().zip(&self.grants) {
            let _ = writeln!(
                out,
                "{PREFIX}{name}{{phase=\"{}\"}} {}",
                phase.as_str(),
                n.load(Relaxed)
            );
        }
        let name = "claims_terminated_total";
        metric_head(out, name, "counter", "Claims terminated, by cause.");
        for (cause, n) in Cause::ALL.iter().zip(&self.terminated) {
            let _ = writeln!(
                out,
                "{PREFIX}{name}{{cause=\"{}\"}} {}",
                cause.as_str(),
                n.load(Relaxed)
            );
        }
        let counters: [(&str, &AtomicU64, &str); 10] = [
            (
                "late_bids_honoured_total",
                &self.late_bids_honoured,
                "Bids after SETT_BID_TIMEOUT that joined or started a phase.",
            ),
            (
                "late_bids_total",
                &self.late_bids,
                "Bids after SETT_BID_TIMEOUT that came after their phase (late_bid lines).",
            ),
            (
                "bids_overdue_total",
                &self.bids_overdue,
                "bids_overdue warnings (claims waiting longer than SETT_BID_OVERDUE).",
            ),
            (
                "claims_adopted_total",
                &self.claims_adopted,
                "Claims someone else made that joined the lifecycle.",
            ),
            (
                "claims_completed_total",
                &self.completed,
                "Claims completed.",
            ),
            (
                "claims_dormant_total",
                &self.dormant,
                "Claims nobody bid to work on.",
            ),
            (
                "bid_timeouts_total",
                &self.bid_timeouts,
                "Bidding ended by SETT_BID_TIMEOUT.",
            ),
            (
                "feedback_claims_total",
                &self.feedback_claims,
                "Feedback claims created after a rejection.",
            ),
            (
                "failure_artefacts_total",
                &self.failure_artefacts,
                "Failure artefacts the orchestrator wrote.",
            ),
            (
                "bids_received_total",
                &self.bids_received,
                "bid_submitted events received.",
            ),
        ];
        for (name, value, help) in counters {
            metric_head(out, name, "counter", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", value.load(Relaxed));
        }
        let gauges: [(&str, &AtomicI64, &str); 4] = [
            (
                "oldest_bid_wait_seconds",
                &self.oldest_bid_wait,
                "How long the oldest claim collecting bids has waited (last sweep).",
            ),
            (
                "claims_awaiting_bids",
                &self.awaiting_bids,
                "Claims collecting bids (last sweep).",
            ),
            (
                "claims_in_phase",
                &self.in_phase,
                "Claims in a phase or awaiting rework (last sweep).",
            ),
            (
                "oldest_phase_age_seconds",
                &self.oldest_phase_age,
                "Age of the oldest claim in a phase or awaiting rework (last sweep).",
            ),
        ];
        for (name, value, help) in gauges {
            metric_head(out, name, "gauge", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", value.load(Relaxed));
        }
        self.bid_to_grant.render(
            out,
            &BUCKETS,
            "bid_to_grant_seconds",
            "Last bid event received to grant script answered.",
        );
    }
}
