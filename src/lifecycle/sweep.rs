//! The sweep: what no event announces. Run about once a second by each
//! replica (the scripts make repeats harmless):
//! - bidding that timed out (`SETT_BID_TIMEOUT`) is decided;
//! - every few seconds, every claim collecting bids is checked, so a bid
//!   whose `bid_submitted` event never came (or came while no orchestrator
//!   listened) is still granted;
//! - phases past `SETT_PHASE_TIMEOUT` are terminated;
//! - the gauges of waiting claims are refreshed, and the instance lock
//!   (`{p}:{i}:lock`, contract section 7) is kept fresh.
//!
//! Everything is read in bounded chunks: memory does not grow with the
//! number of waiting claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};

use super::effects::{report, Effect};
use super::scripts::Set;
use super::work::decision_error;
use super::Lifecycle;
use crate::engine::SessionCtx;
use crate::log::Lines;
use crate::scripts::{rows, run_batch, Call};
use crate::session::ends_session;
use crate::Shared;

/// How often a replica sweeps.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Every this many sweeps, every waiting claim's bids are looked at.
pub const FULL_BID_CHECK_EVERY: u64 = 5;
/// Every this many sweeps, the lock is refreshed (10 s, expiry 30 s).
pub const LOCK_EVERY: u64 = 10;
const LOCK_TTL_SECS: u64 = 30;
/// Claims per chunk (one pipeline).
const CHUNK: usize = 256;

/// What one script call reported, or why it failed.
pub type Outcome = Result<Vec<Effect>, Refused>;

/// A decision Redis refused (or answered oddly): why, and whether the
/// session must end for it (READONLY, MASTERDOWN: see `session::ends_session`).
#[derive(Debug)]
pub struct Refused {
    pub reason: String,
    pub ends_session: bool,
}

/// Runs `calls` and decodes each reply. `Err` only when the connection failed.
pub async fn run(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
) -> Result<Vec<Outcome>, RedisError> {
    let replies = run_batch(conn, calls).await?;
    Ok(replies
        .into_iter()
        .map(|reply| match reply {
            Ok(value) => rows(&value)
                .ok_or(())
                .and_then(|r| Effect::from_rows(&r).map_err(drop))
                .map_err(|()| Refused {
                    reason: "unexpected reply from a lifecycle script".into(),
                    ends_session: false,
                }),
            Err(e) => Err(Refused {
                reason: e.to_string(),
                ends_session: ends_session(&e),
            }),
        })
        .collect())
}

/// Claim ids from a `due.lua` reply.
fn ids(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(crate::scripts::text).collect(),
        _ => Vec::new(),
    }
}

/// Up to a chunk of the claims of `set` older than `age` (server clock),
/// each given to its decision (`call`).
async fn expired<'a>(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    set: Set,
    age: Duration,
    call: impl Fn(&str) -> Call<'a>,
) -> Result<Vec<Outcome>, RedisError> {
    let due = run_batch(conn, &[lc.scripts.due(set, age, CHUNK)]).await?;
    let due = match due.into_iter().next() {
        Some(Ok(v)) => ids(&v),
        Some(Err(e)) => return Err(e),
        None => return Ok(Vec::new()),
    };
    let calls: Vec<_> = due.iter().map(|id| call(id)).collect();
    run(conn, &calls).await
}

