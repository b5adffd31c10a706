//! The artefact decision in lifecycle mode: claims with the 14 fields, no
//! claim for Terminal/Failure/Review, ids as written, junk that never raises
//! a script error, and the `due` script.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use support::lifecycle::*;
use support::uuid;

const TEAM: &[(&str, &str)] = &[("Reviewer", "reviewer"), ("Worker", "worker")];

#[test]
fn a_new_claim_has_the_14_fields_and_the_phase_1_event_once() {
    let mut lab = Lab::new(TEAM, 3);
    for structural_type in ["Standard", "Question", "Answer"] {
        let art = Art::of_type(structural_type);
        // new_claim checks the effect, the event bytes, the 14 fields, the index.
        let claim = lab.new_claim(&art);
        assert!(is_v4(&claim), "{claim}");
        let score: String = redis::cmd("ZSCORE")
            .arg(lab.ctx.set_key(Set::Bidding))
            .arg(&claim)
            .query(&mut lab.sync)
            .unwrap();
        lab.in_window(&score);

        lab.assert_noop("the same artefact again", |lab| {
            assert_eq!(
                lab.on_artefact(&art.id),
                vec![Effect::Duplicate {
                    existing: claim.clone()
                }]
            );
        });
        lab.assert_noop("a second replica", |lab| {
            let mut replica = Lab::connect(&lab.redis);
            let calls = [lab.artefact_call(&art.id), lab.artefact_call(&art.id)];
            for reply in lab.run_on(Some(&mut replica), &calls) {
                assert!(matches!(effects(&reply)[..], [Effect::Duplicate { .. }]));
            }
        });
    }
}

#[test]
fn racing_decisions_on_a_new_artefact_make_one_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let art = Art::goal();
    lab.write(&art);
    let calls = [lab.artefact_call(&art.id), lab.artefact_call(&art.id)];
    let replies = lab.run_on(None, &calls);
    let Effect::Created { claim } = effects(&replies[0]).remove(0) else {
        panic!("{replies:?}")
    };
    let claim = claim.to_string();
    assert_eq!(
        effects(&replies[1]),
        vec![Effect::Duplicate {
            existing: claim.clone()
        }]
    );
    assert_eq!(lab.published(), vec![claim_event(&claim, &art.id)]);
    assert_eq!(lab.claim(&claim), new_claim_fields(&claim, &art.id));
}

#[test]
fn terminal_failure_and_review_get_no_claim() {
    let mut lab = Lab::new(TEAM, 3);
    for structural_type in ["Terminal", "Failure", "Review"] {
        let art = Art::of_type(structural_type);
        lab.write(&art);
        let before = lab.snapshot();
        assert_eq!(
            lab.on_artefact(&art.id),
            vec![Effect::Skipped {
                structural_type: structural_type.into(),
                artefact_type: "Thing".into()
            }]
        );
        assert_eq!(lab.published(), vec![]);
        assert_eq!(lab.snapshot(), before);
        assert_eq!(lab.index(&art.id), None);
    }
    assert!(lab.snapshot().keys().all(|k| k.contains(":artefact:")));
}

#[test]
fn missing_and_malformed_artefacts_are_reported_not_claimed() {
    let mut lab = Lab::new(TEAM, 3);
    lab.assert_noop("an artefact never written", |lab| {
        assert_eq!(lab.on_artefact(&uuid()), vec![Effect::NotFound]);
    });
    let no_type = uuid();
    lab.hset(&format!("{P}artefact:{no_type}"), "payload", "x");
    let not_hash = uuid();
    redis::cmd("SET")
        .arg(format!("{P}artefact:{not_hash}"))
        .arg("x")
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.assert_noop("malformed artefacts", |lab| {
        assert_eq!(
            lab.on_artefact(&no_type),
            vec![Effect::Invalid {
                reason: "artefact hash has no structural_type".into()
            }]
        );
        assert_eq!(
            lab.on_artefact(&not_hash),
            vec![Effect::Invalid {
                reason: "artefact key is a string, not a hash".into()
            }]
        );
    });
}

