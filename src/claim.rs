//! The claim: one atomic server-side script that decides and writes it.
//!
//! Checking for a claim and then creating it in two round trips doubles claims
//! when several orchestrators see one artefact; the Go original does that. Here
//! the check, the three writes and the announcement run as one Lua script, so
//! Redis serialises racing replicas and exactly one of them creates the claim.
//! Every key the script touches is passed in KEYS.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};
use uuid::Uuid;

use crate::blackboard::{claim_json, Keys};

/// KEYS: artefact hash, claim-by-artefact index, new claim hash.
/// ARGV: claim id, artefact id, claim channel, claim JSON.
const CLAIM_LUA: &str = r#"
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return {'not_found'} end
if kind ~= 'hash' then return {'invalid', 'artefact key is a ' .. kind .. ', not a hash'} end
local fields = redis.call('HMGET', KEYS[1], 'structural_type', 'type')
local structural_type = fields[1]
if not structural_type or structural_type == '' then
  return {'invalid', 'artefact hash has no structural_type'}
end
if structural_type == 'Terminal' then return {'terminal', fields[2] or ''} end
local existing = redis.call('GET', KEYS[2])
if existing then return {'duplicate', existing} end
redis.call('HSET', KEYS[3],
  'id', ARGV[1],
  'artefact_id', ARGV[2],
  'status', 'pending_review',
  'granted_review_agents', '[]',
  'granted_parallel_agents', '[]',
  'granted_exclusive_agent', '')
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {'created'}
"#;

static CLAIM_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CLAIM_LUA));

/// The claim script itself, KEYS and ARGV as above (sett-bench pipelines it to measure the ceiling).
pub fn claim_script() -> &'static redis::Script {
    &CLAIM_SCRIPT
}

/// What the script decided for one artefact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    Created {
        claim_id: Uuid,
    },
    NotFound,
    Terminal {
        artefact_type: String,
    },
    Duplicate {
        existing_claim_id: String,
    },
    /// The stored artefact cannot be judged (wrong key type, no structural_type).
    Invalid {
        reason: String,
    },
}

/// Why a claim attempt failed.
#[derive(Debug)]
pub enum ClaimError {
    Redis(RedisError),
    /// The script answered something it never returns (another script with our SHA?).
    UnexpectedReply,
}

impl ClaimError {
    /// True when the connection itself is gone, so the session must be rebuilt.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            ClaimError::Redis(e) => {
                e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
            }
            ClaimError::UnexpectedReply => false,
        }
    }
}

impl std::fmt::Display for ClaimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimError::Redis(e) => write!(f, "{e}"),
            ClaimError::UnexpectedReply => f.write_str("unexpected reply from the claim script"),
        }
    }
}

/// Runs the claim script for one artefact (EVALSHA; loads it on NOSCRIPT).
pub async fn claim_artefact(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_id: &Uuid,
) -> Result<ClaimOutcome, ClaimError> {
    let claim_id = Uuid::new_v4();
    let reply: Vec<Value> = CLAIM_SCRIPT
        .key(keys.artefact(artefact_id))
        .key(keys.claim_by_artefact(artefact_id))
        .key(keys.claim(&claim_id))
        .arg(claim_id.hyphenated().to_string())
        .arg(artefact_id.hyphenated().to_string())
        .arg(keys.claim_events())
        .arg(claim_json(&claim_id, artefact_id))
        .invoke_async(conn)
        .await
        .map_err(ClaimError::Redis)?;
    parse_reply(&reply, claim_id)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn parse_reply(reply: &[Value], claim_id: Uuid) -> Result<ClaimOutcome, ClaimError> {
    let tag = text(reply.first()).ok_or(ClaimError::UnexpectedReply)?;
    let detail = || text(reply.get(1)).ok_or(ClaimError::UnexpectedReply);
    Ok(match tag.as_str() {
        "created" => ClaimOutcome::Created { claim_id },
        "not_found" => ClaimOutcome::NotFound,
        "terminal" => ClaimOutcome::Terminal {
            artefact_type: detail()?,
        },
        "duplicate" => ClaimOutcome::Duplicate {
            existing_claim_id: detail()?,
        },
        "invalid" => ClaimOutcome::Invalid { reason: detail()? },
        _ => return Err(ClaimError::UnexpectedReply),
    })
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
            assert!(CLAIM_LUA.contains(field), "{field}");
        }
    }

    #[test]
    fn replies_parse() {
        let id = Uuid::new_v4();
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            parse_reply(&[bulk("created")], id).unwrap(),
            ClaimOutcome::Created { claim_id: id }
        );
        assert_eq!(
            parse_reply(&[bulk("not_found")], id).unwrap(),
            ClaimOutcome::NotFound
        );
        assert_eq!(
            parse_reply(&[bulk("terminal"), bulk("FinalReport")], id).unwrap(),
            ClaimOutcome::Terminal {
                artefact_type: "FinalReport".into()
            }
        );
        assert_eq!(
            parse_reply(&[bulk("duplicate"), bulk("abc")], id).unwrap(),
            ClaimOutcome::Duplicate {
                existing_claim_id: "abc".into()
            }
        );
        assert!(parse_reply(&[bulk("terminal")], id).is_err());
        assert!(parse_reply(&[bulk("what")], id).is_err());
        assert!(parse_reply(&[], id).is_err());
    }
}
