//! Claims someone else made: the catch-up's index reads give every claimed
//! artefact's claim id, and each batch of them goes to one `adopt.lua` call,
//! which adopts those none of our sets holds (a Phase-1 claim, one Holt's Go
//! orchestrator made, one a Phase-1 replica made during a rolling update).
//! One script call per batch and no registry read per claim: switching the
//! lifecycle on over a blackboard of Phase-1 claims costs about one more
//! catch-up pass (see docs/lifecycle.md, "Adoption", and
//! `scripts/catchup-bench.sh adopt`).

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::scripts::Set;
use super::Lifecycle;
use crate::blackboard::effects::Effect;
use crate::blackboard::Indexed;
use crate::redis_io::scripts::{decide, Decided};

/// Claim ids per `adopt.lua` call (each costs a status read when nothing is
/// to adopt, about five commands when it adopts).
pub const BATCH: usize = 250;

/// The statuses a claim can be adopted in (not `complete`, not `terminated`).
const LIVE: [&[u8]; 4] = [
    b"pending_review",
    b"pending_parallel",
    b"pending_exclusive",
    b"pending_assignment",
];

/// Which batches have their claims' statuses read before the script (one
/// pipelined `HGET status`, so that only claims in a live status go to it).
/// Most claims on a lived-in blackboard are final, and that read costs Redis
/// a fraction of the script's own read of a claim. When a pass switches the
/// lifecycle on over Phase-1 claims, though, nearly every claim is live and
/// goes to the script anyway: the read is then work for nothing and a round
/// trip. So once a batch read showed at least three quarters of its claims
/// live, the following batches go to the script unread, but one batch in
/// [`RECHECK_EVERY`], read, tells whether that still holds. Either way the
/// script checks everything itself: this only decides what it costs.
#[derive(Debug, Default)]
pub struct Prefilter {
    mostly_live: bool,
    batches: u32,
}

/// While batches are mostly live, one in this many is read first.
pub const RECHECK_EVERY: u32 = 8;

impl Prefilter {
    /// `f` on the prefilter shared by a pass's adopters (held for no await).
    fn with<T>(shared: &Mutex<Prefilter>, f: impl FnOnce(&mut Prefilter) -> T) -> T {
        f(&mut shared.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the next batch's statuses are read first.
    fn wanted(&mut self) -> bool {
        self.batches = self.batches.wrapping_add(1);
        !self.mostly_live || self.batches.is_multiple_of(RECHECK_EVERY)
    }

    /// A batch read: `live` of its `read` claims were in a live status.
    fn saw(&mut self, read: usize, live: usize) {
        self.mostly_live = live * 4 >= read * 3;
    }
}

/// The claims among `claims` the adoption script must see: those in a live
/// status when their statuses are read first (see [`Prefilter`]), else all.
/// (`prefilter` is shared by the adopters of a pass.)
/// In a replaying pass every claim goes to the script unread: a finished
/// one's artefact may count too (adopt.lua, `recount`).
pub async fn live(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    prefilter: &Mutex<Prefilter>,
    claims: Vec<Indexed>,
    replaying: bool,
) -> Result<Vec<Indexed>, RedisError> {
    if replaying || claims.is_empty() || !Prefilter::with(prefilter, Prefilter::wanted) {
        return Ok(claims);
    }
    let mut pipe = redis::pipe();
    for indexed in &claims {
        pipe.hget(lc.scripts.claim_key(&indexed.claim), "status");
    }
    // A claim key of another type answers an error: left alone.
    let statuses: Vec<redis::RedisResult<Option<Vec<u8>>>> =
        pipe.ignore_errors().query_async(conn).await?;
    let read = claims.len();
    let live: Vec<Indexed> = claims
        .into_iter()
        .zip(statuses)
        .filter(|(_, s)| matches!(s, Ok(Some(s)) if LIVE.contains(&s.as_slice())))
        .map(|(c, _)| c)
        .collect();
    Prefilter::with(prefilter, |p| p.saw(read, live.len()));
    Ok(live)
}

/// Runs the adoption decision over `claims` (from [`live`]): a script call
/// per [`BATCH`] (one pipeline), which checks everything again
/// (`replaying`: see [`live`]).
pub async fn batch(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    claims: &[Indexed],
    replaying: bool,
) -> Result<Vec<Decided>, RedisError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let calls: Vec<_> = claims
        .chunks(BATCH)
        .map(|chunk| lc.scripts.adopt_in(chunk, replaying))
        .collect();
    decide(conn, &calls).await
}

/// Whether the pass about to begin replays: the server's time (ms) now when
/// the recount set holds a claim (adopted into a phase or awaiting rework
/// by an earlier pass, of this process or another, and not yet replayed
/// for by a pass that completed), else `None`. A set of another type, or a
/// refused read, is `None`: adopt.lua reports the set as a `key_conflict`
/// where it would write it.
pub async fn replay_from(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Option<u64> {
    let mut pipe = redis::pipe();
    pipe.cmd("TIME").zcard(lc.scripts.set_key(Set::Recount));
    let ((secs, micros), held): ((u64, u64), u64) = pipe.query_async(conn).await.ok()?;
    (held > 0).then(|| secs * 1000 + micros / 1000)
}

/// A replaying pass that began at `from` (server ms, [`replay_from`])
/// completed: the claims adopted before it began have been replayed for.
pub async fn replayed(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    from: u64,
) -> Result<(), RedisError> {
    redis::cmd("ZREMRANGEBYSCORE")
        .arg(lc.scripts.set_key(Set::Recount))
        .arg("-inf")
        .arg(format!("({from}"))
        .query_async(conn)
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_mostly_live_go_unread_but_one_in_eight() {
        let mut p = Prefilter::default();
        assert!(p.wanted(), "read until a batch shows mostly live claims");
        p.saw(1000, 10);
        assert!(p.wanted());
        p.saw(1000, 990);
        let read: Vec<bool> = (0..16).map(|_| p.wanted()).collect();
        assert_eq!(read.iter().filter(|r| **r).count(), 2, "{read:?}");
        p.saw(1000, 700);
        assert!(
            p.wanted() && p.wanted(),
            "mostly final again: every batch read"
        );
        p.saw(4, 3);
        assert!(!p.wanted());
    }
}
