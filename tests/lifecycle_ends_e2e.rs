//! How claims end, through the running binary: an agent's Failure artefact
//! and a phase timeout terminate the claim with the contract's reason; a
//! full flow completes it; `/metrics` (checked by promtool) counts each
//! grant, completion and termination exactly.

use sett_test_support as support;

use sett_sim::{SimAgent, Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::promtool::promtool_check;
use support::*;

const CAUSES: [&str; 7] = [
    "review_rejected",
    "max_iterations",
    "missing_agent",
    "agent_failure",
    "phase_timeout",
    "worker_failed",
    "worker_launch",
];

fn terminated_by(orch: &Orchestrator, cause: &str) -> u64 {
    metric(
        orch,
        &format!("claims_terminated_total{{cause=\"{cause}\"}}"),
    )
}

/// Exactly one termination, by `cause`, logged once for `claim` with `reason`.
fn assert_terminated_once(orch: &Orchestrator, claim: &str, cause: &str, reason: &str) {
    let line = orch.wait_for_event("claim_terminated");
    assert_eq!(orch.events("claim_terminated").len(), 1);
    assert_eq!(line["claim_id"], claim);
    assert_eq!(line["cause"], cause);
    assert_eq!(line["reason"], reason);
    for c in CAUSES {
        assert_eq!(terminated_by(orch, c), u64::from(c == cause), "{c}");
    }
    assert_eq!(metric(orch, "claims_completed_total"), 0);
}

/// A goal written, its claim granted `exclusive` to Coder1 (role `coder`);
/// returns the claim and its grant's window.
fn exclusive_to_coder(stack: &mut Stack, coder: &SimAgent, goal: &Art) -> (String, (u64, u64)) {
    let lo = stack.server_ms();
    stack.write(goal);
    let claim = stack.claim_of(&goal.id);
    assert!(wait_until(PATIENCE, || coder.grants_for(&claim) == 1));
    (claim, (lo, stack.server_ms()))
}

const CODER: &str = "version: '1.0'\nagents:\n  Coder1: {role: coder}\n";

#[test]
fn a_failure_artefact_from_the_granted_role_terminates_the_claim() {
    let mut stack = Stack::new("sett", "fail", CODER);
    let mut tap = stack.wiretap();
    let failing = Work::new("Failure", "ToolExecutionFailure", "exit status 1");
    let coder = stack.agent(Spec::new("Coder1", "exclusive", failing).with_role("coder"));
    let orch = stack.orchestrator(&[]);
    let goal = Art::goal();
    let (claim, window) = exclusive_to_coder(&mut stack, &coder, &goal);
    assert!(wait_until(PATIENCE, || coder.seen().written.len() == 1));
    let failure = coder.seen().written[0].clone();
    let reason = format!("Agent 'coder' reported failure: see artefact {failure}");
    assert_terminated_once(&orch, &claim, "agent_failure", &reason);

    let stored = stack.claim(&claim);
    let at = start_time(&stored["phase_state"], window.0, window.1);
    let state = phase_state(
        "exclusive",
        &["Coder1"],
        &[],
        &[("Coder1", "exclusive")],
        at,
    );
    let want = with(
        new_claim_fields(&claim, &goal.id),
        &[
            ("status", "terminated"),
            ("granted_exclusive_agent", "Coder1"),
            ("termination_reason", &reason),
            ("phase_state", &state),
        ],
    );
    assert_eq!(stored, want);
    // The Failure gets no claim; the termination publishes nothing.
    let index = stack.key(&format!("claim_by_artefact:{failure}"));
    assert_eq!(stack.keys(&index), Vec::<String>::new());
    let mut want = vec![claim_event(&claim, &goal.id)];
    want.extend(grants(&claim, "exclusive", &["Coder1"], &[]));
    assert_eq!(tap.orchestrator_since_last(), want);
    assert_eq!(coder.grants_for(&claim), 1);
}

#[test]
fn a_phase_without_its_artefact_times_out() {
    let mut stack = Stack::new("sett", "slow", CODER);
    let mut tap = stack.wiretap();
    let never = Spec::new("Coder1", "exclusive", Work::new("Standard", "Code", ""))
        .with_role("coder")
        .with_work(|_| None);
    let coder = stack.agent(never);
    let orch = stack.orchestrator(&[("SETT_PHASE_TIMEOUT", "1s")]);
    let goal = Art::goal();
    let (claim, window) = exclusive_to_coder(&mut stack, &coder, &goal);
    let reason = "Phase 'exclusive' timed out after 1s: no artefact from coder";
    assert_terminated_once(&orch, &claim, "phase_timeout", reason);
    let stored = stack.claim(&claim);
    let at = start_time(&stored["phase_state"], window.0, window.1);
    let state = phase_state(
        "exclusive",
        &["Coder1"],
        &[],
        &[("Coder1", "exclusive")],
        at,
    );
    let want = with(
        new_claim_fields(&claim, &goal.id),
        &[
            ("status", "terminated"),
            ("granted_exclusive_agent", "Coder1"),
            ("termination_reason", reason),
            ("phase_state", &state),
        ],
    );
    assert_eq!(stored, want);
    let mut want = vec![claim_event(&claim, &goal.id)];
    want.extend(grants(&claim, "exclusive", &["Coder1"], &[]));
    assert_eq!(tap.orchestrator_since_last(), want);
    assert!(wait_until(PATIENCE, || metric(&orch, "claims_in_phase") == 0));
}

/// The lifecycle series and their values (the rest of `/metrics` is Phase 1's).
fn lifecycle_series(body: &str) -> Vec<(String, String)> {
    let names = [
        "grants_total",
        "claims_terminated_total",
        "claims_completed_total",
        "claims_dormant_total",
        "bid_timeouts_total",
        "feedback_claims_total",
        "failure_artefacts_total",
        "bids_received_total",
        "claims_awaiting_bids",
        "claims_in_phase",
        "oldest_phase_age_seconds",
        "bid_to_grant_seconds_count",
    ];
    body.lines()
        .filter_map(|l| l.strip_prefix("sett_orchestrator_"))
        .filter(|l| {
            names
                .iter()
                .any(|n| l.starts_with(&format!("{n} ")) || l.starts_with(&format!("{n}{{")))
        })
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn expected_series(
    grants: [u64; 3],
    completed: u64,
    dormant: u64,
    bids: u64,
    samples: u64,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (phase, n) in ["review", "parallel", "exclusive"].iter().zip(grants) {
        out.push((format!("grants_total{{phase=\"{phase}\"}}"), n.to_string()));
    }
    for c in CAUSES {
        out.push((
            format!("claims_terminated_total{{cause=\"{c}\"}}"),
            "0".into(),
        ));
    }
    for (name, n) in [
        ("claims_completed_total", completed),
        ("claims_dormant_total", dormant),
        ("bid_timeouts_total", 0),
        ("feedback_claims_total", 0),
        ("failure_artefacts_total", 0),
        ("bids_received_total", bids),
        ("claims_awaiting_bids", 0),
        ("claims_in_phase", 0),
        ("oldest_phase_age_seconds", 0),
        ("bid_to_grant_seconds_count", samples),
    ] {
        out.push((name.to_string(), n.to_string()));
    }
    out
}

#[test]
fn lifecycle_metrics_pass_promtool_and_count_exactly() {
    let registry = "version: '1.0'\nagents:\n  Reviewer: {}\n  Worker: {}\n  Coder: {}\n";
    let mut stack = Stack::new("sett", "mx", registry);
    let (bids, exclusive) = (Gate::new(), Gate::new());
    let _agents = [
        stack.agent(bids_after(Spec::approver("Reviewer"), &bids)),
        stack.agent(bids_after(
            Spec::new("Worker", "claim", Work::new("Standard", "Notes", "n")),
            &bids,
        )),
        stack.agent(work_after(
            bids_after(
                Spec::new("Coder", "exclusive", Work::new("Standard", "Code", "c")),
                &bids,
            ),
            &exclusive,
        )),
    ];
    let orch = stack.orchestrator(&[]);
    orch.wait_for_event("reconcile_complete");
    let before = orch.get("/metrics").1;
    promtool_check(&before);
    assert_eq!(
        lifecycle_series(&before),
        expected_series([0; 3], 0, 0, 0, 0)
    );

    let goal = Art::goal();
    stack.write(&goal);
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "claims_awaiting_bids"
    ) == 1));
    bids.open();
    // Held in the exclusive phase: the goal's claim is in a phase; the
    // worker's notes wait for the bid of the coder, who is busy.
    orch.wait_for_events("claim_granted", 3);
    assert!(wait_until(PATIENCE, || metric(&orch, "claims_in_phase")
        == 1
        && metric(&orch, "claims_awaiting_bids") == 1));
    exclusive.open();
    orch.wait_for_event("claim_complete");
    // The worker's notes and the commit get claims nobody bids for.
    orch.wait_for_events("claim_dormant", 2);
    let settled =
        || lifecycle_series(&orch.get("/metrics").1) == expected_series([1; 3], 1, 2, 9, 1);
    assert!(
        wait_until(PATIENCE, settled),
        "{:#?}",
        lifecycle_series(&orch.get("/metrics").1)
    );
    let after = orch.get("/metrics").1;
    promtool_check(&after);
    // Only the first grant followed a bid event: its histogram sample is in
    // some bucket, and +Inf holds it.
    let inf = "bid_to_grant_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(metric_value(&after, inf), 1);
    assert_eq!(metric_value(&after, "claims_created_total"), 3);
}

