//! The late-bid, overdue and adoption decisions, driven directly (issue 15):
//! a late bid starts a dormant claim or joins the phase under way, exactly
//! once; a wrong-typed key costs one row and no write; `bids_overdue` is
//! rate-limited per claim; adoption of feedback claims and ungranted claims.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::blackboard::effects::{Effect, Phase};
use sett_orchestrator::lifecycle::scripts::Set;
use support::lifecycle::*;
use support::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];

#[test]
fn a_late_bid_starts_a_dormant_claim_once() {
    let mut lab = Lab::new(TEAM, 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Alpha", "ignore");
    let effects = lab.time_out(&claim);
    assert_eq!(
        effects,
        vec![
            Effect::BidTimeout {
                claim: cid(&claim),
                agents: vec!["Beta".into(), "Gamma".into()]
            },
            Effect::Dormant { claim: cid(&claim) },
        ]
    );
    assert_eq!(lab.set_members(Set::Bidding), Vec::<String>::new());
    lab.assert_noop("no late bid yet", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&claim]),
            vec![Effect::NotLate { claim: cid(&claim) }]
        );
    });

    lab.bid(&claim, "Gamma", "exclusive");
    assert_eq!(
        lab.on_late_bids(&[&claim]),
        vec![
            honoured(&claim, "Gamma", "exclusive", Phase::Exclusive),
            granted(&claim, "exclusive", &["Gamma"]),
        ]
    );
    assert_eq!(
        lab.published(),
        grants(&claim, "exclusive", &["Gamma"], &[])
    );
    assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");
    assert_eq!(lab.set_members(Set::Active), vec![claim.clone()]);
    lab.assert_noop("the late bid again", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&claim]),
            vec![Effect::NotLate { claim: cid(&claim) }]
        );
    });
}

/// A late `review` bid during the review phase joins it now; a late `claim`
/// bid is kept for the parallel phase; once the phases are passed a late bid
/// is reported once.
#[test]
fn late_bids_join_the_phase_under_way_or_a_later_one_else_are_reported_once() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Alpha", "review");
    let effects = lab.time_out(&claim);
    assert_eq!(effects[1], granted(&claim, "review", &["Alpha"]));
    lab.published();

    lab.bid(&claim, "Beta", "review");
    lab.bid(&claim, "Gamma", "claim");
    assert_eq!(
        lab.on_late_bids(&[&claim]),
        vec![
            honoured(&claim, "Beta", "review", Phase::Review),
            honoured(&claim, "Gamma", "claim", Phase::Parallel),
        ]
    );
    assert_eq!(lab.published(), grants(&claim, "review", &["Beta"], &[]));
    let stored = lab.claim(&claim);
    assert_eq!(stored["granted_review_agents"], r#"["Alpha","Beta"]"#);
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(ps["granted_agents"], serde_json::json!(["Alpha", "Beta"]));
    assert_eq!(
        ps["all_bids"],
        serde_json::json!({"Alpha": "review", "Beta": "review", "Gamma": "claim"})
    );
    lab.assert_noop("the late bids again", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&claim]),
            vec![Effect::NotLate { claim: cid(&claim) }]
        );
    });

    // Another claim ends; a late bid on it now is reported once.
    let mut quiet = lab;
    let ended = quiet.new_claim(&Art::goal());
    quiet.bid(&ended, "Alpha", "claim");
    quiet.time_out(&ended);
    quiet.hset(&format!("{P}claim:{ended}"), "status", "complete");
    quiet.published();
    quiet.bid(&ended, "Beta", "exclusive");
    assert_eq!(
        quiet.on_late_bids(&[&ended]),
        vec![Effect::LateBid {
            claim: cid(&ended),
            agent: "Beta".into(),
            bid: "exclusive".into(),
            at: "complete".into()
        }]
    );
    quiet.assert_noop("the reported late bid again", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&ended]),
            vec![Effect::NotLate { claim: cid(&ended) }]
        );
    });
}

/// A late `review` bid from a name that sorts before the one granted joins
/// the review phase in name order: the grant arrays stay sorted bytewise.
#[test]
fn a_late_joiner_keeps_the_grant_arrays_in_name_order() {
    let mut lab = Lab::new(TEAM, 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Beta", "review");
    let effects = lab.time_out(&claim);
    assert_eq!(effects[1], granted(&claim, "review", &["Beta"]));
    lab.published();
    lab.bid(&claim, "Alpha", "review");
    assert_eq!(
        lab.on_late_bids(&[&claim]),
        vec![honoured(&claim, "Alpha", "review", Phase::Review)]
    );
    assert_eq!(lab.published(), grants(&claim, "review", &["Alpha"], &[]));
    let stored = lab.claim(&claim);
    assert_eq!(stored["granted_review_agents"], r#"["Alpha","Beta"]"#);
    let ps: serde_json::Value = serde_json::from_str(&stored["phase_state"]).unwrap();
    assert_eq!(ps["granted_agents"], serde_json::json!(["Alpha", "Beta"]));
}

/// A wrong-typed key the late-bid decision would write: one row, no write.
#[test]
fn a_wrong_typed_late_key_writes_nothing() {
    let mut lab = Lab::new(TEAM, 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Alpha", "claim");
    lab.time_out(&claim);
    lab.published();
    redis::cmd("SET")
        .arg(format!("{P}orchestrator:late:{claim}"))
        .arg("junk")
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.bid(&claim, "Beta", "review");
    lab.assert_noop("a late bid with a junk late key", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&claim]),
            vec![Effect::KeyConflict {
                key: format!("{P}orchestrator:late:{claim}"),
                key_type: "string".into()
            }]
        );
    });
}

