//! Outcomes: run a batch of decisions, then log and count what became of
//! each item: the claim outcome of an artefact (exactly as in Phase 1, in
//! every mode), and the lifecycle effects a decision set off (`decisions`).
//!
//! Shared by the decision pool (`pool`), the retries (`retry`) and the
//! catch-up scan (`catchup`), so all report a claim the same way. A batch's
//! log lines go out in one write.
//!
//! `claims_in_flight` is held by a drop guard: it reads 0 whenever no claim
//! script is waiting for its answer, whatever stopped the waiting.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::decisions::{key_conflict_line, report_decisions, report_effects, Report};
use super::shared::Shared;
use crate::blackboard::decode::UnexpectedReply;
use crate::blackboard::effects::Effect;
use crate::blackboard::{PENDING_REVIEW, TERMINAL};
use crate::ids::{ArtefactId, ClaimId};
use crate::lifecycle::{self, Lifecycle};
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::phase1;
use crate::redis_io::scripts::{CallError, Decided};

/// Items per batch at most (one pipeline).
pub const BATCH: usize = 32;

/// Where an artefact id came from (live event or catch-up scan).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Event,
    Reconcile,
}

/// One artefact to claim: its id, when its event arrived (for `latency_ms`),
/// and how many tries it had before (see `retry`).
#[derive(Clone, Copy)]
pub struct Job {
    pub id: ArtefactId,
    pub received: Instant,
    pub tries: u8,
}

impl Job {
    /// A first try.
    pub fn new(id: ArtefactId, received: Instant) -> Job {
        Job {
            id,
            received,
            tries: 0,
        }
    }
}

/// A claim whose bidding may be complete, and when its bid event arrived.
pub struct BidJob {
    pub claim: ClaimId,
    /// The event's bid is not `ignore` (see `subscription::Item::Bids`).
    pub to_work: bool,
    pub received: Instant,
}

/// Counts `n` claim decisions in flight for as long as it lives.
struct InFlight<'a> {
    gauge: &'a AtomicI64,
    n: i64,
}

impl<'a> InFlight<'a> {
    fn new(gauge: &'a AtomicI64, n: usize) -> Self {
        let n = n as i64;
        gauge.fetch_add(n, Relaxed);
        InFlight { gauge, n }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.n, Relaxed);
    }
}

/// Claims a batch of artefacts (one pipeline) and logs and counts each
/// outcome. `hold` may keep an event's artefact that is absent or incomplete
/// for another try instead of giving it up (see `retry`); it returns whether
/// it did.
pub async fn claim_and_report(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    jobs: &[Job],
    source: Source,
    hold: &mut (dyn FnMut(&Job) -> bool + Send),
) -> Report {
    let ids: Vec<ArtefactId> = jobs.iter().map(|j| j.id).collect();
    let results = {
        let _in_flight = InFlight::new(&shared.metrics.claims_in_flight, ids.len());
        match &shared.lifecycle {
            Some(lc) => {
                let replay = source == Source::Reconcile;
                lifecycle::artefacts::decide_batch(conn, &shared.keys, lc, &ids, replay).await
            }
            None => phase1::claim_batch(conn, &shared.keys, &ids).await,
        }
    };
    let mut out = Out {
        shared,
        lines: Lines::default(),
        report: Report::default(),
    };
    match results {
        Ok(results) => {
            for (job, result) in jobs.iter().zip(results) {
                out.decided(job, result, source, hold);
            }
        }
        Err(e) => {
            let e = CallError::Redis(e);
            for job in jobs {
                out.claim_error(&job.id, &e);
            }
        }
    }
    out.lines.emit();
    out.report
}

/// Runs the bids decision for each claim (one pipeline), then logs and
/// counts what it did.
pub async fn bids_and_report(
    shared: &Shared,
    lc: &Lifecycle,
    conn: &mut MultiplexedConnection,
    jobs: &[BidJob],
) -> Report {
    let claims: Vec<(ClaimId, bool)> = jobs.iter().map(|j| (j.claim, j.to_work)).collect();
    let decided = lifecycle::bids::decide_batch(conn, lc, &claims).await;
    let since = jobs.iter().map(|j| Some(j.received.elapsed()));
    let mut report = report_decisions(shared, lc, "bids", decided, since);
    // The sweep decides again a claim still in the bidding set; a late bid's
    // claim is in none it walks: a refusal asks for a catch-up pass, whose
    // recheck looks for late bids (the dormant set too).
    // Without a timeout only a bid to work can be late.
    if report.refused > 0 && (lc.bid_timeout.is_some() || jobs.iter().any(|j| j.to_work)) {
        lc.walk_dormant_set();
        report.catch_up = true;
    }
    report
}

struct Out<'a> {
    shared: &'a Shared,
    lines: Lines,
    report: Report,
}

