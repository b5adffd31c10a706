//! Switching the bid timeout off (issue 15, section 1: a late bid is never
//! lost): a claim an earlier orchestrator's `SETT_BID_TIMEOUT` decided
//! without a busy agent still takes that agent's bid when it comes under an
//! orchestrator with no timeout (the default): live, from its event, or
//! found by the first catch-up pass when it was written while no
//! orchestrator ran.

use sett_test_support as support;

use serde_json::json;
use support::e2e::*;
use support::lifecycle::Art;
use support::*;

const TEAM: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n";

/// A claim decided dormant by a 1 s timeout without the coder (the reviewer
/// bid `ignore`), its orchestrator stopped.
fn decided_without_the_coder(stack: &mut Stack) -> String {
    let mut old = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    assert_eq!(
        old.wait_for_event("bid_timeout")["agents"],
        json!(["Coder"])
    );
    assert_eq!(
        old.wait_for_event("claim_dormant")["claim_id"],
        claim.as_str()
    );
    old.signal(libc::SIGTERM);
    assert_eq!(old.wait_exit(PATIENCE).and_then(|s| s.code()), Some(0));
    claim
}

/// What the late exclusive bid leaves: one `late_bid_honoured`, the
/// exclusive grant to the coder, counted once.
fn assert_honoured(orch: &Orchestrator, claim: &str, stack: &mut Stack) {
    let late = orch.wait_for_event("late_bid_honoured");
    assert_eq!(
        (
            &late["claim_id"],
            &late["agent_name"],
            &late["bid"],
            &late["phase"]
        ),
        (
            &json!(claim),
            &json!("Coder"),
            &json!("exclusive"),
            &json!("exclusive")
        )
    );
    let granted = orch.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim);
    assert_eq!(granted["phase"], "exclusive");
    assert_eq!(granted["agents"], json!(["Coder"]));
    let stored = stack.claim(claim);
    assert_eq!(stored["status"], "pending_exclusive");
    assert_eq!(stored["granted_exclusive_agent"], "Coder");
    assert_eq!(metric(orch, "late_bids_honoured_total"), 1);
    assert_eq!(metric(orch, "late_bids_total"), 0);
    assert_eq!(orch.events("late_bid_honoured").len(), 1);
}

#[test]
fn a_late_bid_after_the_timeout_was_switched_off_is_honoured() {
    let mut stack = Stack::new("sett", "off-live", TEAM);
    let _reviewer = stack.agent(ignorer("Reviewer"));
    let claim = decided_without_the_coder(&mut stack);
    let orch = stack.orchestrator(&[]);
    assert_eq!(orch.events("orchestrator_startup")[0]["bid_timeout"], "0");
    orch.wait_for_event("reconcile_complete");
    assert_eq!(stack.claim(&claim)["status"], "pending_review");

    // The coder's tool finished: it bids, as the pup does (hash, then event).
    stack.bid(&claim, "Coder", "exclusive");
    assert_honoured(&orch, &claim, &mut stack);
}

#[test]
fn a_bid_written_while_no_orchestrator_ran_is_found_without_a_timeout() {
    let mut stack = Stack::new("sett", "off-walk", TEAM);
    let _reviewer = stack.agent(ignorer("Reviewer"));
    let claim = decided_without_the_coder(&mut stack);
    // Its event published while nobody listened: lost.
    stack.bid(&claim, "Coder", "exclusive");
    let orch = stack.orchestrator(&[]);
    assert_honoured(&orch, &claim, &mut stack);
    orch.wait_for_event("reconcile_complete");
}
