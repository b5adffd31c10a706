//! The claim: one atomic server-side script that decides and writes it.
//!
//! Checking for a claim and then creating it in two round trips doubles claims
//! when several orchestrators see one artefact; the Go original does that. Here
//! the check, the three writes and the announcement run as one Lua script, so
//! Redis serialises racing replicas and exactly one of them creates the claim.
//! Every key the script (`src/lua/claim.lua`) touches is passed in KEYS.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};
use uuid::Uuid;

use crate::blackboard::{claim_json, Keys};
use crate::ids::ArtefactId;
use crate::scripts::{run_batch, text, Call};

/// The script (`src/lua/claim.lua`): KEYS and ARGV are described there.
pub const CLAIM_LUA: &str = include_str!("lua/claim.lua");

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

/// Runs the claim script for one artefact.
pub async fn claim_artefact(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_id: &ArtefactId,
) -> Result<ClaimOutcome, ClaimError> {
    let mut results = claim_batch(conn, keys, std::slice::from_ref(artefact_id)).await?;
    results.pop().ok_or(ClaimError::UnexpectedReply)?
}

/// Runs the claim script for each artefact, as one pipeline (see
/// `scripts::run_batch`: NOSCRIPT is retried once after SCRIPT LOAD).
/// `Err` only when the pipeline as a whole failed (connection lost).
pub async fn claim_batch(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    artefact_ids: &[ArtefactId],
) -> Result<Vec<Result<ClaimOutcome, ClaimError>>, ClaimError> {
    let channel = keys.claim_events();
    let claim_ids: Vec<Uuid> = artefact_ids.iter().map(|_| new_claim_id()).collect();
    let calls: Vec<Call> = artefact_ids
        .iter()
        .zip(&claim_ids)
        .map(|(artefact_id, claim_id)| Call {
            script: &CLAIM_SCRIPT,
            keys: vec![
                keys.artefact(artefact_id),
                keys.claim_by_artefact(artefact_id),
                keys.claim(claim_id),
            ],
            args: vec![
                claim_id.hyphenated().to_string(),
                artefact_id.as_str().to_string(),
                channel.clone(),
                claim_json(claim_id, artefact_id),
            ],
        })
        .collect();
    let replies = run_batch(conn, &calls).await.map_err(ClaimError::Redis)?;
    Ok(replies
        .into_iter()
        .zip(claim_ids)
        .map(|(reply, claim_id)| match reply {
            Ok(Value::Array(values)) => parse_reply(&values, claim_id),
            Ok(_) => Err(ClaimError::UnexpectedReply),
            Err(e) => Err(ClaimError::Redis(e)),
        })
        .collect())
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

fn parse_reply(reply: &[Value], claim_id: Uuid) -> Result<ClaimOutcome, ClaimError> {
    let text = |i: usize| {
        reply
            .get(i)
            .and_then(text)
            .ok_or(ClaimError::UnexpectedReply)
    };
    let tag = text(0)?;
    let detail = || text(1);
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
