//! Adoption counts what the adopted claim's artefact delivers (issue 15 §2):
//! a Review or a deliverable that someone else claimed while no lifecycle
//! orchestrator listened (a Phase-1 replica during a rolling update, Holt's
//! Go orchestrator) is counted for the claim in a phase it was made for,
//! exactly once, when its claim is adopted. Before, the catch-up replayed
//! only artefacts with no claim, and such a phase waited for ever. And the
//! pass that adopts reads each index value bounded (64 bytes).

mod support;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use support::e2e::*;
use support::lifecycle::*;
use support::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];
/// The registry file of the tests through the binary.
const E2E_TEAM: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n";

/// `art` written while no lifecycle orchestrator listened, and claimed by
/// someone else: a six-field Phase-1 claim, or (`go_fields`) Holt's Go
/// orchestrator's 14 fields with `phase_state ""`, and the index entry.
fn claimed_by_someone_else(lab: &mut Lab, art: &Art, go_fields: bool) -> String {
    lab.store(art);
    let claim = uuid();
    let fields = if go_fields {
        new_claim_fields(&claim, &art.id)
    } else {
        fields(&phase1_claim_fields(&claim, &art.id))
    };
    for (f, v) in fields {
        lab.hset(&format!("{P}claim:{claim}"), &f, v);
    }
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{}", art.id))
        .arg(&claim)
        .query::<()>(&mut lab.sync)
        .unwrap();
    claim
}

fn adopt(lab: &mut Lab, ids: &[sett_orchestrator::blackboard::Indexed]) -> Vec<Effect> {
    let call = lab.ctx.adopt(ids);
    lab.decide(call)
}

/// A deliverable that a Phase-1 replica claimed completes the exclusive
/// phase it was made for when its claim is adopted; adopting again (or the
/// artefact decision replayed) counts it no more.
#[test]
fn a_deliverable_claimed_by_phase1_completes_its_phase_when_adopted() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [
        ("Alpha", "exclusive"),
        ("Beta", "ignore"),
        ("Gamma", "ignore"),
    ];
    let (claim, effects) = lab.granted_claim(&goal, &bids);
    assert_eq!(effects, vec![granted(&claim, "exclusive", &["Alpha"])]);
    lab.published();
    let work = Art::work("alpha", &goal.id);
    let work_claim = claimed_by_someone_else(&mut lab, &work, false);

    let effects = adopt(&mut lab, &[indexed(&work.id, &work_claim)]);
    assert_eq!(
        effects,
        vec![
            delivered(&claim, "exclusive", "alpha", &work.id),
            complete(&claim),
            adopted(&work_claim, "phase1"),
        ]
    );
    assert_eq!(lab.published(), vec![], "a completion publishes nothing");
    let stored = lab.claim(&claim);
    assert_eq!(stored["status"], "complete");
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(ps["received"], serde_json::json!({ "alpha": work.id }));
    assert_eq!(lab.set_members(Set::Active), Vec::<String>::new());
    assert_eq!(lab.set_members(Set::Bidding), vec![work_claim.clone()]);
    assert_eq!(lab.claim(&work_claim).len(), 14);

    lab.assert_noop("adopting again", |lab| {
        assert_eq!(adopt(lab, &[indexed(&work.id, &work_claim)]), vec![]);
    });
    // The artefact decision for the same artefact (its event heard late):
    // the claim is complete, the artefact has its claim.
    let effects = lab.on_artefact(&work.id);
    assert_eq!(
        effects,
        vec![Effect::Duplicate {
            existing: work_claim.clone()
        }]
    );
}

