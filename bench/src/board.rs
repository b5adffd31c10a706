//! The blackboard after a run: claim hashes per artefact (a second claim shows
//! here even if its announcement were lost), and cleanup of the run's keys.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

const BATCH: usize = 1000;

/// For each of this run's artefacts (by index), how many claim hashes name it.
pub async fn claims_per_artefact(
    conn: &mut MultiplexedConnection,
    instance: &str,
    ids: &HashMap<Uuid, u32>,
) -> Result<(Vec<u32>, Vec<String>), String> {
    let prefix = format!("sett:{instance}:claim:");
    let mut claim_keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await
            .map_err(|e| format!("SCAN: {e}"))?;
        // `claim:{id}` only, not `claim:{id}:bids`.
        claim_keys.extend(
            keys.into_iter()
                .filter(|k| !k[prefix.len()..].contains(':')),
        );
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut counts = vec![0u32; ids.len()];
    let mut ours = Vec::new();
    for chunk in claim_keys.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("HGET").arg(k).arg("artefact_id");
        }
        let owners: Vec<Option<String>> = pipe
            .query_async(conn)
            .await
            .map_err(|e| format!("HGET: {e}"))?;
        for (k, owner) in chunk.iter().zip(owners) {
            let index = owner
                .and_then(|o| Uuid::parse_str(&o).ok())
                .and_then(|u| ids.get(&u).copied());
            if let Some(i) = index {
                counts[i as usize] += 1;
                ours.push(k.clone());
            }
        }
    }
    Ok((counts, ours))
}

/// Deletes the run's artefacts, index keys and claim hashes (so runs do not
/// pile up hundreds of MB in Redis).
pub async fn cleanup(
    conn: &mut MultiplexedConnection,
    instance: &str,
    artefacts: &[Uuid],
    claim_keys: &[String],
) -> Result<(), String> {
    let mut keys: Vec<String> = Vec::with_capacity(artefacts.len() * 2 + claim_keys.len());
    for id in artefacts {
        keys.push(format!("sett:{instance}:artefact:{}", id.hyphenated()));
        keys.push(format!(
            "sett:{instance}:claim_by_artefact:{}",
            id.hyphenated()
        ));
    }
    keys.extend(claim_keys.iter().cloned());
    for chunk in keys.chunks(BATCH) {
        redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<()>(conn)
            .await
            .map_err(|e| format!("UNLINK: {e}"))?;
    }
    Ok(())
}
