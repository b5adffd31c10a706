//! The catch-up's state that outlives sessions: the pass under way (cursor,
//! counts, the server it belongs to) and when the next pass is due (asked
//! for, periodic, or retried with backoff after failures).

use std::time::{Duration, Instant};

/// Least time between two passes, and the first wait before retrying failed
/// claims; it doubles while passes keep failing (a poisoned key must not make
/// the scan run back to back), up to RETRY_MAX.
const PASS_SPACING: Duration = Duration::from_secs(1);
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
pub(super) struct Totals {
    pub(super) scanned: u64,
    pub(super) unclaimed: u64,
    pub(super) claimed: u64,
    /// Lifecycle mode: claims someone else made that joined ours.
    pub(super) adopted: u64,
    /// Claims Redis refused (e.g. MISCONF, OOM, NOREPLICAS): retried by another pass.
    pub(super) failed: u64,
}

/// What adopting a batch did: claims adopted, whether one joined a phase,
/// decisions Redis refused (counted as failed: the pass is retried).
#[derive(Default)]
pub(super) struct Adopted {
    pub(super) adopted: u64,
    pub(super) replay: bool,
    pub(super) failed: u64,
}

impl Adopted {
    pub(super) fn add(&mut self, other: Adopted) {
        self.adopted += other.adopted;
        self.replay |= other.replay;
        self.failed += other.failed;
    }
}

/// A pass under way.
pub(super) struct Pass {
    pub(super) cursor: u64,
    /// The SCAN came back to cursor 0: every key was walked. A pass resumed
    /// after that (its last adopt batch or its recheck cut by the session's
    /// end) does not walk again: it would count every key twice.
    pub(super) walked: bool,
    /// `run_id` of the server the cursor belongs to; `None`: unknown (never resumed).
    pub(super) server: Option<String>,
    pub(super) totals: Totals,
    pub(super) started: Instant,
    /// Sessions it has been resumed in.
    pub(super) resumed: u64,
    /// Lifecycle mode: the artefact ids of claims in a phase or awaiting
    /// rework, as of this session's start of the pass.
    pub(super) active: crate::lifecycle::catchup::Active,
    /// A claim was adopted into a phase: another pass replays its deliveries.
    pub(super) replay: bool,
    /// This pass replays (the recount set held claims when it began, at this
    /// server time in ms): the artefacts of claims someone else finished
    /// count too (`lifecycle::adopt::replay_from`).
    pub(super) replaying: Option<u64>,
    /// Lifecycle mode: this pass reads each indexed artefact's claim id and
    /// adopts what no set of ours holds, then walks our sets
    /// (`recheck`); otherwise it is Phase 1's pass (EXISTS).
    pub(super) adopting: bool,
}

impl Pass {
    /// Counts what an adopter's batches did.
    pub(super) fn tally(&mut self, adopted: Adopted) {
        self.totals.adopted += adopted.adopted;
        self.totals.failed += adopted.failed;
        self.replay |= adopted.replay;
    }
}

/// The catch-up's state, kept by the engine from one session to the next.
pub struct CatchUp {
    /// Time between passes nobody asked for; `None`: only when asked.
    pub(super) interval: Option<Duration>,
    pub(super) pass: Option<Pass>,
    /// Asked for (a subscribe, a dropped event, a refused claim) and not begun yet.
    pub(super) wanted: bool,
    /// A failed pass is to be run again (after `not_before`).
    pub(super) retry: bool,
    pub(super) retry_after: Duration,
    pub(super) not_before: Instant,
    pub(super) periodic_at: Option<Instant>,
}

impl CatchUp {
    /// `interval`: how often a pass runs unasked (`None`: only when asked).
    pub fn new(interval: Option<Duration>) -> CatchUp {
        let now = Instant::now();
        CatchUp {
            interval,
            pass: None,
            wanted: false,
            retry: false,
            retry_after: RETRY_FIRST,
            not_before: now,
            periodic_at: interval.map(|i| now + i),
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Due now, or when to look again (`None`: only when asked).
    pub(super) fn due(&self, now: Instant) -> Result<(), Option<Instant>> {
        let wanted = self.wanted || self.retry || self.periodic_at.is_some_and(|t| t <= now);
        match (wanted, now >= self.not_before) {
            (true, true) => Ok(()),
            (true, false) => Err(Some(self.not_before)),
            (false, _) => Err(self.periodic_at.map(|t| t.max(self.not_before))),
        }
    }

    /// Schedules what follows a pass that ended (`failed`: to be retried).
    pub(super) fn pass_ended(&mut self, failed: bool) {
        let now = Instant::now();
        self.pass = None;
        self.retry = failed;
        if failed {
            self.not_before = now + self.retry_after;
            self.retry_after = (self.retry_after * 2).min(RETRY_MAX);
        } else {
            self.retry_after = RETRY_FIRST;
            self.not_before = now + PASS_SPACING;
        }
        self.periodic_at = self.interval.map(|i| now + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_are_spaced_retried_with_backoff_and_periodic() {
        let mut c = CatchUp::new(Some(Duration::from_secs(300)));
        let now = Instant::now();
        assert!(c.due(now).is_err(), "nothing asked yet");
        assert!(c.due(now + Duration::from_secs(301)).is_ok(), "periodic");
        c.wanted = true;
        assert!(c.due(now).is_ok());
        c.wanted = false;
        c.pass_ended(false);
        let now = Instant::now();
        c.wanted = true;
        assert_eq!(c.due(now), Err(Some(c.not_before)), "spaced by 1 s");
        assert!(c.due(now + PASS_SPACING).is_ok());
        c.wanted = false;
        c.pass_ended(true);
        c.pass_ended(true);
        let now = Instant::now();
        assert!(
            c.due(now + Duration::from_secs(9)).is_err(),
            "second retry waits 10 s"
        );
        assert!(c.due(now + Duration::from_secs(10)).is_ok());
        let off = CatchUp::new(None);
        assert_eq!(off.due(Instant::now() + RETRY_MAX * 100), Err(None));
    }
}
