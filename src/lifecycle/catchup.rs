//! The lifecycle's part of the catch-up scan: artefacts published while no
//! orchestrator listened must still count for the claims they were made for.
//!
//! The Phase-1 scan runs the claim decision for every artefact without an
//! index entry. In lifecycle mode that decision (`artefact.lua`) also counts
//! the artefact for its sources' claims, atomically with claiming it: so an
//! artefact that has an index entry has been fully handled. Reviews and
//! Failures never get an index entry, though, so they cannot be told apart
//! that way; running the script for every one of them on every pass would
//! cost a script per review ever written. Instead each pass loads the
//! artefact ids of the claims that can still progress (in a phase or awaiting
//! rework: the `active` set), and runs the script only for unindexed
//! artefacts that are claimable or sourced from one of those.

use std::collections::HashSet;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};

use super::scripts::Set;
use super::sweep::scan_set;
use super::Lifecycle;
use crate::blackboard::Keys;
use crate::ids::ArtefactId;

/// At most this many active claims' artefact ids are held for a pass (about
/// 1 MB); with more, every unindexed Review and Failure goes to the script,
/// which checks its sources itself.
pub const MAX_ACTIVE_HELD: usize = 10_000;
/// A `source_artefacts` longer than this is not parsed here (the script judges it).
const MAX_SOURCES_TEXT: usize = 16 * 1024;

/// What a pass knows of the claims that can still progress.
pub enum Active {
    /// Their artefact ids (no more than [`MAX_ACTIVE_HELD`]).
    Artefacts(HashSet<String>),
    /// Too many to hold: no filter.
    TooMany,
}

/// The artefact ids of the claims in a phase or awaiting rework.
pub async fn active_artefacts(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<Active, RedisError> {
    let mut out = HashSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, claims) = scan_set(conn, lc, Set::Active, cursor).await?;
        if !claims.is_empty() {
            let mut pipe = redis::pipe();
            for claim in &claims {
                pipe.hget(lc.scripts.claim_key(claim), "artefact_id");
            }
            // A claim key of the wrong type answers an error: left out.
            let artefacts: Vec<redis::RedisResult<Option<String>>> =
                pipe.ignore_errors().query_async(conn).await?;
            out.extend(artefacts.into_iter().filter_map(|a| a.ok().flatten()));
            if out.len() > MAX_ACTIVE_HELD {
                return Ok(Active::TooMany);
            }
        }
        cursor = next;
        if cursor == 0 {
            return Ok(Active::Artefacts(out));
        }
    }
}

/// Of `unindexed` artefacts (no claim_by_artefact entry), those the artefact
/// script must see: claimable ones (their claim is missing), ones it must
/// judge (no hash, no structural_type), and deliverables of `active` claims.
pub async fn select(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    unindexed: &[ArtefactId],
    active: &Active,
) -> Result<Vec<ArtefactId>, RedisError> {
    if unindexed.is_empty() {
        return Ok(Vec::new());
    }
    // First the type and the size of the sources (never a whole value: a
    // junk `source_artefacts` may be huge).
    let mut pipe = redis::pipe();
    for id in unindexed {
        let key = keys.artefact(id);
        pipe.hget(&key, "structural_type")
            .cmd("HSTRLEN")
            .arg(&key)
            .arg("source_artefacts");
    }
    // A key that is not a hash fails both: the script reports it.
    let replies: Vec<redis::RedisResult<Value>> = pipe.ignore_errors().query_async(conn).await?;
    let mut todo = Vec::new();
    let mut check = Vec::new();
    for (id, pair) in unindexed.iter().zip(replies.chunks(2)) {
        let structural_type = match &pair[0] {
            Ok(v) => crate::redis_io::scripts::text(v),
            Err(_) => None,
        };
        let sources_len = match &pair[1] {
            Ok(Value::Int(n)) => *n as usize,
            _ => 0,
        };
        match (structural_type, active) {
            (Some(t), _) if !needs_claim(&t) => match active {
                Active::TooMany => todo.push(*id),
                Active::Artefacts(set) if set.is_empty() => {}
                Active::Artefacts(_) if sources_len > MAX_SOURCES_TEXT => todo.push(*id),
                Active::Artefacts(_) => check.push(*id),
            },
            // Claimable, or a hash the script must judge (no structural_type…).
            _ => todo.push(*id),
        }
    }
    if let (false, Active::Artefacts(set)) = (check.is_empty(), active) {
        let mut pipe = redis::pipe();
        for id in &check {
            pipe.hget(keys.artefact(id), "source_artefacts");
        }
        // Bytes, not text: invalid UTF-8 is the script's to judge too.
        let sources: Vec<redis::RedisResult<Option<Vec<u8>>>> =
            pipe.ignore_errors().query_async(conn).await?;
        for (id, sources) in check.iter().zip(sources) {
            if sourced_from(sources.ok().flatten().as_deref(), set) {
                todo.push(*id);
            }
        }
    }
    Ok(todo)
}

fn needs_claim(structural_type: &str) -> bool {
    !matches!(structural_type, "Terminal" | "Failure" | "Review")
}

/// The scripts' rule for `source_artefacts` (`decode_list` in `json.lua`): the
/// string elements of a JSON array, as Redis's cjson reads it; anything else
/// (another JSON value, an absent field) has no sources. Where standard JSON
/// decides it, this is the same rule. cjson also reads what standard JSON
/// refuses (hex numbers, `nan`, nesting deeper than serde's 128, invalid
/// UTF-8): such a text goes to the script, so a replay never misses what the
/// live event counted (the shared case table: tests/source_artefacts_rule.rs).
pub fn sourced_from(sources: Option<&[u8]>, active: &HashSet<String>) -> bool {
    let Some(bytes) = sources else { return false };
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Array(list)) => list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| active.contains(s))),
        Ok(_) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliverables_of_active_claims_are_selected() {
        let active: HashSet<String> = ["a".to_string()].into();
        assert!(sourced_from(Some(br#"["x","a"]"#), &active));
        assert!(!sourced_from(Some(br#"["x"]"#), &active));
        assert!(!sourced_from(Some(b"null"), &active));
        assert!(!sourced_from(None, &active));
        // Not standard JSON: the script judges it.
        assert!(sourced_from(Some(b"not json"), &active));
        assert!(needs_claim("Standard") && needs_claim("Question") && needs_claim("Answer"));
        assert!(!needs_claim("Review") && !needs_claim("Failure") && !needs_claim("Terminal"));
    }
}