/// A Review that a Phase-1 replica claimed is judged in the review phase it
/// was written for when adoption closes its claim: the approval, then the
/// next phase granted.
#[test]
fn a_review_claimed_by_phase1_is_judged_when_its_claim_is_closed() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [
        ("Alpha", "review"),
        ("Beta", "exclusive"),
        ("Gamma", "ignore"),
    ];
    let (claim, effects) = lab.granted_claim(&goal, &bids);
    assert_eq!(effects, vec![granted(&claim, "review", &["Alpha"])]);
    lab.published();
    let review = Art::review("alpha", &goal.id, b"{}");
    let review_claim = claimed_by_someone_else(&mut lab, &review, false);

    let effects = adopt(&mut lab, &[indexed(&review.id, &review_claim)]);
    assert_eq!(
        effects,
        vec![
            adopted(&review_claim, "closed"),
            delivered(&claim, "review", "alpha", &review.id),
            Effect::ReviewApproved {
                claim: cid(&claim),
                role: "alpha".into(),
                review: review.id.clone(),
            },
            granted(&claim, "exclusive", &["Beta"]),
        ]
    );
    let mut want = vec![approved(&goal.id, "alpha")];
    want.extend(grants(&claim, "exclusive", &["Beta"], &[]));
    assert_eq!(lab.published(), want);
    assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");
    assert_eq!(lab.claim(&review_claim)["status"], "terminated");
    lab.assert_noop("adopting again", |lab| {
        assert_eq!(adopt(lab, &[indexed(&review.id, &review_claim)]), vec![]);
    });
}

/// Holt's Go orchestrator's claim on a deliverable (`phase_state ""`, not
/// granted yet) joins bidding and its artefact counts, as a Phase-1 one.
/// A claim naming another artefact than its index entry counts nothing.
#[test]
fn a_deliverable_claimed_by_go_counts_when_adopted_and_junk_counts_nothing() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [("Alpha", "claim"), ("Beta", "claim"), ("Gamma", "ignore")];
    let (claim, effects) = lab.granted_claim(&goal, &bids);
    assert_eq!(
        effects,
        vec![granted(&claim, "parallel", &["Alpha", "Beta"])]
    );
    lab.published();
    let (a, b) = (Art::work("alpha", &goal.id), Art::work("beta", &goal.id));
    let a_claim = claimed_by_someone_else(&mut lab, &a, true);
    let b_claim = claimed_by_someone_else(&mut lab, &b, true);

    // b's claim given under a's index entry: it joins bidding, but b (not
    // the artefact of that entry) is not counted.
    let effects = adopt(
        &mut lab,
        &[indexed(&a.id, &a_claim), indexed(&a.id, &b_claim)],
    );
    assert_eq!(
        effects,
        vec![
            adopted(&a_claim, "bidding"),
            delivered(&claim, "parallel", "alpha", &a.id),
            adopted(&b_claim, "bidding"),
        ]
    );
    assert_eq!(lab.claim(&claim)["status"], "pending_parallel");
    let effects = adopt(&mut lab, &[indexed(&b.id, &b_claim)]);
    assert_eq!(effects, vec![], "b's claim is held now: nothing to adopt");
    // b's artefact decision (its event heard) counts it: the phase completes.
    let effects = lab.on_artefact(&b.id);
    assert_eq!(
        effects,
        vec![
            delivered(&claim, "parallel", "beta", &b.id),
            complete(&claim),
            Effect::Duplicate {
                existing: b_claim.clone()
            },
        ]
    );
}

/// A delivery the artefact decision counted (its event heard live, after a
/// Phase-1 replica had claimed the artefact) is not counted again when that
/// claim is adopted while the phase still waits for another agent.
#[test]
fn a_delivery_counted_live_is_not_counted_again_by_adoption() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [("Alpha", "claim"), ("Beta", "claim"), ("Gamma", "ignore")];
    let (claim, _) = lab.granted_claim(&goal, &bids);
    lab.published();
    let a = Art::work("alpha", &goal.id);
    let a_claim = claimed_by_someone_else(&mut lab, &a, false);
    let live = lab.on_artefact(&a.id);
    assert_eq!(
        live,
        vec![
            delivered(&claim, "parallel", "alpha", &a.id),
            Effect::Duplicate {
                existing: a_claim.clone()
            },
            Effect::Foreign {
                claim: cid(&a_claim)
            },
        ]
    );
    let effects = adopt(&mut lab, &[indexed(&a.id, &a_claim)]);
    assert_eq!(effects, vec![adopted(&a_claim, "phase1")]);
    assert_eq!(lab.claim(&claim)["status"], "pending_parallel");
    let b = Art::work("beta", &goal.id);
    let out = lab.deliver(&b);
    assert_eq!(
        out.effects,
        vec![
            delivered(&claim, "parallel", "beta", &b.id),
            complete(&claim)
        ]
    );
}

