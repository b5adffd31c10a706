//! The lifecycle through the running binary, byte for byte: the 14 claim
//! fields at creation, the claim after each grant (status, granted fields,
//! `phase_state` except its timestamp, which must lie in the grant's window),
//! every message the orchestrator publishes, in order, each exactly once.
//! Agents are simulated as real ones behave; gates hold their bids and work
//! so the test can read each state before the next step changes it. Both
//! registry formats (Sett: a `role` per agent, two names sharing one; Holt:
//! name = role) and both namespaces (`holt` keeps everything under `holt:`).

use sett_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use sett_sim::recorder::counted;
use sett_sim::{Recorder, SimAgent, Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::*;

/// Opens `gate`; waits until each of `agents` holds exactly one grant for
/// `claim` (their work waits for another gate). Returns the server-time
/// window in which the grant was stamped.
fn release(stack: &mut Stack, gate: &Gate, agents: &[&SimAgent], claim: &str) -> (u64, u64) {
    let lo = stack.server_ms();
    gate.open();
    for agent in agents {
        assert!(
            wait_until(PATIENCE, || agent.grants_for(claim) == 1),
            "{} got no grant for {claim}",
            agent.name
        );
    }
    (lo, stack.server_ms())
}

/// The claim as granted: `fields` over `base`, plus the `phase_state` of
/// `phase` stamped within `window`. Returns the stored claim.
fn assert_granted(
    stack: &mut Stack,
    claim: &str,
    base: &BTreeMap<String, String>,
    fields: &[(&str, &str)],
    ps: (&str, &[&str], &[(&str, &str)]),
    all_bids: &[(&str, &str)],
    window: (u64, u64),
) -> BTreeMap<String, String> {
    let stored = stack.claim(claim);
    let at = start_time(&stored["phase_state"], window.0, window.1);
    let state = phase_state(ps.0, ps.1, ps.2, all_bids, at);
    let mut want = with(base.clone(), fields);
    want.insert("phase_state".into(), state);
    assert_eq!(stored, want);
    stored
}

/// Nothing more is published for a while (two sweeps and a full bid walk
/// would have run), and every message the wiretap ever saw came once.
fn assert_quiet_and_once(tap: &mut Recorder) {
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tap.since_last(), vec![], "published after the flow ended");
    let all = tap.everything();
    for (msg, n) in counted(&all) {
        assert_eq!(n, 1, "published {n} times: {msg:?}");
    }
}

/// `(phase, agents)` of each `claim_granted` line about `claim`.
fn granted_lines(orch: &Orchestrator, claim: &str) -> Vec<(String, serde_json::Value)> {
    lines_for(orch, "claim_granted", claim)
        .into_iter()
        .map(|l| {
            (
                l["phase"].as_str().unwrap().to_string(),
                l["agents"].clone(),
            )
        })
        .collect()
}

const SETT_REGISTRY: &str = "version: '1.0'\nagents:\n  \
    Reviewer1: {role: reviewer, image: r}\n  \
    Tester: {role: tester}\n  \
    Coder2: {role: coder}\n  \
    Coder1: {role: coder}\n";

