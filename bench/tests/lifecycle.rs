//! sett-bench's lifecycle scenarios against the real orchestrator with a
//! registry: every claim reaches `complete` through three bids, one exclusive
//! grant and one deliverable, each counted once; and the failure paths: an
//! exclusive bidder the orchestrator does not know leaves every claim
//! incomplete (counted missing), and "waiting for bids" is only counted for
//! claims really in the bidding set.
//!
//! Each test starts its own `redis-server` on a free port.

mod support;

use serde_json::Value;
use support::*;

const REGISTRY: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Docs: {}\n  Lint: {}\n";

fn counts(v: &Value) -> [u64; 4] {
    ["sent", "claimed", "missing", "duplicated"].map(|k| v[k].as_u64().unwrap())
}

fn lc(v: &Value, field: &str) -> u64 {
    v["lifecycle"][field].as_u64().unwrap()
}

fn keys(redis: &Redis) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut redis.conn())
        .unwrap();
    keys.sort();
    keys
}

#[test]
fn every_claim_completes_through_bids_one_grant_and_one_deliverable() {
    let redis = Redis::start();
    let dir = TempDir::new();
    let registry = dir.file("sett.yml", REGISTRY);
    let orch = Orchestrator::start_env(
        &redis,
        "lc",
        &[
            ("SETT_CONFIG_FILE", registry.as_str()),
            ("SETT_BID_TIMEOUT", "0"),
        ],
    );
    let pid = orch.pid();
    let registry_arg = format!("--registry {}", registry.as_str());

    let v = bench_lifecycle(
        &redis,
        "lc",
        &format!("{registry_arg} --burst 50 --pid {pid}"),
    );
    assert_eq!(counts(&v), [50, 50, 0, 0]);
    assert_eq!(v["claim_ids_announced"], 50);
    assert_eq!(v["foreign_events"], 0);
    // Three bids on each claim and on each deliverable's claim.
    assert_eq!(lc(&v, "bids_sent"), 300);
    assert_eq!(lc(&v, "grants"), 50);
    assert_eq!(lc(&v, "deliverables"), 50);
    assert_eq!(lc(&v, "deliverable_claims_bidding"), 0);
    assert_eq!(lc(&v, "agent_errors"), 0);
    assert_eq!(v["latency"]["count"], 50);
    assert_eq!(v["lifecycle"]["last_bid_to_grant"]["count"], 50);
    assert_eq!(
        v["lifecycle"]["agents"],
        serde_json::json!(["Coder (Exclusive)", "Docs (Ignore)", "Lint (Ignore)"])
    );
    assert!(v["claims_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["process"]["cpu_ms"].as_f64().unwrap() > 0.0);

    let paced = bench_lifecycle(
        &redis,
        "lc",
        &format!("{registry_arg} --rate 200 --count 20"),
    );
    assert_eq!(counts(&paced), [20, 20, 0, 0]);
    assert_eq!(paced["mode"], "lifecycle paced 200/s");
    // The paced run's latency is last bid -> grant.
    assert_eq!(
        paced["latency"]["p99_ms"],
        paced["lifecycle"]["last_bid_to_grant"]["p99_ms"]
    );
    // Every key of both runs is gone; only the orchestrator's lock is left.
    assert_eq!(keys(&redis), ["sett:lc:lock"]);
}

#[test]
fn an_unknown_exclusive_bidder_leaves_every_claim_incomplete() {
    let redis = Redis::start();
    let dir = TempDir::new();
    let registry = dir.file("sett.yml", REGISTRY);
    // The bench's first agent, Aaron, bids exclusive; the orchestrator waits for Coder for ever.
    let wrong = dir.file(
        "wrong.yml",
        "version: '1.0'\nagents:\n  Aaron: {}\n  Docs: {}\n  Lint: {}\n",
    );
    let _orch = Orchestrator::start_env(
        &redis,
        "lc",
        &[
            ("SETT_CONFIG_FILE", registry.as_str()),
            ("SETT_BID_TIMEOUT", "0"),
        ],
    );
    let v = bench_lifecycle(
        &redis,
        "lc",
        &format!("--registry {} --burst 10 --wait-ms 1500", wrong.as_str()),
    );
    assert_eq!(counts(&v), [10, 0, 10, 0]);
    assert_eq!(lc(&v, "bids_sent"), 30);
    assert_eq!((lc(&v, "grants"), lc(&v, "deliverables")), (0, 0));
    assert!(v["latency"].is_null());
    assert_eq!(keys(&redis), ["sett:lc:lock"]);
}

#[test]
fn claims_count_as_waiting_only_while_they_collect_bids() {
    let redis = Redis::start();
    let dir = TempDir::new();
    let registry = dir.file("sett.yml", REGISTRY);
    let args = format!("--registry {} --waiting 20", registry.as_str());
    let lifecycle = Orchestrator::start_env(
        &redis,
        "lc",
        &[
            ("SETT_CONFIG_FILE", registry.as_str()),
            ("SETT_BID_TIMEOUT", "0"),
        ],
    );
    let pid = lifecycle.pid();
    let v = bench_lifecycle(&redis, "lc", &format!("{args} --pid {pid}"));
    assert_eq!(counts(&v), [20, 20, 0, 0]);
    assert_eq!(lc(&v, "bids_sent"), 0);
    assert_eq!(v["latency"]["count"], 20);
    assert!(v["process"]["rss_peak_kb"].as_u64().unwrap() > 0);
    assert_eq!(keys(&redis), ["sett:lc:lock"]);

    // A Phase-1 orchestrator claims them too, but nothing collects bids.
    let _phase1 = Orchestrator::start_env(&redis, "p1", &[]);
    let v = bench_lifecycle(&redis, "p1", &args);
    assert_eq!(counts(&v), [20, 0, 20, 0]);
    assert_eq!(v["board_unclaimed"], 0);
}
