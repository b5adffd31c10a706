//! Busy agents and claims someone else made, through the running binary
//! (issue 15, sections 1 and 2): a busy agent is waited for by default and
//! the wait is visible (`bids_overdue`, the oldest-wait gauge); a late bid
//! after `SETT_BID_TIMEOUT` joins the phase it asks for or is reported once;
//! Phase-1 claims and Holt-shaped claims are adopted, once across replicas.

use sett_test_support as support;

use std::time::Duration;

use serde_json::json;
use sett_sim::{Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::*;

const TEAM: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n";

/// The coder: bids `exclusive` on the user's artefacts, writes its code.
fn coder() -> Spec {
    Spec::new("Coder", "exclusive", Work::new("Standard", "Code", "done"))
}

/// Sets a field of a hash (the test standing in for another program).
fn hset(stack: &mut Stack, key: &str, fields: &[(&str, &str)]) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(stack.key(key));
    for (f, v) in fields {
        cmd.arg(*f).arg(*v);
    }
    cmd.query::<()>(&mut stack.conn).unwrap();
}

fn zscore(stack: &mut Stack, set: &str, member: &str) -> Option<f64> {
    redis::cmd("ZSCORE")
        .arg(stack.key(set))
        .arg(member)
        .query(&mut stack.conn)
        .unwrap()
}

/// Two minutes of silence from the coder (its tool runs; it reads no claim
/// events): with the default settings the claim waits for it, the wait is
/// shown (one `bids_overdue` line naming it, the gauge), and its bid, when
/// it comes, is granted.
#[test]
fn a_busy_agent_is_waited_for_by_default() {
    let mut stack = Stack::new("sett", "busy", TEAM);
    let gate = Gate::new();
    let coder = stack.agent(bids_after(coder(), &gate));
    let reviewer = stack.agent(ignorer("Reviewer"));
    let orch = stack.orchestrator(&[("SETT_BID_OVERDUE", "60s")]);
    let startup = orch.events("orchestrator_startup");
    assert_eq!(startup[0]["bid_timeout"], "0");
    assert_eq!(startup[0]["bid_overdue"], "1m");
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    assert!(wait_until(PATIENCE, || reviewer.seen().bids.len() == 1));
    // The claim has waited 130 s (server clock): past the old 120 s default.
    let since = stack.server_ms() - 130_000;
    let set = stack.key("orchestrator:bidding");
    redis::cmd("ZADD")
        .arg(&set)
        .arg("XX")
        .arg(since)
        .arg(&claim)
        .query::<()>(&mut stack.conn)
        .unwrap();

    let line = orch.wait_for_event("bids_overdue");
    assert_eq!(line["level"], "warn");
    assert_eq!(line["claim_id"], claim.as_str());
    assert_eq!(line["missing"], json!(["Coder"]));
    assert_eq!(line["more_missing"], 0);
    let waited = line["waited_s"].as_u64().unwrap();
    assert!((130..140).contains(&waited), "{line}");
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "oldest_bid_wait_seconds"
    ) >= 130));
    assert!(metric(&orch, "oldest_bid_wait_seconds") < 140);
    assert_eq!(metric(&orch, "bids_overdue_total"), 1);
    assert_eq!(stack.claim(&claim), new_claim_fields(&claim, &goal.id));
    assert_eq!(orch.events("bid_timeout"), Vec::<serde_json::Value>::new());

    gate.open();
    let granted = orch.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim.as_str());
    assert_eq!(granted["phase"], "exclusive");
    assert_eq!(granted["agents"], json!(["Coder"]));
    assert!(wait_until(PATIENCE, || coder.grants_for(&claim) == 1));
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "oldest_bid_wait_seconds"
    ) < 130));
    assert_eq!(orch.events("bids_overdue").len(), 1);
    assert_eq!(zscore(&mut stack, "orchestrator:bidding", &claim), None);
}

