//! Plays the Go producer: HSET the artefact hash, then PUBLISH its JSON on
//! `artefact_events`, paced or as a pipelined burst.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sett_orchestrator::blackboard::Keys;
use uuid::Uuid;

/// Burst pipelines in flight at once on the one connection.
const BURST_PIPELINES: usize = 4;
/// Bytes of payload one burst pipeline carries at most (bounds our own buffers).
const PIPELINE_BYTES: usize = 512 * 1024;

/// What one run writes: the same shape for every artefact, only ids differ.
pub struct Shape<'a> {
    pub keys: &'a Keys,
    pub structural_type: &'a str,
    pub payload: String,
    pub duplicates: usize,
}

/// `n` bytes of printable payload.
pub fn payload(n: usize) -> String {
    (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// The event JSON as the Go producer sends it (`payload` must need no JSON escaping:
/// [`payload`] makes such text; built by hand because the burst makes 10,000 of them).
pub fn event_json(id: &Uuid, structural_type: &str, payload: &str) -> String {
    let id = id.hyphenated();
    format!(
        r#"{{"id":"{id}","logical_id":"{id}","version":1,"structural_type":"{structural_type}","type":"BenchLoad","payload":"{payload}","source_artefacts":[],"produced_by_role":"sett-bench"}}"#
    )
}

fn add_hset(pipe: &mut redis::Pipeline, shape: &Shape, id: &Uuid) {
    let ids = id.hyphenated().to_string();
    pipe.cmd("HSET")
        .arg(shape.keys.artefact(id))
        .arg("id")
        .arg(&ids)
        .arg("logical_id")
        .arg(&ids)
        .arg("version")
        .arg("1")
        .arg("structural_type")
        .arg(shape.structural_type)
        .arg("type")
        .arg("BenchLoad")
        .arg("payload")
        .arg(&shape.payload)
        .arg("source_artefacts")
        .arg("[]")
        .arg("produced_by_role")
        .arg("sett-bench")
        .ignore();
}

fn add_artefact(pipe: &mut redis::Pipeline, shape: &Shape, id: &Uuid) {
    add_hset(pipe, shape, id);
    let event = event_json(id, shape.structural_type, &shape.payload);
    for _ in 0..shape.duplicates {
        pipe.cmd("PUBLISH")
            .arg(shape.keys.artefact_events())
            .arg(&event)
            .ignore();
    }
}

/// Runs `workers` copies of `work(next_index)` on one thread until `work` says stop.
pub fn run_workers<F, Fut>(workers: usize, work: F) -> Result<(), String>
where
    F: Fn(Rc<Cell<usize>>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let ex = smol::LocalExecutor::new();
    let next = Rc::new(Cell::new(0));
    smol::block_on(ex.run(async {
        let tasks: Vec<_> = (0..workers).map(|_| ex.spawn(work(next.clone()))).collect();
        let mut result = Ok(());
        for t in tasks {
            result = result.and(t.await);
        }
        result
    }))
}

/// The next `n` indices below `total` (shared by the workers of [`run_workers`]).
pub fn take(next: &Cell<usize>, n: usize, total: usize) -> Option<std::ops::Range<usize>> {
    let start = next.get();
    if start >= total {
        return None;
    }
    let end = (start + n).min(total);
    next.set(end);
    Some(start..end)
}

/// All artefacts, pipelined as fast as Redis takes them. `sent_at` gets each
/// artefact's submit time (ns since `clock`, +1 so 0 means "not sent").
pub fn burst(
    conn: &MultiplexedConnection,
    shape: &Shape,
    ids: &[Uuid],
    sent_at: &[AtomicU64],
    clock: Instant,
) -> Result<(), String> {
    let per_pipeline =
        (PIPELINE_BYTES / (shape.payload.len() * (1 + shape.duplicates) + 400)).clamp(1, 128);
    run_workers(BURST_PIPELINES, |next| {
        let mut conn = conn.clone();
        async move {
            while let Some(range) = take(&next, per_pipeline, ids.len()) {
                let mut pipe = redis::pipe();
                for id in &ids[range.clone()] {
                    add_artefact(&mut pipe, shape, id);
                }
                let now = clock.elapsed().as_nanos() as u64 + 1;
                for i in range {
                    sent_at[i].store(now, Ordering::Relaxed);
                }
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| format!("burst: {e}"))?;
            }
            Ok(())
        }
    })
}

/// One artefact every `1/rate` s (HSET and PUBLISH in one round trip each time).
pub fn paced(
    conn: &MultiplexedConnection,
    shape: &Shape,
    ids: &[Uuid],
    rate: f64,
    sent_at: &[AtomicU64],
    clock: Instant,
) -> Result<(), String> {
    let mut conn = conn.clone();
    smol::block_on(async {
        let start = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            // Absolute deadlines: a late send does not push the later ones back.
            smol::Timer::at(start + Duration::from_secs_f64(i as f64 / rate)).await;
            let mut pipe = redis::pipe();
            add_artefact(&mut pipe, shape, id);
            sent_at[i].store(clock.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| format!("paced: {e}"))?;
        }
        Ok(())
    })
}

/// HSET only, no event (the `--limit` mode claims them itself).
pub fn store(conn: &MultiplexedConnection, shape: &Shape, ids: &[Uuid]) -> Result<(), String> {
    let per_pipeline = (PIPELINE_BYTES / (shape.payload.len() + 400)).clamp(1, 256);
    run_workers(BURST_PIPELINES, |next| {
        let mut conn = conn.clone();
        async move {
            while let Some(range) = take(&next, per_pipeline, ids.len()) {
                let mut pipe = redis::pipe();
                for id in &ids[range] {
                    add_hset(&mut pipe, shape, id);
                }
                pipe.query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| format!("store: {e}"))?;
            }
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_contract_names() {
        let id = Uuid::new_v4();
        let v: serde_json::Value = serde_json::from_str(&event_json(&id, "Review", "xyz")).unwrap();
        assert_eq!(v["id"], id.hyphenated().to_string());
        assert_eq!(v["version"], 1);
        assert_eq!(v["structural_type"], "Review");
        assert_eq!(v["payload"], "xyz");
        assert_eq!(v["source_artefacts"], serde_json::json!([]));
        assert_eq!(v.as_object().unwrap().len(), 8);
        assert_eq!(payload(28), "abcdefghijklmnopqrstuvwxyzab");
    }
}