/// Work delivered in time while no orchestrator listened is not lost to a
/// phase timeout at the restart: no phase times out before the session's
/// first catch-up pass has replayed it (the sweep's first round once raced
/// that pass and terminated the claim).
#[test]
fn work_delivered_while_no_orchestrator_listened_is_not_timed_out() {
    let mut stack = Stack::new("sett", "gap", CODER);
    let gate = Gate::new();
    let spec = Spec::new("Coder1", "exclusive", Work::new("Standard", "Code", "done"));
    let coder = stack.agent(work_after(spec.with_role("coder"), &gate));
    // No timeout here: only the next orchestrator's may end the phase.
    let mut first = stack.orchestrator(&[]);
    let goal = Art::goal();
    let (claim, _) = exclusive_to_coder(&mut stack, &coder, &goal);
    first.kill9();
    // The coder delivers now, in time; its artefact event reaches nobody.
    gate.open();
    assert!(wait_until(PATIENCE, || coder.seen().written.len() == 1));
    // The phase's 2 s have passed when the next orchestrator starts.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let second = stack.orchestrator(&[("SETT_PHASE_TIMEOUT", "2s")]);
    let done = second.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], claim.as_str());
    assert_eq!(stack.claim(&claim)["status"], "complete");
    assert_eq!(lines_for(&second, "claim_terminated", &claim).len(), 0);
    assert_eq!(terminated_by(&second, "phase_timeout"), 0);
}
