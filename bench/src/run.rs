//! One measured run: write (or claim) artefacts, listen for their claims,
//! then count, time and read the orchestrator's `/proc`.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sett_orchestrator::blackboard::decode::decode;
use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::blackboard::Keys;
use sett_orchestrator::ids::ArtefactId;
use sett_orchestrator::phase1::{claim_artefact, claim_call, CLAIM};
use uuid::Uuid;

use crate::cli::{Mode, Options};
use crate::listener::Listener;
use crate::producer::{self, Shape};
use crate::report::{Latency, ProcReport, RunReport};
use crate::{board, procstat, tally};

/// redis-server's CPU seconds so far (user + sys, `INFO cpu`).
pub fn redis_cpu_s(conn: &mut MultiplexedConnection) -> Result<f64, String> {
    let info: String = smol::block_on(redis::cmd("INFO").arg("cpu").query_async(conn))
        .map_err(|e| format!("INFO: {e}"))?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_user:") + field("used_cpu_sys:"))
}

pub fn connect(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("--redis-url: {e}"))?;
    // No response timeout: a 64 KiB burst pipeline on a busy machine may take seconds.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(None);
    smol::block_on(client.get_multiplexed_async_connection_with_config(&config))
        .map_err(|e| format!("connect to Redis: {e}"))
}

/// This run's artefact ids and their index by id.
pub struct Batch {
    pub ids: Vec<Uuid>,
    pub index: Arc<HashMap<Uuid, u32>>,
    pub sent_at: Vec<AtomicU64>,
    pub clock: Instant,
}

impl Batch {
    pub fn new(n: usize) -> Batch {
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
        let index = Arc::new(
            ids.iter()
                .enumerate()
                .map(|(i, u)| (*u, i as u32))
                .collect(),
        );
        Batch {
            ids,
            index,
            sent_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            clock: Instant::now(),
        }
    }

    /// Submit times, ns since the clock (0: never sent).
    pub fn sent_ns(&self) -> Vec<u64> {
        self.sent_at
            .iter()
            .map(|a| a.load(Ordering::Relaxed).saturating_sub(1))
            .collect()
    }
}

pub fn begin_process(pid: Option<i32>) -> Result<Option<(procstat::Snapshot, bool)>, String> {
    pid.map(|p| {
        let reset = procstat::reset_peak(p);
        procstat::snapshot(p).map(|s| (s, reset))
    })
    .transpose()
}

/// Waits until `expected` artefacts are claimed or `limit` passes, then `settle` more for late duplicates.
fn wait_for_claims(listener: &Listener, expected: usize, limit: Duration, settle: Duration) {
    let deadline = Instant::now() + limit;
    while listener.first_claims() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(settle);
}

/// A `--burst` or `--rate` run against a running orchestrator.
pub fn load(o: &Options) -> Result<RunReport, String> {
    let (count, rate) = match o.mode {
        Mode::Burst { count } => (count, None),
        Mode::Paced { rate, count } => (count, Some(rate)),
        _ => return Err("not a load mode".into()),
    };
    let keys = Keys::new(&o.instance);
    let mut conn = connect(&o.redis_url)?;
    let batch = Batch::new(count);
    let listener = Listener::start(
        &o.redis_url,
        keys.claim_events(),
        batch.index.clone(),
        batch.clock,
    )?;
    let before = begin_process(o.pid)?;
    let redis_cpu = redis_cpu_s(&mut conn)?;
    let bench_cpu = procstat::self_cpu_s();
    let shape = Shape {
        keys: &keys,
        structural_type: &o.structural_type,
        payload: producer::payload(o.payload_bytes),
        duplicates: o.duplicates,
    };
    let sent = match rate {
        None => producer::burst(&conn, &shape, &batch.ids, &batch.sent_at, batch.clock),
        Some(r) => producer::paced(&conn, &shape, &batch.ids, r, &batch.sent_at, batch.clock),
    };
    let send_s = batch.clock.elapsed().as_secs_f64();
    let expect = o.structural_type != sett_orchestrator::blackboard::TERMINAL;
    if sent.is_ok() {
        wait_for_claims(&listener, if expect { count } else { 0 }, o.wait, o.settle);
    }
    let events = listener.finish();
    sent?;
    let redis_cpu = redis_cpu_s(&mut conn)? - redis_cpu;
    let bench_cpu = procstat::self_cpu_s() - bench_cpu;
    let mut report = finish(o, &mut conn, &o.instance, &batch, expect, &events, before)?;
    report.redis_cpu_s = redis_cpu;
    report.bench_cpu_s = bench_cpu;
    report.mode = match rate {
        None => "burst".into(),
        Some(r) => format!("paced {r}/s"),
    };
    report.events_published = (count * o.duplicates) as u64;
    report.sent_per_s = count as f64 / send_s.max(1e-9);
    if let (Some(p), claimed) = (report.process.as_mut(), report.tally.claimed) {
        p.cpu_us_per_claim = (claimed > 0).then(|| p.cpu_ms * 1000.0 / claimed as f64);
    }
    Ok(report)
}

