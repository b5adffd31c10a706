//! The edges a review found (issue 15, section 3), driven through the real
//! scripts on a real Redis: wrong-typed keys the orchestrator owns, a
//! registry of thousands of agents, and review payloads too large to read.
//! (What completes a feedback claim: lifecycle_feedback.rs.)

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Effect, Phase};
use support::lifecycle::*;
use support::lifecycle_loop::*;
use support::{uuid, RedisServer};

fn conflict(key: &str, key_type: &str) -> Effect {
    Effect::KeyConflict {
        key: key.into(),
        key_type: key_type.into(),
    }
}

/// A claim of TEAM's granted to Writer alone (exclusive).
fn exclusive_claim(lab: &mut Lab) -> (Art, String) {
    let goal = Art::goal();
    let (claim, effects) = lab.granted_claim(&goal, &[("Ann", "ignore"), ("Writer", "exclusive")]);
    assert_eq!(effects, vec![granted(&claim, "exclusive", &["Writer"])]);
    lab.published();
    (goal, claim)
}

#[test]
fn a_wrong_typed_counted_key_makes_its_delivery_write_nothing_and_others_proceed() {
    let mut lab = Lab::new(TEAM, 3);
    let (goal_a, a) = exclusive_claim(&mut lab);
    let (goal_b, b) = exclusive_claim(&mut lab);
    let counted = format!("{P}orchestrator:counted:{a}");
    lab.junk_list(&counted);
    let work_a = Art::work("writer", &goal_a.id);
    lab.write(&work_a);
    let before = lab.snapshot();
    assert_eq!(
        lab.on_artefact(&work_a.id),
        vec![conflict(&counted, "list")]
    );
    assert_eq!(lab.snapshot(), before, "written although a key was wrong");
    assert_eq!(lab.published(), vec![]);
    assert_eq!(lab.claim(&a)["status"], "pending_exclusive");
    // The other claim is not held up.
    let out = lab.deliver(&Art::work("writer", &goal_b.id));
    assert_eq!(out.effects.last(), Some(&complete(&b)), "{:?}", out.effects);
    // Repaired, the same artefact completes its claim.
    redis::cmd("DEL")
        .arg(&counted)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let effects = lab.on_artefact(&work_a.id);
    assert!(effects.contains(&complete(&a)), "{effects:?}");
}

#[test]
fn a_wrong_typed_orchestrator_set_stops_every_decision_before_it_writes() {
    for set_name in ["bidding", "active"] {
        let mut lab = Lab::new(TEAM, 3);
        let waiting = lab.new_claim(&Art::goal());
        lab.bid(&waiting, "Ann", "ignore");
        lab.bid(&waiting, "Writer", "exclusive");
        let (goal, granted) = exclusive_claim(&mut lab);
        let key = format!("{P}orchestrator:{set_name}");
        redis::cmd("DEL")
            .arg(&key)
            .query::<()>(&mut lab.sync)
            .unwrap();
        redis::cmd("SET")
            .arg(&key)
            .arg("junk")
            .query::<()>(&mut lab.sync)
            .unwrap();
        let work = Art::work("writer", &goal.id);
        let fresh = Art::goal();
        lab.write(&work);
        lab.write(&fresh);
        let before = lab.snapshot();
        let want = vec![conflict(&key, "string")];
        assert_eq!(lab.on_artefact(&work.id), want, "{set_name}: a delivery");
        assert_eq!(lab.on_bids(&waiting, None), want, "{set_name}: bids");
        assert_eq!(
            lab.on_timeout(&granted, std::time::Duration::ZERO, "0s"),
            want,
            "{set_name}: a phase timeout"
        );
        assert_eq!(lab.snapshot(), before, "{set_name}: written");
        assert_eq!(lab.published(), vec![], "{set_name}: published");
        // A new claim joins the bidding set only: a junk active set does not
        // hold it up.
        let effects = lab.on_artefact(&fresh.id);
        if set_name == "bidding" {
            assert_eq!(effects, want, "a new claim");
            assert_eq!(lab.snapshot(), before, "a new claim: written");
        } else {
            assert!(
                matches!(effects[..], [Effect::Created { .. }]),
                "{effects:?}"
            );
        }
    }
}

