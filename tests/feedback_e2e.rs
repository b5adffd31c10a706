//! The feedback loop end to end: the orchestrator binary, a registry, and
//! agents simulated as the contract says real ones behave. Every message on
//! `sett:{i}:*` is recorded and must be exactly the expected bytes, each
//! published once; every claim, bids hash, index entry and artefact must be
//! exactly as expected, and each agent granted once per claim
//! (`support::e2e_chain` spells the flow out from the contract).

use sett_test_support as support;

use sett_sim::{SimAgent, Spec, Work};
use support::e2e_chain::*;
use support::e2e_flow::*;
use support::e2e_wire::*;
use support::lifecycle::*;

/// Runs one goal with `rejects` through `team`'s flow and checks it whole.
fn run(instance: &str, team: Team, rejects: u32) -> (Finished, String) {
    let mut flow = Flow::new(instance, team);
    let mut orch = flow.orchestrator(&[]);
    let goal = flow.goal(rejects);
    flow.wait_settled(flow.team.claims_for(rejects));
    let out = flow.finish(&mut [&mut orch]);
    flow.chains(&out.board, std::slice::from_ref(&goal)).check(
        &out.board,
        &out.messages,
        &out.agents,
    );
    (out, goal)
}

/// The claim with a phase on the writer's `version` of `goal`'s work, and that version.
fn version<'a>(b: &'a Board, goal: &str, version: u32) -> (&'a Fields, &'a Fields) {
    let w1 = b.only("v1", |a| a["source_artefacts"] == json::list(&[goal]));
    let v = b.only("the version", |a| {
        a["logical_id"] == w1["id"] && a["version"] == version.to_string()
    });
    (b.phased_claim(&v["id"]), v)
}

#[test]
fn rejection_rework_then_approval() {
    let (out, goal) = run("fb-loop", Team::pair(None), 1);
    let b = &out.board;
    let (c1, w1) = version(b, &goal, 1);
    let (c2, w2) = version(b, &goal, 2);
    let review = b.only("Ann's first review", |a| {
        a["source_artefacts"] == json::list(&[&w1["id"]])
    });
    let (r1, target) = (review["id"].as_str(), w1["id"].as_str());
    // The original claim ends with the review's id; the feedback claim is
    // the writer's, with the review as context, and the index points to it.
    assert_eq!(
        (c1["status"].as_str(), c1["termination_reason"].as_str()),
        ("terminated", rejection_reason(&[r1]).as_str())
    );
    let fb = b.index[target].clone();
    assert_ne!(fb, c1["id"]);
    let fb_claim = &b.claims[&fb];
    assert_eq!(fb_claim["granted_exclusive_agent"], "Writer");
    assert_eq!(fb_claim["additional_context_ids"], json::list(&[r1]));
    assert_eq!(fb_claim["status"], "complete");
    // Announced: the feedback claim with its context, then feedback_claim_created.
    let announce = [
        feedback_claim_event(&fb, target, "Writer", &[r1]),
        feedback_created(&fb, 1, &c1["id"], "writer"),
    ];
    assert_contiguous(&out.messages, &announce);
    // The rework: same logical id, version 2, sourced from the target and
    // the review; reviewed again on its own claim and approved.
    assert_eq!(w2["logical_id"], target);
    assert_eq!(w2["source_artefacts"], json::list(&[target, r1]));
    assert_eq!(c2["status"], "complete");
    assert!(out.messages.contains(&approved(&w2["id"], "ann")));
    assert_eq!(out.board.claims.len(), 4);
}

/// `rejects` rejections under `max`: the loop ends with a Failure artefact
/// at version `max + 1`, and that claim keeps the max-iterations reason.
fn iteration_limit(instance: &str, max: u32, rejects: u32) {
    let (out, goal) = run(instance, Team::pair(Some(max)), rejects);
    let last = max + 1;
    let (claim, target) = version(&out.board, &goal, last);
    assert_eq!(
        claim["termination_reason"],
        format!("Terminated after reaching max review iterations ({max}).")
    );
    let failure = out
        .board
        .only("the Failure", |a| a["structural_type"] == "Failure");
    assert_eq!(failure["type"], "MaxIterationsExceeded");
    assert_eq!(
        failure["payload"],
        format!(
            "Max review iterations ({max}) reached for artefact {} (version {last}). Review feedback loop terminated.",
            target["id"]
        )
    );
    assert_eq!(out.board.claims.len(), 2 * last as usize);
}

