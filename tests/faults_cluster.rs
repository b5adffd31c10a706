//! Fault tests (issue 5), many processes: three replicas racing for the same
//! artefacts while one is killed and one restarted, and Redis itself
//! restarted (AOF on, so the blackboard survives) in the middle of a stream.

use sett_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use support::verify::{all_claim_events, assert_exactly_once, paced_stream, stop, wait_count};
use support::*;

const PACE: Duration = Duration::from_micros(500);

#[test]
fn three_replicas_one_killed_one_restarted_make_exactly_3000_claims() {
    const TOTAL: usize = 3_000;
    let redis = RedisServer::start();
    let inst = "f-replicas";
    let listener = ClaimListener::start(&redis, inst);
    let mut p = Producer::new(&redis, inst);
    let mut a = Orchestrator::start(&redis, inst);
    let mut b = Orchestrator::start(&redis, inst);
    let mut c = Orchestrator::start(&redis, inst);
    let written = AtomicUsize::new(0);
    let (ids, at_kill, at_restart) = thread::scope(|s| {
        let stream = s.spawn(|| paced_stream(&redis, inst, TOTAL, PACE, &written));
        wait_count(&written, 1_000);
        a.kill9();
        let at_kill = written.load(SeqCst);
        wait_count(&written, 2_000);
        let at_restart = written.load(SeqCst);
        stop(&mut b);
        b = Orchestrator::start(&redis, inst);
        (stream.join().unwrap(), at_kill, at_restart)
    });
    assert!(
        at_kill < 2_000 && at_restart < TOTAL,
        "faults must land mid-stream ({at_kill}, {at_restart})"
    );
    assert!(
        wait_until(PATIENCE, || p.index_entries() == TOTAL),
        "claimed {}",
        p.index_entries()
    );
    stop(&mut b);
    stop(&mut c);
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
    // They really raced: the survivors saw events another replica had claimed.
    let duplicates = b.events("duplicate_artefact").len() + c.events("duplicate_artefact").len();
    assert!(duplicates > 0, "no replica ever lost a race");
    eprintln!("replicas: kill at {at_kill}, restart at {at_restart}, {duplicates} races lost by survivors");
}

/// Writes `total` artefacts like [`paced_stream`], but rides out a Redis
/// restart: a failed write is retried on a new connection until it succeeds.
fn resilient_stream(url: &str, inst: &str, total: usize, written: &AtomicUsize) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn: Option<redis::Connection> = None;
    let mut ids = Vec::with_capacity(total);
    for _ in 0..total {
        let id = uuid();
        let mut pipe = redis::pipe();
        support::verify::pipe_artefact(&mut pipe, inst, &id, "through a restart");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "Redis did not come back"
            );
            let ok = match conn.as_mut() {
                Some(c) => pipe.query::<Vec<i64>>(c).is_ok(),
                None => false,
            };
            if ok {
                break;
            }
            conn = client.get_connection().ok();
            thread::sleep(Duration::from_millis(20));
        }
        ids.push(id);
        written.fetch_add(1, SeqCst);
        thread::sleep(PACE);
    }
    ids
}

#[test]
fn redis_restarted_mid_stream_everything_is_claimed_once_it_returns() {
    const TOTAL: usize = 2_000;
    // fsync on every write: a SIGKILLed Redis then loses nothing it acknowledged
    // (with the default `everysec` it may lose a second, which Sett cannot see).
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let inst = "f-redisrestart";
    let url = redis.url();
    let mut orch = Orchestrator::start(&redis, inst);
    let written = AtomicUsize::new(0);
    let (ids, at_restart) = thread::scope(|s| {
        let stream = s.spawn(|| resilient_stream(&url, inst, TOTAL, &written));
        wait_count(&written, 700);
        let at_restart = written.load(SeqCst);
        redis.restart();
        (stream.join().unwrap(), at_restart)
    });
    assert!(
        at_restart < TOTAL,
        "the restart must land mid-stream ({at_restart})"
    );
    let back = orch.wait_for_event("redis_reconnected");
    let mut p = Producer::new(&redis, inst);
    assert!(
        wait_until(PATIENCE, || p.index_entries() == TOTAL),
        "claimed {}",
        p.index_entries()
    );
    let passes = orch.events("reconcile_complete");
    eprintln!("Redis restart at {at_restart} written: {back}; {passes:?}");
    stop(&mut orch);
    // The claim events of the first Redis went with its connections: the
    // blackboard is checked, the announcements are covered by the other tests.
    assert_exactly_once(&mut p, &ids, &[], None);
}