/// With a short timeout the claim goes on without the coder (review); its
/// late `exclusive` bid joins the exclusive phase that follows the review.
#[test]
fn a_late_exclusive_bid_joins_the_exclusive_phase() {
    let mut stack = Stack::new("sett", "late", TEAM);
    let (bid_gate, review_gate) = (Gate::new(), Gate::new());
    let coder = stack.agent(bids_after(coder(), &bid_gate));
    let _reviewer = stack.agent(work_after(Spec::approver("Reviewer"), &review_gate));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    let timeout = orch.wait_for_event("bid_timeout");
    assert_eq!(timeout["agents"], json!(["Coder"]));
    let review = orch.wait_for_event("claim_granted");
    assert_eq!(review["phase"], "review");
    assert_eq!(review["agents"], json!(["Reviewer"]));

    bid_gate.open();
    let late = orch.wait_for_event("late_bid_honoured");
    assert_eq!(late["claim_id"], claim.as_str());
    assert_eq!(late["agent_name"], "Coder");
    assert_eq!(late["bid"], "exclusive");
    assert_eq!(late["phase"], "exclusive");
    let stored = stack.claim(&claim);
    assert_eq!(stored["status"], "pending_review");
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(
        ps["all_bids"],
        json!({"Coder": "exclusive", "Reviewer": "review"})
    );
    assert_eq!(ps["granted_agents"], json!(["Reviewer"]));

    review_gate.open();
    let grants = orch.wait_for_events("claim_granted", 2);
    assert_eq!(grants[1]["claim_id"], claim.as_str());
    assert_eq!(grants[1]["phase"], "exclusive");
    assert_eq!(grants[1]["agents"], json!(["Coder"]));
    assert!(wait_until(PATIENCE, || coder.grants_for(&claim) == 1));
    let done = orch.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], claim.as_str());
    assert_eq!(metric(&orch, "late_bids_honoured_total"), 1);
    assert_eq!(metric(&orch, "late_bids_total"), 0);
}

/// A late bid whose decision Redis refuses (NOREPLICAS: writes refused
/// while too few replicas acknowledge; the bid itself was written before) is
/// not left to the next periodic pass (5 minutes by default): a catch-up
/// pass is asked for and retried with its back-off, and once Redis accepts
/// writes again the bid starts the phase it asks for.
#[test]
fn a_refused_late_bid_is_retried_by_a_catch_up_pass() {
    let mut stack = Stack::new("sett", "refused", TEAM);
    let _reviewer = stack.agent(ignorer("Reviewer"));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    assert_eq!(
        orch.wait_for_event("bid_timeout")["agents"],
        json!(["Coder"])
    );
    orch.wait_for_event("claim_dormant");

    // The coder's bid, written; its event published while writes are refused.
    stack.bid_unannounced(&claim, "Coder", "exclusive");
    refuse_writes(&mut stack.conn, true);
    stack.announce_bid(&claim, "Coder", "exclusive");
    let refused = || {
        orch.events("redis_error").iter().any(|l| {
            l["operation"] == "bids" && l["error"].as_str().unwrap().contains("NOREPLICAS")
        })
    };
    assert!(
        wait_until(PATIENCE, refused),
        "{:?}",
        orch.events("redis_error")
    );
    refuse_writes(&mut stack.conn, false);
    let late = orch.wait_for_event("late_bid_honoured");
    assert_eq!(
        (&late["claim_id"], &late["agent_name"], &late["phase"]),
        (&json!(claim), &json!("Coder"), &json!("exclusive"))
    );
    assert_eq!(stack.claim(&claim)["status"], "pending_exclusive");
}

