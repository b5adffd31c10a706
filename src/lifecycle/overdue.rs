//! Waiting made visible: with `SETT_BID_TIMEOUT=0` (the default) a claim
//! waits for every registered agent, since a busy agent (a pup whose tool
//! runs for minutes reads no claim events) is not an absent one. What an
//! operator needs then is to see the wait: a `bids_overdue` warning once a
//! claim has waited longer than `SETT_BID_OVERDUE` (again every such period
//! while it keeps waiting; `overdue.lua` marks the claim, so one replica
//! warns), and the gauge of the oldest wait.

use std::sync::atomic::Ordering::Relaxed;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::scripts::Set;
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

/// Refreshes the gauge of the oldest wait for bids (server clock).
pub async fn gauge(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Result<(), RedisError> {
    let (oldest, time): (Vec<(String, f64)>, (u64, u64)) = redis::pipe()
        .cmd("ZRANGE")
        .arg(lc.scripts.set_key(Set::Bidding))
        .arg(0)
        .arg(0)
        .arg("WITHSCORES")
        .cmd("TIME")
        .query_async(conn)
        .await?;
    let now_ms = time.0 * 1000 + time.1 / 1000;
    let age = oldest
        .first()
        .map_or(0, |(_, since)| now_ms.saturating_sub(*since as u64) / 1000);
    lc.metrics.oldest_bid_wait.store(age as i64, Relaxed);
    Ok(())
}
