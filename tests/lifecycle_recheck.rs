//! The catch-up's recheck of our own sets and adoption's check of granted
//! agents, driven directly (issue 15): one `late_bid.lua` call decides a
//! batch of claims, each as its live bid event would; a claim granted to an
//! agent no longer in the registry is terminated with Holt's recovery
//! reason, once, whether someone else made it (adoption) or we did; the
//! artefact decision names a claim someone else made (`foreign`).

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Cause, Effect, Phase};
use sett_orchestrator::lifecycle::scripts::Set;
use support::lifecycle::*;
use support::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];

/// [`Lab::time_out`], what it published taken.
fn time_out(lab: &mut Lab, claim: &str) -> Vec<Effect> {
    let effects = lab.time_out(claim);
    lab.published();
    effects
}

fn terminated(claim: &str, reason: &str) -> Effect {
    Effect::Terminated {
        claim: cid(claim),
        cause: Cause::MissingAgent,
        reason: reason.into(),
    }
}

/// Writes a claim hash as another program would: the 14 fields, then `extra`.
fn foreign_claim(lab: &mut Lab, artefact: &str, extra: &[(&str, &str)]) -> String {
    let id = uuid();
    let mut fields = new_claim_fields(&id, artefact);
    for (f, v) in extra {
        fields.insert(f.to_string(), v.to_string());
    }
    for (f, v) in fields {
        lab.hset(&format!("{P}claim:{id}"), &f, v);
    }
    id
}

fn phase_state(current: &str, granted: &[&str], received: &str) -> String {
    format!(
        r#"{{"current":"{current}","granted_agents":{},"received":{received},"all_bids":{{}},"start_time_ms":1}}"#,
        serde_json::to_string(granted).unwrap()
    )
}

fn zadd(lab: &mut Lab, set: &str, claim: &str) {
    redis::cmd("ZADD")
        .arg(format!("{P}orchestrator:{set}"))
        .arg(1)
        .arg(claim)
        .query::<()>(&mut lab.sync)
        .unwrap();
}

/// Three claims in one call: a dormant one starts the phase its late bid
/// asks for, one in review keeps a late `exclusive` bid for later, one whose
/// phase has passed reports it; a claim with nothing late answers
/// `not_late`. Again: nothing.
#[test]
fn one_call_decides_each_claim_of_a_batch_as_its_event_would() {
    let mut lab = Lab::new(TEAM, 3);
    let dormant = timed_out_after(&mut lab, "ignore");
    let review = timed_out_after(&mut lab, "review");
    let passed = timed_out_after(&mut lab, "exclusive");
    let quiet = timed_out_after(&mut lab, "claim");
    lab.published();

    // Written while no orchestrator listened: no bid_submitted event.
    lab.bid(&dormant, "Beta", "claim");
    lab.bid(&review, "Gamma", "exclusive");
    lab.bid(&passed, "Beta", "review");
    let claims = [&*dormant, &*review, &*passed, &*quiet];
    assert_eq!(
        lab.on_late_bids(&claims),
        vec![
            honoured(&dormant, "Beta", "claim", Phase::Parallel),
            granted(&dormant, "parallel", &["Beta"]),
            honoured(&review, "Gamma", "exclusive", Phase::Exclusive),
            Effect::LateBid {
                claim: cid(&passed),
                agent: "Beta".into(),
                bid: "review".into(),
                at: "exclusive".into()
            },
            Effect::NotLate { claim: cid(&quiet) },
        ]
    );
    assert_eq!(lab.published(), grants(&dormant, "claim", &["Beta"], &[]));
    assert_eq!(lab.claim(&dormant)["status"], "pending_parallel");
    assert_eq!(lab.set_members(Set::Dormant), Vec::<String>::new());
    lab.assert_noop("the batch again", |lab| {
        assert_eq!(
            lab.on_late_bids(&claims),
            claims
                .iter()
                .map(|c| Effect::NotLate { claim: cid(c) })
                .collect::<Vec<_>>()
        );
    });
}

/// A wrong-typed `late` key holds up its own claim only.
#[test]
fn a_wrong_typed_late_key_holds_up_only_its_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let (a, b) = (lab.new_claim(&Art::goal()), lab.new_claim(&Art::goal()));
    for claim in [&a, &b] {
        lab.bid(claim, "Alpha", "claim");
        time_out(&mut lab, claim);
    }
    lab.published();
    redis::cmd("SET")
        .arg(format!("{P}orchestrator:late:{a}"))
        .arg("junk")
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.bid(&a, "Beta", "exclusive");
    lab.bid(&b, "Beta", "exclusive");
    assert_eq!(
        lab.on_late_bids(&[&a, &b]),
        vec![
            Effect::KeyConflict {
                key: format!("{P}orchestrator:late:{a}"),
                key_type: "string".into()
            },
            honoured(&b, "Beta", "exclusive", Phase::Exclusive),
        ]
    );
    let ps: serde_json::Value = serde_json::from_str(&lab.claim(&a)["phase_state"]).unwrap();
    assert_eq!(
        ps["all_bids"],
        serde_json::json!({"Alpha": "claim", "Beta": "ignore", "Gamma": "ignore"})
    );
}