/// Ids in every form the Go client accepts are used as written: in keys, in
/// the claim, in events, and to match `source_artefacts` (another spelling
/// of the same UUID is another id, as for Go).
#[test]
fn id_forms_are_used_as_written() {
    let mut lab = Lab::new(TEAM, 3);
    let forms = [
        uuid().to_uppercase(),
        format!("{{{}}}", uuid()),
        format!("urn:uuid:{}", uuid()),
        format!("URN:UUID:{}", uuid().to_uppercase()),
        uuid().replace('-', ""),
        uuid().replace('-', "").to_uppercase(),
    ];
    for id in &forms {
        let goal = Art::goal().with_id(id);
        let claim = lab.new_claim(&goal);
        lab.bid(&claim, "Reviewer", "ignore");
        let effects = lab.bid_and_decide(&claim, "Worker", "exclusive");
        assert_eq!(effects, vec![granted(&claim, "exclusive", &["Worker"])]);
        assert_eq!(
            lab.published(),
            grants(&claim, "exclusive", &["Worker"], &[])
        );

        // Sourced from another spelling of the same UUID: not for this claim.
        let other = if id.to_lowercase() == *id {
            id.to_uppercase()
        } else {
            id.to_lowercase()
        };
        let stray = Art::work("worker", &other);
        assert_eq!(lab.deliver(&stray).effects, vec![]);

        let work = Art::work("worker", id);
        let out = lab.deliver(&work);
        assert_eq!(
            out.effects,
            vec![
                delivered(&claim, "exclusive", "worker", &work.id),
                complete(&claim)
            ]
        );
        assert_eq!(out.published, vec![]);
        assert_eq!(lab.claim(&claim)["status"], "complete");
        assert_eq!(lab.claim(&claim)["artefact_id"], *id);
    }
}

#[test]
fn junk_sources_never_raise_and_count_for_nothing() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "ignore");
    lab.bid_and_decide(&claim, "Worker", "claim");
    lab.published();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let junk = [
        String::new(),
        "not json".into(),
        "null".into(),
        "\"x\"".into(),
        "42".into(),
        format!(r#"{{"a":"{}"}}"#, goal.id),
        format!(r#"[1,null,{{"x":"{}"}},true,["{}"]]"#, goal.id, goal.id),
        r#"["../x","*","sett:lc:claim:x",""]"#.into(),
        deep,
        format!(r#"["{}""#, goal.id),
    ];
    for sources in junk {
        let art = Art::work("worker", &goal.id).with_sources_text(&sources);
        let out = lab.deliver(&art);
        assert_eq!(out.effects, vec![], "sources {sources:?}");
        assert_eq!(out.published, vec![]);
    }
    // Nothing counted: the worker's real artefact still completes the phase.
    let work = Art::work("worker", &goal.id);
    let out = lab.deliver(&work);
    assert_eq!(out.effects.last(), Some(&complete(&claim)));
}

/// A `phase_state` that is not what we wrote leaves the claim alone (no
/// grant, no progress, no timeout), whatever the decision.
#[test]
fn junk_phase_state_never_raises() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "review");
    lab.bid_and_decide(&claim, "Worker", "claim");
    lab.published();
    let junk = [
        "garbage",
        "{",
        "[]",
        "null",
        r#"{"current":5}"#,
        r#"{"current":["review"],"granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":0}"#,
        r#"{"current":{"review":1},"granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":0}"#,
        r#"{"current":"nowhere","granted_agents":["Reviewer"]}"#,
        r#"{"current":"parallel","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":0}"#,
        r#"{"current":"review","granted_agents":"Reviewer","received":[1],"all_bids":7,"start_time_ms":"abc"}"#,
        r#"{"current":"review","granted_agents":[1,null,{}],"received":{"1":2},"all_bids":{"Reviewer":[]},"start_time_ms":1e300}"#,
        r#"{"current":"review","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":1e300}"#,
        r#"{"current":"review","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":1.5}"#,
        r#"{"current":"review","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":9007199254740992}"#,
        r#"{"current":"review","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":-9007199254740992}"#,
        r#"{"current":"review","granted_agents":["Reviewer"],"received":{},"all_bids":{},"start_time_ms":"123"}"#,
    ];
    let key = format!("{P}claim:{claim}");
    for ps in junk {
        lab.hset(&key, "phase_state", ps);
        let review = Art::review("reviewer", &goal.id, b"{}");
        lab.write(&review);
        lab.assert_noop(&format!("phase_state {ps}"), |lab| {
            assert!(matches!(
                lab.on_artefact(&review.id)[..],
                [Effect::Skipped { .. }]
            ));
            assert!(matches!(
                lab.on_bids(&claim, None)[..],
                [Effect::NotBidding { .. }]
            ));
        });
        let effects = lab.on_timeout(&claim, Duration::ZERO, "0s");
        assert!(
            matches!(
                effects[..],
                [Effect::NotActive { .. }] | [Effect::Running { .. }] | [Effect::Terminated { .. }]
            ),
            "{ps}: {effects:?}"
        );
        assert_eq!(lab.published(), vec![]);
        lab.hset(&key, "status", "pending_review");
        redis::cmd("ZADD")
            .arg(lab.ctx.set_key(Set::Active))
            .arg(0)
            .arg(&claim)
            .query::<()>(&mut lab.sync)
            .unwrap();
    }
}

