//! The feedback loop after a rejection: feedback claims, reworks (and what
//! counts as one), the max-iterations and missing-agent Failure artefacts,
//! and the feedback claim's agent failing.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::blackboard::effects::Effect;
use support::lifecycle::{effects as effects_of, *};
use support::lifecycle_loop::*;

#[test]
fn max_review_iterations_1_allows_one_rework() {
    let mut lab = Lab::new(TEAM, 1);
    let v1 = Art::work("writer", &support::uuid());
    let c1 = lab.new_claim(&v1);
    let (r1, out) = review_round(&mut lab, &v1, &c1, b"fix it");
    let fb = expect_feedback_claim(&mut lab, (&c1, &v1, &r1, &out), "Writer");
    let (v2, c2) = rework(&mut lab, &v1, &fb, &r1);
    assert_eq!(
        (v2.logical_id.as_str(), v2.version.as_str()),
        (v1.logical_id.as_str(), "2")
    );

    let (r2, out) = review_round(&mut lab, &v2, &c2, b"still wrong");
    let payload = format!(
        "Max review iterations (1) reached for artefact {} (version 2). Review feedback loop terminated.",
        v2.id
    );
    expect_failure(
        &mut lab,
        (&c2, &v2, &r2, &out),
        "MaxIterationsExceeded",
        &payload,
        &json::string(&payload),
        (
            "max_iterations",
            "Terminated after reaching max review iterations (1).",
        ),
    );
}

#[test]
fn max_review_iterations_2_allows_two_reworks_then_the_rework_passes_review() {
    let mut lab = Lab::new(TEAM, 2);
    let mut target = Art::work("writer", &support::uuid());
    let mut claim = lab.new_claim(&target);
    for _ in 0..2 {
        let (review, out) = review_round(&mut lab, &target, &claim, b"[\"no\"]");
        let fb = expect_feedback_claim(&mut lab, (&claim, &target, &review, &out), "Writer");
        (target, claim) = rework(&mut lab, &target, &fb, &review);
    }
    assert_eq!(target.version, "3");
    let (review, out) = review_round(&mut lab, &target.clone(), &claim.clone(), b"{}");
    assert_eq!(
        out.effects,
        vec![
            delivered(&claim, "review", "ann", &review.id),
            Effect::ReviewApproved {
                claim: cid(&claim),
                role: "ann".into(),
                review: review.id.clone()
            },
            complete(&claim),
        ]
    );
    assert_eq!(out.published, vec![approved(&target.id, "ann")]);

    // Version 3 rejected under max 2: the loop ends.
    let v3 = Art::work("writer", &support::uuid()).with_version("3");
    let c3 = lab.new_claim(&v3);
    let (r3, out) = review_round(&mut lab, &v3, &c3, b"no");
    let payload = format!(
        "Max review iterations (2) reached for artefact {} (version 3). Review feedback loop terminated.",
        v3.id
    );
    let reason = "Terminated after reaching max review iterations (2).";
    let json = json::string(&payload);
    expect_failure(
        &mut lab,
        (&c3, &v3, &r3, &out),
        "MaxIterationsExceeded",
        &payload,
        &json,
        ("max_iterations", reason),
    );
}

#[test]
fn max_review_iterations_0_is_unlimited() {
    let mut lab = Lab::new(TEAM, 0);
    let v7 = Art::work("writer", &support::uuid()).with_version("7");
    let c7 = lab.new_claim(&v7);
    let effects = lab.bid_all(&c7, &[("Ann", "review"), ("Writer", "ignore")]);
    assert_eq!(effects, vec![granted(&c7, "review", &["Ann"])]);
    lab.published();

    // Two replicas race on the rejecting review: one feedback claim, once.
    let r7 = Art::review("ann", &v7.id, b"again");
    lab.write(&r7);
    let mut replica = Lab::connect(&lab.redis);
    let calls = [lab.artefact_call(&r7.id), lab.artefact_call(&r7.id)];
    let replies = lab.run_on(Some(&mut replica), &calls);
    let mut effects = effects_of(&replies[0]);
    let skipped = Effect::Skipped {
        structural_type: "Review".into(),
        artefact_type: "ReviewResult".into(),
    };
    assert_eq!(effects.pop(), Some(skipped.clone()));
    assert_eq!(effects_of(&replies[1]), vec![skipped]);
    let out = Outcome {
        effects,
        published: lab.published(),
        own_claim: None,
    };
    expect_feedback_claim(&mut lab, (&c7, &v7, &r7, &out), "Writer");
}

