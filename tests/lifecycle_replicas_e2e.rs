//! Three orchestrator processes on one instance (same Redis, same registry)
//! run the review -> parallel -> exclusive flow for 100 artefacts: every
//! claim completes, each agent receives each grant once, each message is
//! published once, and each claim's log lines come from one replica in all.

use sett_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use sett_sim::recorder::{by_orchestrator, counted};
use sett_sim::{SimAgent, Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::verify::stop;
use support::*;

const GOALS: usize = 100;
const REPLICAS: usize = 3;
/// A generous bound for the whole flow on a busy machine.
const FLOW_LIMIT: Duration = Duration::from_secs(180);

/// Log lines `event` of every replica.
fn all_lines(orchs: &[Orchestrator], event: &str) -> Vec<serde_json::Value> {
    orchs.iter().flat_map(|o| o.events(event)).collect()
}

/// Each agent's grants: exactly one, of `kind`, for each of `claims`.
fn assert_granted_once(agent: &SimAgent, claims: &[String], kind: &str) {
    let want: BTreeMap<String, Vec<String>> = claims
        .iter()
        .map(|c| (c.clone(), vec![kind.to_string()]))
        .collect();
    assert_eq!(agent.seen().grants, want, "{}", agent.name);
}

#[test]
fn three_replicas_run_the_whole_flow_for_100_artefacts_exactly_once() {
    let registry = "version: '1.0'\nagents:\n  Reviewer: {}\n  Worker: {}\n  Coder: {}\n";
    let mut stack = Stack::new("sett", "trio", registry);
    let mut tap = stack.wiretap();
    let reviewer = stack.agent(Spec::approver("Reviewer"));
    let worker = stack.agent(Spec::new(
        "Worker",
        "claim",
        Work::new("Standard", "Notes", "n"),
    ));
    let coder = stack.agent(Spec::new(
        "Coder",
        "exclusive",
        Work::new("Standard", "Code", "c"),
    ));
    let mut orchs: Vec<Orchestrator> = (0..REPLICAS).map(|_| stack.orchestrator(&[])).collect();
    for o in &orchs {
        o.wait_for_event("reconcile_complete");
    }
    let goals: Vec<Art> = (0..GOALS).map(|_| Art::goal()).collect();
    for goal in &goals {
        stack.write(goal);
    }

    // Each goal's claim completes; the notes and commits get dormant claims.
    let done = || {
        all_lines(&orchs, "claim_complete").len() >= GOALS
            && all_lines(&orchs, "claim_dormant").len() >= 2 * GOALS
    };
    assert!(
        wait_until(FLOW_LIMIT, done),
        "{} complete, {} dormant",
        all_lines(&orchs, "claim_complete").len(),
        all_lines(&orchs, "claim_dormant").len()
    );
    let claims: Vec<String> = goals.iter().map(|g| stack.claim_of(&g.id)).collect();
    for claim in &claims {
        assert_eq!(stack.claim(claim)["status"], "complete", "{claim}");
    }
    // Counted by the replica whose script made the claim, when its answer
    // arrived: not ordered with the lines of the other replicas.
    let created = || -> usize {
        orchs
            .iter()
            .map(|o| metric(o, "claims_created_total") as usize)
            .sum()
    };
    assert!(wait_until(PATIENCE, || created() >= 3 * GOALS));
    assert_eq!(created(), 3 * GOALS);
    // Stopped, nothing more is decided and every line is out: a duplicate
    // would be among them, and a replica's lines wait for no other's.
    for o in &mut orchs {
        stop(o);
    }
    assert_granted_once(&reviewer, &claims, "review");
    assert_granted_once(&worker, &claims, "claim");
    assert_granted_once(&coder, &claims, "exclusive");

    // Every message the orchestrators published, each once: a claim event
    // per claim, per goal three grants and one approval.
    let written: Vec<String> = [&worker, &coder]
        .iter()
        .flat_map(|a| a.seen().written)
        .collect();
    assert_eq!(written.len(), 2 * GOALS);
    let mut want = Vec::new();
    for (goal, claim) in goals.iter().zip(&claims) {
        want.push(claim_event(claim, &goal.id));
        want.extend(grants(claim, "review", &["Reviewer"], &[]));
        want.push(approved(&goal.id, "Reviewer"));
        want.extend(grants(claim, "claim", &["Worker"], &[]));
        want.extend(grants(claim, "exclusive", &["Coder"], &[]));
    }
    for artefact in &written {
        let claim = stack.claim_of(artefact);
        want.push(claim_event(&claim, artefact));
    }
    let published = by_orchestrator(tap.everything());
    let got = counted(&published);
    assert_eq!(
        got.values().copied().max(),
        Some(1),
        "a message was published twice"
    );
    assert_eq!(got, counted(&want));

    // Each claim's lines were written once, by one replica.
    for claim in &claims {
        let phases: Vec<String> = orchs
            .iter()
            .flat_map(|o| lines_for(o, "claim_granted", claim))
            .map(|l| l["phase"].as_str().unwrap().to_string())
            .collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(sorted, ["exclusive", "parallel", "review"], "{claim}");
        for event in ["claim_complete", "review_approved"] {
            let n: usize = orchs.iter().map(|o| lines_for(o, event, claim).len()).sum();
            assert_eq!(n, 1, "{event} lines for {claim}");
        }
    }
    assert_eq!(all_lines(&orchs, "claim_granted").len(), 3 * GOALS);
    assert_eq!(all_lines(&orchs, "claim_complete").len(), GOALS);
    assert_eq!(all_lines(&orchs, "claim_dormant").len(), 2 * GOALS);
    for o in &orchs {
        assert_all_json(o);
    }
}
