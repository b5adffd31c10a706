//! The lifecycle scenarios: an orchestrator running with an agent registry,
//! the registry's agents simulated here (`agents`), artefacts written as the
//! Go producer does.
//!
//! - burst: N artefacts at once; the first agent (by name) bids `exclusive`,
//!   the others `ignore`; each claim goes artefact -> claim -> three bids ->
//!   exclusive grant -> the agent's deliverable -> `complete`. The
//!   deliverable gets a claim of its own (every agent bids `ignore` on
//!   agents' work: it goes dormant). Throughput = completed claims / (first
//!   publish -> last completion).
//! - paced: the same at R artefacts a second; latency = the claim's last bid
//!   sent -> the grant received, on the agents' clock.
//! - waiting: N artefacts whose claims wait for bids nobody sends (run the
//!   orchestrator with `SETT_BID_TIMEOUT=0`), held long enough for the
//!   sweep's full walk over the waiting claims, for the peak RSS.
//!
//! Afterwards the board is checked (each claim's status, nothing left
//! collecting bids) and every key of the run is deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sett_orchestrator::blackboard::Keys;
use sett_orchestrator::config::registry::Registry;

use crate::agents::{self, AgentSpec, Behaviour, Track, Tracker};
use crate::cli::{LcLoad, Options};
use crate::producer::{self, Shape};
use crate::report::{Latency, LcReport, RunReport};
use crate::run::{self, Batch};
use crate::{procstat, tally::Tally};

/// How long the waiting claims are held: the sweep walks every waiting
/// claim every 5 s (`FULL_BID_CHECK_EVERY`), so at least one full walk.
const HOLD: Duration = Duration::from_secs(6);
const CHUNK: usize = 1000;

/// Reads and checks the registry the orchestrator runs with.
pub fn registry(o: &Options) -> Result<Registry, String> {
    let path = o.registry.as_ref().ok_or("--registry is required")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--registry {}: {e}", path.display()))?;
    Registry::parse(&text).map_err(|e| format!("--registry {}: {e}", path.display()))
}

/// The first agent by name bids `exclusive`, the others `ignore`; none bids when waiting.
pub fn specs(registry: &Registry, load: LcLoad) -> Vec<AgentSpec> {
    registry
        .agents()
        .iter()
        .enumerate()
        .map(|(i, a)| AgentSpec {
            name: a.name.clone(),
            role: a.role.clone(),
            behaviour: match (load, i) {
                (LcLoad::Waiting { .. }, _) => Behaviour::Silent,
                (_, 0) => Behaviour::Exclusive,
                _ => Behaviour::Ignore,
            },
        })
        .collect()
}

fn count(load: LcLoad) -> usize {
    match load {
        LcLoad::Burst { count } | LcLoad::Paced { count, .. } | LcLoad::Waiting { count } => count,
    }
}

