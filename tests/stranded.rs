//! Nothing stranded (contract sections 10 and 12, items 10 and 11): bids,
//! reviews and reworks that arrive while no orchestrator runs, or while its
//! subscription is gone, are still acted on, and exactly once. Each test
//! ends with the exactly-once checks of `support::e2e_chain`: every message
//! on `sett:{i}:*` (grants, events, feedback claims, Failure artefacts) the
//! expected bytes, published once; every claim, bids hash, index entry and
//! artefact as expected; each agent granted once per claim.

use sett_test_support as support;

use sett_sim::{SimAgent, Spec, Target};
use support::e2e_chain::*;
use support::e2e_flow::*;
use support::e2e_wire::*;
use support::lifecycle::*;
use support::verify::pubsub_client_ids;
use support::*;

/// `spec`, except that it sends no bid where `hold(target)` (someone
/// sends it by hand).
fn holding_bid(mut spec: Spec, hold: fn(&Target) -> bool) -> Spec {
    let inner = std::mem::replace(&mut spec.bid, Box::new(|_| None));
    spec.with_bid(move |t| if hold(t) { None } else { inner(t) })
}

/// `spec`, except that it writes nothing when granted where `hold(target)`.
fn holding_work(mut spec: Spec, hold: fn(&Target) -> bool) -> Spec {
    let inner = std::mem::replace(&mut spec.work, Box::new(|_| None));
    spec.with_work(move |t| if hold(t) { None } else { inner(t) })
}

#[test]
fn kill_9_while_collecting_bids_bids_written_while_down_are_granted_after_restart() {
    let mut flow = Flow::with_agents("st-bids", Team::pair(None), |redis, inst, team| {
        let p = format!("sett:{inst}");
        // Ann is slow to bid on the user's goals: her bids come while no orchestrator runs.
        let ann = holding_bid(team.reviewer_spec(&team.reviewers[0]), |t| t.role == "user");
        vec![
            SimAgent::start(redis, &p, team.writer_spec()),
            SimAgent::start(redis, &p, ann),
        ]
    });
    let mut first = flow.orchestrator(&[]);
    let goals: Vec<String> = (0..3).map(|i| flow.goal(i)).collect();
    let waiting = |b: &Board| {
        b.bidding.len() == 3
            && goals.iter().all(|g| {
                let bids = b.index.get(g).and_then(|c| b.bids.get(c));
                bids.is_some_and(|h| h.len() == 1 && h["Writer"] == "exclusive")
            })
    };
    flow.wait_board("every goal's claim holding the writer's bid", waiting);
    first.kill9();
    let board = flow.board();
    for g in &goals {
        let claim = &board.index[g];
        assert_eq!(
            board.claims[claim]["phase_state"], "",
            "granted before the kill"
        );
        assert_eq!(
            flow.hand.bid(claim, "Ann", "ignore"),
            1,
            "only the recorder heard it"
        );
    }
    let mut second = flow.orchestrator(&[]);
    flow.settle_and_check(&mut [&mut second], &goals);
}