impl Out<'_> {
    /// Reports one artefact's decision: its claim outcome, and the lifecycle
    /// effects it set off.
    fn decided(
        &mut self,
        job: &Job,
        result: Decided,
        source: Source,
        hold: &mut (dyn FnMut(&Job) -> bool + Send),
    ) {
        let effects = match result {
            Ok(effects) => effects,
            Err(e) => return self.claim_error(&job.id, &e),
        };
        let mut outcome = None;
        let mut rest = Vec::new();
        for effect in effects {
            match effect {
                Effect::Created { .. }
                | Effect::Duplicate { .. }
                | Effect::NotFound
                | Effect::Invalid { .. }
                | Effect::IndexConflict { .. }
                | Effect::KeyConflict { .. }
                | Effect::Skipped { .. } => outcome = Some(effect),
                other => rest.push(other),
            }
        }
        self.report.catch_up |= rest.iter().any(|e| matches!(e, Effect::Foreign { .. }));
        if let Some(lc) = &self.shared.lifecycle {
            report_effects(self.shared, lc, "artefact", &rest, None, &mut self.lines);
        }
        match outcome {
            Some(outcome) => self.outcome(job, outcome, source, hold),
            None => self.claim_error(&job.id, &CallError::Unexpected(UnexpectedReply)),
        }
    }

    fn outcome(
        &mut self,
        job: &Job,
        outcome: Effect,
        source: Source,
        hold: &mut (dyn FnMut(&Job) -> bool + Send),
    ) {
        let m = &self.shared.metrics;
        let id = job.id.as_str();
        let from_event = source == Source::Event;
        let line = match outcome {
            Effect::Created { claim } => {
                let took: Duration = job.received.elapsed();
                inc(&m.claims_created);
                m.observe_claim(took);
                if !from_event {
                    inc(&m.reconcile_claimed);
                }
                self.report.created += 1;
                Line::info("claim_created")
                    .str("artefact_id", id)
                    .str("claim_id", claim.as_str())
                    .str("status", PENDING_REVIEW)
                    .millis("latency_ms", took)
                    .str("source", if from_event { "event" } else { "reconcile" })
            }
            // Nothing was written: said on every pass (rate-limited), as the
            // key must be repaired by hand.
            Effect::KeyConflict { key, key_type } => {
                inc(&m.key_conflicts);
                key_conflict_line(&key, &key_type).str("artefact_id", id)
            }
            // Catch-up sees these on every pass: counted by the scan, not logged.
            _ if !from_event => return,
            Effect::Skipped {
                structural_type,
                artefact_type,
            } if structural_type == TERMINAL => {
                inc(&m.terminal_skipped);
                Line::info("terminal_skipped")
                    .str("artefact_id", id)
                    .str("type", &artefact_type)
            }
            // Reviews and Failures are deliverables: their effects are reported.
            Effect::Skipped { .. } => return,
            Effect::Duplicate { existing } => {
                inc(&m.duplicate_events);
                Line::warn("duplicate_artefact")
                    .str("artefact_id", id)
                    .str("existing_claim_id", &existing)
            }
            // The event may have come before its hash: try again a little later.
            Effect::NotFound | Effect::Invalid { .. } if hold(job) => return,
            Effect::NotFound => {
                inc(&m.artefacts_not_found);
                Line::warn("artefact_not_found").str("artefact_id", id)
            }
            Effect::Invalid { reason } => {
                inc(&m.artefacts_invalid);
                Line::warn("artefact_invalid")
                    .str("artefact_id", id)
                    .str("reason", &reason)
            }
            Effect::IndexConflict { key_type } => {
                inc(&m.index_conflicts);
                Line::warn("index_conflict")
                    .str("artefact_id", id)
                    .str("key_type", &key_type)
            }
            _ => return,
        };
        self.lines.push(line);
    }

    fn claim_error(&mut self, artefact_id: &ArtefactId, e: &CallError) {
        inc(&self.shared.metrics.redis_errors);
        self.lines.push(
            Line::error("redis_error")
                .str("operation", "claim")
                .str("artefact_id", artefact_id.as_str())
                .display("error", e),
        );
        if e.ends_session() {
            self.report
                .end_session
                .get_or_insert_with(|| format!("claim: {e}"));
        } else {
            self.report.failed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_guard_gives_back_what_it_took_when_dropped_early() {
        let gauge = AtomicI64::new(0);
        let fut = async {
            let _held = InFlight::new(&gauge, 32);
            futures_lite::future::pending::<()>().await;
        };
        let mut fut = Box::pin(fut);
        // Polled once (the gauge is raised), then dropped mid-wait, as a cancelled task would be.
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(&mut fut)).is_none()
        );
        assert_eq!(gauge.load(Relaxed), 32);
        drop(fut);
        assert_eq!(gauge.load(Relaxed), 0);
    }
}
