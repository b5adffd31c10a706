//! The sweep's steps: what no event announces. The engine runs them about
//! once a second in each replica (the scripts make repeats harmless):
//! - bidding that timed out (`SETT_BID_TIMEOUT`) is decided;
//! - every few seconds, every claim collecting bids is checked, so a bid
//!   whose `bid_submitted` event never came (or came while no orchestrator
//!   listened) is still granted;
//! - phases past `SETT_PHASE_TIMEOUT` are terminated;
//! - the gauges of waiting claims are refreshed (and, in `lock`, the
//!   instance lock is kept fresh).
//!
//! Everything is read in bounded chunks: memory does not grow with the
//! number of waiting claims.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};

use super::scripts::Set;
use super::Lifecycle;
use crate::ids::ClaimId;
use crate::redis_io::scripts::{decide, run_batch, text, Call, Decided};

/// Claims per chunk (one pipeline).
const CHUNK: usize = 256;

/// Claim ids from a `due.lua` reply.
fn ids(value: &Value) -> Vec<ClaimId> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| ClaimId::parse(&text(v)?))
            .collect(),
        _ => Vec::new(),
    }
}

/// Up to a chunk of the claims of `set` older than `age` (server clock),
/// each given to its decision (`call`); none while `age` is not set.
async fn expired<'a>(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    set: Set,
    age: Option<Duration>,
    call: impl Fn(&ClaimId, Duration) -> Call<'a>,
) -> Result<Vec<Decided>, RedisError> {
    let Some(age) = age else {
        return Ok(Vec::new());
    };
    let due = run_batch(conn, &[lc.scripts.due(set, age, CHUNK)]).await?;
    let due = match due.into_iter().next() {
        Some(Ok(v)) => ids(&v),
        Some(Err(e)) => return Err(e),
        None => return Ok(Vec::new()),
    };
    let calls: Vec<_> = due.iter().map(|id| call(id, age)).collect();
    decide(conn, &calls).await
}

/// Decides bidding for claims whose bid timeout has passed.
pub async fn expired_bids(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Vec<Decided>, RedisError> {
    expired(conn, lc, Set::Bidding, lc.bid_timeout, |id, timeout| {
        lc.scripts.bids(id, Some(timeout))
    })
    .await
}

/// Terminates phases whose timeout has passed.
pub async fn expired_phases(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Vec<Decided>, RedisError> {
    let shown = lc.phase_timeout.map(reason_duration).unwrap_or_default();
    expired(conn, lc, Set::Active, lc.phase_timeout, |id, timeout| {
        lc.scripts.timeout(id, timeout, &shown)
    })
    .await
}

/// One ZSCAN step over an orchestrator set: the next cursor (0: done) and
/// the claim ids of this step (members that are not ids are left out).
pub async fn scan_set(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    set: Set,
    cursor: u64,
) -> Result<(u64, Vec<ClaimId>), RedisError> {
    let (next, flat): (u64, Vec<String>) = redis::cmd("ZSCAN")
        .arg(lc.scripts.set_key(set))
        .arg(cursor)
        .arg("COUNT")
        .arg(CHUNK)
        .query_async(conn)
        .await?;
    // ZSCAN returns member, score, member, score…
    let ids = flat.iter().step_by(2).filter_map(|m| ClaimId::parse(m));
    Ok((next, ids.collect()))
}

/// A duration as the contract's timeout reason spells it: `2s`, `120s`, `500ms`.
pub fn reason_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// One step of the walk over every claim collecting bids: claims whose bids
/// hash has at least as many fields as there are agents are decided (the
/// script checks the names). Returns the next ZSCAN cursor (0: walk done).
pub async fn missed_bids_step(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    cursor: u64,
) -> Result<(u64, Vec<Decided>), RedisError> {
    let (next, claims) = scan_set(conn, lc, Set::Bidding, cursor).await?;
    if claims.is_empty() {
        return Ok((next, Vec::new()));
    }
    let mut pipe = redis::pipe();
    for claim in &claims {
        pipe.hlen(lc.scripts.bids_key(claim));
    }
    // A bids key of the wrong type answers an error: the script decides those.
    let sizes: Vec<redis::RedisResult<usize>> = pipe.ignore_errors().query_async(conn).await?;
    let agents = lc.registry.agents().len();
    let ready: Vec<&ClaimId> = claims
        .iter()
        .zip(sizes)
        .filter(|(_, n)| n.as_ref().map_or(true, |n| *n >= agents))
        .map(|(claim, _)| claim)
        .collect();
    if ready.is_empty() {
        return Ok((next, Vec::new()));
    }
    let calls: Vec<_> = ready
        .iter()
        .map(|claim| lc.scripts.bids(claim, lc.bid_timeout))
        .collect();
    let decided = decide(conn, &calls).await?;
    // Their bid events, still on their way when the walk decides, need no
    // command then (`bids::decide_batch`).
    super::bids::remember(lc, ready.into_iter().zip(&decided));
    Ok((next, decided))
}

/// Refreshes the gauges of waiting claims (one pipeline; ages by the server's clock).
pub async fn gauges(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Result<(), RedisError> {
    use std::sync::atomic::Ordering::Relaxed;
    type Oldest = Vec<(String, f64)>;
    type Counts = (i64, i64, Oldest, Oldest, (u64, u64));
    let oldest = |pipe: &mut redis::Pipeline, set: Set| {
        pipe.cmd("ZRANGE")
            .arg(lc.scripts.set_key(set))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES");
    };
    let mut pipe = redis::pipe();
    pipe.zcard(lc.scripts.set_key(Set::Bidding))
        .zcard(lc.scripts.set_key(Set::Active));
    oldest(&mut pipe, Set::Active);
    oldest(&mut pipe, Set::Bidding);
    let (bidding, active, oldest_phase, oldest_bid, time): Counts =
        pipe.cmd("TIME").query_async(conn).await?;
    let now_ms = time.0 * 1000 + time.1 / 1000;
    let age = |oldest: Oldest| {
        oldest
            .first()
            .map_or(0, |(_, since)| now_ms.saturating_sub(*since as u64) / 1000) as i64
    };
    let m = &lc.metrics;
    m.awaiting_bids.store(bidding, Relaxed);
    m.in_phase.store(active, Relaxed);
    m.oldest_phase_age.store(age(oldest_phase), Relaxed);
    m.oldest_bid_wait.store(age(oldest_bid), Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timeout_reasons_spell_seconds_or_milliseconds() {
        use std::time::Duration;
        assert_eq!(super::reason_duration(Duration::from_secs(2)), "2s");
        assert_eq!(super::reason_duration(Duration::from_secs(120)), "120s");
        assert_eq!(super::reason_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(
            super::reason_duration(Duration::from_millis(1500)),
            "1500ms"
        );
    }
}