#[test]
fn sett_registry_review_parallel_exclusive_exact_claims_and_messages() {
    let mut stack = Stack::new("sett", "wire", SETT_REGISTRY);
    let images = [("Coder1", "sha256:c0de"), ("Reviewer1", "sha256:4e71")];
    for (name, image) in images {
        let key = stack.key("agent_images");
        redis::cmd("HSET")
            .arg(key)
            .arg(name)
            .arg(image)
            .query::<()>(&mut stack.conn)
            .unwrap();
    }
    let mut tap = stack.wiretap();
    let [bids, review, parallel, exclusive] = [(); 4].map(|_| Gate::new());
    let reviewer = stack.agent(work_after(
        bids_after(Spec::approver("Reviewer1").with_role("reviewer"), &bids),
        &review,
    ));
    let tester = stack.agent(work_after(
        bids_after(
            Spec::new("Tester", "claim", Work::new("Standard", "TestReport", "ok"))
                .with_role("tester"),
            &bids,
        ),
        &parallel,
    ));
    let coder = |name: &str| {
        let spec = Spec::new(name, "exclusive", Work::new("Standard", "CodeCommit", "fn"));
        work_after(bids_after(spec.with_role("coder"), &bids), &exclusive)
    };
    let coder1 = stack.agent(coder("Coder1"));
    let coder2 = stack.agent(coder("Coder2"));
    let orch = stack.orchestrator(&[]);

    // Created: the 14 fields and the Phase-1 claim event, while bids are held.
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    orch.wait_for_event("claim_created");
    let created = new_claim_fields(&claim, &goal.id);
    assert_eq!(stack.claim(&claim), created);
    assert_eq!(
        tap.since_last(),
        vec![
            Msg::new("artefact_events", goal.event_json()),
            claim_event(&claim, &goal.id)
        ]
    );

    let all_bids = [
        ("Coder1", "exclusive"),
        ("Coder2", "exclusive"),
        ("Reviewer1", "review"),
        ("Tester", "claim"),
    ];
    // Bids in: the review phase.
    let window = release(&mut stack, &bids, &[&reviewer], &claim);
    let after_review = assert_granted(
        &mut stack,
        &claim,
        &created,
        &[
            ("status", "pending_review"),
            ("granted_review_agents", r#"["Reviewer1"]"#),
        ],
        ("review", &["Reviewer1"], &[]),
        &all_bids,
        window,
    );
    assert_eq!(
        tap.orchestrator_since_last(),
        grants(&claim, "review", &["Reviewer1"], &images)
    );

    // The review ({}) approves: review_approved, then the parallel phase.
    let window = release(&mut stack, &review, &[&tester], &claim);
    let review_id = reviewer.seen().written[0].clone();
    let after_parallel = assert_granted(
        &mut stack,
        &claim,
        &after_review,
        &[
            ("status", "pending_parallel"),
            ("granted_parallel_agents", r#"["Tester"]"#),
        ],
        ("parallel", &["Tester"], &[]),
        &all_bids,
        window,
    );
    let mut want = vec![approved(&goal.id, "reviewer")];
    want.extend(grants(&claim, "claim", &["Tester"], &images));
    assert_eq!(tap.orchestrator_since_last(), want);

    // The tester's report: the exclusive phase, to the smallest name; the
    // report is Standard, so it gets its own claim (in the same script, after).
    let window = release(&mut stack, &parallel, &[&coder1], &claim);
    let report = tester.seen().written[0].clone();
    assert_granted(
        &mut stack,
        &claim,
        &after_parallel,
        &[
            ("status", "pending_exclusive"),
            ("granted_exclusive_agent", "Coder1"),
        ],
        ("exclusive", &["Coder1"], &[]),
        &all_bids,
        window,
    );
    let report_claim = stack.claim_of(&report);
    let mut want = grants(&claim, "exclusive", &["Coder1"], &images);
    want.push(claim_event(&report_claim, &report));
    assert_eq!(tap.orchestrator_since_last(), want);

    // The winner's commit completes the claim; nothing is published for it.
    exclusive.open();
    orch.wait_for_event("claim_complete");
    let commit = coder1.seen().written[0].clone();
    let commit_claim = stack.claim_of(&commit);
    let done = stack.claim(&claim);
    let at = start_time(&done["phase_state"], window.0, window.1);
    let mut want = with(
        after_parallel,
        &[
            ("status", "complete"),
            ("granted_exclusive_agent", "Coder1"),
        ],
    );
    let state = phase_state(
        "exclusive",
        &["Coder1"],
        &[("coder", &commit)],
        &all_bids,
        at,
    );
    want.insert("phase_state".into(), state);
    assert_eq!(done, want);
    // The agents' own artefacts: nobody bids on them; they stay as created.
    orch.wait_for_events("claim_dormant", 2);
    for (c, a) in [(&report_claim, &report), (&commit_claim, &commit)] {
        assert_eq!(stack.claim(c), new_claim_fields(c, a));
    }
    assert_eq!(
        tap.orchestrator_since_last(),
        vec![claim_event(&commit_claim, &commit)]
    );

    // Exactly once: each grant received once, each message published once,
    // one log line per grant, verdict and completion.
    let grants_of = |a: &SimAgent| a.seen().grants;
    let one = |kind: &str| BTreeMap::from([(claim.clone(), vec![kind.to_string()])]);
    assert_eq!(grants_of(&reviewer), one("review"));
    assert_eq!(grants_of(&tester), one("claim"));
    assert_eq!(grants_of(&coder1), one("exclusive"));
    assert_eq!(grants_of(&coder2), BTreeMap::new());
    assert_quiet_and_once(&mut tap);
    assert_eq!(
        granted_lines(&orch, &claim),
        vec![
            ("review".into(), serde_json::json!(["Reviewer1"])),
            ("parallel".into(), serde_json::json!(["Tester"])),
            ("exclusive".into(), serde_json::json!(["Coder1"])),
        ]
    );
    let verdicts = lines_for(&orch, "review_approved", &claim);
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["reviewer_role"], "reviewer");
    assert_eq!(verdicts[0]["review_id"], review_id.as_str());
    assert_eq!(lines_for(&orch, "claim_complete", &claim).len(), 1);
    assert_eq!(orch.events("claim_granted").len(), 3);
    assert_all_json(&orch);
}

#[test]
fn holt_registry_in_the_holt_namespace_keeps_everything_under_holt() {
    let registry = "version: 1.0\nagents:\n  Reviewer: {image: r}\n  Coder: {image: c}\n";
    let mut stack = Stack::new("holt", "hw", registry);
    let mut tap = stack.wiretap();
    let mut sett_tap = Recorder::start(&stack.redis, "sett");
    let [bids, review, exclusive] = [(); 3].map(|_| Gate::new());
    let reviewer = stack.agent(work_after(
        bids_after(Spec::approver("Reviewer"), &bids),
        &review,
    ));
    let coder = stack.agent(work_after(
        bids_after(
            Spec::new(
                "Coder",
                "exclusive",
                Work::new("Standard", "CodeCommit", "fn"),
            ),
            &bids,
        ),
        &exclusive,
    ));
    let orch = stack.orchestrator(&[]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    let created = new_claim_fields(&claim, &goal.id);
    assert_eq!(stack.claim(&claim), created);
    assert_eq!(
        tap.orchestrator_since_last(),
        vec![claim_event(&claim, &goal.id)]
    );

    let all_bids = [("Coder", "exclusive"), ("Reviewer", "review")];
    let window = release(&mut stack, &bids, &[&reviewer], &claim);
    let after_review = assert_granted(
        &mut stack,
        &claim,
        &created,
        &[
            ("status", "pending_review"),
            ("granted_review_agents", r#"["Reviewer"]"#),
        ],
        ("review", &["Reviewer"], &[]),
        &all_bids,
        window,
    );
    assert_eq!(
        tap.orchestrator_since_last(),
        grants(&claim, "review", &["Reviewer"], &[])
    );

    // No `claim` bid: the approval leads straight to the exclusive phase.
    let window = release(&mut stack, &review, &[&coder], &claim);
    assert_granted(
        &mut stack,
        &claim,
        &after_review,
        &[
            ("status", "pending_exclusive"),
            ("granted_exclusive_agent", "Coder"),
        ],
        ("exclusive", &["Coder"], &[]),
        &all_bids,
        window,
    );
    let mut want = vec![approved(&goal.id, "Reviewer")];
    want.extend(grants(&claim, "exclusive", &["Coder"], &[]));
    assert_eq!(tap.orchestrator_since_last(), want);

    exclusive.open();
    orch.wait_for_event("claim_complete");
    orch.wait_for_event("claim_dormant");
    let commit = coder.seen().written[0].clone();
    assert_eq!(stack.claim(&claim)["status"], "complete");
    let commit_claim = stack.claim_of(&commit);
    assert_eq!(
        tap.orchestrator_since_last(),
        vec![claim_event(&commit_claim, &commit)]
    );
    assert_eq!(reviewer.grants_for(&claim), 1);
    assert_eq!(coder.grants_for(&claim), 1);
    assert_quiet_and_once(&mut tap);

    // The lock too is under holt:; nothing at all under sett:.
    let lock = stack.key("lock");
    assert!(wait_until(PATIENCE, || stack.keys(&lock).len() == 1));
    let every = stack.keys("*");
    let strays: Vec<&String> = every
        .iter()
        .filter(|k| !k.starts_with("holt:hw:"))
        .collect();
    assert_eq!(strays, Vec::<&String>::new());
    assert_eq!(sett_tap.everything(), vec![]);
    assert_eq!(orch.stderr(), Vec::<String>::new());
}
