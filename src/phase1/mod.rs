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

use crate::blackboard::decode::UnexpectedReply;
use crate::blackboard::effects::Effect;
use crate::blackboard::{claim_json, Keys};
use crate::ids::{new_v4, uuid_string, ArtefactId};
use crate::redis_io::error_from_reply;
use crate::redis_io::scripts::{decide, Call, CallError, Decided, Script};

/// The claim script (`claim.lua`): KEYS and ARGV are described there.
pub static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new("claim", &[], &[lua!("phase1/claim.lua")]));

/// Every script Phase 1 runs, to load once per session.
pub fn scripts() -> Vec<&'static Script> {
    vec![&CLAIM]
}

/// Artefacts decided by one call of the claim script at most: a call's fixed
/// cost to Redis is spread over them (docs/performance.md), and one call
/// holds Redis for about their decisions' time (tens of µs each).
pub const PER_CALL: usize = 32;

/// The call that claims each artefact as its claim id, in order (sett-bench
/// pipelines calls of one to measure the ceiling).
pub fn claim_call(keys: &Keys, claims: &[(ArtefactId, Uuid)]) -> Call<'static> {
    let mut call = Call {
        script: &CLAIM,
        keys: Vec::with_capacity(3 * claims.len()),
        args: Vec::with_capacity(1 + 3 * claims.len()),
        frame: None,
    };
    call.args.push(keys.claim_events());
    for (artefact_id, claim_id) in claims {
        call.keys.push(keys.artefact(artefact_id));
        call.keys.push(keys.claim_by_artefact(artefact_id));
        call.keys.push(keys.claim(claim_id));
        call.args.push(uuid_string(claim_id));
        call.args.push(artefact_id.as_str().to_string());
        call.args.push(claim_json(claim_id, artefact_id));
    }
    call
}

/// Runs the claim script for the artefacts, [`PER_CALL`] a call, as one
/// pipeline (NOSCRIPT is retried once after SCRIPT LOAD), and answers one
/// outcome per artefact, in order. `Err` only when the pipeline as a whole
/// failed (connection lost).
pub async fn claim_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_ids: &[ArtefactId],
) -> Result<Vec<Decided>, RedisError> {
    let calls: Vec<Call> = artefact_ids
        .chunks(PER_CALL)
        .map(|chunk| {
            let claims: Vec<(ArtefactId, Uuid)> = chunk.iter().map(|id| (*id, new_v4())).collect();
            claim_call(keys, &claims)
        })
        .collect();
    let answers = decide(conn, &calls).await?;
    let mut out = Vec::with_capacity(artefact_ids.len());
    for (chunk, answer) in artefact_ids.chunks(PER_CALL).zip(answers) {
        split(chunk.len(), answer, &mut out);
    }
    Ok(out)
}

/// One call's answer as one outcome per artefact: row i is artefact i's
/// outcome, a `refused` row that artefact's Redis error. A refusal of the
/// whole call (e.g. NOSCRIPT twice, the connection's own errors) is every
/// artefact's; rows not one per artefact are not our script's answer.
fn split(artefacts: usize, answer: Decided, out: &mut Vec<Decided>) {
    match answer {
        Ok(rows) if rows.len() == artefacts => out.extend(rows.into_iter().map(|row| match row {
            Effect::Refused { error } => Err(CallError::Redis(server_error(&error))),
            row => Ok(vec![row]),
        })),
        Ok(_) => out.extend((0..artefacts).map(|_| Err(CallError::Unexpected(UnexpectedReply)))),
        Err(e) => out.extend((0..artefacts).map(|_| Err(e.clone()))),
    }
}

/// The error a Redis error reply's text names, as if Redis had answered it to
/// a call of its own (so `READONLY` still ends the session). Redis before 7
/// puts where in the script the command ran in front of it
/// (`@user_script: 58: -READONLY …`).
fn server_error(text: &str) -> RedisError {
    let text = match text.strip_prefix('@').and_then(|t| t.split_once(": -")) {
        Some((_, reply)) => reply,
        None => text,
    };
    error_from_reply(text)
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
    use crate::redis_io::ends_session;

    #[test]
    fn a_call_answer_is_split_one_row_per_artefact() {
        let mut out = Vec::new();
        let refused = |error: &str| Effect::Refused {
            error: error.into(),
        };
        let rows = vec![
            Effect::NotFound,
            refused("READONLY You can't write against a read only replica."),
            refused("OOM command not allowed when used memory > 'maxmemory'."),
        ];
        split(3, Ok(rows), &mut out);
        assert!(matches!(&out[0], Ok(a) if a == &[Effect::NotFound]));
        let code = |d: &Decided| match d {
            Err(CallError::Redis(e)) => (e.code().map(str::to_string), ends_session(e)),
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(code(&out[1]), (Some("READONLY".into()), true));
        assert_eq!(code(&out[2]), (Some("OOM".into()), false));
        // As Redis 5 and 6 word it inside a script.
        let mut out = Vec::new();
        let old =
            refused("@user_script: 58: -READONLY You can't write against a read only replica.");
        split(1, Ok(vec![old]), &mut out);
        assert_eq!(code(&out[0]), (Some("READONLY".into()), true));

        // Fewer or more rows than artefacts: not our script's answer.
        for rows in [vec![Effect::NotFound], vec![Effect::NotFound; 3]] {
            let mut out = Vec::new();
            split(2, Ok(rows), &mut out);
            assert!(matches!(
                &out[..],
                [Err(CallError::Unexpected(_)), Err(CallError::Unexpected(_))]
            ));
        }

        // A refused call: every artefact refused with its error.
        let mut out = Vec::new();
        let oom = RedisError::from((redis::ErrorKind::Client, "OOM", "full".to_string()));
        split(2, Err(CallError::Redis(oom)), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|d| matches!(d, Err(CallError::Redis(e)) if e.to_string().contains("full"))));
    }

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