/// The claim completed without the coder; its late bid comes after the
/// phase it asks for: one `late_bid` line and one count across two replicas.
#[test]
fn a_late_bid_after_its_phase_is_reported_once_by_two_replicas() {
    let mut stack = Stack::new("sett", "passed", TEAM);
    let gate = Gate::new();
    let _coder = stack.agent(bids_after(coder(), &gate));
    let _reviewer = stack.agent(Spec::approver("Reviewer"));
    let a = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let b = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    let both = [&a, &b];
    let count =
        |event: &str| -> usize { both.iter().map(|o| lines_for(o, event, &claim).len()).sum() };
    assert!(wait_until(PATIENCE, || count("claim_complete") == 1));
    assert_eq!(stack.claim(&claim)["status"], "complete");

    gate.open();
    assert!(wait_until(PATIENCE, || count("late_bid") == 1));
    assert!(wait_until(PATIENCE, || both
        .iter()
        .all(|o| metric(o, "bids_received_total") == 2)));
    // The other replica's decision found the bid reported already.
    assert!(!wait_until(Duration::from_millis(1500), || count(
        "late_bid"
    ) > 1));
    let line = both
        .iter()
        .flat_map(|o| lines_for(o, "late_bid", &claim))
        .next()
        .unwrap();
    assert_eq!(line["level"], "warn");
    assert_eq!(line["agent_name"], "Coder");
    assert_eq!(line["bid"], "exclusive");
    assert_eq!(line["claim_at"], "complete");
    let counted: u64 = both.iter().map(|o| metric(o, "late_bids_total")).sum();
    assert_eq!(counted, 1);
    assert_eq!(count("late_bid_honoured"), 0);
    assert_eq!(stack.claim(&claim)["status"], "complete");
}

/// A blackboard Phase 1 (this binary without a registry) worked on; then
/// the lifecycle is switched on: the goal's claim gets the 14 fields and
/// joins bidding (the agents' bids made under Phase 1 count), the Review's
/// claim is closed.
#[test]
fn phase1_claims_are_adopted_when_the_lifecycle_is_switched_on() {
    let mut stack = Stack::new("sett", "switch", TEAM);
    // The agents run all along: they bid on the claims Phase 1 makes.
    let coder = stack.agent(coder());
    let _reviewer = stack.agent(Spec::approver("Reviewer"));
    let mut phase1 = Orchestrator::start(&stack.redis, "switch");
    assert_eq!(phase1.events("orchestrator_startup")[0]["mode"], "phase1");
    let goal = Art::goal();
    stack.write(&goal);
    let goal_claim = stack.claim_of(&goal.id);
    let old_review = Art::review("Reviewer", &goal.id, b"{}");
    stack.write(&old_review);
    let review_claim = stack.claim_of(&old_review.id);
    assert_eq!(stack.claim(&goal_claim).len(), 6);
    phase1.signal(libc::SIGTERM);
    assert!(phase1.wait_exit(PATIENCE).is_some());
    let bids = stack.hgetall(&stack.key(&format!("claim:{goal_claim}:bids")));
    assert_eq!(bids.len(), 2, "{bids:?}");

    let orch = stack.orchestrator(&[]);
    let adopted = orch.wait_for_events("claim_adopted", 2);
    let mut seen: Vec<(String, String)> = adopted
        .iter()
        .map(|l| {
            (
                l["claim_id"].as_str().unwrap().to_string(),
                l["as"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        (goal_claim.clone(), "phase1".to_string()),
        (review_claim.clone(), "closed".to_string()),
    ];
    want.sort();
    assert_eq!(seen, want);
    let pass = orch.wait_for_event("reconcile_complete");
    assert_eq!(pass["adopted"], 2);

    let closed = stack.claim(&review_claim);
    assert_eq!(
        closed,
        with(
            new_claim_fields(&review_claim, &old_review.id),
            &[
                ("status", "terminated"),
                (
                    "termination_reason",
                    "Review artefacts get no claim in lifecycle mode (claim made by Phase 1)"
                ),
            ]
        )
    );
    let done = orch.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], goal_claim.as_str());
    assert_eq!(coder.grants_for(&goal_claim), 1);
    let stored = stack.claim(&goal_claim);
    assert_eq!(stored.len(), 14);
    assert_eq!(stored["status"], "complete");
    assert_eq!(metric(&orch, "claims_adopted_total"), 2);
}

/// Holt's Go orchestrator granted a review and stopped; the Reviewer's
/// review was written while no orchestrator ran. Ours adopts the claim into
/// its review phase and replays the review: approved, then the exclusive
/// phase.
#[test]
fn a_holt_claim_in_its_review_phase_is_adopted_and_its_review_replayed() {
    let mut stack = Stack::new("holt", "go", TEAM);
    let goal = Art::goal();
    stack.store(&goal);
    let claim = "0b9a3c1e-5d2f-4e6a-9b7c-8d1e2f3a4b5c";
    let at = stack.server_ms().to_string();
    let phase_state = format!(
        r#"{{"current":"review","granted_agents":["Reviewer"],"received":{{}},"all_bids":{{"Coder":"exclusive","Reviewer":"review"}},"start_time_ms":{at}}}"#
    );
    let mut fields = new_claim_fields(claim, &goal.id);
    fields.insert("status".into(), "pending_review".into());
    fields.insert("granted_review_agents".into(), r#"["Reviewer"]"#.into());
    fields.insert("phase_state".into(), phase_state);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    hset(&mut stack, &format!("claim:{claim}"), &pairs);
    redis::cmd("SET")
        .arg(stack.key(&format!("claim_by_artefact:{}", goal.id)))
        .arg(claim)
        .query::<()>(&mut stack.conn)
        .unwrap();
    let review = Art::review("Reviewer", &goal.id, b"{}");
    stack.store(&review);

    let coder = stack.agent(coder());
    let orch = stack.orchestrator(&[]);
    let adopted = orch.wait_for_event("claim_adopted");
    assert_eq!(adopted["claim_id"], claim);
    assert_eq!(adopted["as"], "review");
    let approved = orch.wait_for_event("review_approved");
    assert_eq!(approved["claim_id"], claim);
    assert_eq!(approved["review_id"], review.id.as_str());
    let granted = orch.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim);
    assert_eq!(granted["phase"], "exclusive");
    assert_eq!(granted["agents"], json!(["Coder"]));
    assert!(wait_until(PATIENCE, || coder.grants_for(claim) == 1));
    let done = orch.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], claim);
    let passes = orch.wait_for_events("reconcile_complete", 2);
    assert_eq!(passes[0]["adopted"], 1);
    assert_eq!(passes[1]["adopted"], 0);
    assert_eq!(orch.events("claim_adopted").len(), 1);
}

