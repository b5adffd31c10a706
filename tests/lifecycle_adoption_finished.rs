//! A deliverable whose own claim someone else finished (issue 15 §2): Holt's
//! Go orchestrator keeps a phase's deliveries in memory only, and may have
//! run the deliverable's claim to its end, so a claim adopted into that
//! phase would wait for ever for work that was done. A replaying pass (the
//! recount set holds the claims adopted into a phase) counts such an
//! artefact for them (adopt.lua, `recount`) when it has a written time from
//! the phase on; other passes, other claims (ours from their start), and an
//! artefact with no written time, leave it alone. Through the binary:
//! lifecycle_adoption_e2e.rs.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::blackboard::Indexed;
use sett_orchestrator::lifecycle::scripts::Set;
use sett_orchestrator::lifecycle::{adopt, Lifecycle};
use support::adoption::*;
use support::lifecycle::*;

/// Two coders and another role.
const CODERS: &[(&str, &str)] = &[("Alpha", "coder"), ("Beta", "coder"), ("Gamma", "gamma")];

/// One adoption call in a replaying pass over `ids`, decided: its effects.
fn adopt_replaying(lab: &mut Lab, ids: &[Indexed]) -> Vec<Effect> {
    let call = lab.ctx.adopt_in(ids, true);
    lab.decide(call)
}

/// A goal and Go's claim on it in its exclusive phase (granted to Beta, a
/// coder, at `start`), adopted into that phase: the claim joins the recount
/// set.
fn adopted_in_exclusive(lab: &mut Lab, start: u64) -> (Art, String) {
    let goal = Art::goal();
    lab.store(&goal);
    let go = go_claim_in_exclusive(lab, &goal, start);
    let effects = adopt(lab, &[indexed(&goal.id, &go)]);
    assert_eq!(effects, vec![adopted(&go, "exclusive")]);
    (goal, go)
}

/// Go's claim on a goal in its exclusive phase, adopted
/// ([`adopted_in_exclusive`]), and the coder's deliverable for it written
/// at the phase's start, whose own claim Go ran to `status`.
fn finished_deliverable(status: &str) -> (Lab, String, Art, String) {
    let mut lab = Lab::new(CODERS, 3);
    let start = lab.now_ms();
    let (goal, go) = adopted_in_exclusive(&mut lab, start);
    assert_eq!(recount_set(&mut lab), vec![go.clone()]);
    let mut work = Art::work("coder", &goal.id);
    work.created_at_ms = start.to_string();
    let work_claim = claimed_by_someone_else(&mut lab, &work, true);
    lab.hset(&format!("{P}claim:{work_claim}"), "status", status);
    (lab, go, work, work_claim)
}

/// The recount set's members.
fn recount_set(lab: &mut Lab) -> Vec<String> {
    lab.set_members(Set::Recount)
}

/// `claim`'s score in the recount set (server ms when it joined).
fn recount_score(lab: &mut Lab, claim: &str) -> u64 {
    redis::cmd("ZSCORE")
        .arg(lab.ctx.set_key(Set::Recount))
        .arg(claim)
        .query(&mut lab.sync)
        .unwrap()
}

/// What a replay answers when `work` completes Go's claim `go` in its
/// exclusive phase.
fn completes(go: &str, work: &Art) -> Vec<Effect> {
    vec![delivered(go, "exclusive", "coder", &work.id), complete(go)]
}

