//! Adoption and the time an artefact was written (issue 15 §2): Holt's Go
//! orchestrator counts a phase's deliveries in memory only, so adoption
//! tells an earlier phase's work (written before the phase began, by its
//! `created_at_ms`) from this phase's, and says when it left one uncounted.
//! The rest of adoption's counting: lifecycle_adoption_replay.rs.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use support::adoption::*;
use support::lifecycle::*;
use support::*;

/// Holt's Go orchestrator counts a phase's deliveries in memory only. Its
/// claim in an exclusive phase granted to a role that also delivered in the
/// phase before: that earlier deliverable (written before the phase began)
/// is not counted when its claim is adopted (and the answer says so, for
/// the operator's log); one written after it is. Both forms of
/// `phase_state`: the one read by patterns (`deliver_exclusive`) and one
/// that takes the full decode (its bids in another order).
#[test]
fn an_artefact_written_before_the_phase_began_is_not_counted_by_adoption() {
    for all_bids in [GO_BIDS, REORDERED] {
        written_before_the_phase_began(all_bids);
    }
}

fn written_before_the_phase_began(all_bids: &str) {
    let (mut lab, goal, start) = coders_and_goal();
    let earlier = written_before(&goal, start);
    let mut later = Art::work("coder", &goal.id);
    later.created_at_ms = start.to_string();
    let go = go_claim_with(&mut lab, &goal, start, all_bids);
    let earlier_claim = claimed_by_someone_else(&mut lab, &earlier, true);
    let effects = adopt(&mut lab, &[indexed(&earlier.id, &earlier_claim)]);
    assert_eq!(
        effects,
        vec![
            adopted(&earlier_claim, "bidding"),
            not_counted(&go, "exclusive", "coder", &earlier.id),
        ],
        "{all_bids}"
    );
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    let later_claim = claimed_by_someone_else(&mut lab, &later, true);
    let effects = adopt(&mut lab, &[indexed(&later.id, &later_claim)]);
    assert_eq!(
        effects,
        adopted_and_completes(&later_claim, &go, &later.id),
        "{all_bids}"
    );
}

/// An earlier phase's deliverable that this orchestrator counted (live, in
/// that phase: it is in the claim's counted set) is replayed by adoption
/// with no `not_counted` row: nothing it would have counted was left out.
/// Both forms of `phase_state`, as above.
#[test]
fn an_earlier_artefact_counted_live_is_not_said_to_be_left_out() {
    for all_bids in [GO_BIDS, REORDERED] {
        let (mut lab, goal, start) = coders_and_goal();
        let earlier = written_before(&goal, start);
        let go = go_claim_with(&mut lab, &goal, start, all_bids);
        redis::cmd("SADD")
            .arg(format!("{P}orchestrator:counted:{go}"))
            .arg(&earlier.id)
            .query::<()>(&mut lab.sync)
            .unwrap();
        let earlier_claim = claimed_by_someone_else(&mut lab, &earlier, true);
        let effects = adopt(&mut lab, &[indexed(&earlier.id, &earlier_claim)]);
        assert_eq!(
            effects,
            vec![adopted(&earlier_claim, "bidding")],
            "{all_bids}"
        );
        assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    }
}

/// In a parallel phase whose coder role has delivered already, an earlier
/// phase's coder deliverable replayed by adoption would not have counted
/// either: no `not_counted` row.
#[test]
fn an_earlier_artefact_for_a_role_that_delivered_is_not_said_to_be_left_out() {
    let (mut lab, goal, start) = coders_and_goal();
    let delivered_id = uuid();
    let go = uuid();
    let phase_state = format!(
        r#"{{"current":"parallel","granted_agents":["Alpha","Gamma"],"received":{{"coder":"{delivered_id}"}},"all_bids":{{"Alpha":"claim","Beta":"ignore","Gamma":"claim"}},"start_time_ms":{start}}}"#
    );
    let mut fields = new_claim_fields(&go, &goal.id);
    fields.insert("status".into(), "pending_parallel".into());
    fields.insert("phase_state".into(), phase_state.clone());
    store_claim(&mut lab, &go, &goal.id, fields);
    let earlier = written_before(&goal, start);
    let earlier_claim = claimed_by_someone_else(&mut lab, &earlier, true);
    let effects = adopt(&mut lab, &[indexed(&earlier.id, &earlier_claim)]);
    assert_eq!(effects, vec![adopted(&earlier_claim, "bidding")]);
    assert_eq!(lab.claim(&go)["phase_state"], phase_state);
}

/// An artefact with no `created_at_ms` (Sett-era writers), or one that is
/// no Unix time in ms (0, a small number), counts in the phase under way.
#[test]
fn an_artefact_with_no_time_counts_in_the_phase_under_way() {
    for written in [None, Some("0"), Some("17")] {
        let (mut lab, goal, start) = coders_and_goal();
        let go = go_claim_in_exclusive(&mut lab, &goal, start);
        let work = Art::work("coder", &goal.id);
        let claim = claimed_by_someone_else(&mut lab, &work, true);
        set_written(&mut lab, &work, written);
        let effects = adopt(&mut lab, &[indexed(&work.id, &claim)]);
        assert_eq!(
            effects,
            adopted_and_completes(&claim, &go, &work.id),
            "{written:?}"
        );
    }
}

