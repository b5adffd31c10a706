//! The feedback loop's steps, each checked in full: a review round, the
//! feedback claim a rejection makes, the Failure artefact that ends the loop,
//! and the rework that completes a feedback claim. The registry is [`TEAM`]:
//! `Ann` reviews, `Writer` authors.

use std::collections::BTreeMap;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;

use super::lifecycle::*;

/// The feedback tests' registry: a reviewer and the author.
pub const TEAM: &[(&str, &str)] = &[("Ann", "ann"), ("Writer", "writer")];

/// The claim on `target` is granted to Ann alone, who reviews with `payload`.
pub fn review_round(lab: &mut Lab, target: &Art, claim: &str, payload: &[u8]) -> (Art, Outcome) {
    let effects = lab.bid_all(claim, &[("Ann", "review"), ("Writer", "ignore")]);
    assert_eq!(effects, vec![granted(claim, "review", &["Ann"])]);
    assert_eq!(lab.published(), grants(claim, "review", &["Ann"], &[]));
    let review = Art::review("ann", &target.id, payload);
    let out = lab.deliver(&review);
    (review, out)
}

pub fn feedback_json(review: &Art) -> String {
    json::string(std::str::from_utf8(&review.payload).unwrap())
}

/// A writer's work, claimed, rejected once by its review: the work, the
/// review, and the feedback claim assigned to Writer (checked as
/// [`expect_feedback_claim`] checks it).
pub fn rejected_once(lab: &mut Lab) -> (Art, Art, String) {
    let target = Art::work("writer", &super::uuid());
    let claim = lab.new_claim(&target);
    let (review, out) = review_round(lab, &target, &claim, b"fix it");
    let fb = expect_feedback_claim(lab, (&claim, &target, &review, &out), "Writer");
    (target, review, fb)
}

/// Everything a rejection that makes a feedback claim must do; returns its id.
pub fn expect_feedback_claim(
    lab: &mut Lab,
    (claim, target, review, out): (&str, &Art, &Art, &Outcome),
    agent: &str,
) -> String {
    let Some(Effect::FeedbackClaim { feedback_claim, .. }) = out.effects.last() else {
        panic!("no feedback claim: {:?}", out.effects)
    };
    let fb = feedback_claim.to_string();
    assert!(is_v4(&fb), "{fb}");
    let iteration: u64 = target.version.parse().unwrap();
    let reason = rejection_reason(&[&review.id]);
    assert_eq!(
        out.effects,
        vec![
            delivered(claim, "review", "ann", &review.id),
            Effect::ReviewRejected {
                claim: cid(claim),
                role: "ann".into(),
                review: review.id.clone()
            },
            terminated(claim, "review_rejected", &reason),
            Effect::FeedbackClaim {
                claim: cid(claim),
                feedback_claim: cid(&fb),
                agent: agent.into(),
                iteration
            },
        ]
    );
    assert_eq!(
        out.published,
        vec![
            rejected(&feedback_json(review), &target.id, "ann"),
            feedback_claim_event(&fb, &target.id, agent, &[&review.id]),
            feedback_created(&fb, iteration, claim, &target.role),
        ]
    );
    let c = lab.claim(claim);
    assert_eq!(c["status"], "terminated");
    assert_eq!(c["termination_reason"], reason);
    let context = format!(r#"["{}"]"#, review.id);
    assert_eq!(
        lab.claim(&fb),
        with(
            new_claim_fields(&fb, &target.id),
            &[
                ("status", "pending_assignment"),
                ("granted_exclusive_agent", agent),
                ("additional_context_ids", &context),
            ]
        )
    );
    assert_eq!(lab.index(&target.id).as_deref(), Some(fb.as_str()));
    assert_eq!(lab.set_members(Set::Active), vec![fb.clone()]);
    assert!(!lab.set_members(Set::Bidding).contains(&fb));
    // Replays, and bids on the feedback claim: nothing (never a grant for it).
    lab.bid(&fb, agent, "exclusive");
    lab.assert_noop("the rejection again", |lab| {
        lab.on_artefact(&review.id);
        lab.on_artefact(&target.id);
        lab.on_bids(&fb, None);
        lab.on_bids(claim, None);
    });
    fb
}

/// Everything a rejection that ends the loop with a Failure artefact must do.
pub fn expect_failure(
    lab: &mut Lab,
    (claim, target, review, out): (&str, &Art, &Art, &Outcome),
    kind: &str,
    payload: &str,
    payload_json: &str,
    (cause, reason): (&str, &str),
) {
    let [d, r, Effect::FailureArtefact { artefact, .. }, t] = &out.effects[..] else {
        panic!("{:?}", out.effects)
    };
    let id = artefact.to_string();
    assert_eq!(*d, delivered(claim, "review", "ann", &review.id));
    assert!(matches!(r, Effect::ReviewRejected { .. }));
    assert_eq!(
        out.effects[2],
        Effect::FailureArtefact {
            claim: cid(claim),
            artefact: aid(&id),
            kind: kind.into()
        }
    );
    assert_eq!(*t, terminated(claim, cause, reason));

    let hash = lab.artefact(&id);
    let logical = hash["logical_id"].clone();
    assert!(
        is_v4(&id) && is_v4(&logical) && id != logical,
        "{id} {logical}"
    );
    let created = lab.in_window(&hash["created_at_ms"]);
    let sources = format!(r#"["{}"]"#, target.id);
    let want: BTreeMap<String, String> = fields(&[
        ("id", &id),
        ("logical_id", &logical),
        ("version", "1"),
        ("structural_type", "Failure"),
        ("type", kind),
        ("payload", payload),
        ("source_artefacts", &sources),
        ("produced_by_role", "orchestrator"),
        ("created_at_ms", &created.to_string()),
    ]);
    assert_eq!(hash, want);
    assert_eq!(json::string(payload), payload_json, "Go's spelling");
    assert_eq!(
        out.published,
        vec![
            rejected(&feedback_json(review), &target.id, "ann"),
            artefact_event(&want)
        ]
    );
    let c = lab.claim(claim);
    assert_eq!(
        (c["status"].as_str(), c["termination_reason"].as_str()),
        ("terminated", reason)
    );
    assert_eq!(lab.index(&target.id).as_deref(), Some(claim));
    assert_eq!(lab.set_members(Set::Active), Vec::<String>::new());

    // The orchestrator then sees its own Failure artefact: no claim, and the
    // claim keeps its reason (Go overwrote it with the review text).
    lab.assert_noop("the Failure artefact's decision", |lab| {
        assert_eq!(
            lab.on_artefact(&id),
            vec![Effect::Skipped {
                structural_type: "Failure".into(),
                artefact_type: kind.into()
            }]
        );
        lab.on_artefact(&review.id);
    });
}

/// The rework of `target` for feedback claim `fb` completes it and gets its own claim.
pub fn rework(lab: &mut Lab, target: &Art, fb: &str, review: &Art) -> (Art, String) {
    let next = Art::rework(target, "writer", &[&review.id]);
    let out = lab.deliver(&next);
    assert_eq!(
        out.effects,
        vec![
            Effect::Reworked {
                claim: cid(fb),
                artefact: aid(&next.id)
            },
            complete(fb)
        ]
    );
    assert_eq!(out.published, vec![]);
    assert_eq!(lab.claim(fb)["status"], "complete");
    assert_eq!(lab.set_members(Set::Active), Vec::<String>::new());
    lab.assert_noop("the rework again", |lab| {
        lab.on_artefact(&next.id);
    });
    let claim = out.own_claim.unwrap();
    (next, claim)
}