/// Claims granted to `Ghost`, a name the registry does not have: someone
/// else's are terminated by adoption, ours by the recheck; a phase whose
/// unregistered agent already delivered, and our claims in no phase, are
/// left as they are. Each once: a second run changes nothing.
#[test]
fn a_claim_granted_to_an_agent_no_longer_registered_is_terminated_once() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let ghost_review = phase_state("review", &["Alpha", "Ghost"], r#"{"alpha":"x"}"#);
    let holt = foreign_claim(
        &mut lab,
        &goal.id,
        &[
            ("status", "pending_review"),
            ("phase_state", &ghost_review),
            ("granted_review_agents", r#"["Alpha","Ghost"]"#),
        ],
    );
    let feedback = foreign_claim(
        &mut lab,
        &goal.id,
        &[
            ("status", "pending_assignment"),
            ("granted_exclusive_agent", "Ghost"),
        ],
    );
    let exclusive = phase_state("exclusive", &["Ghost"], "{}");
    let ours = foreign_claim(
        &mut lab,
        &goal.id,
        &[
            ("status", "pending_exclusive"),
            ("phase_state", &exclusive),
            ("granted_exclusive_agent", "Ghost"),
        ],
    );
    zadd(&mut lab, "active", &ours);
    let delivered = phase_state("review", &["Alpha", "Ghost"], r#"{"Ghost":"y"}"#);
    let fine = foreign_claim(
        &mut lab,
        &goal.id,
        &[("status", "pending_review"), ("phase_state", &delivered)],
    );
    zadd(&mut lab, "active", &fine);

    let ids = [indexed(&goal.id, &holt), indexed(&goal.id, &feedback)];
    let call = lab.ctx.adopt(&ids);
    assert_eq!(
        lab.decide(call),
        vec![
            terminated(
                &holt,
                "Recovery failed: granted agent 'Ghost' no longer in config"
            ),
            terminated(
                &feedback,
                "Recovery failed: assigned agent 'Ghost' no longer in config"
            ),
        ]
    );
    assert_eq!(
        lab.on_late_bids(&[&ours, &fine]),
        vec![
            terminated(
                &ours,
                "Recovery failed: granted agent 'Ghost' no longer in config"
            ),
            Effect::NotLate { claim: cid(&fine) },
        ]
    );
    for claim in [&holt, &feedback, &ours] {
        let stored = lab.claim(claim);
        assert_eq!(stored["status"], "terminated", "{claim}");
        assert!(stored["termination_reason"].starts_with("Recovery failed: "));
    }
    assert_eq!(lab.claim(&fine)["status"], "pending_review");
    assert_eq!(lab.set_members(Set::Active), vec![fine.clone()]);
    assert_eq!(lab.set_members(Set::Bidding), Vec::<String>::new());
    assert_eq!(lab.published(), vec![]);
    lab.assert_noop("adoption and the recheck again", |lab| {
        let call = lab.ctx.adopt(&ids);
        assert_eq!(lab.decide(call), vec![]);
        assert_eq!(
            lab.on_late_bids(&[&ours, &fine]),
            vec![
                Effect::NotLate { claim: cid(&ours) },
                Effect::NotLate { claim: cid(&fine) }
            ]
        );
    });
}

/// The artefact decision says when the claim its index names is someone
/// else's (live, in none of our sets): `foreign`, after `duplicate`; for a
/// claim of ours, or a final one, `duplicate` alone.
#[test]
fn a_duplicate_says_when_its_claim_is_someone_elses() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    lab.store(&goal);
    let theirs = uuid();
    for (f, v) in phase1_claim_fields(&theirs, &goal.id) {
        lab.hset(&format!("{P}claim:{theirs}"), f, v);
    }
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{}", goal.id))
        .arg(&theirs)
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.assert_noop("an artefact claimed by someone else", |lab| {
        assert_eq!(
            lab.on_artefact(&goal.id),
            vec![
                Effect::Duplicate {
                    existing: theirs.clone()
                },
                Effect::Foreign {
                    claim: cid(&theirs)
                },
            ]
        );
    });
    let other = Art::goal();
    let ours = lab.new_claim(&other);
    lab.assert_noop("an artefact claimed by us", |lab| {
        assert_eq!(
            lab.on_artefact(&other.id),
            vec![Effect::Duplicate { existing: ours }]
        );
    });
    lab.hset(&format!("{P}claim:{theirs}"), "status", "complete");
    lab.assert_noop("a final claim", |lab| {
        assert_eq!(
            lab.on_artefact(&goal.id),
            vec![Effect::Duplicate { existing: theirs }]
        );
    });
}

/// A new goal's claim whose bidding timed out after Alpha's `kind` bid alone.
fn timed_out_after(lab: &mut Lab, kind: &str) -> String {
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Alpha", kind);
    time_out(lab, &claim);
    claim
}
