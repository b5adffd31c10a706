//! Fault tests (issue 5), one orchestrator: kill -9 mid-stream, the
//! subscription killed by Redis, and Redis dropping a subscriber that is too
//! slow. Pub/Sub loses what is published in the gap; catch-up must claim it,
//! and the atomic script must keep it to one claim, announced once.
//!
//! Replicas and Redis restarts are in `faults_cluster.rs`.

use sett_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use support::verify::{
    all_claim_events, assert_exactly_once, paced_stream, pipe_artefact, pubsub_client_ids, stop,
    wait_count,
};
use support::*;

/// Sleep after each streamed artefact: 2,000 take a few seconds, so a fault
/// injected at a given count lands while the stream is still running.
const PACE: Duration = Duration::from_micros(500);

#[test]
fn kill_9_mid_stream_then_restart_claims_every_artefact_once() {
    const TOTAL: usize = 2_000;
    let redis = RedisServer::start();
    let inst = "f-kill9";
    let listener = ClaimListener::start(&redis, inst);
    let mut p = Producer::new(&redis, inst);
    let mut first = Orchestrator::start(&redis, inst);
    let written = AtomicUsize::new(0);
    let (ids, written_at_kill) = thread::scope(|s| {
        let stream = s.spawn(|| paced_stream(&redis, inst, TOTAL, PACE, &written));
        wait_count(&written, 600);
        first.kill9();
        let at_kill = written.load(SeqCst);
        (stream.join().unwrap(), at_kill)
    });
    assert!(
        written_at_kill < TOTAL,
        "the kill must land mid-stream (written {written_at_kill})"
    );
    // Nothing runs now: what the first process claimed before it died is final.
    let claimed_by_first = p.index_entries();
    assert!(
        claimed_by_first > 0 && claimed_by_first < TOTAL,
        "{claimed_by_first}"
    );

    let mut second = Orchestrator::start(&redis, inst);
    let done = second.wait_for_event("reconcile_complete");
    assert_eq!(done["scanned"], TOTAL, "{done}");
    assert_eq!(done["claimed"], TOTAL - claimed_by_first, "{done}");
    eprintln!("kill -9 at {written_at_kill} written, {claimed_by_first} claimed; restart: {done}");
    stop(&mut second);
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
}

#[test]
fn subscription_killed_by_redis_then_500_more_in_the_same_pipeline() {
    const AFTER: usize = 500;
    let redis = RedisServer::start();
    let inst = "f-clientkill";
    let listener = ClaimListener::start(&redis, inst);
    let listener_ids = pubsub_client_ids(&redis);
    let mut orch = Orchestrator::start(&redis, inst);
    let mut p = Producer::new(&redis, inst);
    let mut ids: Vec<String> = (0..20).map(|_| p.write("Standard", "before")).collect();
    listener.wait_for(20);
    // Our own listener is a Pub/Sub client too: spare it (filters AND
    // together) so it can still witness every claim event.
    let orch_subs: Vec<u64> = pubsub_client_ids(&redis)
        .into_iter()
        .filter(|id| !listener_ids.contains(id))
        .collect();
    assert_eq!(orch_subs.len(), 1, "{orch_subs:?}");

    let mut pipe = redis::pipe();
    pipe.cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .arg("ID")
        .arg(orch_subs[0]);
    for _ in 0..AFTER {
        let id = uuid();
        pipe_artefact(&mut pipe, inst, &id, "after the kill");
        ids.push(id);
    }
    let replies: Vec<i64> = pipe.query(&mut p.conn).unwrap();
    assert_eq!(
        replies[0], 1,
        "CLIENT KILL must have killed the subscription"
    );
    let delivered: i64 = replies[1..].iter().sum();
    assert_eq!(replies.len(), AFTER + 1);
    // Published before the engine could resubscribe (its first retry waits
    // 50 ms): the channel lost them, only catch-up can claim them.
    assert!(
        delivered < AFTER as i64,
        "no event was lost ({delivered} delivered): the test proves nothing"
    );

    orch.wait_for_event("redis_reconnected");
    assert!(
        wait_until(PATIENCE, || p.index_entries() == ids.len()),
        "claimed {}",
        p.index_entries()
    );
    // Catch-up ran once at start and once after the resubscribe.
    let done = orch.wait_for_events("reconcile_complete", 2);
    let back = orch.wait_for_event("redis_reconnected");
    eprintln!(
        "CLIENT KILL: {delivered} of {AFTER} delivered; {back}; {}",
        done[1]
    );
    assert!(
        done[1]["claimed"].as_u64().unwrap() >= AFTER as u64 - delivered as u64,
        "{:?}",
        done[1]
    );
    stop(&mut orch);
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
}

#[test]
fn subscriber_dropped_for_a_full_output_buffer_misses_nothing() {
    const BURST: usize = 100;
    let redis = RedisServer::start();
    let inst = "f-slowsub";
    // Any one 64 KiB event overflows this (Redis keeps 16 KiB in the client's
    // own buffer, the rest counts), so Redis drops the subscriber mid-burst.
    // Claim events (~200 B) stay far below it: the listener is not dropped.
    let mut admin = redis.conn();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 32kb 32kb 0")
        .query::<()>(&mut admin)
        .unwrap();
    let listener = ClaimListener::start(&redis, inst);
    let mut orch = Orchestrator::start(&redis, inst);
    let mut p = Producer::new(&redis, inst);
    let payload = "p".repeat(64 * 1024);
    let mut pipe = redis::pipe();
    let ids: Vec<String> = (0..BURST)
        .map(|_| {
            let id = uuid();
            pipe_artefact(&mut pipe, inst, &id, &payload);
            id
        })
        .collect();
    let delivered: Vec<i64> = pipe.query(&mut p.conn).unwrap();
    assert_eq!(delivered.len(), BURST);

    orch.wait_for_event("redis_reconnected");
    assert!(
        wait_until(PATIENCE, || p.index_entries() == BURST),
        "claimed {}",
        p.index_entries()
    );
    stop(&mut orch);
    let reconnects = orch.events("redis_reconnected").len();
    eprintln!(
        "64 KiB burst: {reconnects} reconnects; {:?}",
        orch.events("reconcile_complete")
    );
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
    assert!(
        orch.events("redis_error")
            .iter()
            .any(|l| l["operation"] == "session"),
        "{:#?}",
        orch.stdout()
    );
}
