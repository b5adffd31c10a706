//! The worker decisions driven directly on a real Redis (no Docker): the
//! grant to a controller (Holt's claim fields and `claim_granted` bytes, no
//! agent notification), the limit and the FIFO queue, the launch record
//! (exactly one container per claim), endings, and a controller's feedback
//! claim getting a worker.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Cause, Effect, Phase};
use sett_orchestrator::workers::scripts::Ending;
use support::lifecycle::*;
use support::worker_calls::*;

fn granted_json(claim: &str) -> String {
    format!(
        "{{\"event\":\"claim_granted\",\"data\":{{\"agent_image_id\":\"{IMAGE_ID}\",\"agent_name\":\"Coder\",\"claim_id\":\"{claim}\",\"grant_type\":\"exclusive\"}}}}"
    )
}

fn smembers(lab: &mut Lab, key: &str) -> Vec<String> {
    let mut m: Vec<String> = redis::cmd("SMEMBERS")
        .arg(key)
        .query(&mut lab.sync)
        .unwrap();
    m.sort();
    m
}

#[test]
fn a_controllers_grant_takes_a_slot_and_notifies_no_agent() {
    let (mut lab, calls) = lab(1);
    let (claim, effects, published) = won_by_coder(&mut lab);
    assert_eq!(
        effects,
        vec![
            Effect::WorkerGranted {
                claim: c(&claim),
                role: "Coder".into(),
                agent: "Coder".into(),
                resumed: false
            },
            Effect::Granted {
                claim: c(&claim),
                phase: Phase::Exclusive,
                agents: vec!["Coder".into()]
            },
        ]
    );
    let fields = lab.claim(&claim);
    assert_eq!(fields["status"], "pending_exclusive");
    assert_eq!(fields["granted_exclusive_agent"], "Coder");
    assert_eq!(fields["granted_agent_image_id"], IMAGE_ID);
    assert_eq!(fields["grant_queue"], "");
    assert!(fields["phase_state"]
        .starts_with("{\"current\":\"exclusive\",\"granted_agents\":[\"Coder\"]"));
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].channel, "workflow_events");
    assert_eq!(published[0].payload, granted_json(&claim));
    assert_eq!(
        smembers(&mut lab, &calls.slots_key("Coder")),
        vec![claim.clone()]
    );
    let record: String = redis::cmd("GET")
        .arg(calls.record_key(&claim))
        .query(&mut lab.sync)
        .unwrap();
    assert_eq!(record, "launching");
}

#[test]
fn over_the_limit_claims_queue_and_resume_first_in_first_out() {
    let (mut lab, calls) = lab(1);
    let (first, _, _) = won_by_coder(&mut lab);
    let (second, effects, _) = won_by_coder(&mut lab);
    assert_eq!(
        effects[0],
        Effect::WorkerQueued {
            claim: c(&second),
            role: "Coder".into(),
            queued: 1
        }
    );
    let (third, _, published) = won_by_coder(&mut lab);
    assert!(published.is_empty(), "a queued claim is not granted yet");
    let q = lab.claim(&second);
    assert_eq!(q["status"], "pending_exclusive");
    assert_eq!(q["granted_exclusive_agent"], "");
    let scores: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg(calls.queue_key("Coder"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut lab.sync)
        .unwrap();
    assert_eq!(
        scores.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        [second.clone(), third.clone()]
    );
    assert!(scores[1].1 > scores[0].1, "strictly increasing: {scores:?}");
    assert_eq!(
        q["grant_queue"],
        format!(
            "{{\"paused_at_ms\":{},\"agent_name\":\"Coder\",\"position\":0}}",
            scores[0].1
        )
    );
    // The first worker ends: the oldest queued claim gets its slot.
    let ended = Ending::Exit {
        code: 0,
        logs: String::new(),
    };
    let effects = lab.decide(calls.ended(&first, "Coder", &ended));
    assert_eq!(
        effects,
        vec![
            Effect::WorkerEnded {
                claim: c(&first),
                role: "Coder".into(),
                kind: "exit".into(),
                code: 0
            },
            Effect::WorkerGranted {
                claim: c(&second),
                role: "Coder".into(),
                agent: "Coder".into(),
                resumed: true
            },
        ]
    );
    let published = lab.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].payload, granted_json(&second));
    let r = lab.claim(&second);
    assert_eq!(
        (
            r["granted_exclusive_agent"].as_str(),
            r["grant_queue"].as_str()
        ),
        ("Coder", "")
    );
    assert_eq!(
        smembers(&mut lab, &calls.slots_key("Coder")),
        vec![second.clone()]
    );
    assert_eq!(
        lab.claim(&first)["status"],
        "pending_exclusive",
        "exit 0 writes nothing to its claim"
    );
    // Recorded once: a replay changes nothing.
    lab.assert_noop("ended replayed", |lab| {
        assert_eq!(
            lab.decide(calls.ended(&first, "Coder", &ended)),
            vec![Effect::WorkerGone { claim: c(&first) }]
        );
    });
    // Nothing frees a slot: resume grants nothing.
    assert!(lab.decide(calls.resume("Coder")).is_empty());
}

