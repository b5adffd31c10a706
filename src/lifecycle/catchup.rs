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
use redis::RedisError;

use super::scripts::Set;
use super::sweep::scan_set;
use super::Lifecycle;
use crate::blackboard::Keys;
use crate::ids::ArtefactId;

/// The artefact ids of the claims in a phase or awaiting rework.
pub async fn active_artefacts(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<HashSet<String>, RedisError> {
    let mut out = HashSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, claims) = scan_set(conn, lc, Set::Active, cursor).await?;
        if !claims.is_empty() {
            let mut pipe = redis::pipe();
            for claim in &claims {
                pipe.hget(lc.scripts.claim_key(claim.as_str()), "artefact_id");
            }
            let artefacts: Vec<Option<String>> = pipe.query_async(conn).await?;
            out.extend(artefacts.into_iter().flatten());
        }
        cursor = next;
        if cursor == 0 {
            return Ok(out);
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
    active: &HashSet<String>,
) -> Result<Vec<ArtefactId>, RedisError> {
    if unindexed.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in unindexed {
        pipe.cmd("HMGET")
            .arg(keys.artefact(id))
            .arg("structural_type")
            .arg("source_artefacts");
    }
    // A key that is not a hash fails its HMGET: the script reports it.
    let replies: Vec<redis::RedisResult<(Option<String>, Option<String>)>> =
        pipe.ignore_errors().query_async(conn).await?;
    Ok(unindexed
        .iter()
        .zip(replies)
        .filter(|(_, reply)| match reply {
            Ok((Some(structural_type), sources)) => {
                needs_claim(structural_type)
                    || (!active.is_empty() && sourced_from(sources.as_deref(), active))
            }
            _ => true,
        })
        .map(|(id, _)| *id)
        .collect())
}

fn needs_claim(structural_type: &str) -> bool {
    !matches!(structural_type, "Terminal" | "Failure" | "Review")
}

fn sourced_from(sources: Option<&str>, active: &HashSet<String>) -> bool {
    let Some(text) = sources else { return false };
    serde_json::from_str::<Vec<serde_json::Value>>(text)
        .map(|list| {
            list.iter()
                .any(|s| s.as_str().is_some_and(|s| active.contains(s)))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliverables_of_active_claims_are_selected() {
        let active: HashSet<String> = ["a".to_string()].into();
        assert!(sourced_from(Some(r#"["x","a"]"#), &active));
        assert!(!sourced_from(Some(r#"["x"]"#), &active));
        assert!(!sourced_from(Some("null"), &active));
        assert!(!sourced_from(Some("not json"), &active));
        assert!(!sourced_from(None, &active));
        assert!(needs_claim("Standard") && needs_claim("Question") && needs_claim("Answer"));
        assert!(!needs_claim("Review") && !needs_claim("Failure") && !needs_claim("Terminal"));
    }
}