#[test]
fn max_review_iterations_1_ends_the_loop_at_version_2() {
    iteration_limit("fb-max1", 1, 5);
}

#[test]
fn max_review_iterations_2_ends_the_loop_at_version_3() {
    iteration_limit("fb-max2", 2, 5);
}

#[test]
fn max_review_iterations_0_is_unlimited_three_rejections_then_approval() {
    let (out, goal) = run("fb-max0", Team::pair(Some(0)), 3);
    let (claim, _) = version(&out.board, &goal, 4);
    assert_eq!(claim["status"], "complete");
    assert_eq!(
        out.board.claims.len(),
        8,
        "goal, 4 versions, 3 feedback claims"
    );
    assert!(!out
        .board
        .artefacts
        .values()
        .any(|a| a["structural_type"] == "Failure"));
}

#[test]
fn two_reviewers_one_rejects_both_verdicts_in_reviewer_order() {
    let team = Team {
        reviewers: vec![member("Ann", "ann", false), member("Bob", "bob", true)],
        ..Team::pair(None)
    };
    let (out, goal) = run("fb-two", team, 1);
    let (c1, w1) = version(&out.board, &goal, 1);
    let on = |role: &str| {
        out.board.only(role, |a| {
            a["produced_by_role"] == role && a["source_artefacts"] == json::list(&[&w1["id"]])
        })
    };
    let bob = on("bob");
    let fb = &out.board.index[&w1["id"]];
    assert_contiguous(
        &out.messages,
        &[
            approved(&w1["id"], "ann"),
            rejected(&json::string(&bob["payload"]), &w1["id"], "bob"),
            feedback_claim_event(fb, &w1["id"], "Writer", &[&bob["id"]]),
            feedback_created(fb, 1, &c1["id"], "writer"),
        ],
    );
    assert_eq!(
        c1["termination_reason"],
        rejection_reason(&[&bob["id"]]),
        "only the rejecting review is named"
    );
}

#[test]
fn rejected_user_artefact_writes_missing_agent_configuration() {
    let team = Team::pair(None);
    let mut flow = Flow::with_agents("fb-user", team, |redis, instance, _| {
        let prefix = format!("sett:{instance}");
        vec![
            SimAgent::start(
                redis,
                &prefix,
                Spec::new("Ann", "review", Work::new("Review", "ReviewResult", "no"))
                    .with_role("ann"),
            ),
            SimAgent::start(
                redis,
                &prefix,
                Spec::new("Writer", "ignore", Work::new("Standard", "Code", "x"))
                    .with_role("writer"),
            ),
        ]
    });
    let mut orch = flow.orchestrator(&[]);
    let goal = flow.goal(0);
    flow.wait_settled(1);
    let out = flow.finish(&mut [&mut orch]);
    let b = &out.board;

    let mut want = Expected::new(flow.started);
    want.artefact(&b.artefacts[&goal]);
    let c0 = b.index[&goal].clone();
    want.index.insert(goal.clone(), c0.clone());
    let bids = [("Ann", "review"), ("Writer", "ignore")];
    want.claim(&c0, &goal, &bids);
    want.grant(&c0, "review", &["Ann"]);
    let review = b.only("Ann's review", |a| a["structural_type"] == "Review");
    want.artefact(review);
    let payload =
        "Cannot create feedback claim: agent with role 'user' no longer exists in configuration.";
    let failure = want.failure(b, &goal, "MissingAgentConfiguration", payload);
    want.group(vec![rejected(r#""no""#, &goal, "ann"), failure]);
    let ps = phase_state(
        "review",
        &["Ann"],
        &[("ann", &review["id"])],
        &bids,
        want.start_of(b, &c0),
    );
    let reason = "Terminated due to missing agent configuration (role: user).";
    want.claims.insert(
        c0.clone(),
        with(
            new_claim_fields(&c0, &goal),
            &[
                ("status", "terminated"),
                ("termination_reason", reason),
                ("granted_review_agents", r#"["Ann"]"#),
                ("phase_state", &ps),
            ],
        ),
    );
    want.check(b, &out.messages, &out.agents);
}
