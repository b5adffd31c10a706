//! An artefact arrived (event, retry or catch-up): one decision per artefact
//! (`artefact.lua`) counts it for the claims of its sources and claims it.
//!
//! Its answer holds both the claim outcome (created, duplicate, not found…),
//! which the engine reports exactly as in Phase 1 (same log lines, metrics
//! and retries), and the lifecycle effects it set off (deliveries, grants,
//! verdicts, completions…), reported by `report`.

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;
use crate::blackboard::Keys;
use crate::ids::{new_v4, ArtefactId};
use crate::redis_io::scripts::{decide, Decided};

/// Runs the artefact decision for each id (one pipeline); `replay`: a
/// catch-up pass found them. `Err` only when the pipeline as a whole failed
/// (the connection is gone).
pub async fn decide_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    lc: &Lifecycle,
    ids: &[ArtefactId],
    replay: bool,
) -> Result<Vec<Decided>, RedisError> {
    let calls: Vec<_> = ids
        .iter()
        .map(|id| lc.scripts.artefact(keys, id, &new_v4(), replay))
        .collect();
    decide(conn, &calls).await
}
