//! The sweep task: about once a second, each replica runs the lifecycle's
//! sweep steps (`lifecycle::sweep`: bid timeouts, the walk over claims
//! collecting bids, phase timeouts, `bids_overdue` warnings, gauges) and keeps the instance lock
//! fresh (`lifecycle::lock`). Each step runs whole: the session's stop is
//! looked at between steps, never inside one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::ctx::SessionCtx;
use super::decisions::{decision_error, report_decisions};
use super::shared::Shared;
use crate::lifecycle::{lock, overdue, sweep, Lifecycle};
use crate::log::Lines;
use crate::redis_io::ends_session;

/// How often a replica sweeps.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Every this many sweeps, every waiting claim's bids are looked at.
pub const FULL_BID_CHECK_EVERY: u64 = 5;
/// Every this many sweeps, the lock is refreshed (10 s, expiry 30 s).
pub const LOCK_EVERY: u64 = 10;
/// The longest a session's first walk over the claims collecting bids
/// waits for the session's first catch-up pass to end.
pub const WALK_HOLD: Duration = Duration::from_secs(30);

/// Sweeps about once a second until the session stops. Each step runs whole
/// (the session's stop is looked at between steps, never inside one).
pub(super) async fn run(ctx: SessionCtx) {
    let Some(lc) = ctx.shared.lifecycle.as_ref() else {
        return;
    };
    let mut conn = ctx.conn.clone();
    // A session's first walk looks at every claim collecting bids: after a
    // restart or a reconnect that is how bids written while no orchestrator
    // listened are seen. It waits for the session's first catch-up pass to
    // end (Hold): that pass adopts the claims someone else made into the
    // bidding set, and a walk beside it would look at each one as it joins
    // (about 7% of Redis's instructions for an adopting pass:
    // docs/performance.md). The next walk is FULL_BID_CHECK_EVERY rounds
    // after one ends.
    let mut hold = Hold::new(&ctx);
    let mut round: u64 = 0;
    let mut cursor: u64 = 0;
    let mut next_walk: u64 = 0;
    loop {
        if ctx.stopping() {
            if ctx.shared.shutdown.is_triggered() {
                lock::release(&mut conn, lc).await;
            }
            return;
        }
        let due = cursor != 0 || round >= next_walk;
        let held = due && cursor == 0 && hold.holds(&ctx);
        let walk = due && !held;
        if walk {
            hold.walked();
        }
        let round_ctx = Round {
            number: round,
            walk,
            expire: ctx.caught_up(),
        };
        if let Err(reason) = sweep_once(&ctx.shared, lc, &mut conn, round_ctx, &mut cursor).await {
            ctx.end(reason);
            return;
        }
        if walk && cursor == 0 {
            next_walk = round + FULL_BID_CHECK_EVERY;
            hold.walked_whole(&ctx);
        }
        round += 1;
        // Walk on without pausing while a walk over many claims is under way.
        if cursor == 0 {
            // Stopped or not, the loop's head decides (and releases the lock).
            let period = async {
                smol::Timer::after(PERIOD).await;
            };
            let _ = match held {
                true => {
                    ctx.stop
                        .unless_triggered(period.or(ctx.first_pass_ended()))
                        .await
                }
                false => ctx.stop.unless_triggered(period).await,
            };
        }
    }
}

/// The wait of a session's first walk: while the session's first catch-up
/// pass is under way (`SessionCtx::first_pass_over`), at most WALK_HOLD,
/// and not at all when a session before this one held its walk back and
/// ended before a walk reached the end of the set
/// (`Shared::bids_walk_owed`): sessions that end within their first pass
/// cannot hold the walk back for ever.
struct Hold {
    done: bool,
    since: Option<Instant>,
}

impl Hold {
    fn new(ctx: &SessionCtx) -> Hold {
        Hold::starting(ctx.shared.bids_walk_owed.load(Ordering::Relaxed))
    }

    /// A session's hold; `owed`: an earlier session's walk waited and none
    /// reached the end of the set since (then no walk waits).
    fn starting(owed: bool) -> Hold {
        Hold {
            done: owed,
            since: None,
        }
    }

    /// Whether the walk due now waits.
    fn holds(&mut self, ctx: &SessionCtx) -> bool {
        self.holds_at(
            Instant::now(),
            ctx.first_pass_over(),
            &ctx.shared.bids_walk_owed,
        )
    }

