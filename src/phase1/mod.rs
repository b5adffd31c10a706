//! Phase 1: every artefact that is not Terminal gets one claim, decided and
//! written by one atomic server-side script (`claim.lua`).
//!
//! Checking for a claim and then creating it in two round trips doubles claims
//! when several orchestrators see one artefact; the Go original does that. Here
//! the check, the three writes and the announcement run as one Lua script, so
//! Redis serialises racing replicas and exactly one of them creates the claim.
//! Every key the script touches is passed in KEYS.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::RedisError;
use uuid::Uuid;

use crate::blackboard::{claim_json, Keys};
use crate::ids::{new_v4, uuid_string, ArtefactId};
use crate::redis_io::scripts::{decide, Call, Decided, Script};

/// The claim script (`claim.lua`): KEYS and ARGV are described there.
pub static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new("claim", &[], &[lua!("phase1/claim.lua")]));

/// Every script Phase 1 runs, to load once per session.
pub fn scripts() -> Vec<&'static Script> {
    vec![&CLAIM]
}

/// The call that claims `artefact_id` as `claim_id` (sett-bench pipelines it
/// to measure the ceiling).
pub fn claim_call(keys: &Keys, artefact_id: &ArtefactId, claim_id: &Uuid) -> Call<'static> {
    Call {
        script: &CLAIM,
        keys: vec![
            keys.artefact(artefact_id),
            keys.claim_by_artefact(artefact_id),
            keys.claim(claim_id),
        ],
        args: vec![
            uuid_string(claim_id),
            artefact_id.as_str().to_string(),
            keys.claim_events(),
            claim_json(claim_id, artefact_id),
        ],
        frame: None,
    }
}

/// Runs the claim script for each artefact, as one pipeline (NOSCRIPT is
/// retried once after SCRIPT LOAD). `Err` only when the pipeline as a whole
/// failed (connection lost).
pub async fn claim_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_ids: &[ArtefactId],
) -> Result<Vec<Decided>, RedisError> {
    let calls: Vec<Call> = artefact_ids
        .iter()
        .map(|id| claim_call(keys, id, &new_v4()))
        .collect();
    decide(conn, &calls).await
}

/// Runs the claim script for one artefact.
pub async fn claim_artefact(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_id: &ArtefactId,
) -> Result<Decided, RedisError> {
    let mut results = claim_batch(conn, keys, std::slice::from_ref(artefact_id)).await?;
    Ok(results.pop().unwrap_or(Ok(Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_writes_exactly_the_contract_fields() {
        for field in [
            "'id'",
            "'artefact_id'",
            "'status', 'pending_review'",
            "'granted_review_agents', '[]'",
            "'granted_parallel_agents', '[]'",
            "'granted_exclusive_agent', ''",
        ] {
            assert!(CLAIM.text().contains(field), "{field}");
        }
    }
}