/// Holt's Go orchestrator counts a phase's deliveries in memory only. Its
/// claim in an exclusive phase granted to a role that also delivered in the
/// phase before: that earlier deliverable (written before the phase began)
/// is not counted when its claim is adopted; one written after it is.
#[test]
fn an_artefact_written_before_the_phase_began_is_not_counted_by_adoption() {
    let team = &[("Alpha", "coder"), ("Beta", "coder"), ("Gamma", "gamma")];
    let mut lab = Lab::new(team, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let start = lab.now_ms();
    let mut earlier = Art::work("coder", &goal.id);
    earlier.created_at_ms = (start - 1).to_string();
    let mut later = Art::work("coder", &goal.id);
    later.created_at_ms = start.to_string();
    let go = uuid();
    let phase_state = format!(
        r#"{{"current":"exclusive","granted_agents":["Beta"],"received":{{}},"all_bids":{{"Alpha":"claim","Beta":"exclusive","Gamma":"ignore"}},"start_time_ms":{start}}}"#
    );
    let mut fields = new_claim_fields(&go, &goal.id);
    fields.insert("status".into(), "pending_exclusive".into());
    fields.insert("granted_exclusive_agent".into(), "Beta".into());
    fields.insert("phase_state".into(), phase_state);
    for (f, v) in fields {
        lab.hset(&format!("{P}claim:{go}"), &f, v);
    }
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{}", goal.id))
        .arg(&go)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let earlier_claim = claimed_by_someone_else(&mut lab, &earlier, true);
    let effects = adopt(&mut lab, &[indexed(&earlier.id, &earlier_claim)]);
    assert_eq!(effects, vec![adopted(&earlier_claim, "bidding")]);
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    let later_claim = claimed_by_someone_else(&mut lab, &later, true);
    let effects = adopt(&mut lab, &[indexed(&later.id, &later_claim)]);
    assert_eq!(
        effects,
        vec![
            adopted(&later_claim, "bidding"),
            delivered(&go, "exclusive", "coder", &later.id),
            complete(&go),
        ]
    );
}

/// A counted key of another type on the claim a replay would deliver to:
/// that adoption writes nothing (one row), the others in the batch go on;
/// once the key is repaired the next pass adopts and counts it.
#[test]
fn a_wrong_typed_counted_key_stops_that_adoption_only() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [
        ("Alpha", "exclusive"),
        ("Beta", "ignore"),
        ("Gamma", "ignore"),
    ];
    let (claim, _) = lab.granted_claim(&goal, &bids);
    lab.published();
    let work = Art::work("alpha", &goal.id);
    let work_claim = claimed_by_someone_else(&mut lab, &work, false);
    let other = Art::goal();
    let other_claim = claimed_by_someone_else(&mut lab, &other, false);
    let counted = format!("{P}orchestrator:counted:{claim}");
    lab.hset(&counted, "junk", "1");

    let ids = [
        indexed(&work.id, &work_claim),
        indexed(&other.id, &other_claim),
    ];
    let effects = adopt(&mut lab, &ids);
    assert_eq!(
        effects,
        vec![
            Effect::KeyConflict {
                key: counted.clone(),
                key_type: "hash".into()
            },
            adopted(&other_claim, "phase1"),
        ]
    );
    assert_eq!(lab.claim(&work_claim).len(), 6, "left as it was");
    assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");

    redis::cmd("DEL")
        .arg(&counted)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let effects = adopt(&mut lab, &ids);
    assert_eq!(
        effects,
        vec![
            delivered(&claim, "exclusive", "alpha", &work.id),
            complete(&claim),
            adopted(&work_claim, "phase1"),
        ]
    );
}

/// Through the binary: a rolling update in which a Phase-1 replica claimed
/// the coder's deliverable while no lifecycle replica ran. Two lifecycle
/// replicas start; their first catch-ups adopt that claim and the exclusive
/// phase completes, once.
#[test]
fn a_deliverable_a_phase1_replica_claimed_completes_its_claim_after_a_restart() {
    let mut stack = Stack::new("sett", "rolling-work", E2E_TEAM);
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
