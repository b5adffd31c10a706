//! Adoption through the binary (issue 15 §2): a deliverable that a Phase-1
//! replica claimed during a rolling update completes its claim when the
//! lifecycle replicas start (lifecycle_adoption_replay.rs drives the
//! decision itself), and one written before its phase began is logged as
//! not counted; a deliverable whose own claim Holt's Go orchestrator
//! finished completes its claim once that claim is adopted
//! (lifecycle_adoption_finished.rs); and the pass that adopts reads each
//! index value bounded (64 bytes), so a junk value of megabytes is never
//! read whole.

use sett_test_support as support;

use support::e2e::*;
use support::lifecycle::*;
use support::*;

/// The registry file of these tests.
const E2E_TEAM: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n";

/// A goal's claim granted to the coder (exclusive) by a lifecycle
/// orchestrator that then stops: the goal and its claim.
fn granted_to_the_coder(stack: &mut Stack) -> (Art, String) {
    let mut first = stack.orchestrator(&[]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    stack.bid(&claim, "Reviewer", "ignore");
    stack.bid(&claim, "Coder", "exclusive");
    let grant = first.wait_for_event("claim_granted");
    assert_eq!(grant["claim_id"], claim.as_str());
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit(PATIENCE).is_some());
    (goal, claim)
}

/// Through the binary: a rolling update in which a Phase-1 replica claimed
/// the coder's deliverable while no lifecycle replica ran. Two lifecycle
/// replicas start; their first catch-ups adopt that claim and the exclusive
/// phase completes, once.
#[test]
fn a_deliverable_a_phase1_replica_claimed_completes_its_claim_after_a_restart() {
    let mut stack = Stack::new("sett", "rolling-work", E2E_TEAM);
    let (goal, claim) = granted_to_the_coder(&mut stack);
    let work = Art::work("Coder", &goal.id);
    stack.store(&work);
    let work_claim = stack.phase1_claim(&work.id);
    let (a, b) = (stack.orchestrator(&[]), stack.orchestrator(&[]));
    let done = |o: &Orchestrator| lines_for(o, "claim_complete", &claim).len();
    assert!(wait_until(PATIENCE, || done(&a) + done(&b) == 1));
    a.wait_for_event("reconcile_complete");
    b.wait_for_event("reconcile_complete");
    assert_eq!(done(&a) + done(&b), 1);
    let stored = stack.claim(&claim);
    assert_eq!(stored["status"], "complete");
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(ps["received"], serde_json::json!({ "Coder": work.id }));
    let adopted: Vec<_> = [&a, &b]
        .iter()
        .flat_map(|o| o.events("claim_adopted"))
        .collect();
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(adopted[0]["claim_id"], work_claim.as_str());
    assert_eq!(adopted[0]["as"], "phase1");
    assert_eq!(stack.claim(&work_claim).len(), 14);
}

/// Through the binary: a deliverable written before the phase it would
/// count for began (an earlier phase's, by its `created_at_ms`), claimed by
/// a Phase-1 replica, is adopted but not counted, and the operator gets one
/// `delivery_not_counted` line saying so; the phase goes on waiting.
#[test]
fn a_deliverable_written_before_its_phase_is_logged_not_counted() {
    let mut stack = Stack::new("sett", "not-counted", E2E_TEAM);
    let (goal, claim) = granted_to_the_coder(&mut stack);
    let start = start_time(&stack.claim(&claim)["phase_state"], 0, u64::MAX);

    let mut work = Art::work("Coder", &goal.id);
    work.created_at_ms = (start - 1).to_string();
    stack.store(&work);
    let work_claim = stack.phase1_claim(&work.id);
    let orch = stack.orchestrator(&[]);
    let pass = orch.wait_for_event("reconcile_complete");
    assert_eq!(pass["adopted"], 1, "{pass}");
    let line = orch.wait_for_event("delivery_not_counted");
    assert_eq!(line["level"], "info");
    assert_eq!(line["claim_id"], claim.as_str());
    assert_eq!(line["phase"], "exclusive");
    assert_eq!(line["role"], "Coder");
    assert_eq!(line["artefact_id"], work.id.as_str());
    assert_eq!(line["reason"], "written before the phase began");
    assert_eq!(orch.events("delivery_not_counted").len(), 1);
    assert_eq!(
        orch.events("claim_adopted")[0]["claim_id"],
        work_claim.as_str()
    );
    assert_eq!(stack.claim(&claim)["status"], "pending_exclusive");
}