#[test]
fn kill_9_mid_review_the_missing_review_written_while_down_transitions_once() {
    let team = Team {
        reviewers: vec![member("Ann", "ann", false), member("Bob", "bob", true)],
        ..Team::pair(None)
    };
    let mut flow = Flow::with_agents("st-review", team, |redis, inst, team| {
        let p = format!("sett:{inst}");
        // Bob's verdict on version 1 is written while no orchestrator runs.
        let bob = holding_work(team.reviewer_spec(&team.reviewers[1]), |t| t.version == 1);
        vec![
            SimAgent::start(redis, &p, team.writer_spec()),
            SimAgent::start(redis, &p, team.reviewer_spec(&team.reviewers[0])),
            SimAgent::start(redis, &p, bob),
        ]
    });
    let mut first = flow.orchestrator(&[]);
    let goal = flow.goal(1);
    flow.wait_board("Ann's review counted, Bob's awaited", |b| {
        b.claims
            .values()
            .any(|c| c["phase_state"].contains(r#""received":{"ann":"#))
    });
    first.kill9();
    let board = flow.board();
    let w1 = board.only("v1", |a| a["source_artefacts"] == json::list(&[&goal]));
    let claim = board.phased_claim(&w1["id"]);
    assert_eq!(claim["status"], "pending_review");
    assert_eq!(board.claims.len(), 2, "nothing decided on the review yet");
    let review = Art::review("bob", &w1["id"], rejection_text("bob", 1).as_bytes());
    assert_eq!(flow.hand.write(&review), 1, "only the recorder heard it");

    let mut second = flow.orchestrator(&[]);
    flow.settle_and_check(&mut [&mut second], &[goal]);
}

#[test]
fn kill_9_between_rejection_and_rework_the_rework_written_while_down_completes_it() {
    let mut flow = Flow::with_agents("st-rework", Team::pair(None), |redis, inst, team| {
        let p = format!("sett:{inst}");
        // The writer's rework is written by hand while no orchestrator runs.
        let writer = team.writer_spec().with_rework(|_| None);
        vec![
            SimAgent::start(redis, &p, writer),
            SimAgent::start(redis, &p, team.reviewer_spec(&team.reviewers[0])),
        ]
    });
    let mut first = flow.orchestrator(&[]);
    let goal = flow.goal(1);
    flow.wait_board("a feedback claim", |b| {
        b.claims
            .values()
            .any(|c| c["status"] == "pending_assignment")
    });
    first.kill9();
    let board = flow.board();
    let w1 = board.only("v1", |a| a["source_artefacts"] == json::list(&[&goal]));
    let fb = &board.claims[&board.index[&w1["id"]]];
    assert_eq!(fb["status"], "pending_assignment");
    let context: Vec<String> = serde_json::from_str(&fb["additional_context_ids"]).unwrap();
    let target = art_of(w1);
    let mut rework = Art::rework(&target, "writer", &[&context[0]]);
    rework.payload = target.payload.clone();
    assert_eq!(flow.hand.write(&rework), 1, "only the recorder heard it");
    flow.hand.reworked(&rework, &target);

    let mut second = flow.orchestrator(&[]);
    flow.settle_and_check(&mut [&mut second], &[goal]);
}

/// Goals whose bid (Ann's) or deliverable (Ann's review of version 1) the
/// test writes itself.
fn late_bid(t: &Target) -> bool {
    t.role == "user" && t.payload.contains("late-bid")
}

fn late_review(t: &Target) -> bool {
    t.version == 1 && t.payload.contains("late-review")
}

#[test]
fn subscription_killed_by_redis_while_bids_and_deliverables_are_published() {
    const EACH: u32 = 10;
    let mut flow = Flow::with_agents("st-sub", Team::pair(None), |redis, inst, team| {
        let p = format!("sett:{inst}");
        let ann = team.reviewer_spec(&team.reviewers[0]);
        let ann = holding_work(holding_bid(ann, late_bid), late_review);
        vec![
            SimAgent::start(redis, &p, team.writer_spec()),
            SimAgent::start(redis, &p, ann),
        ]
    });
    let ours = pubsub_client_ids(&flow.redis);
    let mut orch = flow.orchestrator(&[]);
    let subs: Vec<u64> = pubsub_client_ids(&flow.redis)
        .into_iter()
        .filter(|id| !ours.contains(id))
        .collect();
    assert_eq!(subs.len(), 1, "the orchestrator's subscription: {subs:?}");
    let bid_goals: Vec<String> = (0..EACH)
        .map(|i| flow.goal_with(&format!("{};late-bid", plan(i % 2))))
        .collect();
    let review_goals: Vec<String> = (0..EACH)
        .map(|_| flow.goal_with(&format!("{};late-review", plan(0))))
        .collect();
    flow.wait_board("claims waiting for Ann's bids and for Ann's reviews", |b| {
        b.bidding.len() == EACH as usize
            && b.active.len() == EACH as usize
            && b.active
                .iter()
                .all(|c| b.claims[c]["status"] == "pending_review")
    });

    let board = flow.board();
    let mut pipe = redis::pipe();
    pipe.cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .arg("ID")
        .arg(subs[0]);
    for c in &board.bidding {
        flow.hand.pipe_bid(&mut pipe, c, "Ann", "ignore");
    }
    for c in &board.active {
        let review = Art::review("ann", &board.claims[c]["artefact_id"], b"{}");
        flow.hand.pipe_write(&mut pipe, &review);
    }
    let heard: Vec<i64> = pipe.query(&mut flow.redis.conn()).unwrap();
    assert_eq!(heard[0], 1, "CLIENT KILL must have killed the subscription");
    let missed = heard[1..].iter().filter(|n| **n == 1).count();
    assert_eq!(heard.len(), 1 + 2 * EACH as usize);
    // Published before the orchestrator could subscribe again (its first
    // retry waits 50 ms): only the recorder heard them.
    assert!(
        missed > 0,
        "the orchestrator heard everything: proves nothing"
    );
    orch.wait_for_event("redis_reconnected");
    eprintln!(
        "{missed} of {} messages missed by the orchestrator",
        2 * EACH
    );
    let goals: Vec<String> = bid_goals.into_iter().chain(review_goals).collect();
    flow.settle_and_check(&mut [&mut orch], &goals);
}

/// The writer (alone in the registry) bids, then stops listening; its grant
/// is published while nobody listens; it starts again after the grant.
/// Returns the claim, once granted.
fn grant_missed(flow: &mut Flow, goal: &str) -> String {
    flow.wait_board("the goal's claim", |b| b.bidding.len() == 1);
    let claim = flow.board().bidding[0].clone();
    assert_eq!(flow.hand.bid(&claim, "Writer", "exclusive"), 2);
    flow.wait_board("the exclusive grant", |b| {
        b.claims[&claim]["status"] == "pending_exclusive"
    });
    let writer = flow.team.writer_spec();
    let p = format!("sett:{}", flow.instance);
    flow.agents.push(SimAgent::start(&flow.redis, &p, writer));
    assert_eq!(flow.board().index[goal], claim);
    claim
}

/// What a missed grant leaves: the goal, its claim granted to the writer.
fn missed_grant_expected(flow: &Flow, board: &Board, goal: &str, claim: &str) -> Expected {
    let mut want = Expected::new(flow.started);
    want.artefact(&board.artefacts[goal]);
    want.index.insert(goal.into(), claim.into());
    let bids = [("Writer", "exclusive")];
    want.claim(claim, goal, &bids);
    // Published once; the writer, not listening then, never hears it.
    want.group(grants(claim, "exclusive", &["Writer"], &[]));
    let ps = phase_state(
        "exclusive",
        &["Writer"],
        &[],
        &bids,
        want.start_of(board, claim),
    );
    let granted = [
        ("status", "pending_exclusive"),
        ("granted_exclusive_agent", "Writer"),
        ("phase_state", ps.as_str()),
    ];
    want.claims
        .insert(claim.into(), with(new_claim_fields(claim, goal), &granted));
    want
}

fn writer_alone() -> Team {
    Team {
        reviewers: vec![],
        ..Team::pair(None)
    }
}

#[test]
fn grant_missed_by_its_agent_times_out_with_sett_phase_timeout() {
    let mut flow = Flow::with_agents("st-timeout", writer_alone(), |_, _, _| vec![]);
    let mut orch = flow.orchestrator(&[("SETT_PHASE_TIMEOUT", "1s")]);
    let goal = flow.goal(0);
    let claim = grant_missed(&mut flow, &goal);
    flow.wait_settled(1);
    let out = flow.finish(&mut [&mut orch]);
    let mut want = missed_grant_expected(&flow, &out.board, &goal, &claim);
    let reason = "Phase 'exclusive' timed out after 1s: no artefact from writer";
    let c = want.claims.get_mut(&claim).unwrap();
    c.insert("status".into(), "terminated".into());
    c.insert("termination_reason".into(), reason.into());
    want.check(&out.board, &out.messages, &out.agents);
    let ended = orch.events("claim_terminated");
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["reason"], reason);
}

#[test]
fn grant_missed_by_its_agent_waits_visibly_without_a_phase_timeout() {
    let mut flow = Flow::with_agents("st-wait", writer_alone(), |_, _, _| vec![]);
    let mut orch = flow.orchestrator(&[]);
    let goal = flow.goal(0);
    let claim = grant_missed(&mut flow, &goal);
    let gauge = |name: &str| metric_value(&orch.get("/metrics").1, name);
    assert!(wait_until(PATIENCE, || gauge("oldest_phase_age_seconds") >= 1));
    assert_eq!(gauge("claims_in_phase"), 1);
    let age = gauge("oldest_phase_age_seconds");
    assert!(
        wait_until(PATIENCE, || gauge("oldest_phase_age_seconds") > age),
        "the oldest phase's age stays at {age}"
    );
    assert_eq!(gauge("claims_in_phase"), 1);
    let out = flow.finish(&mut [&mut orch]);
    let mut want = missed_grant_expected(&flow, &out.board, &goal, &claim);
    want.active = vec![claim.clone()];
    want.check(&out.board, &out.messages, &out.agents);
}
