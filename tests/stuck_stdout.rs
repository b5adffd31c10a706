//! A stdout nobody reads (`orchestrator | sleep 600`) freezes nothing: logging
//! goes through a bounded buffer that its own thread writes out, so claims,
//! probes and signals go on; lines that do not fit are dropped, counted, and
//! summed up in one `log_lines_dropped` line once output flows again.

use sett_test_support as support;

use std::time::{Duration, Instant};

use support::verify::pipe_artefact;
use support::*;

/// Stores and announces `n` artefacts of `instance` (pipelined, 500 a round trip).
fn burst(redis: &RedisServer, instance: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|_| uuid()).collect();
    let mut conn = redis.conn();
    for chunk in ids.chunks(500) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe_artefact(&mut pipe, instance, id, "burst");
        }
        pipe.query::<()>(&mut conn).unwrap();
    }
    ids
}

/// An orchestrator whose stdout is never read, after a burst of `n`
/// artefacts it has claimed every one of.
fn stuck_after_burst(redis: &RedisServer, instance: &str, n: usize) -> Orchestrator {
    let orch = Orchestrator::spawn_unread(&redis.url(), instance, &[]);
    assert!(orch.wait_status("/readyz", 200), "{:#?}", orch.stderr());
    burst(redis, instance, n);
    let mut p = Producer::new(redis, instance);
    let claimed = wait_until(PATIENCE, || p.index_entries() == n);
    assert!(claimed, "{} of {n} claimed", p.index_entries());
    // The claims exist once their scripts ran; each is counted, and its line
    // emitted (or dropped), when its answer arrives.
    let counted = wait_until(PATIENCE, || orch.metric("claims_created_total") == n as u64);
    assert!(
        counted,
        "{} of {n} counted",
        orch.metric("claims_created_total")
    );
    orch
}

fn assert_live_within_1s(orch: &Orchestrator) {
    for _ in 0..3 {
        let t = Instant::now();
        let (status, body) = orch.get("/livez");
        let took = t.elapsed();
        assert_eq!((status, body.as_str()), (200, "{\"status\":\"alive\"}\n"));
        assert!(took < Duration::from_secs(1), "/livez took {took:?}");
    }
}

#[test]
fn claims_probes_and_sigterm_go_on_while_stdout_is_stuck() {
    let redis = RedisServer::start();
    let mut orch = stuck_after_burst(&redis, "stuck", 3_000);
    assert_live_within_1s(&orch);
    assert_eq!(orch.get("/healthz").0, 200);

    orch.signal(libc::SIGTERM);
    // Drain (nothing in flight) plus the bounded final flush (2 s), with slack.
    let status = orch
        .wait_exit(Duration::from_secs(10))
        .expect("no exit within 10 s of SIGTERM with stdout stuck");
    assert_eq!(status.code(), Some(0), "{:#?}", orch.stderr());
    assert_eq!(orch.stderr(), Vec::<String>::new());
}

#[test]
fn a_second_signal_exits_at_once_while_stdout_is_stuck() {
    let redis = RedisServer::start();
    let mut orch = stuck_after_burst(&redis, "stuck2", 3_000);
    orch.signal(libc::SIGTERM);
    // The HTTP port closes once the drain is over: the exit then waits for the
    // log to flush, which stdout being stuck holds for 2 s.
    let closed = wait_until(PATIENCE, || orch.get("/livez").0 == 0);
    assert!(closed, "HTTP still answering after SIGTERM");
    let second = Instant::now();
    orch.signal(libc::SIGINT);
    let status = orch
        .wait_exit(PATIENCE)
        .expect("no exit after the second signal");
    let took = second.elapsed();
    assert_eq!(status.code(), Some(1), "not a forced exit");
    assert!(
        took < Duration::from_secs(1),
        "exit {took:?} after the second signal"
    );
}

#[test]
fn lines_that_do_not_fit_are_dropped_counted_and_summed_up_once_output_flows() {
    let redis = RedisServer::start();
    // About 200 bytes a claim line: 8,000 lines overflow the pipe and 1 MiB.
    let n = 8_000;
    let mut orch = stuck_after_burst(&redis, "dropped", n);
    assert_live_within_1s(&orch);
    let dropped_while_stuck =
        |orch: &Orchestrator| metric_value(&orch.get("/metrics").1, "log_lines_dropped_total");
    let stuck = dropped_while_stuck(&orch);
    assert!(stuck > 0, "nothing dropped: the test needs more lines");

    orch.read_stdout();
    orch.wait_for_event("log_lines_dropped");
    // Output flows again, but the buffer drains after that first summary: a
    // line pushed before it has (SIGTERM's `shutdown_requested`, one run in
    // a few) is dropped too. A marker claim whose line comes out shows the
    // buffer drained; from then on nothing more is dropped.
    let drained = wait_until(PATIENCE, || {
        let marker = burst(&redis, "dropped", 1).remove(0);
        wait_until(Duration::from_secs(1), || {
            orch.events("claim_created")
                .iter()
                .any(|l| l["artefact_id"] == marker.as_str())
        })
    });
    assert!(drained, "no marker's claim line came out");
    let dropped = dropped_while_stuck(&orch);
    assert!(dropped >= stuck);
    orch.signal(libc::SIGTERM);
    let status = orch.wait_exit(PATIENCE).expect("no exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(orch.wait_output_closed());

    // Lines stayed whole: every one is JSON, none cut by the stall.
    assert_all_json(&orch);
    let summaries = orch.events("log_lines_dropped");
    let summed: u64 = summaries.iter().map(|l| l["count"].as_u64().unwrap()).sum();
    assert_eq!(summed, dropped, "{summaries:?}");
    assert!(summaries.iter().all(|l| l["level"] == "warn"));
    // Every claim was either logged or counted as a dropped line.
    let logged = orch.events("claim_created").len() as u64;
    assert!(logged < n as u64, "{logged} claim lines: nothing was lost?");
    assert!(
        logged + dropped >= n as u64,
        "{logged} logged + {dropped} dropped < {n} claims"
    );
    assert_eq!(orch.events("orchestrator_shutdown").len(), 1);
}