/// Holt's Go orchestrator's claim on a goal in its exclusive phase, granted
/// to the coder (made by our lifecycle orchestrator, then taken out of our
/// active set: no set of ours holds it, as for Go's), and the coder's
/// deliverable for it, whose own claim Go ran to `complete` (Go counted the
/// deliverable in its memory only): the claim and the deliverable.
fn go_claim_and_finished_deliverable(stack: &mut Stack) -> (String, Art, String) {
    let (goal, claim) = granted_to_the_coder(stack);
    let active = stack.key("orchestrator:active");
    redis::cmd("ZREM")
        .arg(active)
        .arg(&claim)
        .query::<()>(&mut stack.conn)
        .unwrap();
    let work = Art::work("Coder", &goal.id);
    stack.store(&work);
    let work_claim = stack.phase1_claim(&work.id);
    let work_key = stack.key(&format!("claim:{work_claim}"));
    redis::cmd("HSET")
        .arg(work_key)
        .arg("status")
        .arg("complete")
        .query::<()>(&mut stack.conn)
        .unwrap();
    (claim, work, work_claim)
}

/// The claim completed by the deliverable, once; the finished claim left as
/// it was; the recount set emptied by the replaying pass.
fn completed_by(stack: &mut Stack, orch: &Orchestrator, claim: &str, work: &Art, work_claim: &str) {
    assert_eq!(lines_for(orch, "claim_complete", claim).len(), 1);
    let stored = stack.claim(claim);
    assert_eq!(stored["status"], "complete");
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(ps["received"], serde_json::json!({ "Coder": work.id }));
    let finished = stack.claim(work_claim);
    assert_eq!(
        (finished.len(), finished["status"].as_str()),
        (6, "complete")
    );
    let recount: u64 = redis::cmd("ZCARD")
        .arg(stack.key("orchestrator:recount"))
        .query(&mut stack.conn)
        .unwrap();
    assert_eq!(recount, 0);
}

/// Through the binary: Holt's Go orchestrator replaced on a live blackboard.
/// The first pass adopts Go's claim into its exclusive phase (the recount
/// set) and asks for a replay; the replaying pass counts the deliverable
/// whose claim Go finished, and the claim completes, once.
#[test]
fn a_deliverable_whose_claim_go_finished_completes_its_claim_after_a_takeover() {
    let mut stack = Stack::new("sett", "go-finished", E2E_TEAM);
    let (claim, work, work_claim) = go_claim_and_finished_deliverable(&mut stack);
    let orch = stack.orchestrator(&[]);
    let done = orch.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], claim.as_str());
    let passes = orch.wait_for_events("reconcile_complete", 2);
    assert_eq!(
        (&passes[0]["adopted"], &passes[1]["adopted"]),
        (&1.into(), &0.into())
    );
    let adopted = orch.events("claim_adopted");
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(adopted[0]["claim_id"], claim.as_str());
    assert_eq!(adopted[0]["as"], "exclusive");
    completed_by(&mut stack, &orch, &claim, &work, &work_claim);
}

/// Through the binary: the process that adopted Go's claim into its phase
/// died (kill -9) before its replaying pass: the claim is in our active
/// and recount sets, as that leaves it. The recount set outlives the process:
/// the next process's first pass replays, and the claim completes, once.
#[test]
fn a_replay_owed_by_a_process_that_died_is_made_by_the_next() {
    let mut stack = Stack::new("sett", "go-finished-kill", E2E_TEAM);
    let (claim, work, work_claim) = go_claim_and_finished_deliverable(&mut stack);
    let now: (u64, u64) = redis::cmd("TIME").query(&mut stack.conn).unwrap();
    for set in ["orchestrator:active", "orchestrator:recount"] {
        redis::cmd("ZADD")
            .arg(stack.key(set))
            .arg(now.0 * 1000)
            .arg(&claim)
            .query::<()>(&mut stack.conn)
            .unwrap();
    }
    let orch = stack.orchestrator(&[]);
    let pass = orch.wait_for_event("reconcile_complete");
    assert_eq!(pass["adopted"], 0, "{pass}");
    assert_eq!(orch.events("claim_adopted").len(), 0);
    completed_by(&mut stack, &orch, &claim, &work, &work_claim);
}