#[test]
fn a_target_by_an_unregistered_role_ends_in_missing_agent_configuration() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    let (review, out) = review_round(&mut lab, &goal, &claim, b"unclear goal");
    let payload =
        "Cannot create feedback claim: agent with role 'user' no longer exists in configuration.";
    let reason = "Terminated due to missing agent configuration (role: user).";
    expect_failure(
        &mut lab,
        (&claim, &goal, &review, &out),
        "MissingAgentConfiguration",
        payload,
        &json::string(payload),
        ("missing_agent", reason),
    );

    // A role Go would escape in JSON: escaped in the event, raw in the hash.
    let mut odd = Art::goal();
    odd.role = "<x>&y\u{2028}".into();
    let claim = lab.new_claim(&odd);
    let (review, out) = review_round(&mut lab, &odd, &claim, b"no");
    let payload = "Cannot create feedback claim: agent with role '<x>&y\u{2028}' no longer exists in configuration.";
    let json = r#""Cannot create feedback claim: agent with role '\u003cx\u003e\u0026y\u2028' no longer exists in configuration.""#;
    let reason = "Terminated due to missing agent configuration (role: <x>&y\u{2028}).";
    expect_failure(
        &mut lab,
        (&claim, &odd, &review, &out),
        "MissingAgentConfiguration",
        payload,
        json,
        ("missing_agent", reason),
    );
}

/// Max iterations is checked before the author's role.
#[test]
fn max_iterations_wins_over_a_missing_agent() {
    let mut lab = Lab::new(TEAM, 1);
    let goal = Art::goal().with_version("2");
    let claim = lab.new_claim(&goal);
    let (review, out) = review_round(&mut lab, &goal, &claim, b"no");
    let payload = format!(
        "Max review iterations (1) reached for artefact {} (version 2). Review feedback loop terminated.",
        goal.id
    );
    let cause = (
        "max_iterations",
        "Terminated after reaching max review iterations (1).",
    );
    expect_failure(
        &mut lab,
        (&claim, &goal, &review, &out),
        "MaxIterationsExceeded",
        &payload,
        &json::string(&payload),
        cause,
    );
}

/// Several agents share the author's role: the bytewise-smallest name gets it.
#[test]
fn the_feedback_claim_goes_to_the_smallest_name_of_the_role() {
    let team = [
        ("Ann", "ann"),
        ("scribe", "writer"),
        ("Writer", "writer"),
        ("Author", "writer"),
    ];
    let mut lab = Lab::new(&team, 3);
    let v1 = Art::work("writer", &support::uuid());
    let claim = lab.new_claim(&v1);
    let bids = [
        ("Ann", "review"),
        ("Author", "ignore"),
        ("Writer", "ignore"),
        ("scribe", "ignore"),
    ];
    lab.bid_all(&claim, &bids);
    lab.published();
    let review = Art::review("ann", &v1.id, b"no");
    let out = lab.deliver(&review);
    let Some(Effect::FeedbackClaim {
        feedback_claim,
        agent,
        ..
    }) = out.effects.last()
    else {
        panic!("{:?}", out.effects)
    };
    assert_eq!(agent, "Author");
    assert_eq!(
        out.published[1],
        feedback_claim_event(feedback_claim.as_str(), &v1.id, "Author", &[&review.id])
    );
}

/// The feedback claim's agent reports a Failure sourced from the target:
/// the feedback claim ends (contract 12.6); other roles' artefacts do nothing.
#[test]
fn a_failure_from_the_feedback_agent_terminates_the_feedback_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let v1 = Art::work("writer", &support::uuid());
    let c1 = lab.new_claim(&v1);
    let (r1, out) = review_round(&mut lab, &v1, &c1, b"no");
    let fb = expect_feedback_claim(&mut lab, (&c1, &v1, &r1, &out), "Writer");
    for other in [
        Art::failure("ann", &v1.id),
        Art::review("ann", &v1.id, b"{}"),
    ] {
        assert_eq!(lab.deliver(&other).effects, vec![]);
    }
    let failure = Art::failure("writer", &v1.id);
    let out = lab.deliver(&failure);
    let reason = format!(
        "Agent 'writer' reported failure: see artefact {}",
        failure.id
    );
    assert_eq!(out.effects, vec![terminated(&fb, "agent_failure", &reason)]);
    assert_eq!(out.published, vec![]);
    let c = lab.claim(&fb);
    assert_eq!(
        (c["status"].as_str(), c["termination_reason"].as_str()),
        ("terminated", reason.as_str())
    );
    // A late rework changes nothing for the ended feedback claim.
    let late = Art::rework(&v1, "writer", &[&r1.id]);
    assert_eq!(lab.deliver(&late).effects, vec![]);
    assert_eq!(lab.claim(&fb), c);
}

