//! The lifecycle end to end: the orchestrator binary, a registry, and agents
//! simulated as real ones behave (tests/support/agents.rs).

use sett_test_support as support;

use sett_sim::{SimAgent, Spec, Work};
use support::*;

#[test]
fn review_parallel_exclusive_complete_with_each_grant_once() {
    let redis = RedisServer::start();
    let dir = TempDir::new();
    let file = dir.file(
        "sett.yml",
        "version: '1.0'\nagents:\n  Reviewer: {}\n  WorkerA: {}\n  WorkerB: {}\n  Coder: {}\n",
    );
    let agents = [
        SimAgent::start(&redis, "sett:e2e", Spec::approver("Reviewer")),
        SimAgent::start(
            &redis,
            "sett:e2e",
            Spec::new("WorkerA", "claim", Work::new("Standard", "Notes", "a")),
        ),
        SimAgent::start(
            &redis,
            "sett:e2e",
            Spec::new("WorkerB", "claim", Work::new("Standard", "Notes", "b")),
        ),
        SimAgent::start(
            &redis,
            "sett:e2e",
            Spec::new("Coder", "exclusive", Work::new("Standard", "Code", "c")),
        ),
    ];
    let orch = Orchestrator::start_env(&redis, "e2e", &[("SETT_CONFIG_FILE", &file)]);
    let mut p = Producer::new(&redis, "e2e");
    let goal = p.write("Standard", "build it");
    let complete = orch.wait_for_event("claim_complete");
    let claim = p.claim_of(&goal).unwrap();
    assert_eq!(complete["claim_id"], claim.as_str());
    let status: String = redis::cmd("HGET")
        .arg(format!("sett:e2e:claim:{claim}"))
        .arg("status")
        .query(&mut p.conn)
        .unwrap();
    assert_eq!(status, "complete");
    for agent in &agents {
        assert_eq!(agent.grants_for(&claim), 1, "{}", agent.name);
    }
    // Each grant's line is written when its script's answer is handled, by
    // another task than the one that completes the claim: not ordered with
    // claim_complete, so waited for.
    let phases = || -> Vec<String> {
        orch.events("claim_granted")
            .iter()
            .filter(|l| l["claim_id"] == claim.as_str())
            .map(|l| l["phase"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        wait_until(PATIENCE, || phases().len() >= 3),
        "{:?}",
        phases()
    );
    assert_eq!(phases(), ["review", "parallel", "exclusive"]);
}