/// A pass that adopts reads at most 64 bytes of an index value: a junk
/// string of 32 MiB at an artefact's index key is neither read whole (the
/// process's peak RSS stays far under it) nor taken for a claim, nor is an
/// empty one; the pass's other artefacts are claimed and adopted as usual.
#[test]
fn a_pass_that_adopts_reads_index_values_bounded() {
    let mut stack = Stack::new("sett", "junk-index", E2E_TEAM);
    let (junk, empty, fresh, phase1) = (Art::goal(), Art::goal(), Art::goal(), Art::goal());
    for art in [&junk, &empty, &fresh, &phase1] {
        stack.store(art);
    }
    let big = "x".repeat(32 << 20);
    for (art, value) in [(&junk, big.as_str()), (&empty, "")] {
        let key = stack.key(&format!("claim_by_artefact:{}", art.id));
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query::<()>(&mut stack.conn)
            .unwrap();
    }
    let claim = stack.phase1_claim(&phase1.id);
    let orch = stack.orchestrator(&[]);
    let pass = orch.wait_for_event("reconcile_complete");
    assert_eq!(
        (&pass["scanned"], &pass["unclaimed"], &pass["claimed"]),
        (
            &serde_json::json!(4),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{pass}"
    );
    assert_eq!(pass["adopted"], 1, "{pass}");
    let (_, peak) = support::verify::rss_kib(orch.pid());
    assert!(
        peak < 16 << 10,
        "peak RSS {peak} KiB: a junk index value was read whole"
    );
    assert_eq!(orch.events("claim_adopted")[0]["claim_id"], claim.as_str());
    let fresh_claim = stack.claim_of(&fresh.id);
    assert_eq!(stack.claim(&fresh_claim).len(), 14);
    let len = |stack: &mut Stack, art: &Art| -> usize {
        let key = stack.key(&format!("claim_by_artefact:{}", art.id));
        redis::cmd("STRLEN")
            .arg(key)
            .query(&mut stack.conn)
            .unwrap()
    };
    assert_eq!(
        (len(&mut stack, &junk), len(&mut stack, &empty)),
        (32 << 20, 0)
    );
}

/// Through the binary: claims in a live status that adoption cannot read
/// (a `phase_state` that is no phase of its status; an `artefact_id` that is
/// not its index entry's artefact) are left as they are, and each is one
/// `claim_not_adopted` warning naming the claim and why, at each pass.
#[test]
fn junk_claims_are_left_alone_and_said_once_a_pass() {
    let mut stack = Stack::new("sett", "not-adopted", E2E_TEAM);
    let (a, b) = (Art::goal(), Art::goal());
    stack.store(&a);
    stack.store(&b);
    let bad_phase = stack.phase1_claim(&a.id);
    stack.hset(&format!("claim:{bad_phase}"), "phase_state", "{not json");
    stack.hset(&format!("claim:{bad_phase}"), "status", "pending_parallel");
    let elsewhere = stack.phase1_claim(&b.id);
    stack.hset(&format!("claim:{elsewhere}"), "artefact_id", &a.id);
    let before = (stack.claim(&bad_phase), stack.claim(&elsewhere));
    let orch = stack.orchestrator(&[("SETT_CATCHUP_INTERVAL", "1s")]);
    assert!(wait_until(PATIENCE, || orch
        .events("reconcile_complete")
        .len()
        >= 2));
    let lines = orch.events("claim_not_adopted");
    let said = |claim: &str, reason: &str| {
        lines
            .iter()
            .filter(|l| l["claim_id"] == claim && l["reason"] == reason && l["level"] == "warn")
            .count()
    };
    assert!(said(&bad_phase, NOT_A_PHASE) >= 2, "{lines:?}");
    assert!(said(&elsewhere, NOT_ITS_ARTEFACT) >= 2, "{lines:?}");
    assert_eq!(
        lines.len(),
        said(&bad_phase, NOT_A_PHASE) + said(&elsewhere, NOT_ITS_ARTEFACT)
    );
    assert_eq!((stack.claim(&bad_phase), stack.claim(&elsewhere)), before);
    assert!(orch.events("claim_adopted").is_empty());
}