#[test]
fn a_registry_of_8000_agents_decides_bids_in_one_script() {
    let names: Vec<(String, String)> = (0..8000)
        .map(|i| (format!("agent-{i:05}"), format!("role-{i:05}")))
        .collect();
    let team: Vec<(&str, &str)> = names
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let mut lab = Lab::new(&team, 3);
    let claim = lab.new_claim(&Art::goal());
    let bids = format!("{P}claim:{claim}:bids");
    // Every agent bids; 40 junk fields make the script read by name (HMGET).
    let mut pipe = redis::pipe();
    for (i, (name, _)) in names.iter().enumerate() {
        pipe.hset(&bids, name, if i == 7999 { "exclusive" } else { "ignore" });
    }
    for i in 0..40 {
        pipe.hset(&bids, format!("junk-{i}"), "ignore");
    }
    pipe.query::<()>(&mut lab.sync).unwrap();
    let effects = lab.on_bids(&claim, None);
    assert_eq!(
        effects,
        vec![
            Effect::UnknownBidders {
                claim: cid(&claim),
                count: 40
            },
            granted(&claim, "exclusive", &["agent-07999"])
        ]
    );
}

#[test]
fn a_review_payload_over_64_kib_is_rejected_unread() {
    let mut lab = Lab::new(TEAM, 3);
    let target = Art::work("writer", &support::uuid());
    let claim = lab.new_claim(&target);
    // 64 KiB of whitespace around {} would approve if read; it is not.
    let mut payload = vec![b' '; 70_000];
    payload[35_000] = b'{';
    payload[35_001] = b'}';
    let (review, out) = review_round(&mut lab, &target, &claim, &payload);
    assert!(
        out.effects.contains(&Effect::ReviewRejected {
            claim: cid(&claim),
            role: "ann".into(),
            review: review.id.clone()
        }),
        "{:?}",
        out.effects
    );
    let feedback = "review payload of 70000 bytes not read (over 65536): rejected";
    assert!(
        out.published
            .iter()
            .any(|m| m.payload.contains(&format!(r#""feedback":"{feedback}""#))),
        "{:?}",
        out.published
    );
    // At the limit it is read, and approves.
    let target = Art::work("writer", &support::uuid());
    let claim = lab.new_claim(&target);
    let mut payload = vec![b' '; 65_536];
    payload[0] = b'{';
    payload[65_535] = b'}';
    let (_, out) = review_round(&mut lab, &target, &claim, &payload);
    assert!(out.effects.contains(&complete(&claim)), "{:?}", out.effects);
}

/// Phase 1's claim script: a claim key (a fresh random id) that already
/// holds another type makes it write nothing and say so.
#[test]
fn the_phase1_claim_writes_nothing_over_a_wrong_typed_claim_key() {
    use sett_orchestrator::blackboard::Keys;
    use sett_orchestrator::phase1::claim_call;
    use sett_orchestrator::redis_io::scripts::decide;
    let redis = RedisServer::start();
    let mut sync = redis.conn();
    let mut conn = Lab::connect(&redis);
    let keys = Keys::new("p1");
    let art = Art::goal();
    redis::cmd("HSET")
        .arg(format!("sett:p1:artefact:{}", art.id))
        .arg(&["id", &art.id, "structural_type", "Standard", "type", "Goal"])
        .query::<()>(&mut sync)
        .unwrap();
    let claim = uuid::Uuid::new_v4();
    let claim_key = format!("sett:p1:claim:{claim}");
    redis::cmd("RPUSH")
        .arg(&claim_key)
        .arg("junk")
        .query::<()>(&mut sync)
        .unwrap();
    let before: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut sync).unwrap();
    let call = claim_call(&keys, &[(aid(&art.id), claim)]);
    let decided = smol::block_on(decide(&mut conn, &[call])).unwrap();
    assert_eq!(
        decided.into_iter().next().unwrap().unwrap(),
        vec![conflict(&claim_key, "list")]
    );
    let mut after: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut sync).unwrap();
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(after, before, "no index, no claim written");
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg(&claim_key)
        .arg(0)
        .arg(-1)
        .query(&mut sync)
        .unwrap();
    assert_eq!(list, vec!["junk".to_string()]);
}

fn hdel(lab: &mut Lab, key: &str, field: &str) {
    redis::cmd("HDEL")
        .arg(key)
        .arg(field)
        .query::<()>(&mut lab.sync)
        .unwrap();
}

/// A claim hash that names no artefact (junk, or written half) is not the
/// claim of the artefact whose index names it: a delivery leaves it alone
/// and writes nothing (it once counted the review, wrote the phase, then
/// raised on the verdict); with its artefact_id back, the same review
/// completes it.
#[test]
fn a_claim_without_its_artefact_id_is_left_alone_by_a_delivery() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let (claim, effects) = lab.granted_claim(&goal, &[("Ann", "review"), ("Writer", "ignore")]);
    assert_eq!(effects, vec![granted(&claim, "review", &["Ann"])]);
    lab.published();
    hdel(&mut lab, &format!("{P}claim:{claim}"), "artefact_id");
    let review = Art::review("ann", &goal.id, b"{}");
    lab.write(&review);
    let before = lab.snapshot();
    assert_eq!(
        lab.on_artefact(&review.id),
        vec![Effect::Skipped {
            structural_type: "Review".into(),
            artefact_type: "ReviewResult".into()
        }]
    );
    assert_eq!(lab.snapshot(), before, "written for a junk claim");
    assert_eq!(lab.published(), vec![]);
    lab.hset(&format!("{P}claim:{claim}"), "artefact_id", &goal.id);
    assert_eq!(
        lab.on_artefact(&review.id),
        vec![
            Effect::Delivered {
                claim: cid(&claim),
                phase: Phase::Review,
                role: "ann".into(),
                artefact: aid(&review.id)
            },
            Effect::ReviewApproved {
                claim: cid(&claim),
                role: "ann".into(),
                review: review.id.clone()
            },
            complete(&claim),
            Effect::Skipped {
                structural_type: "Review".into(),
                artefact_type: "ReviewResult".into()
            },
        ]
    );
}

