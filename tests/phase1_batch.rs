//! Phase 1 decides many artefacts in one call of its claim script
//! (`phase1::PER_CALL` a call): each artefact's decision is still its own,
//! checked before it writes, answered in its own row, in order. Driven
//! through the real script on a real Redis, with the calls counted. What
//! Redis refuses: `phase1_refused.rs`.

use std::collections::BTreeMap;

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::ids::{ArtefactId, ClaimId};
use sett_orchestrator::phase1::{claim_call, PER_CALL};
use sett_orchestrator::redis_io::scripts::decide;
use support::phase1_board::*;
use support::uuid;

#[test]
fn one_call_decides_every_artefact_on_its_own_in_order() {
    let mut b = Board::start();
    let listener = Listener::start(&b.redis);
    let fresh = b.standard();
    let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
    let missing = uuid();
    let listed = uuid();
    b.cmd(&["RPUSH", &format!("sett:pb:artefact:{listed}"), "junk"]);
    let untyped = b.artefact(&[("type", "Goal")]);
    let empty_type = b.artefact(&[("structural_type", ""), ("type", "Goal")]);
    let bad_index = b.standard();
    b.cmd(&[
        "SADD",
        &format!("sett:pb:claim_by_artefact:{bad_index}"),
        "x",
    ]);
    let claimed = b.standard();
    b.cmd(&[
        "SET",
        &format!("sett:pb:claim_by_artefact:{claimed}"),
        "someone",
    ]);
    let second = b.standard();
    let before = b.keys_now();

    let ids = [
        &fresh,
        &terminal,
        &missing,
        &listed,
        &untyped,
        &empty_type,
        &bad_index,
        &claimed,
        &second,
        &fresh,
    ]
    .map(String::clone);
    let (out, calls) = b.claim(&ids);
    assert_eq!(calls, 1, "ten artefacts, one call");
    assert_eq!(out.len(), 10);
    let (first_claim, second_claim) = (created(&out[0]), created(&out[8]));
    let rest: Vec<Vec<Effect>> = out[1..8]
        .iter()
        .chain(&out[9..])
        .map(|d| d.as_ref().unwrap().clone())
        .collect();
    let invalid = |reason: &str| {
        one(Effect::Invalid {
            reason: reason.into(),
        })
    };
    assert_eq!(
        rest,
        vec![
            one(Effect::Skipped {
                structural_type: "Terminal".into(),
                artefact_type: "Done".into()
            }),
            one(Effect::NotFound),
            invalid("artefact key is a list, not a hash"),
            invalid("artefact hash has no structural_type"),
            invalid("artefact hash has no structural_type"),
            one(Effect::IndexConflict {
                key_type: "set".into()
            }),
            one(Effect::Duplicate {
                existing: "someone".into()
            }),
            one(Effect::Duplicate {
                existing: first_claim.as_str().to_string()
            }),
        ]
    );

    // Exactly two claims, two index entries and two events: nothing else written.
    let mut expected = before;
    for (artefact, claim) in [(&fresh, first_claim), (&second, second_claim)] {
        let claim_key = format!("sett:pb:claim:{}", claim.as_str());
        expected.insert(claim_key.clone(), "hash".into());
        expected.insert(
            format!("sett:pb:claim_by_artefact:{artefact}"),
            "string".into(),
        );
        let fields: BTreeMap<String, String> = claim_fields(claim.as_str(), artefact);
        assert_eq!(b.hash(&claim_key), fields);
        assert_eq!(
            b.get(&format!("sett:pb:claim_by_artefact:{artefact}"))
                .as_deref(),
            Some(claim.as_str())
        );
    }
    assert_eq!(b.keys_now(), expected);
    assert_eq!(
        listener.messages(),
        vec![event(first_claim, &fresh), event(second_claim, &second)]
    );
}

#[test]
fn more_artefacts_than_a_call_holds_go_in_several_calls_each_answered_in_order() {
    let mut b = Board::start();
    let n = 2 * PER_CALL + 3;
    let ids: Vec<String> = (0..n).map(|_| b.standard()).collect();
    let (out, calls) = b.claim(&ids);
    assert_eq!(calls, 3, "{n} artefacts at {PER_CALL} a call");
    assert_eq!(out.len(), n);
    for (id, outcome) in ids.iter().zip(&out) {
        let claim = created(outcome);
        assert_eq!(
            b.get(&format!("sett:pb:claim_by_artefact:{id}")).as_deref(),
            Some(claim.as_str()),
            "each row is its own artefact's"
        );
    }
    // Claimed again: every one a duplicate of its own claim, nothing new.
    let (again, _) = b.claim(&ids);
    for (first, second) in out.iter().zip(&again) {
        assert_eq!(
            second.as_ref().unwrap(),
            &one(Effect::Duplicate {
                existing: created(first).as_str().to_string()
            })
        );
    }
}

#[test]
fn a_wrong_typed_claim_key_costs_its_own_artefact_alone() {
    let mut b = Board::start();
    let listener = Listener::start(&b.redis);
    let (blocked, next) = (b.standard(), b.standard());
    let (blocked_claim, next_claim) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let blocked_key = format!("sett:pb:claim:{blocked_claim}");
    b.cmd(&["RPUSH", &blocked_key, "junk"]);
    let before = b.keys_now();
    let (blocked_id, next_id) = (
        ArtefactId::parse(&blocked).unwrap(),
        ArtefactId::parse(&next).unwrap(),
    );
    let call = claim_call(
        &b.keys,
        &[(blocked_id, blocked_claim), (next_id, next_claim)],
    );
    let out = smol::block_on(decide(&mut b.conn, &[call])).unwrap();
    b.cmd(&["PING"]);
    assert_eq!(
        out.into_iter().next().unwrap().unwrap(),
        vec![
            Effect::KeyConflict {
                key: blocked_key,
                key_type: "list".into()
            },
            Effect::Created {
                claim: ClaimId::parse(&next_claim.to_string()).unwrap()
            },
        ]
    );
    // The next artefact's claim, index and event; nothing of the blocked one's.
    let next_key = format!("sett:pb:claim:{next_claim}");
    let mut expected = before;
    expected.insert(next_key.clone(), "hash".into());
    expected.insert(format!("sett:pb:claim_by_artefact:{next}"), "string".into());
    assert_eq!(b.keys_now(), expected);
    let fields: BTreeMap<String, String> = claim_fields(&next_claim.to_string(), &next);
    assert_eq!(b.hash(&next_key), fields);
    assert_eq!(
        b.get(&format!("sett:pb:claim_by_artefact:{next}")),
        Some(next_claim.to_string())
    );
    assert_eq!(
        listener.messages(),
        vec![event(
            ClaimId::parse(&next_claim.to_string()).unwrap(),
            &next
        )]
    );
}
