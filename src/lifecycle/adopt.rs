//! Claims someone else made: the catch-up's index reads give every claimed
//! artefact's claim id, and each batch of them goes to one `adopt.lua` call,
//! which adopts those none of our sets holds (a Phase-1 claim, one Holt's Go
//! orchestrator made, one a Phase-1 replica made during a rolling update).
//! One script call per batch and no registry read per claim: switching the
//! lifecycle on over a blackboard of Phase-1 claims costs about one more
//! catch-up pass (see docs/lifecycle.md, "Adoption", and
//! `scripts/catchup-bench.sh adopt`).

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;
use crate::blackboard::effects::Effect;
use crate::ids::{ArtefactId, ClaimId};
use crate::redis_io::scripts::{decide, Decided};

/// A claim id read from an artefact's index entry, with that artefact's id
/// (checked: the script need not check the claim's `artefact_id` when it is
/// this one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indexed {
    pub artefact: ArtefactId,
    pub claim: ClaimId,
}

/// Claim ids per `adopt.lua` call (each costs a status read when nothing is
/// to adopt, about ten commands when it adopts).
pub const BATCH: usize = 250;

/// The statuses a claim can be adopted in (not `complete`, not `terminated`).
const LIVE: [&[u8]; 4] = [
    b"pending_review",
    b"pending_parallel",
    b"pending_exclusive",
    b"pending_assignment",
];

/// Runs the adoption decision over the claims among `claims` in a live
/// status: first one pipelined `HGET status` (most claims on a lived-in
/// blackboard are final, and a plain read costs Redis a fraction of a
/// script's), then a script call per [`BATCH`] of the others (one pipeline),
/// which checks everything again.
pub async fn batch(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    claims: &[Indexed],
) -> Result<Vec<Decided>, RedisError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for indexed in claims {
        pipe.hget(lc.scripts.claim_key(&indexed.claim), "status");
    }
    // A claim key of another type answers an error: left alone.
    let statuses: Vec<redis::RedisResult<Option<Vec<u8>>>> =
        pipe.ignore_errors().query_async(conn).await?;
    let live: Vec<Indexed> = claims
        .iter()
        .zip(statuses)
        .filter(|(_, s)| matches!(s, Ok(Some(s)) if LIVE.contains(&s.as_slice())))
        .map(|(c, _)| *c)
        .collect();
    let calls: Vec<_> = live
        .chunks(BATCH)
        .map(|chunk| lc.scripts.adopt(chunk))
        .collect();
    decide(conn, &calls).await
}

/// How many claims a batch adopted, and whether one of them joined a phase
/// or awaits rework: what was delivered for it while nobody listened is then
/// replayed by another catch-up pass (the pass under way loaded the claims
/// in a phase before it adopted this one).
pub fn adopted(decided: &[Decided]) -> (u64, bool) {
    let mut n = 0;
    let mut in_phase = false;
    for effects in decided.iter().flatten() {
        for effect in effects {
            if let Effect::Adopted { how, .. } = effect {
                n += 1;
                in_phase |= !matches!(how.as_str(), "phase1" | "closed" | "bidding");
            }
        }
    }
    (n, in_phase)
}