/// One lifecycle run against the orchestrator on `o.instance` (pid `o.pid`).
pub fn run(o: &Options, load: LcLoad) -> Result<RunReport, String> {
    let registry = registry(o)?;
    let specs = specs(&registry, load);
    let keys = Keys::new(&o.instance);
    let mut conn = run::connect(&o.redis_url)?;
    let n = count(load);
    let batch = Batch::new(n);
    let tracker = Arc::new(Tracker::new(batch.index.clone(), batch.clock));
    let agents = agents::start(&o.redis_url, &keys, &specs, tracker.clone())?;
    let before = run::begin_process(o.pid)?;
    let redis_cpu = run::redis_cpu_s(&mut conn)?;
    let bench_cpu = procstat::self_cpu_s();
    let shape = Shape {
        keys: &keys,
        structural_type: "Standard",
        payload: producer::payload(o.payload_bytes),
        duplicates: 1,
    };
    let sent = match load {
        LcLoad::Paced { rate, .. } => {
            producer::paced(&conn, &shape, &batch.ids, rate, &batch.sent_at, batch.clock)
        }
        _ => producer::burst(&conn, &shape, &batch.ids, &batch.sent_at, batch.clock),
    };
    let send_s = batch.clock.elapsed().as_secs_f64();
    let waiting = matches!(load, LcLoad::Waiting { .. });
    if sent.is_ok() {
        let deadline = Instant::now() + o.wait;
        let done = |t: &Tracker| {
            let (created, completed) = t.progress();
            if waiting {
                created >= n
            } else {
                completed >= n
            }
        };
        // An agent's panic ends the swarm (its stop below raises it): no
        // waiting out the deadline then.
        while !done(&tracker) && !agents.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if waiting {
            std::thread::sleep(HOLD);
        } else {
            // The deliverables' claims: every agent bids `ignore`, so they go dormant.
            let bidding = format!("{}orchestrator:bidding", keys.prefix());
            while Instant::now() < deadline && !agents.is_finished() {
                let left: u64 =
                    smol::block_on(redis::cmd("ZCARD").arg(&bidding).query_async(&mut conn))
                        .map_err(|e| format!("ZCARD: {e}"))?;
                if left == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(o.settle);
    }
    let redis_cpu = run::redis_cpu_s(&mut conn)? - redis_cpu;
    let bench_cpu = procstat::self_cpu_s() - bench_cpu;
    let process = run::process_report(before, o.pid)?;
    agents.stop();
    sent?;
    let track = std::mem::take(&mut *tracker.track.lock().unwrap());
    let board = smol::block_on(board(&mut conn, &keys, &batch, &track))?;
    smol::block_on(cleanup(&mut conn, &keys, &board.keys, &board.claims))?;
    let mut report = report(&batch, &track, &board, load);
    report.mode = match load {
        LcLoad::Burst { .. } => "lifecycle burst".into(),
        LcLoad::Paced { rate, .. } => format!("lifecycle paced {rate}/s"),
        LcLoad::Waiting { .. } => "lifecycle, claims waiting for bids".into(),
    };
    report.payload_bytes = o.payload_bytes;
    report.duplicates = 1;
    report.structural_type = "Standard".into();
    report.events_published = n as u64;
    report.sent_per_s = n as f64 / send_s.max(1e-9);
    report.redis_cpu_s = redis_cpu;
    report.bench_cpu_s = bench_cpu;
    report.process = process;
    if let Some(lc) = report.lifecycle.as_mut() {
        lc.agents = specs
            .iter()
            .map(|s| format!("{} ({:?})", s.name, s.behaviour))
            .collect();
    }
    if let (Some(p), claimed) = (report.process.as_mut(), report.tally.claimed) {
        p.cpu_us_per_claim = (claimed > 0).then(|| p.cpu_ms * 1000.0 / claimed as f64);
    }
    Ok(report)
}

/// What the blackboard says after the run.
struct Board {
    /// Per artefact of the run: its claim's status (`None`: no claim).
    status: Vec<Option<String>>,
    /// Per artefact of the run: is its claim in the bidding set.
    bidding: Vec<bool>,
    deliverable_claims_bidding: u64,
    /// Every key of the run (artefacts, threads, index keys, claims, bids hashes).
    keys: Vec<String>,
    claims: Vec<String>,
}

async fn board(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    batch: &Batch,
    track: &Track,
) -> Result<Board, String> {
    let err = |e: redis::RedisError| format!("board: {e}");
    let bidding_key = format!("{}orchestrator:bidding", keys.prefix());
    let mut artefacts: Vec<String> = batch
        .ids
        .iter()
        .map(|u| u.hyphenated().to_string())
        .collect();
    let originals = artefacts.len();
    artefacts.extend(track.deliverable_index.keys().cloned());
    let mut out = Board {
        status: Vec::with_capacity(originals),
        bidding: Vec::with_capacity(originals),
        deliverable_claims_bidding: 0,
        keys: Vec::new(),
        claims: Vec::new(),
    };
    for (c, chunk) in artefacts.chunks(CHUNK).enumerate() {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.get(keys.claim_by_artefact(id.as_str()));
        }
        let claims: Vec<Option<String>> = pipe.query_async(conn).await.map_err(err)?;
        let mut pipe = redis::pipe();
        for claim in &claims {
            let claim = claim.as_deref().unwrap_or("none");
            pipe.hget(keys.claim(claim), "status")
                .zscore(&bidding_key, claim);
        }
        let states: Vec<(Option<String>, Option<f64>)> =
            pipe.query_async(conn).await.map_err(err)?;
        for (k, ((id, claim), (status, score))) in chunk.iter().zip(claims).zip(states).enumerate()
        {
            let original = c * CHUNK + k < originals;
            if original {
                out.status.push(claim.as_ref().and(status));
                out.bidding.push(score.is_some());
            } else if score.is_some() {
                out.deliverable_claims_bidding += 1;
            }
            out.keys.push(keys.artefact(id.as_str()));
            out.keys.push(keys.claim_by_artefact(id.as_str()));
            if !original {
                // The agents' work has a thread (its logical id is its id).
                out.keys.push(format!("{}thread:{id}", keys.prefix()));
            }
            if let Some(claim) = claim {
                out.keys.push(keys.claim(claim.as_str()));
                out.keys
                    .push(format!("{}claim:{claim}:bids", keys.prefix()));
                for mark in ["counted", "late", "overdue"] {
                    out.keys
                        .push(format!("{}orchestrator:{mark}:{claim}", keys.prefix()));
                }
                out.claims.push(claim);
            }
        }
    }
    Ok(out)
}

/// Deletes the run's keys and takes its claims out of the orchestrator's sets.
async fn cleanup(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    all: &[String],
    claims: &[String],
) -> Result<(), String> {
    let err = |e: redis::RedisError| format!("cleanup: {e}");
    for chunk in all.chunks(CHUNK) {
        redis::cmd("UNLINK")
            .arg(chunk)
            .query_async::<()>(conn)
            .await
            .map_err(err)?;
    }
    for set in ["bidding", "active", "dormant"] {
        for chunk in claims.chunks(CHUNK) {
            redis::cmd("ZREM")
                .arg(format!("{}orchestrator:{set}", keys.prefix()))
                .arg(chunk)
                .query_async::<()>(conn)
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Counts, throughput and latencies of a run.
fn report(batch: &Batch, t: &Track, board: &Board, load: LcLoad) -> RunReport {
    let n = batch.ids.len();
    let waiting = matches!(load, LcLoad::Waiting { .. });
    // The end state each claim must reach.
    let reached = |i: usize| match &board.status[i] {
        Some(s) if waiting => s == "pending_review" && board.bidding[i],
        Some(s) => s == "complete",
        None => false,
    };
    let claimed = (0..n).filter(|&i| reached(i)).count() as u64;
    let duplicated = (0..n)
        .filter(|&i| {
            t.claim_events[i] > 1
                || t.grants[i] > 1
                || t.written[i] > 1
                || t.deliverable_claims[i] > 1
        })
        .count() as u64;
    let tally = Tally {
        sent: n as u64,
        expected: n as u64,
        claimed,
        missing: n as u64 - claimed,
        duplicated,
        extra_claim_events: t
            .claim_events
            .iter()
            .map(|&c| u64::from(c.saturating_sub(1)))
            .sum(),
        claim_ids_announced: t.claim_index.len() as u64,
        unexpected_claims: 0,
        board_unclaimed: board.status.iter().filter(|s| s.is_none()).count() as u64,
        foreign_events: t.foreign_claims,
    };
    let between = |from: &[u64], to: &[u64]| -> Vec<u64> {
        from.iter()
            .zip(to)
            .filter(|(&f, &t)| f != 0 && t != 0)
            .map(|(&f, &t)| t.saturating_sub(f))
            .collect()
    };
    // Submit times on the agents' convention (ns + 1; 0: never).
    let sent_stamp: Vec<u64> = batch
        .sent_at
        .iter()
        .map(|a| a.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    let to_complete = between(&sent_stamp, &t.complete_ns);
    let to_grant = between(&t.last_bid_ns, &t.granted_ns);
    let end = if waiting {
        &t.created_ns
    } else {
        &t.complete_ns
    };
    let first = sent_stamp
        .iter()
        .copied()
        .filter(|&s| s > 0)
        .min()
        .unwrap_or(0);
    let last = end.iter().copied().max().unwrap_or(0);
    let elapsed_s = last.saturating_sub(first) as f64 / 1e9;
    let done = end.iter().filter(|&&e| e > 0).count() as f64;
    let primary = match load {
        LcLoad::Burst { .. } => to_complete.clone(),
        LcLoad::Paced { .. } => to_grant.clone(),
        LcLoad::Waiting { .. } => between(&sent_stamp, &t.created_ns),
    };
    RunReport {
        tally,
        elapsed_s,
        claims_per_s: if elapsed_s > 0.0 {
            done / elapsed_s
        } else {
            0.0
        },
        latency: Latency::from_nanos(&primary),
        lifecycle: Some(LcReport {
            agents: Vec::new(),
            artefact_to_complete: Latency::from_nanos(&to_complete),
            last_bid_to_grant: Latency::from_nanos(&to_grant),
            bids_sent: t.bids_sent,
            grants: t.grants.iter().map(|&g| u64::from(g)).sum(),
            deliverables: t.written.iter().map(|&w| u64::from(w)).sum(),
            deliverable_claims_bidding: board.deliverable_claims_bidding,
            agent_errors: t.errors,
        }),
        ..RunReport::default()
    }
}