#[test]
fn the_launch_record_allows_one_container_and_exit_n_fails_the_claim_once() {
    let (mut lab, calls) = lab(1);
    let (claim, _, _) = won_by_coder(&mut lab);
    assert_eq!(
        lab.decide(calls.launch(&claim, "Coder")),
        vec![Effect::WorkerLaunch { claim: c(&claim) }]
    );
    // A create whose answer was lost may be tried again (Docker's 409 stops a second).
    assert_eq!(
        lab.decide(calls.launch(&claim, "Coder")),
        vec![Effect::WorkerLaunch { claim: c(&claim) }]
    );
    let created = Effect::WorkerLaunched {
        claim: c(&claim),
        state: "created".into(),
    };
    assert_eq!(
        lab.decide(calls.created(&claim, "Coder")),
        vec![created.clone()]
    );
    assert_eq!(lab.decide(calls.launch(&claim, "Coder")), vec![created]);
    let ending = Ending::Exit {
        code: 3,
        logs: "boom\n".into(),
    };
    let effects = lab.decide(calls.ended(&claim, "Coder", &ending));
    let Effect::FailureArtefact { artefact, kind, .. } = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(kind, "WorkerFailure");
    let reason = "Worker failed with exit code 3".to_string();
    assert_eq!(
        effects[1..],
        [
            Effect::Terminated {
                claim: c(&claim),
                cause: Cause::WorkerFailed,
                reason: reason.clone()
            },
            Effect::WorkerEnded {
                claim: c(&claim),
                role: "Coder".into(),
                kind: "exit".into(),
                code: 3
            },
        ]
    );
    let a = lab.artefact(artefact.as_str());
    assert_eq!(
        a["payload"],
        "Worker container exited with code 3\n\nLogs:\nboom\n"
    );
    assert_eq!(a["produced_by_role"], "Coder");
    assert_eq!(a["source_artefacts"], "[]");
    assert_eq!(a["structural_type"], "Failure");
    let fields = lab.claim(&claim);
    assert_eq!(
        (
            fields["status"].as_str(),
            fields["termination_reason"].as_str()
        ),
        ("terminated", reason.as_str())
    );
    assert_eq!(
        lab.decide(calls.launch(&claim, "Coder")),
        vec![Effect::WorkerGone { claim: c(&claim) }]
    );
}

#[test]
fn a_launch_failure_terminates_the_claim_with_the_reason() {
    let (mut lab, calls) = lab(1);
    let (claim, _, _) = won_by_coder(&mut lab);
    let ending = Ending::LaunchFailed {
        reason: "No such image: coder:1".into(),
    };
    let effects = lab.decide(calls.ended(&claim, "Coder", &ending));
    let reason = "Failed to launch worker: No such image: coder:1".to_string();
    assert_eq!(
        effects[0],
        Effect::Terminated {
            claim: c(&claim),
            cause: Cause::WorkerLaunch,
            reason: reason.clone()
        }
    );
    assert_eq!(lab.claim(&claim)["termination_reason"], reason);
    assert!(smembers(&mut lab, &calls.slots_key("Coder")).is_empty());
}

#[test]
fn a_controllers_feedback_claim_gets_a_worker() {
    let (mut lab, calls) = lab(1);
    let work = Art::work("Coder", &support::uuid());
    let claim = lab.new_claim(&work);
    lab.bid(&claim, "Coder", "ignore");
    lab.bid_and_decide(&claim, "Reviewer", "review");
    lab.published();
    let out = lab.deliver(&Art::review("Reviewer", &work.id, b"no"));
    let feedback = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::FeedbackClaim { feedback_claim, .. } => Some(feedback_claim.to_string()),
            _ => None,
        })
        .expect("a feedback claim");
    assert!(out.effects.contains(&Effect::WorkerGranted {
        claim: c(&feedback),
        role: "Coder".into(),
        agent: "Coder".into(),
        resumed: false
    }));
    let f = lab.claim(&feedback);
    assert_eq!(f["status"], "pending_assignment");
    assert_eq!(f["granted_exclusive_agent"], "Coder");
    assert_eq!(f["granted_agent_image_id"], IMAGE_ID);
    assert_eq!(
        smembers(&mut lab, &calls.slots_key("Coder")),
        vec![feedback]
    );
}
