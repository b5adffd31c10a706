//! Outcomes: claim a batch, then log and count what became of each artefact.
//!
//! Shared by the live workers (`engine`), the retries (`retry`) and the
//! catch-up scan (`reconcile`), so all report a claim the same way. A batch's
//! log lines go out in one write.
//!
//! `claims_in_flight` is held by a drop guard: it reads 0 whenever no claim
//! script is waiting for its answer, whatever stopped the waiting.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use crate::claim::{claim_batch, ClaimError, ClaimOutcome};
use crate::ids::ArtefactId;
use crate::lifecycle::effects;
use crate::lifecycle::work::{artefact_batch, Decided};
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::retry::Retries;
use crate::Shared;

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

/// What became of a batch, for the caller's bookkeeping.
#[derive(Default)]
pub struct Report {
    pub created: u64,
    /// Claims Redis refused (e.g. MISCONF, OOM, NOREPLICAS): the catch-up retries them.
    pub failed: u64,
    /// Set when the session must end: the connection is gone, or the server
    /// is no longer the primary (READONLY, MASTERDOWN).
    pub end_session: Option<String>,
}

/// Counts `n` claim scripts in flight for as long as it lives.
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

/// Claims a batch of artefacts (one pipeline) and logs and counts each outcome.
/// With `retries`, an event's artefact that is absent or incomplete is held
/// for another try instead of being given up (see `retry`).
pub async fn claim_and_report(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    jobs: &[Job],
    source: Source,
    retries: Option<&Retries>,
) -> Report {
    let ids: Vec<ArtefactId> = jobs.iter().map(|j| j.id).collect();
    let results = {
        let _in_flight = InFlight::new(&shared.metrics.claims_in_flight, ids.len());
        decide(shared, conn, &ids).await
    };
    let mut out = Out {
        shared,
        lines: Lines::default(),
        report: Report::default(),
    };
    match results {
        Ok(results) => {
            for (job, result) in jobs.iter().zip(results) {
                let result = result.map(|(outcome, effects)| {
                    if let Some(lc) = &shared.lifecycle {
                        effects::report(&effects, &lc.metrics, None, &mut out.lines);
                    }
                    outcome
                });
                out.outcome(job, result, source, retries);
            }
        }
        Err(e) => {
            for job in jobs {
                out.claim_error(&job.id, &e);
            }
        }
    }
    out.lines.emit();
    out.report
}

/// Phase 1: the claim script; lifecycle mode: the artefact decision, which
/// also counts the artefact for the claims of its sources.
async fn decide(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    ids: &[ArtefactId],
) -> Result<Vec<Decided>, ClaimError> {
    match &shared.lifecycle {
        Some(lc) => artefact_batch(conn, &shared.keys, lc, ids).await,
        None => Ok(claim_batch(conn, &shared.keys, ids)
            .await?
            .into_iter()
            .map(|r| r.map(|outcome| (outcome, Vec::new())))
            .collect()),
    }
}

struct Out<'a> {
    shared: &'a Shared,
    lines: Lines,
    report: Report,
}

impl Out<'_> {
    fn outcome(
        &mut self,
        job: &Job,
        result: Result<ClaimOutcome, ClaimError>,
        source: Source,
        retries: Option<&Retries>,
    ) {
        let m = &self.shared.metrics;
        let id = job.id.as_str();
        let from_event = source == Source::Event;
        let line = match result {
            Ok(ClaimOutcome::Created { claim_id }) => {
                let took: Duration = job.received.elapsed();
                inc(&m.claims_created);
                m.observe_claim(took);
                if !from_event {
                    inc(&m.reconcile_claimed);
                }
                self.report.created += 1;
                Line::info("claim_created")
                    .str("artefact_id", id)
                    .uuid("claim_id", &claim_id)
                    .str("status", crate::blackboard::PENDING_REVIEW)
                    .millis("latency_ms", took)
                    .str("source", if from_event { "event" } else { "reconcile" })
            }
            // Catch-up sees these on every pass: counted by the scan, not logged.
            Ok(_) if !from_event => return,
            Ok(ClaimOutcome::Terminal { artefact_type }) => {
                inc(&m.terminal_skipped);
                Line::info("terminal_skipped")
                    .str("artefact_id", id)
                    .str("type", &artefact_type)
            }
            Ok(ClaimOutcome::Duplicate { existing_claim_id }) => {
                inc(&m.duplicate_events);
                Line::warn("duplicate_artefact")
                    .str("artefact_id", id)
                    .str("existing_claim_id", &existing_claim_id)
            }
            // The event may have come before its hash: try again a little later.
            Ok(ClaimOutcome::NotFound | ClaimOutcome::Invalid { .. })
                if retries.is_some_and(|r| r.hold(job)) =>
            {
                return
            }
            // Reviews and Failures are deliverables: their effects are reported.
            Ok(ClaimOutcome::Deliverable { .. }) => return,
            Ok(ClaimOutcome::NotFound) => {
                inc(&m.artefacts_not_found);
                Line::warn("artefact_not_found").str("artefact_id", id)
            }
            Ok(ClaimOutcome::Invalid { reason }) => {
                inc(&m.artefacts_invalid);
                Line::warn("artefact_invalid")
                    .str("artefact_id", id)
                    .str("reason", &reason)
            }
            Err(e) => return self.claim_error(&job.id, &e),
        };
        self.lines.push(line);
    }

    fn claim_error(&mut self, artefact_id: &ArtefactId, e: &ClaimError) {
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
