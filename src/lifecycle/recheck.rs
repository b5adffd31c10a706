//! What a catch-up pass looks at in our own sets: bids written while no
//! orchestrator listened, and claims granted to agents the registry lost.
//!
//! A late bid (after `SETT_BID_TIMEOUT` decided its claim) is found live
//! from its `bid_submitted` event; one that landed in a bids hash while no
//! orchestrator ran (its event lost) is found here, by a walk over the
//! claims in a phase (the active set) and the dormant claims, a chunk at a
//! time, each chunk one `late_bid.lua` call, which decides each claim as the
//! live event would have. The same walk over the active set terminates a
//! claim granted to an agent that is no longer in the registry (a registry
//! changed across a restart): it would wait for ever. Without a bid timeout
//! only the active set is walked (nothing is late). Memory stays bounded: a
//! chunk of ids at a time.

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::scripts::Set;
use super::sweep::scan_set;
use super::Lifecycle;
use crate::redis_io::scripts::{decide, Decided};

/// The sets a pass walks: the active set, and with a bid timeout the
/// dormant set too.
pub fn sets(lc: &Lifecycle) -> &'static [Set] {
    match lc.bid_timeout {
        Some(_) => &[Set::Active, Set::Dormant],
        None => &[Set::Active],
    }
}

/// One step of the walk over `set`: the next ZSCAN cursor (0: done) and
/// what the decision did for this chunk.
pub async fn step(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    set: Set,
    cursor: u64,
) -> Result<(u64, Vec<Decided>), RedisError> {
    let (next, claims) = scan_set(conn, lc, set, cursor).await?;
    if claims.is_empty() {
        return Ok((next, Vec::new()));
    }
    let call = lc.scripts.late_bids(&claims, lc.bid_timeout.is_some());
    Ok((next, decide(conn, &[call]).await?))
}
