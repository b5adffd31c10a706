//! Catch-up: after every subscribe, claim what Pub/Sub never delivered.
//!
//! Pub/Sub is at-most-once: whatever was published while we were down,
//! reconnecting, or dropped by Redis is gone from the channel, but not from
//! the blackboard. Subscribing first and then walking `sett:{i}:artefact:*`
//! leaves no window uncovered. The walk streams SCAN batches (memory stays
//! flat), skips artefacts that already have an index entry (one pipelined
//! EXISTS per batch), and runs the same atomic claim script for the rest, a
//! pipelined batch at a time, so Terminal artefacts stay unclaimed and racing replicas
//! still make one claim.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::RedisError;
use smol::channel::{Receiver, Sender};

use crate::log::Line;
use crate::metrics::inc;
use crate::outcome::{claim_and_report, Reported, Source};
use crate::Shared;

/// Keys asked for per SCAN step.
const SCAN_COUNT: usize = 1000;
/// Claim scripts the catch-up keeps in flight (live events have their own pool).
const CLAIMS_IN_FLIGHT: usize = 32;

/// Least time between two passes, and the first wait before retrying failed
/// claims; it doubles while passes keep failing (a poisoned key must not make
/// the scan run back to back), up to RETRY_MAX.
const PASS_SPACING: Duration = Duration::from_secs(1);
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Totals {
    scanned: u64,
    unclaimed: u64,
    claimed: u64,
    /// Claims Redis refused (e.g. MISCONF, OOM, READONLY): retried by another pass.
    failed: u64,
}

/// Why a pass stopped early.
struct PassError {
    reason: String,
    /// Only a lost connection ends the session; other errors end the pass.
    connection_lost: bool,
}

impl From<RedisError> for PassError {
    fn from(e: RedisError) -> Self {
        let connection_lost =
            e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error();
        PassError {
            reason: e.to_string(),
            connection_lost,
        }
    }
}

/// Serves catch-up requests (one per subscribe, more when the queue overflowed
/// or a claim failed) until the session ends. Requests that arrive during a
/// pass coalesce into one; a pass whose claims failed is retried after 5 s,
/// then 10 s, 20 s… (at most 5 min) while failures go on.
pub async fn run(
    shared: Arc<Shared>,
    conn: MultiplexedConnection,
    requests: Receiver<()>,
    lost: Sender<String>,
) {
    let mut retry = false;
    let mut retry_after = RETRY_FIRST;
    loop {
        if !retry && requests.recv().await.is_err() {
            return;
        }
        if shared.shutdown.is_triggered() {
            return;
        }
        let started = Instant::now();
        Line::info("reconcile_started").emit();
        let mut totals = Totals::default();
        let result = pass(&shared, &conn, &mut totals).await;
        retry = totals.failed > 0;
        match result {
            Ok(complete) => {
                inc(&shared.metrics.reconcile_runs);
                Line::info("reconcile_complete")
                    .num("scanned", totals.scanned)
                    .num("unclaimed", totals.unclaimed)
                    .num("claimed", totals.claimed)
                    .num("failed", totals.failed)
                    .num("duration_ms", started.elapsed().as_millis() as u64)
                    .bool("interrupted", !complete)
                    .emit();
            }
            Err(e) => {
                inc(&shared.metrics.redis_errors);
                Line::error("redis_error")
                    .str("operation", "reconcile")
                    .str("error", &e.reason)
                    .emit();
                if e.connection_lost {
                    let _ = lost.try_send(format!("catch-up scan: {}", e.reason));
                    return;
                }
                retry = true;
            }
        }
        let pause = if retry {
            let pause = retry_after;
            retry_after = (retry_after * 2).min(RETRY_MAX);
            pause
        } else {
            retry_after = RETRY_FIRST;
            PASS_SPACING
        };
        if shared
            .shutdown
            .unless_triggered(smol::Timer::after(pause))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// One walk over the artefacts. `Ok(false)` when shutdown cut it short.
async fn pass(
    shared: &Arc<Shared>,
    conn: &MultiplexedConnection,
    totals: &mut Totals,
) -> Result<bool, PassError> {
    let mut conn = conn.clone();
    let pattern = shared.keys.artefact_pattern();
    let mut cursor: u64 = 0;
    loop {
        if shared.shutdown.is_triggered() {
            return Ok(false);
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        let ids: Vec<_> = keys
            .iter()
            .filter_map(|k| shared.keys.artefact_id_of(k))
            .collect();
        totals.scanned += ids.len() as u64;
        shared
            .metrics
            .reconcile_scanned
            .fetch_add(ids.len() as u64, Relaxed);
        if !ids.is_empty() {
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.exists(shared.keys.claim_by_artefact(id));
            }
            let claimed: Vec<bool> = pipe.query_async(&mut conn).await?;
            let unclaimed: Vec<_> = ids
                .iter()
                .zip(claimed)
                .filter(|(_, c)| !c)
                .map(|(id, _)| *id)
                .collect();
            totals.unclaimed += unclaimed.len() as u64;
            // One pipeline per chunk: at most CLAIMS_IN_FLIGHT scripts in flight.
            for chunk in unclaimed.chunks(CLAIMS_IN_FLIGHT) {
                let now = vec![Instant::now(); chunk.len()];
                let reported =
                    claim_and_report(shared, &mut conn, chunk, &now, Source::Reconcile).await;
                for r in reported {
                    match r {
                        Reported::Created => totals.claimed += 1,
                        Reported::NotCreated => {}
                        Reported::Failed => totals.failed += 1,
                        Reported::ConnectionLost => {
                            return Err(PassError {
                                reason: "claim connection lost".into(),
                                connection_lost: true,
                            })
                        }
                    }
                }
            }
        }
        cursor = next;
        if cursor == 0 {
            return Ok(true);
        }
    }
}
