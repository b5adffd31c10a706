//! Waiting made visible: with `SETT_BID_TIMEOUT=0` (the default) a claim
//! waits for every registered agent, since a busy agent (a pup whose tool
//! runs for minutes reads no claim events) is not an absent one. What an
//! operator needs then is to see the wait: a `bids_overdue` warning once a
//! claim has waited longer than `SETT_BID_OVERDUE` (again every such period
//! while it keeps waiting; `overdue.lua` marks the claim, so one replica
//! warns), and the gauge of the oldest wait (refreshed with the others,
//! `sweep::gauges`).

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;
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
    decide(conn, &[lc.scripts.overdue(after, WARNINGS_PER_ROUND)]).await
}