/// In a pass that replays, the deliverable of a claim Go completed (or
/// terminated) counts for the claim in the phase it was made for, which
/// completes; the finished claim itself is left as it is. A pass that does
/// not replay leaves it alone, and replaying again counts nothing more.
#[test]
fn a_deliverable_whose_claim_someone_else_finished_counts_when_a_pass_replays() {
    for status in ["complete", "terminated"] {
        let (mut lab, go, work, work_claim) = finished_deliverable(status);
        let ids = [indexed(&work.id, &work_claim)];
        let before = lab.claim(&work_claim);
        lab.assert_noop("a pass that does not replay", |lab| {
            assert_eq!(adopt(lab, &ids), vec![], "{status}");
        });
        let effects = adopt_replaying(&mut lab, &ids);
        assert_eq!(effects, completes(&go, &work), "{status}");
        assert_eq!(lab.published(), vec![], "a completion publishes nothing");
        let stored = lab.claim(&go);
        assert_eq!(stored["status"], "complete");
        let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
        assert_eq!(ps["received"], serde_json::json!({ "coder": work.id }));
        assert_eq!(lab.claim(&work_claim), before, "{status}: left as it was");
        lab.assert_noop("replaying again", |lab| {
            assert_eq!(adopt_replaying(lab, &ids), vec![], "{status}");
        });
    }
}

/// Without a written time (Sett-era writers; or one that is no Unix time in
/// ms) a finished claim's artefact is not counted by a replay: it cannot be
/// told from work this orchestrator judged in an earlier phase.
#[test]
fn a_finished_claims_artefact_with_no_written_time_is_not_counted() {
    for at in [None, Some("0"), Some("17")] {
        let (mut lab, go, work, work_claim) = finished_deliverable("complete");
        set_written(&mut lab, &work, at);
        lab.assert_noop("no written time", |lab| {
            let ids = [indexed(&work.id, &work_claim)];
            assert_eq!(adopt_replaying(lab, &ids), vec![], "{at:?}");
        });
        assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    }
}

/// Written before the phase began (an earlier phase's work): not counted,
/// and the answer says so, as for an adopted claim's artefact.
#[test]
fn a_finished_claims_artefact_from_before_the_phase_is_said_not_counted() {
    let (mut lab, go, work, work_claim) = finished_deliverable("complete");
    let earlier = (lab.now_ms() - 60_000).to_string();
    set_written(&mut lab, &work, Some(&earlier));
    let effects = adopt_replaying(&mut lab, &[indexed(&work.id, &work_claim)]);
    assert_eq!(
        effects,
        vec![not_counted(&go, "exclusive", "coder", &work.id)]
    );
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
}

/// A claim this orchestrator ran from its start (never adopted: not in the
/// recount set) gets nothing from a replaying pass, even from a finished
/// claim's artefact written in its phase: it judged that artefact live
/// (here, left uncounted: its role had delivered). Its counted key is not
/// even probed: one of another type answers nothing.
#[test]
fn a_claim_of_ours_from_its_start_gets_nothing_from_a_replay() {
    let mut lab = Lab::new(CODERS, 3);
    let goal = Art::goal();
    let bids = [
        ("Alpha", "ignore"),
        ("Beta", "exclusive"),
        ("Gamma", "ignore"),
    ];
    let (claim, effects) = lab.granted_claim(&goal, &bids);
    assert_eq!(effects, vec![granted(&claim, "exclusive", &["Beta"])]);
    lab.published();
    let work = Art::work("coder", &goal.id);
    let work_claim = claimed_by_someone_else(&mut lab, &work, true);
    lab.hset(&format!("{P}claim:{work_claim}"), "status", "complete");
    assert_eq!(recount_set(&mut lab), Vec::<String>::new());
    // A junk counted key of that claim is not even probed.
    lab.junk_list(&format!("{P}orchestrator:counted:{claim}"));
    lab.assert_noop("not adopted", |lab| {
        let ids = [indexed(&work.id, &work_claim)];
        assert_eq!(adopt_replaying(lab, &ids), vec![]);
    });
    assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");
}