/// One `overdue.lua` call from rank `from`: its warnings, and where the next
/// call starts (the `overdue_next` row, which always ends the answer).
fn overdue(lab: &mut Lab, after: Duration, from: u64) -> (Vec<Effect>, u64) {
    let call = lab.ctx.overdue(after, 32, from);
    let mut effects = lab.decide(call);
    let Some(Effect::OverdueNext { from: next }) = effects.pop() else {
        panic!("no overdue_next row last: {effects:?}")
    };
    (effects, next)
}

#[test]
fn bids_overdue_is_said_once_per_period_and_names_the_missing() {
    let mut lab = Lab::new(TEAM, 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Beta", "claim");
    let created = lab.now_ms();
    let period = Duration::from_secs(1);
    assert!(wait_until(PATIENCE, || lab.now_ms() > created + 1000));
    assert_eq!(overdue(&mut lab, Duration::from_secs(3600), 0), (vec![], 0));
    let warned = |lab: &mut Lab| {
        let (effects, next) = overdue(lab, period, 0);
        assert_eq!(
            next, 0,
            "one overdue claim: the next look starts at the oldest"
        );
        let [Effect::BidsOverdue {
            claim: c,
            waited_ms,
            agents,
            more,
        }] = &effects[..]
        else {
            panic!("{effects:?}")
        };
        assert_eq!(c, &cid(&claim));
        assert!(*waited_ms >= 1000, "{waited_ms}");
        assert_eq!(agents, &vec!["Alpha".to_string(), "Gamma".to_string()]);
        assert_eq!(*more, 0);
    };
    warned(&mut lab);
    // Marked for one period: the next call says nothing, after it warns again.
    assert_eq!(overdue(&mut lab, period, 0), (vec![], 0));
    let mark = format!("{P}orchestrator:overdue:{claim}");
    let ttl =
        |lab: &mut Lab| -> i64 { redis::cmd("PTTL").arg(&mark).query(&mut lab.sync).unwrap() };
    let left = ttl(&mut lab);
    assert!((1..=1000).contains(&left), "{left}");
    assert!(wait_until(PATIENCE, || ttl(&mut lab) == -2));
    warned(&mut lab);
    assert_eq!(lab.published(), vec![]);
    // Every agent has bid (the decision not made yet): not overdue, not marked.
    assert!(wait_until(PATIENCE, || ttl(&mut lab) == -2));
    lab.bid(&claim, "Alpha", "ignore");
    lab.bid(&claim, "Gamma", "ignore");
    assert_eq!(overdue(&mut lab, period, 0), (vec![], 0));
    assert_eq!(ttl(&mut lab), -2);
}

/// A call looks at 1,000 overdue claims at most: one behind 1,000 older
/// claims that were all warned this period is warned by the next call,
/// which starts where the last one stopped (it was never looked at before).
#[test]
fn a_claim_behind_a_thousand_warned_ones_is_warned_too() {
    let mut lab = Lab::new(TEAM, 3);
    let period = Duration::from_secs(1);
    let oldest = lab.now_ms() - 60_000;
    let claims: Vec<String> = (0..1005).map(|_| uuid()).collect();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(format!("{P}orchestrator:bidding"));
    for (i, claim) in claims.iter().enumerate() {
        zadd.arg(oldest + i as u64).arg(claim);
    }
    let _: i64 = zadd.query(&mut lab.sync).unwrap();
    for claim in &claims[..1000] {
        let mark = format!("{P}orchestrator:overdue:{claim}");
        let _: () = redis::cmd("SET")
            .arg(mark)
            .arg("1")
            .arg("PX")
            .arg(600_000)
            .query(&mut lab.sync)
            .unwrap();
    }
    assert_eq!(overdue(&mut lab, period, 0), (vec![], 1000));
    let (effects, next) = overdue(&mut lab, period, 1000);
    let warned: Vec<String> = effects
        .iter()
        .map(|e| match e {
            Effect::BidsOverdue {
                claim,
                agents,
                more,
                ..
            } => {
                assert_eq!(agents, &["Alpha", "Beta", "Gamma"]);
                assert_eq!(*more, 0);
                claim.as_str().to_string()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(warned, claims[1000..]);
    assert_eq!(next, 0, "past the last overdue claim: the oldest next");
    // Every one is marked now: a round says nothing, and goes round again.
    assert_eq!(overdue(&mut lab, period, 0), (vec![], 1000));
    assert_eq!(overdue(&mut lab, period, 1000), (vec![], 0));
    // A start beyond the end (claims left bidding) starts at the oldest.
    assert_eq!(overdue(&mut lab, period, 5000), (vec![], 1000));
}

/// A feedback claim and an ungranted claim made by someone else join our
/// sets; a second run adopts nothing.
#[test]
fn feedback_and_ungranted_claims_are_adopted_once() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let (bidding, feedback) = (uuid(), uuid());
    for (id, status, agent) in [
        (&bidding, "pending_review", ""),
        (&feedback, "pending_assignment", "Alpha"),
    ] {
        let mut fields = new_claim_fields(id, &goal.id);
        fields.insert("status".into(), status.into());
        fields.insert("granted_exclusive_agent".into(), agent.into());
        for (f, v) in fields {
            lab.hset(&format!("{P}claim:{id}"), &f, v);
        }
    }
    let ids = [indexed(&goal.id, &bidding), indexed(&goal.id, &feedback)];
    let call = lab.ctx.adopt(&ids);
    assert_eq!(
        lab.decide(call),
        vec![
            adopted(&bidding, "bidding"),
            adopted(&feedback, "assignment"),
        ]
    );
    assert_eq!(lab.set_members(Set::Bidding), vec![bidding.clone()]);
    assert_eq!(lab.set_members(Set::Active), vec![feedback.clone()]);
    lab.assert_noop("adopting again", |lab| {
        let call = lab.ctx.adopt(&ids);
        assert_eq!(lab.decide(call), vec![]);
    });
}

/// Phase-1 claims get the eight missing fields and join bidding (the batch
/// answers them in one row, decoded into an effect per claim, in order); a
/// Phase-1 claim on a Review is closed; a claim given under an index entry
/// of another artefact than its own is junk there (a `not_adopted` row), and
/// adopted under its own; a claim given twice in a batch is adopted once; a
/// second run adopts nothing. The other junk: lifecycle_adoption_junk.rs.
#[test]
fn phase1_claims_are_adopted_in_one_batch() {
    let mut lab = Lab::new(TEAM, 3);
    let (a, b) = (Art::goal(), Art::goal());
    let review = Art::review("alpha", &a.id, b"{}");
    for art in [&a, &b, &review] {
        lab.store(art);
    }
    let (ca, cb, cr) = (uuid(), uuid(), uuid());
    for (claim, artefact) in [(&ca, &a.id), (&cb, &b.id), (&cr, &review.id)] {
        for (f, v) in phase1_claim_fields(claim, artefact) {
            lab.hset(&format!("{P}claim:{claim}"), f, v);
        }
    }
    let ids = [
        indexed(&a.id, &ca),
        indexed(&a.id, &cr),
        indexed(&review.id, &cr),
        indexed(&b.id, &cb),
        indexed(&a.id, &ca),
    ];
    let call = lab.ctx.adopt(&ids);
    assert_eq!(
        lab.decide(call),
        vec![
            not_adopted(&cr, NOT_ITS_ARTEFACT),
            adopted(&cr, "closed"),
            adopted(&ca, "phase1"),
            adopted(&cb, "phase1"),
        ]
    );
    let mut bidding = vec![ca.clone(), cb.clone()];
    bidding.sort();
    assert_eq!(lab.set_members(Set::Bidding), bidding);
    for claim in [&ca, &cb] {
        let stored = lab.claim(claim);
        assert_eq!(stored.len(), 14, "{stored:?}");
        assert_eq!(stored["status"], "pending_review");
        assert_eq!(stored["phase_state"], "");
    }
    let closed = lab.claim(&cr);
    assert_eq!(closed.len(), 14);
    assert_eq!(closed["status"], "terminated");
    assert_eq!(
        closed["termination_reason"],
        "Review artefacts get no claim in lifecycle mode (claim made by Phase 1)"
    );
    assert_eq!(lab.published(), vec![]);
    lab.assert_noop("adopting again", |lab| {
        let call = lab.ctx.adopt(&ids);
        assert_eq!(lab.decide(call), vec![]);
    });
}

/// A bid on a Phase-1 claim no one adopted yet is not a late bid: the
/// claim is left to adoption (it would otherwise be granted with six fields).
#[test]
fn a_bid_on_an_unadopted_phase1_claim_is_not_late() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let claim = uuid();
    for (f, v) in phase1_claim_fields(&claim, &goal.id) {
        lab.hset(&format!("{P}claim:{claim}"), f, v);
    }
    lab.bid(&claim, "Alpha", "exclusive");
    lab.assert_noop("a bid on a Phase-1 claim", |lab| {
        assert_eq!(
            lab.on_late_bids(&[&claim]),
            vec![Effect::NotLate { claim: cid(&claim) }]
        );
    });
}