/// Artefacts a pipeline of the pipelined ceiling carries: a quarter of
/// `in_flight`, in whole calls of `per_script` (at least one call).
fn pipeline_size(in_flight: usize, per_script: usize) -> usize {
    let per_script = per_script.max(1);
    ((in_flight / 4).max(per_script) / per_script) * per_script
}

/// `--limit`: the claim script itself, `in_flight` claims at once, no orchestrator
/// involved: pipelined EVALSHA batches (what Redis sustains), each call of
/// `per_script` artefacts, or with `per_call` one `claim_artefact` future per
/// claim (the orchestrator's client path).
pub fn limit(
    o: &Options,
    count: usize,
    in_flight: usize,
    per_call: bool,
    per_script: usize,
) -> Result<RunReport, String> {
    // A sibling instance: the orchestrator on `o.instance` neither sees nor scans it.
    let mut instance = format!("{}-limit", o.instance);
    instance.truncate(63);
    let keys = Keys::new(&instance);
    let mut conn = connect(&o.redis_url)?;
    let batch = Batch::new(count);
    let shape = Shape {
        keys: &keys,
        structural_type: "Standard",
        payload: producer::payload(o.payload_bytes),
        duplicates: 0,
    };
    producer::store(&conn, &shape, &batch.ids)?;
    let script = &*CLAIM;
    smol::block_on(script.load(&mut conn)).map_err(|e| format!("SCRIPT LOAD: {e}"))?;
    let listener = Listener::start(
        &o.redis_url,
        keys.claim_events(),
        batch.index.clone(),
        batch.clock,
    )?;
    let created = Cell::new(0u64);
    let redis_cpu = redis_cpu_s(&mut conn)?;
    let bench_cpu = procstat::self_cpu_s();
    let start = Instant::now();
    let claimed = if per_call {
        producer::run_workers(in_flight.max(1), |next| {
            let (mut conn, keys, batch, created) = (conn.clone(), &keys, &batch, &created);
            async move {
                while let Some(range) = producer::take(&next, 1, batch.ids.len()) {
                    let i = range.start;
                    batch.sent_at[i].store(
                        batch.clock.elapsed().as_nanos() as u64 + 1,
                        Ordering::Relaxed,
                    );
                    match claim_artefact(&mut conn, keys, &batch.ids[i].into()).await {
                        Ok(Ok(effects)) if matches!(effects[..], [Effect::Created { .. }]) => {
                            created.set(created.get() + 1)
                        }
                        Ok(other) => {
                            return Err(format!(
                                "claim script answered {other:?} for a fresh artefact"
                            ))
                        }
                        Err(e) => return Err(format!("claim script: {e}")),
                    }
                }
                Ok(())
            }
        })
    } else {
        // Four pipelines of in_flight/4 artefacts each (at least one call's),
        // resent as each one is answered.
        let per_pipeline = pipeline_size(in_flight, per_script);
        producer::run_workers(4, |next| {
            let (mut conn, keys, batch, created) = (conn.clone(), &keys, &batch, &created);
            async move {
                while let Some(range) = producer::take(&next, per_pipeline, batch.ids.len()) {
                    let mut pipe = redis::pipe();
                    for ids in batch.ids[range.clone()].chunks(per_script) {
                        // `per_script` artefacts a call, KEYS and ARGV as the
                        // orchestrator passes them (`claim_artefact`: one).
                        let claims: Vec<_> = ids
                            .iter()
                            .map(|id| (ArtefactId::from(*id), Uuid::new_v4()))
                            .collect();
                        pipe.add_command(claim_call(keys, &claims).command());
                    }
                    let now = batch.clock.elapsed().as_nanos() as u64 + 1;
                    for i in range.clone() {
                        batch.sent_at[i].store(now, Ordering::Relaxed);
                    }
                    let replies: Vec<redis::Value> = pipe
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| format!("EVALSHA: {e}"))?;
                    let sizes = batch.ids[range.clone()].chunks(per_script).map(<[_]>::len);
                    for (r, size) in replies.iter().zip(sizes) {
                        let effects = decode(r).unwrap_or_default();
                        if effects.len() != size
                            || !effects.iter().all(|e| matches!(e, Effect::Created { .. }))
                        {
                            return Err(format!("claim script answered {r:?} for fresh artefacts"));
                        }
                        created.set(created.get() + effects.len() as u64);
                    }
                }
                Ok(())
            }
        })
    };
    let took = start.elapsed().as_secs_f64();
    let redis_cpu = redis_cpu_s(&mut conn)? - redis_cpu;
    let bench_cpu = procstat::self_cpu_s() - bench_cpu;
    if claimed.is_ok() {
        wait_for_claims(&listener, count, o.wait, o.settle);
    }
    let events = listener.finish();
    claimed?;
    let mut report = finish(o, &mut conn, &instance, &batch, true, &events, None)?;
    report.redis_cpu_s = redis_cpu;
    report.bench_cpu_s = bench_cpu;
    report.mode = format!(
        "limit ({} in flight, {})",
        if per_call {
            in_flight
        } else {
            4 * pipeline_size(in_flight, per_script)
        },
        match (per_call, per_script) {
            (true, _) => "claim_artefact calls".to_string(),
            (false, 1) => "pipelined EVALSHA".to_string(),
            (false, k) => format!("pipelined EVALSHA, {k} artefacts a call"),
        }
    );
    report.events_published = 0;
    // The ceiling is what the script calls achieved, answered by Redis.
    report.elapsed_s = took;
    report.claims_per_s = created.get() as f64 / took.max(1e-9);
    report.sent_per_s = report.claims_per_s;
    Ok(report)
}