/// Adoption of someone else's claim whose review phase completes at once
/// (every granted role delivered while nobody listened) may reject, which
/// sets the artefact's index: a claim naming no artefact is left alone, a
/// wrong-typed index answers `key_conflict`, and both write nothing; with
/// the index repaired, the claim is adopted and its rejection makes the
/// feedback claim, which the index then names.
#[test]
fn adoption_checks_the_index_a_rejection_writes_before_its_first_write() {
    let mut lab = Lab::new(TEAM, 3);
    let target = Art::work("writer", &uuid());
    lab.store(&target);
    let review = Art::review("ann", &target.id, b"not yet");
    lab.store(&review);
    let claim = uuid();
    let key = format!("{P}claim:{claim}");
    let phase = format!(
        r#"{{"current":"review","granted_agents":["Ann"],"received":{{"ann":"{}"}},"all_bids":{{"Ann":"review","Writer":"ignore"}},"start_time_ms":1}}"#,
        review.id
    );
    for (field, value) in new_claim_fields(&claim, &target.id) {
        lab.hset(&key, &field, value);
    }
    lab.hset(&key, "phase_state", &phase);
    lab.hset(&key, "granted_review_agents", r#"["Ann"]"#);
    let index = format!("{P}claim_by_artefact:{}", target.id);
    lab.junk_list(&index);
    let ids = [indexed(&target.id, &claim)];

    let adopt = |lab: &mut Lab| {
        let call = lab.ctx.adopt(&ids);
        lab.decide(call)
    };
    let before = lab.snapshot();
    assert_eq!(adopt(&mut lab), vec![conflict(&index, "list")]);
    assert_eq!(lab.snapshot(), before, "written over a wrong-typed index");
    hdel(&mut lab, &key, "artefact_id");
    let junk = lab.snapshot();
    assert_eq!(
        adopt(&mut lab),
        vec![not_adopted(&claim, NOT_ITS_ARTEFACT)],
        "no artefact_id"
    );
    assert_eq!(lab.snapshot(), junk, "written for a junk claim");
    assert_eq!(lab.published(), vec![]);
    lab.hset(&key, "artefact_id", &target.id);

    redis::cmd("DEL")
        .arg(&index)
        .query::<()>(&mut lab.sync)
        .unwrap();
    let effects = adopt(&mut lab);
    assert_eq!(effects[0], adopted(&claim, "review"), "{effects:?}");
    let Some(Effect::FeedbackClaim { feedback_claim, .. }) = effects.last() else {
        panic!("no feedback claim: {effects:?}")
    };
    assert_eq!(
        lab.index(&target.id),
        Some(feedback_claim.as_str().to_string())
    );
}