/// Two coders and another role.
const CODERS: &[(&str, &str)] = &[("Alpha", "coder"), ("Beta", "coder"), ("Gamma", "gamma")];

/// [`GO_BIDS`] in another order: valid JSON that takes the full decode.
const REORDERED: &str = r#"{"Gamma":"ignore","Alpha":"claim","Beta":"exclusive"}"#;

/// A lab of [`CODERS`] with a stored goal, and the time "now" (ms).
fn coders_and_goal() -> (Lab, Art, u64) {
    let mut lab = Lab::new(CODERS, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let start = lab.now_ms();
    (lab, goal, start)
}

/// A coder's deliverable for `goal`, written just before `start`.
fn written_before(goal: &Art, start: u64) -> Art {
    let mut earlier = Art::work("coder", &goal.id);
    earlier.created_at_ms = (start - 1).to_string();
    earlier
}

/// What adopting `claim` answers when its artefact `work` completes Go's
/// claim `go` in its exclusive phase.
fn adopted_and_completes(claim: &str, go: &str, work: &str) -> Vec<Effect> {
    vec![
        adopted(claim, "bidding"),
        delivered(go, "exclusive", "coder", work),
        complete(go),
    ]
}

/// The same rule when a catch-up pass replays an artefact that has no claim
/// of its own (a Review: none in lifecycle mode) for a claim adopted from
/// Go: a coder's Review written before the exclusive phase began is left out
/// (said once), and no later pass counts it, even after the claim leaves
/// the recount set; one written since the phase began completes it. A live
/// event is not a replay: the rule is the catch-up's.
#[test]
fn a_replayed_artefact_of_an_earlier_phase_is_not_counted_by_any_later_pass() {
    let (mut lab, goal, start) = coders_and_goal();
    let go = go_claim_in_exclusive(&mut lab, &goal, start);
    assert_eq!(
        adopt(&mut lab, &[indexed(&goal.id, &go)]),
        vec![adopted(&go, "exclusive")]
    );
    let mut earlier = Art::review("coder", &goal.id, b"{}");
    earlier.created_at_ms = (start - 1).to_string();
    lab.store(&earlier);
    assert_eq!(
        lab.on_artefact_replayed(&earlier.id),
        vec![
            not_counted(&go, "exclusive", "coder", &earlier.id),
            skipped_review()
        ]
    );
    assert_eq!(
        lab.on_artefact_replayed(&earlier.id),
        vec![skipped_review()]
    );
    redis::cmd("DEL")
        .arg(format!("{P}orchestrator:recount"))
        .query::<()>(&mut lab.sync)
        .unwrap();
    assert_eq!(
        lab.on_artefact_replayed(&earlier.id),
        vec![skipped_review()]
    );
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    redis::cmd("ZADD")
        .arg(format!("{P}orchestrator:recount"))
        .arg(start)
        .arg(&go)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let mut later = Art::review("coder", &goal.id, b"{}");
    later.created_at_ms = start.to_string();
    lab.store(&later);
    assert_eq!(
        lab.on_artefact_replayed(&later.id),
        vec![
            delivered(&go, "exclusive", "coder", &later.id),
            complete(&go),
            skipped_review()
        ]
    );
}

/// Two agents sharing a role (Holt allows it): Go's claim in its review
/// phase, full (the QA reviewer's approval in `received`), is adopted, the
/// review completes and the parallel phase is granted to the other QA agent.
/// Replaying that approval then counts nothing: it is the review phase's,
/// and no replay may complete the parallel phase with it.
#[test]
fn a_review_go_counted_is_not_counted_again_for_a_later_phase_of_the_same_role() {
    let mut lab = Lab::new(&[("qa1", "QA"), ("qa2", "QA"), ("Coder", "Coder")], 3);
    let goal = Art::goal();
    lab.store(&goal);
    let start = lab.now_ms();
    let mut review = Art::review("QA", &goal.id, b"{}");
    review.created_at_ms = start.to_string();
    lab.store(&review);
    let go = uuid();
    let mut fields = new_claim_fields(&go, &goal.id);
    fields.insert("granted_review_agents".into(), r#"["qa1"]"#.into());
    fields.insert(
        "phase_state".into(),
        format!(
            r#"{{"current":"review","granted_agents":["qa1"],"received":{{"QA":"{}"}},"all_bids":{{"Coder":"exclusive","qa1":"review","qa2":"claim"}},"start_time_ms":{start}}}"#,
            review.id
        ),
    );
    store_claim(&mut lab, &go, &goal.id, fields);
    let effects = adopt(&mut lab, &[indexed(&goal.id, &go)]);
    assert_eq!(effects[0], adopted(&go, "review"), "{effects:?}");
    assert_eq!(
        effects.last(),
        Some(&granted(&go, "parallel", &["qa2"])),
        "{effects:?}"
    );
    assert_eq!(lab.on_artefact_replayed(&review.id), vec![skipped_review()]);
    assert_eq!(lab.on_artefact(&review.id), vec![skipped_review()]);
    assert_eq!(lab.claim(&go)["status"], "pending_parallel");
}

/// What the artefact decision answers for a Review (no claim of its own).
fn skipped_review() -> Effect {
    Effect::Skipped {
        structural_type: "Review".into(),
        artefact_type: Art::review("r", &uuid(), b"").kind,
    }
}