/// A recount key of another type refuses the adoption of a claim into a
/// phase (one `key_conflict` row, nothing written for it); the rest of the
/// batch goes on (a Phase-1 claim joins bidding).
#[test]
fn a_recount_key_of_another_type_refuses_only_adoptions_into_a_phase() {
    let mut lab = Lab::new(CODERS, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let start = lab.now_ms();
    let go = go_claim_in_exclusive(&mut lab, &goal, start);
    let other = Art::goal();
    let phase1 = claimed_by_someone_else(&mut lab, &other, false);
    let recount = lab.ctx.set_key(Set::Recount);
    lab.junk_list(&recount);
    let ids = [indexed(&goal.id, &go), indexed(&other.id, &phase1)];
    let effects = adopt(&mut lab, &ids);
    assert_eq!(
        effects,
        vec![
            Effect::KeyConflict {
                key: recount,
                key_type: "list".into()
            },
            adopted(&phase1, "phase1"),
        ]
    );
    assert_eq!(lab.set_members(Set::Active), Vec::<String>::new());
    assert_eq!(lab.set_members(Set::Bidding), vec![phase1]);
}

/// A counted key of another type on the adopted claim refuses the recount
/// (its `key_conflict` row, nothing delivered) and scores the claim again
/// in the recount set, now, so that the pass that ends does not drop it: a
/// later replay, once the key is repaired, counts the artefact.
#[test]
fn a_refused_recount_keeps_its_claim_for_a_later_replay() {
    let (mut lab, go, work, work_claim) = finished_deliverable("complete");
    let recount = lab.ctx.set_key(Set::Recount);
    redis::cmd("ZADD")
        .arg(&recount)
        .arg(1)
        .arg(&go)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let counted = format!("{P}orchestrator:counted:{go}");
    lab.junk_list(&counted);
    let ids = [indexed(&work.id, &work_claim)];
    let before = lab.now_ms();
    let effects = adopt_replaying(&mut lab, &ids);
    assert_eq!(
        effects,
        vec![Effect::KeyConflict {
            key: counted.clone(),
            key_type: "list".into()
        }]
    );
    assert!(recount_score(&mut lab, &go) >= before, "scored again, now");
    assert_eq!(lab.claim(&go)["status"], "pending_exclusive");
    // The pass ends (it began at `before`): the claim stays in the set.
    redis::cmd("ZREMRANGEBYSCORE")
        .arg(&recount)
        .arg("-inf")
        .arg(format!("({before}"))
        .query::<()>(&mut lab.sync)
        .unwrap();
    assert_eq!(recount_set(&mut lab), vec![go.clone()]);
    redis::cmd("DEL")
        .arg(&counted)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let effects = adopt_replaying(&mut lab, &ids);
    assert_eq!(effects, completes(&go, &work));
}

/// A replaying pass that completes removes from the recount set the claims
/// adopted before it began (`adopt::replayed`, from the server time
/// `adopt::replay_from` read as it began), and keeps those adopted since,
/// down to one adopted in the very millisecond it began: their finished
/// claims' artefacts are the next pass's to recount.
#[test]
fn a_completed_replaying_pass_keeps_the_claims_adopted_since_it_began() {
    let mut lab = Lab::new(CODERS, 3);
    let lc = Lifecycle::new(&lab.keys, registry(CODERS, 3), None, None);
    assert_eq!(smol::block_on(adopt::replay_from(&mut lab.conn, &lc)), None);
    let start = lab.now_ms();
    let (_, before) = adopted_in_exclusive(&mut lab, start);
    // The pass begins a few ms after that adoption.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let from =
        smol::block_on(adopt::replay_from(&mut lab.conn, &lc)).expect("the set holds a claim");
    assert!(
        from > recount_score(&mut lab, &before),
        "adopted before the pass began"
    );
    let (_, since) = adopted_in_exclusive(&mut lab, start);
    assert!(
        recount_score(&mut lab, &since) >= from,
        "adopted as the pass went on"
    );
    // The edge: adopted in the very millisecond the pass began.
    redis::cmd("ZADD")
        .arg(lab.ctx.set_key(Set::Recount))
        .arg("XX")
        .arg(from)
        .arg(&since)
        .query::<()>(&mut lab.sync)
        .unwrap();
    smol::block_on(adopt::replayed(&mut lab.conn, &lc, from)).unwrap();
    assert_eq!(recount_set(&mut lab), vec![since.clone()]);
    let next = smol::block_on(adopt::replay_from(&mut lab.conn, &lc));
    assert!(next.is_some(), "the next pass replays for it");
}
