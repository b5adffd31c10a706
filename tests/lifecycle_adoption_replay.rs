//! Adoption counts what the adopted claim's artefact delivers (issue 15 §2):
//! a Review or a deliverable that someone else claimed while no lifecycle
//! orchestrator listened (a Phase-1 replica during a rolling update, Holt's
//! Go orchestrator) is counted for the claim in a phase it was made for,
//! exactly once, when its claim is adopted. Before, the catch-up replayed
//! only artefacts with no claim, and such a phase waited for ever. Through
//! the binary: lifecycle_adoption_e2e.rs.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use support::adoption::*;
use support::lifecycle::*;
use support::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];

/// A claim on a new goal, granted as `bids` decide (`phase` to `agents`;
/// its messages read): the goal and the claim.
fn goal_granted(
    lab: &mut Lab,
    bids: [(&str, &str); 3],
    phase: &str,
    agents: &[&str],
) -> (Art, String) {
    let goal = Art::goal();
    let (claim, effects) = lab.granted_claim(&goal, &bids);
    assert_eq!(effects, vec![granted(&claim, phase, agents)]);
    lab.published();
    (goal, claim)
}

/// [`goal_granted`]: the exclusive phase to Alpha.
fn alpha_exclusive(lab: &mut Lab) -> (Art, String) {
    let bids = [
        ("Alpha", "exclusive"),
        ("Beta", "ignore"),
        ("Gamma", "ignore"),
    ];
    goal_granted(lab, bids, "exclusive", &["Alpha"])
}

/// [`goal_granted`]: a parallel phase to Alpha and Beta.
fn alpha_beta_parallel(lab: &mut Lab) -> (Art, String) {
    let bids = [("Alpha", "claim"), ("Beta", "claim"), ("Gamma", "ignore")];
    goal_granted(lab, bids, "parallel", &["Alpha", "Beta"])
}

/// A deliverable that a Phase-1 replica claimed completes the exclusive
/// phase it was made for when its claim is adopted; adopting again (or the
/// artefact decision replayed) counts it no more.
#[test]
fn a_deliverable_claimed_by_phase1_completes_its_phase_when_adopted() {
    let mut lab = Lab::new(TEAM, 3);
    let (goal, claim) = alpha_exclusive(&mut lab);
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
    let (goal, claim) = goal_granted(
        &mut lab,
        [
            ("Alpha", "review"),
            ("Beta", "exclusive"),
            ("Gamma", "ignore"),
        ],
        "review",
        &["Alpha"],
    );
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

/// A live event of a Review that a Phase-1 replica claimed (a rolling
/// update) asks for a pass at once, as one of a claimable artefact does:
/// the pass closes that claim within a second, not at the next interval.
#[test]
fn a_live_review_event_meeting_a_phase1_claim_asks_for_a_pass() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let review = Art::review("alpha", &goal.id, b"{}");
    let review_claim = claimed_by_someone_else(&mut lab, &review, false);
    lab.assert_noop("a live Review event", |lab| {
        assert_eq!(
            lab.on_artefact(&review.id),
            vec![
                Effect::Skipped {
                    structural_type: "Review".into(),
                    artefact_type: review.kind.clone(),
                },
                Effect::Foreign {
                    claim: cid(&review_claim)
                },
            ]
        );
    });
    let effects = adopt(&mut lab, &[indexed(&review.id, &review_claim)]);
    assert_eq!(effects, vec![adopted(&review_claim, "closed")]);
    assert_eq!(
        lab.on_artefact(&review.id),
        vec![Effect::Skipped {
            structural_type: "Review".into(),
            artefact_type: review.kind.clone(),
        }],
        "closed: nothing to ask for"
    );
}

/// Holt's Go orchestrator's claim on a deliverable (`phase_state ""`, not
/// granted yet) joins bidding and its artefact counts, as a Phase-1 one.
/// A claim naming another artefact than its index entry is junk there: it
/// is neither adopted nor counted, until its own entry is given.
#[test]
fn a_deliverable_claimed_by_go_counts_when_adopted_and_junk_counts_nothing() {
    let mut lab = Lab::new(TEAM, 3);
    let (goal, claim) = alpha_beta_parallel(&mut lab);
    let (a, b) = (Art::work("alpha", &goal.id), Art::work("beta", &goal.id));
    let a_claim = claimed_by_someone_else(&mut lab, &a, true);
    let b_claim = claimed_by_someone_else(&mut lab, &b, true);

    // b's claim given under a's index entry: left alone, b not counted.
    let effects = adopt(
        &mut lab,
        &[indexed(&a.id, &a_claim), indexed(&a.id, &b_claim)],
    );
    assert_eq!(
        effects,
        vec![
            adopted(&a_claim, "bidding"),
            delivered(&claim, "parallel", "alpha", &a.id),
            not_adopted(&b_claim, NOT_ITS_ARTEFACT),
        ]
    );
    assert_eq!(lab.claim(&claim)["status"], "pending_parallel");
    assert!(!lab.set_members(Set::Bidding).contains(&b_claim));
    // Under its own entry it is adopted and b counts: the phase completes.
    let effects = adopt(&mut lab, &[indexed(&b.id, &b_claim)]);
    assert_eq!(
        effects,
        vec![
            adopted(&b_claim, "bidding"),
            delivered(&claim, "parallel", "beta", &b.id),
            complete(&claim),
        ]
    );
    // b's artefact decision (its event heard) counts nothing again.
    let effects = lab.on_artefact(&b.id);
    assert_eq!(
        effects,
        vec![Effect::Duplicate {
            existing: b_claim.clone()
        }]
    );
}

/// A delivery the artefact decision counted (its event heard live, after a
/// Phase-1 replica had claimed the artefact) is not counted again when that
/// claim is adopted while the phase still waits for another agent.
#[test]
fn a_delivery_counted_live_is_not_counted_again_by_adoption() {
    let mut lab = Lab::new(TEAM, 3);
    let (goal, claim) = alpha_beta_parallel(&mut lab);
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

/// An artefact that lists itself among its sources (junk) is not counted
/// for its own claim, which adoption has just written: Go's claim on it,
/// in an exclusive phase granted to its author's role, joins that phase
/// and waits for the work.
#[test]
fn an_artefact_sourced_from_itself_counts_nothing_for_its_own_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let start = lab.now_ms();
    let mut art = Art::work("beta", &uuid());
    art.sources = serde_json::to_string(&[&art.id]).unwrap();
    lab.store(&art);
    let go = go_claim_in_exclusive(&mut lab, &art, start);
    let effects = adopt(&mut lab, &[indexed(&art.id, &go)]);
    assert_eq!(effects, vec![adopted(&go, "exclusive")]);
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
}

/// A counted key of another type on the claim a replay would deliver to:
/// that adoption writes nothing (one row), the others in the batch go on;
/// once the key is repaired the next pass adopts and counts it.
#[test]
fn a_wrong_typed_counted_key_stops_that_adoption_only() {
    let mut lab = Lab::new(TEAM, 3);
    let (goal, claim) = alpha_exclusive(&mut lab);
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