/// Two replicas start at once over 40 Phase-1 claims: each is adopted once.
#[test]
fn replicas_adopt_each_claim_once() {
    let mut stack = Stack::new("sett", "twice", TEAM);
    let mut claims = Vec::new();
    for _ in 0..40 {
        let goal = Art::goal();
        stack.store(&goal);
        claims.push(stack.phase1_claim(&goal.id));
    }
    let a = stack.orchestrator(&[]);
    let b = stack.orchestrator(&[]);
    let pa = a.wait_for_event("reconcile_complete");
    let pb = b.wait_for_event("reconcile_complete");
    assert_eq!(
        pa["adopted"].as_u64().unwrap() + pb["adopted"].as_u64().unwrap(),
        40
    );
    let mut adopted: Vec<String> = [&a, &b]
        .iter()
        .flat_map(|o| o.events("claim_adopted"))
        .map(|l| l["claim_id"].as_str().unwrap().to_string())
        .collect();
    adopted.sort();
    claims.sort();
    assert_eq!(adopted, claims);
    assert_eq!(
        metric(&a, "claims_adopted_total") + metric(&b, "claims_adopted_total"),
        40
    );
    let mut bidding: Vec<String> = redis::cmd("ZRANGE")
        .arg(stack.key("orchestrator:bidding"))
        .arg(0)
        .arg(-1)
        .query(&mut stack.conn)
        .unwrap();
    bidding.sort();
    assert_eq!(bidding, claims);
}
