//! Waiting made visible: with `SETT_BID_TIMEOUT=0` (the default) a claim
//! waits for every registered agent, since a busy agent (a pup whose tool
//! runs for minutes reads no claim events) is not an absent one. What an
//! operator needs then is to see the wait: a `bids_overdue` warning once a
//! claim has waited longer than `SETT_BID_OVERDUE` (again every such period
//! while it keeps waiting; `overdue.lua` marks the claim, so one replica
//! warns), and the gauge of the oldest wait (refreshed with the others,
//! `sweep::gauges`).
//!
//! A call looks at a thousand overdue claims at most, so the calls go round
//! them: each starts where the last stopped (`Lifecycle::overdue_from`, the
//! script's `overdue_next` row), and a claim behind a thousand older ones
//! that were warned already is warned too.

use std::sync::atomic::Ordering;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;
use crate::blackboard::effects::Effect;
use crate::redis_io::scripts::{decide, Decided};

/// At most this many `bids_overdue` warnings per call (one sweep round).
pub const WARNINGS_PER_ROUND: usize = 32;

/// Warns about claims waiting for bids longer than `SETT_BID_OVERDUE`.
pub async fn warn(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Vec<Decided>, RedisError> {
    let Some(after) = lc.bid_overdue else {
        return Ok(Vec::new());
    };
    let from = lc.overdue_from.load(Ordering::Relaxed);
    let mut decided = decide(conn, &[lc.scripts.overdue(after, WARNINGS_PER_ROUND, from)]).await?;
    // The resume point is ours to keep, not a decision to report. An answer
    // that is an error (reported as such) starts again from the oldest.
    let mut next = 0;
    for answer in decided.iter_mut().flatten() {
        answer.retain(|e| match e {
            Effect::OverdueNext { from } => {
                next = *from;
                false
            }
            _ => true,
        });
    }
    lc.overdue_from.store(next, Ordering::Relaxed);
    Ok(decided)
}