/// The orchestrator's process since `before` (see [`begin_process`]).
pub fn process_report(
    before: Option<(procstat::Snapshot, bool)>,
    pid: Option<i32>,
) -> Result<Option<ProcReport>, String> {
    Ok(match (before, pid) {
        (Some((b, reset)), Some(pid)) => {
            let a = procstat::snapshot(pid)?;
            Some(ProcReport {
                rss_before_kb: b.rss_kb,
                rss_peak_kb: a.hwm_kb,
                rss_after_kb: a.rss_kb,
                peak_reset: reset,
                cpu_ms: a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e6,
                cpu_us_per_claim: None,
                threads: a.threads,
                thread_names: procstat::thread_names(pid),
            })
        }
        _ => None,
    })
}

fn finish(
    o: &Options,
    conn: &mut MultiplexedConnection,
    instance: &str,
    batch: &Batch,
    expect: bool,
    events: &[tally::ClaimEvent],
    before: Option<(procstat::Snapshot, bool)>,
) -> Result<RunReport, String> {
    let (board_counts, claim_keys) =
        smol::block_on(board::claims_per_artefact(conn, instance, &batch.index))?;
    let process = process_report(before, o.pid)?;
    smol::block_on(board::cleanup(conn, instance, &batch.ids, &claim_keys))?;
    let sent_ns = batch.sent_ns();
    let tally = tally::count(batch.ids.len(), expect, events, &board_counts);
    let latencies = tally::first_claim_latencies(&sent_ns, events);
    let first_sent = sent_ns
        .iter()
        .copied()
        .filter(|&s| s > 0)
        .min()
        .unwrap_or(0);
    let mut first_claims = vec![u64::MAX; batch.ids.len()];
    for e in events {
        if let Some(i) = e.artefact {
            first_claims[i as usize] = first_claims[i as usize].min(e.at_ns);
        }
    }
    let last_claim = first_claims
        .iter()
        .copied()
        .filter(|&t| t != u64::MAX)
        .max();
    let elapsed_s = last_claim.map_or(0.0, |l| l.saturating_sub(first_sent) as f64 / 1e9);
    Ok(RunReport {
        mode: String::new(),
        payload_bytes: o.payload_bytes,
        duplicates: o.duplicates,
        structural_type: o.structural_type.clone(),
        events_published: 0,
        claims_per_s: if elapsed_s > 0.0 {
            tally.claimed as f64 / elapsed_s
        } else {
            0.0
        },
        tally,
        elapsed_s,
        sent_per_s: 0.0,
        latency: Latency::from_nanos(&latencies),
        process,
        redis_cpu_s: 0.0,
        bench_cpu_s: 0.0,
        lifecycle: None,
    })
}
