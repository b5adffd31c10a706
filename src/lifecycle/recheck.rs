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
//! changed across a restart): it would wait for ever. Memory stays bounded:
//! a chunk of ids at a time.
//!
//! Without a bid timeout a late bid is one that an earlier orchestrator's
//! timeout decided without (the timeout switched off since, or an older
//! default). Live ones come as events (`bids::decide_batch`); the dormant
//! set, never trimmed, is walked only by the first pass of each session
//! (bid events published while no session listened are lost) and by the
//! pass after a bid to work was missed (its event dropped, its decision
//! refused): `Lifecycle::dormant_walk_due`. With a timeout every pass walks
//! it, as before.

use std::sync::atomic::Ordering;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::scripts::Set;
use super::sweep::scan_set;
use super::Lifecycle;
use crate::redis_io::scripts::{decide, Decided};

/// The sets a pass walks: the active set, and the dormant set too with a
/// bid timeout or when its walk is due (taken here: a walk that does not
/// end asks for it again, `Lifecycle::walk_dormant_set`).
pub fn sets(lc: &Lifecycle) -> &'static [Set] {
    let due = lc.dormant_walk_due.swap(false, Ordering::Relaxed);
    if lc.bid_timeout.is_some() || due {
        &[Set::Active, Set::Dormant]
    } else {
        &[Set::Active]
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
    let call = lc.scripts.late_bids(&claims);
    Ok((next, decide(conn, &[call]).await?))
}