/// Assumption (the contract is silent): a feedback claim waiting for its
/// rework is subject to the phase timeout, as phase `assignment`.
#[test]
fn a_feedback_claim_times_out_waiting_for_its_rework() {
    let mut lab = Lab::new(TEAM, 3);
    let v1 = Art::work("writer", &support::uuid());
    let c1 = lab.new_claim(&v1);
    let (r1, out) = review_round(&mut lab, &v1, &c1, b"no");
    let fb = expect_feedback_claim(&mut lab, (&c1, &v1, &r1, &out), "Writer");
    std::thread::sleep(Duration::from_millis(150));
    let effects = lab.on_timeout(&fb, Duration::from_millis(100), "100ms");
    let reason = "Phase 'assignment' timed out after 100ms: no artefact from writer";
    assert_eq!(effects, vec![terminated(&fb, "phase_timeout", reason)]);
    assert_eq!(lab.published(), vec![]);
    assert_eq!(lab.claim(&fb)["termination_reason"], reason);
}

/// Junk `version` on the rejected target (the contract is silent; our
/// assumption): anything but decimal digits (at most 15) counts as version 1.
#[test]
fn a_junk_target_version_counts_as_version_1() {
    let mut lab = Lab::new(TEAM, 3);
    for version in [
        "abc",
        "",
        "2.5",
        "-1",
        " 2",
        "0x10",
        "1e400",
        "nan",
        "inf",
        "99999999999999999999",
    ] {
        let target = Art::work("writer", &support::uuid()).with_version(version);
        let claim = lab.new_claim(&target);
        let (review, out) = review_round(&mut lab, &target, &claim, b"no");
        let Some(Effect::FeedbackClaim {
            feedback_claim,
            iteration,
            ..
        }) = out.effects.last()
        else {
            panic!("{version:?}: {:?}", out.effects)
        };
        assert_eq!(*iteration, 1, "{version:?}");
        assert_eq!(
            out.published[2],
            feedback_created(feedback_claim.as_str(), 1, &claim, "writer")
        );
        // Settle the feedback claim so the next round starts clean.
        let fb = feedback_claim.to_string();
        lab.deliver(&Art::failure("writer", &target.id));
        assert_eq!(lab.claim(&fb)["status"], "terminated", "{review:?}");
    }
}

/// Only a rework (the target's logical_id, its version + 1) completes a
/// feedback claim; a Question, an Answer (each version 1 of its own thread,
/// as Holt's agent runner writes them outside a feedback claim) or new work
/// from the author, sourced from the reviewed artefact, leave it waiting.
#[test]
fn only_a_rework_completes_a_feedback_claim() {
    let mut lab = Lab::new(TEAM, 3);
    let (target, review, fb) = rejected_once(&mut lab);
    let sources = format!(r#"["{}","{}"]"#, target.id, review.id);
    let mut same_thread_wrong_version = Art::rework(&target, "writer", &[&review.id]);
    same_thread_wrong_version.version = "3".into();
    let mut other_thread = Art::rework(&target, "writer", &[&review.id]);
    other_thread.logical_id = support::uuid();
    for (what, art) in [
        (
            "a Question",
            Art::of_type("Question").with_sources_text(&sources),
        ),
        (
            "an Answer",
            Art::of_type("Answer").with_sources_text(&sources),
        ),
        ("new work", Art::work("user", &target.id)),
        ("version + 2", same_thread_wrong_version),
        ("another thread", other_thread),
    ] {
        let mut art = art;
        art.role = "writer".into();
        let out = lab.deliver(&art);
        assert_eq!(out.effects, vec![], "{what}");
        assert_eq!(lab.claim(&fb)["status"], "pending_assignment", "{what}");
    }
    rework(&mut lab, &target, &fb, &review);
}

/// What Holt's agent runner writes for a feedback claim is the target's next
/// version whatever structural type its tool picked (`createReworkArtefact`),
/// and the runner is then done with the claim: a `Question` written so is the
/// rework (left waiting, the claim would be stranded), and gets its own claim.
#[test]
fn a_question_written_as_the_targets_next_version_is_the_rework() {
    let mut lab = Lab::new(TEAM, 3);
    let (target, review, fb) = rejected_once(&mut lab);
    let mut question = Art::rework(&target, "writer", &[&review.id]);
    question.structural_type = "Question".into();
    let out = lab.deliver(&question);
    assert_eq!(
        out.effects,
        vec![
            Effect::Reworked {
                claim: cid(&fb),
                artefact: aid(&question.id)
            },
            complete(&fb)
        ]
    );
    assert_eq!(lab.claim(&fb)["status"], "complete");
    assert!(out.own_claim.is_some(), "a Question is claimable");
}