/// Decides bidding for claims whose bid timeout has passed.
pub async fn expired_bids(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Vec<Outcome>, RedisError> {
    let Some(timeout) = lc.bid_timeout else {
        return Ok(Vec::new());
    };
    expired(conn, lc, Set::Bidding, timeout, |id| {
        lc.scripts.bids(id, lc.bid_timeout)
    })
    .await
}

/// Terminates phases whose timeout has passed.
pub async fn expired_phases(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Vec<Outcome>, RedisError> {
    let Some(timeout) = lc.phase_timeout else {
        return Ok(Vec::new());
    };
    let shown = reason_duration(timeout);
    expired(conn, lc, Set::Active, timeout, |id| {
        lc.scripts.timeout(id, timeout, &shown)
    })
    .await
}

/// One ZSCAN step over an orchestrator set: the next cursor (0: done) and
/// the claim ids of this step.
pub async fn scan_set(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    set: Set,
    cursor: u64,
) -> Result<(u64, Vec<String>), RedisError> {
    let (next, flat): (u64, Vec<String>) = redis::cmd("ZSCAN")
        .arg(lc.scripts.set_key(set))
        .arg(cursor)
        .arg("COUNT")
        .arg(CHUNK)
        .query_async(conn)
        .await?;
    // ZSCAN returns member, score, member, score…
    Ok((next, flat.into_iter().step_by(2).collect()))
}

/// A duration as the contract's timeout reason spells it: `2s`, `120s`, `500ms`.
fn reason_duration(d: Duration) -> String {
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
) -> Result<(u64, Vec<Outcome>), RedisError> {
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
    let calls: Vec<_> = claims
        .iter()
        .zip(sizes)
        .filter(|(_, n)| n.as_ref().map_or(true, |n| *n >= agents))
        .map(|(claim, _)| lc.scripts.bids(claim, lc.bid_timeout))
        .collect();
    if calls.is_empty() {
        return Ok((next, Vec::new()));
    }
    Ok((next, run(conn, &calls).await?))
}

/// Refreshes the gauges of waiting claims.
pub async fn gauges(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Result<(), RedisError> {
    use std::sync::atomic::Ordering::Relaxed;
    type Counts = (i64, i64, Vec<(String, f64)>, (u64, u64));
    let (bidding, active, oldest, time): Counts = redis::pipe()
        .zcard(lc.scripts.set_key(Set::Bidding))
        .zcard(lc.scripts.set_key(Set::Active))
        .cmd("ZRANGE")
        .arg(lc.scripts.set_key(Set::Active))
        .arg(0)
        .arg(0)
        .arg("WITHSCORES")
        .cmd("TIME")
        .query_async(conn)
        .await?;
    let m = &lc.metrics;
    m.awaiting_bids.store(bidding, Relaxed);
    m.in_phase.store(active, Relaxed);
    let now_ms = time.0 * 1000 + time.1 / 1000;
    let age = oldest
        .first()
        .map_or(0, |(_, since)| now_ms.saturating_sub(*since as u64) / 1000);
    m.oldest_phase_age.store(age as i64, Relaxed);
    Ok(())
}

/// `{p}:{i}:lock` = `orchestrator:<unix seconds>`, expiring in 30 s.
pub async fn refresh_lock(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<(), RedisError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let value = format!("orchestrator:{now}");
    redis::cmd("SET")
        .arg(&lc.lock_key)
        .arg(&value)
        .arg("EX")
        .arg(LOCK_TTL_SECS)
        .query_async::<()>(conn)
        .await?;
    *lc.lock_value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    Ok(())
}

/// At shutdown: deletes the lock if it still holds what this process wrote
/// (so `holt up` need not wait 30 s), in one script (another replica may
/// have refreshed it since: then it stays).
pub async fn release_lock(conn: &mut MultiplexedConnection, lc: &Lifecycle) {
    const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
    let value = lc
        .lock_value
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(value) = value {
        let _ = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&lc.lock_key)
            .arg(value)
            .query_async::<i64>(conn)
            .await;
    }
}

/// Sweeps about once a second until the session stops. Each step runs whole
/// (the session's stop is looked at between steps, never inside one).
pub async fn run_task(ctx: SessionCtx) {
    let Some(lc) = ctx.shared.lifecycle.as_ref() else {
        return;
    };
    let mut conn = ctx.conn.clone();
    // The first sweep walks every claim collecting bids: after a restart or a
    // reconnect that is how bids written while no orchestrator listened are seen.
    let mut round: u64 = 0;
    let mut cursor: u64 = 0;
    loop {
        if ctx.stopping() {
            if ctx.shared.shutdown.is_triggered() {
                release_lock(&mut conn, lc).await;
            }
            return;
        }
        let walk = round.is_multiple_of(FULL_BID_CHECK_EVERY) || cursor != 0;
        if let Err(reason) = sweep_once(&ctx.shared, lc, &mut conn, round, walk, &mut cursor).await
        {
            ctx.end(format!("sweep: {reason}"));
            return;
        }
        round += 1;
        // Walk on without pausing while a walk over many claims is under way.
        if cursor == 0 {
            // Stopped or not, the loop's head decides (and releases the lock).
            let _ = ctx.stop.unless_triggered(smol::Timer::after(PERIOD)).await;
        }
    }
}

/// One round. Each step stands alone: one that Redis refuses (a junk key,
/// OOM…) is logged and the others still run, the lock first. `Err` only when
/// the session must end (connection lost, READONLY…).
async fn sweep_once(
    shared: &Shared,
    lc: &Lifecycle,
    conn: &mut MultiplexedConnection,
    round: u64,
    walk: bool,
    cursor: &mut u64,
) -> Result<(), String> {
    let mut lines = Lines::default();
    let mut failed = |what: &str, e: RedisError| -> Result<(), String> {
        lines.push(decision_error(shared, "sweep", &format!("{what}: {e}")));
        if ends_session(&e) {
            return Err(format!("{what}: {e}"));
        }
        Ok(())
    };
    if round.is_multiple_of(LOCK_EVERY) {
        if let Err(e) = refresh_lock(conn, lc).await {
            failed("lock", e)?;
        }
    }
    let mut outcomes = Vec::new();
    match expired_bids(conn, lc).await {
        Ok(more) => outcomes.extend(more),
        Err(e) => failed("bid timeouts", e)?,
    }
    if walk {
        match missed_bids_step(conn, lc, *cursor).await {
            Ok((next, more)) => {
                *cursor = next;
                outcomes.extend(more);
            }
            Err(e) => {
                // Start the walk again next time rather than stick on one step.
                *cursor = 0;
                failed("bids walk", e)?;
            }
        }
    }
    match expired_phases(conn, lc).await {
        Ok(more) => outcomes.extend(more),
        Err(e) => failed("phase timeouts", e)?,
    }
    if *cursor == 0 {
        if let Err(e) = gauges(conn, lc).await {
            failed("gauges", e)?;
        }
    }
    let mut end = None;
    for outcome in outcomes {
        match outcome {
            Ok(effects) => report(&effects, &lc.metrics, None, &mut lines),
            Err(refused) => {
                lines.push(decision_error(shared, "sweep", &refused.reason));
                if refused.ends_session {
                    end.get_or_insert(refused.reason);
                }
            }
        }
    }
    lines.emit();
    end.map_or(Ok(()), Err)
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