#[test]
fn due_lists_old_members_by_server_time() {
    let mut lab = Lab::new(TEAM, 3);
    let claims: Vec<String> = (0..3).map(|_| lab.new_claim(&Art::goal())).collect();
    // Backdate them a minute, a millisecond apart (equal scores sort by id).
    let minute_ago = lab.now_ms() - 60_000;
    for (i, claim) in claims.iter().enumerate() {
        redis::cmd("ZADD")
            .arg(lab.ctx.set_key(Set::Bidding))
            .arg("XX")
            .arg(minute_ago + i as u64)
            .arg(claim)
            .query::<()>(&mut lab.sync)
            .unwrap();
    }
    assert_eq!(lab.due(Set::Bidding, Duration::ZERO, 10), claims);
    assert_eq!(lab.due(Set::Bidding, Duration::ZERO, 2), claims[..2]);
    let none = Vec::<String>::new();
    assert_eq!(lab.due(Set::Bidding, Duration::from_secs(3600), 10), none);
    assert_eq!(lab.due(Set::Active, Duration::ZERO, 10), none);

    // A fresh claim is not 30 s old.
    let fresh = lab.new_claim(&Art::goal());
    assert_eq!(lab.due(Set::Bidding, Duration::from_secs(30), 10), claims);
    let mut all = claims.clone();
    all.push(fresh.clone());
    assert_eq!(lab.due(Set::Bidding, Duration::ZERO, 10), all);

    lab.bid(&fresh, "Reviewer", "ignore");
    lab.bid_and_decide(&fresh, "Worker", "claim");
    assert_eq!(
        lab.due(Set::Active, Duration::ZERO, 10),
        vec![fresh.clone()]
    );
    assert_eq!(lab.due(Set::Bidding, Duration::ZERO, 10), claims);
}

/// Keys of the wrong type (junk written by someone else) read as absent:
/// Redis does not undo a script's writes when it raises, so a raise after a
/// write would break exactly-once.
#[test]
fn keys_of_the_wrong_type_never_raise() {
    let mut lab = Lab::new(TEAM, 3);
    lab.junk_string(&format!("{P}agent_images"));
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.junk_string(&format!("{P}claim:{claim}:bids"));
    assert!(matches!(
        lab.on_bids(&claim, None)[..],
        [Effect::Waiting { missing: 2, .. }]
    ));
    redis::cmd("DEL")
        .arg(format!("{P}claim:{claim}:bids"))
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.bid(&claim, "Reviewer", "review");
    let effects = lab.bid_and_decide(&claim, "Worker", "ignore");
    assert_eq!(effects, vec![granted(&claim, "review", &["Reviewer"])]);
    assert_eq!(
        lab.published(),
        grants(&claim, "review", &["Reviewer"], &[])
    );

    // Sources whose index key is a hash, or names a claim that is not a hash
    // or not an id: skipped; the real source still counts.
    let (odd_index, not_hash, not_id) = (uuid(), uuid(), uuid());
    lab.hset(&format!("{P}claim_by_artefact:{odd_index}"), "x", "y");
    let stray = uuid();
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{not_hash}"))
        .arg(&stray)
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.junk_string(&format!("{P}claim:{stray}"));
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{not_id}"))
        .arg("../x")
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.hset(&format!("{P}claim:../x"), "status", "pending_review");
    let sources = format!(r#"["{odd_index}","{not_hash}","{not_id}","{}"]"#, goal.id);
    let review = Art::review("reviewer", &goal.id, b"{}").with_sources_text(&sources);
    let out = lab.deliver(&review);
    assert_eq!(out.effects.last(), Some(&complete(&claim)));
    assert_eq!(out.published, vec![approved(&goal.id, "reviewer")]);
    assert_eq!(
        lab.hgetall(&format!("{P}claim:../x")),
        fields(&[("status", "pending_review")])
    );
}

/// An artefact whose own index key is not a string: its deliveries happen,
/// its claim is refused (reported), the junk key is left as it is.
#[test]
fn a_wrong_typed_index_key_refuses_only_the_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "ignore");
    lab.bid_and_decide(&claim, "Worker", "claim");
    lab.published();
    let work = Art::work("worker", &goal.id);
    lab.hset(&format!("{P}claim_by_artefact:{}", work.id), "x", "y");
    lab.write(&work);
    assert_eq!(
        lab.on_artefact(&work.id),
        vec![
            delivered(&claim, "parallel", "worker", &work.id),
            complete(&claim),
            Effect::IndexConflict {
                key_type: "hash".into()
            }
        ]
    );
    assert_eq!(lab.published(), vec![]);
    let junk = lab.hgetall(&format!("{P}claim_by_artefact:{}", work.id));
    assert_eq!(junk, fields(&[("x", "y")]));
}
