//! sett-bench's counting, proven by making it happen: no orchestrator (all
//! missing), fake claimers that claim twice, announce twice or skip every other
//! artefact, and the real orchestrator (each artefact exactly once).
//!
//! Each test starts its own `redis-server` on a free port.

mod support;

use serde_json::Value;
use support::*;

fn counts(v: &Value) -> [u64; 5] {
    [
        "sent",
        "claimed",
        "missing",
        "duplicated",
        "extra_claim_events",
    ]
    .map(|k| v[k].as_u64().unwrap())
}

/// How the fake claimer treats the n-th event: (claim hashes, announcements).
type Policy = fn(usize) -> (usize, usize);

/// A stand-in orchestrator that misbehaves on purpose, following `policy`.
fn fake_claimer(redis: &Redis, policy: Policy) {
    let mut sub = redis.conn();
    let mut conn = redis.conn();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut pubsub = sub.as_pubsub();
        pubsub.subscribe("sett:t:artefact_events").unwrap();
        ready_tx.send(()).unwrap();
        let mut n = 0;
        // Ends when the test's redis-server goes away.
        while let Ok(msg) = pubsub.get_message() {
            let event: Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap();
            let artefact = event["id"].as_str().unwrap().to_string();
            let (hashes, announcements) = policy(n);
            n += 1;
            let ids: Vec<String> = (0..hashes.max(1))
                .map(|_| uuid::Uuid::new_v4().to_string())
                .collect();
            for id in ids.iter().take(hashes) {
                let key = format!("sett:t:claim:{id}");
                let _: () = redis::cmd("HSET")
                    .arg(&key)
                    .arg("id")
                    .arg(id)
                    .arg("artefact_id")
                    .arg(&artefact)
                    .query(&mut conn)
                    .unwrap();
                let _: () = redis::cmd("SET")
                    .arg(format!("sett:t:claim_by_artefact:{artefact}"))
                    .arg(id)
                    .query(&mut conn)
                    .unwrap();
            }
            for i in 0..announcements {
                let json = serde_json::json!({"id": ids[i % ids.len()], "artefact_id": artefact, "status": "pending_review"});
                let _: i64 = redis::cmd("PUBLISH")
                    .arg("sett:t:claim_events")
                    .arg(json.to_string())
                    .query(&mut conn)
                    .unwrap();
            }
        }
    });
    ready_rx.recv().unwrap();
}

#[test]
fn with_no_orchestrator_every_artefact_is_missing() {
    let redis = Redis::start();
    let v = bench(&redis, "--burst 25 --wait-ms 300 --settle-ms 100");
    assert_eq!(counts(&v), [25, 0, 25, 0, 0]);
    assert_eq!(v["expected"], 25);
    assert_eq!(v["board_unclaimed"], 25);
    assert_eq!(v["events_published"], 25);
    assert!(v["latency"].is_null());
    // The run cleans up after itself.
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<u64>(&mut redis.conn())
            .unwrap(),
        0
    );
}

#[test]
fn two_claims_for_one_artefact_are_counted_as_duplicated() {
    let redis = Redis::start();
    fake_claimer(&redis, |_| (2, 2));
    let v = bench(&redis, "--burst 20 --settle-ms 300");
    assert_eq!(counts(&v), [20, 20, 0, 20, 20]);
    assert_eq!(v["claim_ids_announced"], 40);
    assert_eq!(v["latency"]["count"], 20);
}

#[test]
fn one_claim_announced_twice_is_counted_as_duplicated() {
    let redis = Redis::start();
    fake_claimer(&redis, |_| (1, 2));
    let v = bench(&redis, "--burst 20 --settle-ms 300");
    assert_eq!(counts(&v), [20, 20, 0, 20, 20]);
    assert_eq!(v["claim_ids_announced"], 20);
}

#[test]
fn a_second_claim_hash_is_found_even_unannounced() {
    let redis = Redis::start();
    fake_claimer(&redis, |n| (if n % 4 == 0 { 2 } else { 1 }, 1));
    let v = bench(&redis, "--burst 20 --settle-ms 300");
    assert_eq!(counts(&v), [20, 20, 0, 5, 0]);
}

#[test]
fn a_claimer_that_skips_every_other_event_leaves_half_missing() {
    let redis = Redis::start();
    fake_claimer(&redis, |n| if n % 2 == 0 { (1, 1) } else { (0, 0) });
    let v = bench(
        &redis,
        "--rate 500 --count 20 --wait-ms 500 --settle-ms 100",
    );
    assert_eq!(counts(&v), [20, 10, 10, 0, 0]);
    assert_eq!(v["board_unclaimed"], 10);
    assert_eq!(v["mode"], "paced 500/s");
}

#[test]
fn the_real_orchestrator_claims_each_artefact_exactly_once() {
    let redis = Redis::start();
    let orch = Orchestrator::start(&redis, "t");
    let pid = orch.pid();
    let v = bench(&redis, &format!("--burst 300 --duplicates 3 --pid {pid}"));
    assert_eq!(counts(&v), [300, 300, 0, 0, 0]);
    assert_eq!(v["events_published"], 900);
    assert_eq!(v["board_unclaimed"], 0);
    assert_eq!(v["latency"]["count"], 300);
    let p = &v["process"];
    assert!(
        p["rss_peak_kb"].as_u64().unwrap()
            >= p["rss_after_kb"]
                .as_u64()
                .unwrap()
                .min(p["rss_before_kb"].as_u64().unwrap())
    );
    assert_eq!(
        p["threads"].as_u64().unwrap() as usize,
        p["thread_names"].as_array().unwrap().len()
    );
    assert!(p["cpu_ms"].as_f64().unwrap() > 0.0);

    let terminal = bench(
        &redis,
        "--burst 30 --structural-type Terminal --settle-ms 500",
    );
    assert_eq!(counts(&terminal), [30, 0, 0, 0, 0]);
    assert_eq!(
        (
            terminal["expected"].as_u64(),
            terminal["unexpected_claims"].as_u64()
        ),
        (Some(0), Some(0))
    );

    for how in ["", "--per-call"] {
        let limit = bench(&redis, &format!("--limit --count 200 --in-flight 16 {how}"));
        assert_eq!(counts(&limit), [200, 200, 0, 0, 0], "{how}");
        assert_eq!(limit["claim_ids_announced"], 200, "{how}");
        assert!(limit["claims_per_s"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<u64>(&mut redis.conn())
            .unwrap(),
        0
    );
}