    /// [`Hold::holds`] at `now`, the first pass over or not, `owed` the
    /// shared `bids_walk_owed` (set while a walk waits).
    fn holds_at(&mut self, now: Instant, first_pass_over: bool, owed: &AtomicBool) -> bool {
        if self.done || first_pass_over {
            return false;
        }
        if now.saturating_duration_since(*self.since.get_or_insert(now)) >= WALK_HOLD {
            return false;
        }
        owed.store(true, Ordering::Relaxed);
        true
    }

    /// A walk starts: the session's later walks never wait.
    fn walked(&mut self) {
        self.done = true;
    }

    /// A walk reached the end of the set: none is owed any more.
    fn walked_whole(&self, ctx: &SessionCtx) {
        ctx.shared.bids_walk_owed.store(false, Ordering::Relaxed);
    }
}

/// What one round does: its number, whether it walks the claims collecting
/// bids, whether phases may time out (not before the session has caught up:
/// `SessionCtx::caught_up`).
struct Round {
    number: u64,
    walk: bool,
    expire: bool,
}

/// One round. Each step stands alone: one that Redis refuses (a junk key,
/// OOM…) is logged and the others still run, the lock first. `Err` only when
/// the session must end (connection lost, READONLY…).
async fn sweep_once(
    shared: &Shared,
    lc: &Lifecycle,
    conn: &mut MultiplexedConnection,
    this: Round,
    cursor: &mut u64,
) -> Result<(), String> {
    let Round {
        number: round,
        walk,
        expire,
    } = this;
    let mut lines = Lines::default();
    let mut failed = |what: &str, e: RedisError| -> Result<(), String> {
        lines.push(decision_error(shared, "sweep", &format!("{what}: {e}")));
        if ends_session(&e) {
            return Err(format!("sweep: {what}: {e}"));
        }
        Ok(())
    };
    if round.is_multiple_of(LOCK_EVERY) {
        if let Err(e) = lock::refresh(conn, lc).await {
            failed("lock", e)?;
        }
    }
    let mut decided = Vec::new();
    match sweep::expired_bids(conn, lc).await {
        Ok(more) => decided.extend(more),
        Err(e) => failed("bid timeouts", e)?,
    }
    if walk {
        match sweep::missed_bids_step(conn, lc, *cursor).await {
            Ok((next, more)) => {
                *cursor = next;
                decided.extend(more);
            }
            Err(e) => {
                // Start the walk again next time rather than stick on one step.
                *cursor = 0;
                failed("bids walk", e)?;
            }
        }
    }
    if expire {
        match sweep::expired_phases(conn, lc).await {
            Ok(more) => decided.extend(more),
            Err(e) => failed("phase timeouts", e)?,
        }
    }
    if round.is_multiple_of(FULL_BID_CHECK_EVERY) {
        match overdue::warn(conn, lc).await {
            Ok(more) => decided.extend(more),
            Err(e) => failed("bids overdue", e)?,
        }
    }
    if *cursor == 0 {
        if let Err(e) = sweep::gauges(conn, lc).await {
            failed("gauges", e)?;
        }
    }
    lines.emit();
    let since = std::iter::repeat(None);
    let report = report_decisions(shared, lc, "sweep", Ok(decided), since);
    report.end_session.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_walk_waits_for_the_first_pass_at_most_walk_hold() {
        let owed = AtomicBool::new(false);
        let start = Instant::now();
        let mut h = Hold::starting(false);
        assert!(h.holds_at(start, false, &owed));
        assert!(owed.load(Ordering::Relaxed), "a walk waiting is owed");
        let almost = start + WALK_HOLD - Duration::from_millis(1);
        assert!(h.holds_at(almost, false, &owed));
        assert!(
            !h.holds_at(start + WALK_HOLD, false, &owed),
            "held 30 s: it walks"
        );
    }

    #[test]
    fn the_first_walk_goes_once_the_pass_is_over_and_later_ones_never_wait() {
        let owed = AtomicBool::new(false);
        let start = Instant::now();
        let mut h = Hold::starting(false);
        assert!(h.holds_at(start, false, &owed));
        assert!(!h.holds_at(start + Duration::from_secs(1), true, &owed));
        h.walked();
        assert!(!h.holds_at(start + Duration::from_secs(2), false, &owed));
    }

    #[test]
    fn a_walk_owed_by_an_earlier_session_does_not_wait() {
        let owed = AtomicBool::new(true);
        let mut h = Hold::starting(owed.load(Ordering::Relaxed));
        assert!(!h.holds_at(Instant::now(), false, &owed));
    }
}
