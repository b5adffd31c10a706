//! The claim: one atomic server-side script that decides and writes it.
//!
//! Checking for a claim and then creating it in two round trips doubles claims
//! when several orchestrators see one artefact; the Go original does that. Here
//! the check, the three writes and the announcement run as one Lua script, so
//! Redis serialises racing replicas and exactly one of them creates the claim.
//! Every key the script touches is passed in KEYS.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use uuid::Uuid;

use crate::blackboard::{claim_json, Keys};
use crate::ids::ArtefactId;

/// KEYS: artefact hash, claim-by-artefact index, new claim hash.
/// ARGV: claim id, artefact id, claim channel, claim JSON.
pub const CLAIM_LUA: &str = r#"
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
    /// Lifecycle mode: a Review or Failure artefact gets no claim; it counts
    /// for the claims it was made for.
    Deliverable {
        structural_type: String,
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
    /// True when the session must be rebuilt: the connection is gone, or the
    /// server is no longer the primary (see [`crate::session::ends_session`]).
    pub fn ends_session(&self) -> bool {
        match self {
            ClaimError::Redis(e) => crate::session::ends_session(e),
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

/// Loads the claim script into Redis's script cache (once per session).
pub async fn load_script(conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
    CLAIM_SCRIPT
        .prepare_invoke()
        .load_async(conn)
        .await
        .map(drop)
}

/// `SCRIPT LOAD` of the claim script, to send in a pipeline with other commands.
pub fn load_script_cmd() -> redis::Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(CLAIM_LUA);
    cmd
}

/// Runs the claim script for one artefact.
pub async fn claim_artefact(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_id: &ArtefactId,
) -> Result<ClaimOutcome, ClaimError> {
    let mut results = claim_batch(conn, keys, std::slice::from_ref(artefact_id)).await?;
    results.pop().ok_or(ClaimError::UnexpectedReply)?
}

/// Runs the claim script for each artefact, as one pipeline of EVALSHAs (one
/// write, one round trip). Scripts that met NOSCRIPT (a restarted or flushed
/// Redis) are retried once after SCRIPT LOAD; the others are never re-run.
/// `Err` only when the pipeline as a whole failed (connection lost).
pub async fn claim_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_ids: &[ArtefactId],
) -> Result<Vec<Result<ClaimOutcome, ClaimError>>, ClaimError> {
    let claim_ids: Vec<Uuid> = artefact_ids.iter().map(|_| new_claim_id()).collect();
    let mut replies = run_pipeline(conn, keys, artefact_ids, &claim_ids, None).await?;
    if replies.iter().any(is_noscript) {
        load_script(conn).await.map_err(ClaimError::Redis)?;
        let retry: Vec<usize> = (0..replies.len())
            .filter(|&i| is_noscript(&replies[i]))
            .collect();
        let again = run_pipeline(conn, keys, artefact_ids, &claim_ids, Some(&retry)).await?;
        for (i, reply) in retry.into_iter().zip(again) {
            replies[i] = reply;
        }
    }
    Ok(replies
        .into_iter()
        .zip(claim_ids)
        .map(|(reply, claim_id)| match reply {
            Ok(values) => parse_reply(&values, claim_id),
            Err(e) => Err(ClaimError::Redis(e)),
        })
        .collect())
}

fn is_noscript(reply: &RedisResult<Vec<Value>>) -> bool {
    matches!(reply, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
}

/// EVALSHA for the artefacts at `only` (all when `None`).
async fn run_pipeline(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_ids: &[ArtefactId],
    claim_ids: &[Uuid],
    only: Option<&[usize]>,
) -> Result<Vec<RedisResult<Vec<Value>>>, ClaimError> {
    let all: Vec<usize>;
    let indices = match only {
        Some(i) => i,
        None => {
            all = (0..artefact_ids.len()).collect();
            &all
        }
    };
    let channel = keys.claim_events();
    let mut pipe = redis::pipe();
    for &i in indices {
        let (artefact_id, claim_id) = (&artefact_ids[i], &claim_ids[i]);
        pipe.cmd("EVALSHA")
            .arg(CLAIM_SCRIPT.get_hash())
            .arg(3)
            .arg(keys.artefact(artefact_id))
            .arg(keys.claim_by_artefact(artefact_id))
            .arg(keys.claim(claim_id))
            .arg(
                &*claim_id
                    .hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer()),
            )
            .arg(artefact_id.as_str())
            .arg(&channel)
            .arg(claim_json(claim_id, artefact_id));
    }
    pipe.ignore_errors()
        .query_async(conn)
        .await
        .map_err(ClaimError::Redis)
}

/// A random (version 4) claim id. Random bytes are drawn from the kernel 4 KiB
/// at a time rather than with one `getrandom` call per claim.
pub fn new_claim_id() -> Uuid {
    thread_local! {
        static POOL: std::cell::RefCell<(usize, [u8; 4096])> = const { std::cell::RefCell::new((4096, [0; 4096])) };
    }
    POOL.with(|pool| {
        let (used, bytes) = &mut *pool.borrow_mut();
        if *used + 16 > bytes.len() {
            if !fill_random(bytes) {
                return Uuid::new_v4();
            }
            *used = 0;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[*used..*used + 16]);
        *used += 16;
        uuid::Builder::from_random_bytes(id).into_uuid()
    })
}

fn fill_random(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most rest.len() bytes into rest.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
    true
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

    #[test]
    fn claim_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<Uuid> = (0..1000).map(|_| new_claim_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        assert!(ids
            .iter()
            .all(|id| id.get_variant() == uuid::Variant::RFC4122));
    }
}
