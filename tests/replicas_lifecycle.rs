//! Three orchestrators running the whole lifecycle on one instance, with
//! rejections, feedback claims, reworks and the max-iterations Failure; one
//! replica is killed (kill -9) and another restarted midway. Every decision
//! is one atomic script that checks the claim's state first (contract
//! section 12, item 10): whatever the replicas race over, every message is
//! published once and every claim ends as its flow dictates
//! (`support::e2e_chain`).

use sett_test_support as support;

use support::e2e_chain::*;
use support::e2e_flow::*;
use support::verify::stop;

const GOALS: u32 = 100;

/// `n` more goals, plans 0 to 3 in turn, written back to back.
fn burst(flow: &mut Flow, goals: &mut Vec<String>, n: u32) {
    let from = goals.len() as u32;
    goals.extend((from..from + n).map(|i| flow.goal(i % 4)));
}

/// Asserts that the flows of `goals` are not all over yet.
fn under_way(flow: &Flow, goals: &[String]) {
    let made = flow.board().claims.len();
    let total: usize = (0..goals.len() as u32)
        .map(|i| flow.team.claims_for(i % 4))
        .sum();
    assert!(made < total, "every flow was over already ({made} claims)");
    eprintln!("{made} of {total} claims made");
}

#[test]
fn three_replicas_one_killed_one_restarted_every_flow_once() {
    // max_review_iterations 2: plans 0 to 2 end approved, plan 3 ends with
    // the Failure artefact at version 3.
    let mut flow = Flow::new("rl", Team::pair(Some(2)));
    let mut killed = flow.orchestrator(&[]);
    let mut restarted = flow.orchestrator(&[]);
    let mut steady = flow.orchestrator(&[]);
    // Goals come in three bursts; a replica goes right after each of the
    // first two, while the burst's flows are under way.
    let mut goals: Vec<String> = Vec::new();
    burst(&mut flow, &mut goals, GOALS / 3);
    killed.kill9();
    under_way(&flow, &goals);
    burst(&mut flow, &mut goals, GOALS / 3);
    under_way(&flow, &goals);
    stop(&mut restarted);
    restarted = flow.orchestrator(&[]);
    burst(&mut flow, &mut goals, GOALS - 2 * (GOALS / 3));
    flow.settle_and_check(&mut [&mut restarted, &mut steady], &goals);
    let failures = flow
        .board()
        .artefacts
        .values()
        .filter(|a| a["structural_type"] == "Failure")
        .count();
    assert_eq!(failures, GOALS as usize / 4);
}
