//! Controller agents' workers end to end: the shipped binary, a real Redis
//! and the machine's real Docker engine, workers running `sett-test-worker`
//! in a `FROM scratch` image (see `support::workers`). Each test asserts
//! exact claim fields, artefacts, log lines and the containers left.

use sett_test_support as support;

use sett_sim::Spec;
use support::e2e::*;
use support::lifecycle::Art;
use support::workers::*;
use support::*;

#[test]
fn one_worker_completes_a_claim() {
    let Some(mut lab) = WorkerLab::new(
        "one_worker_completes_a_claim",
        &controller("'type=CodeCommit'", 1),
    ) else {
        return;
    };
    let mut tap = lab.stack.wiretap();
    let orch = lab.orchestrator(&[]);
    let startup = orch.wait_for_event("orchestrator_startup");
    assert_eq!(
        startup["controllers"]["Coder"]["max_concurrent"], 1,
        "{startup}"
    );
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    let fields = lab.wait_status(&claim, "complete");
    assert_eq!(fields["granted_exclusive_agent"], "Coder");
    assert_eq!(fields["granted_agent_image_id"], lab.image_id);
    assert_eq!(fields["grant_queue"], "");
    let work = lab.artefacts_by("Coder");
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0]["type"], "CodeCommit");
    assert_eq!(work[0]["source_artefacts"], format!("[\"{}\"]", goal.id));
    let name = lab.worker_name(&claim);
    wait_one_line(&orch, "worker_cleanup", &claim);
    for event in [
        "worker_launching",
        "worker_launched",
        "worker_completed",
        "worker_cleanup",
    ] {
        let lines = lines_for(&orch, event, &claim);
        assert_eq!(lines.len(), 1, "{event}: {lines:?}");
        assert_eq!(lines[0]["role"], "Coder", "{event}");
    }
    assert_eq!(
        lines_for(&orch, "worker_launched", &claim)[0]["container_name"],
        name
    );
    no_containers_left(&lab);
    let published = tap.everything();
    let grants: Vec<_> = published
        .iter()
        .filter(|m| m.payload.contains("\"claim_granted\""))
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(
        grants[0].payload,
        format!(
            "{{\"event\":\"claim_granted\",\"data\":{{\"agent_image_id\":\"{}\",\"agent_name\":\"Coder\",\"claim_id\":\"{claim}\",\"grant_type\":\"exclusive\"}}}}",
            lab.image_id
        )
    );
    assert!(
        published.iter().all(|m| m.channel != "agent:Coder:events"),
        "a controller gets no grant notification: {published:?}"
    );
    assert_eq!(metric(&orch, "workers_launched_total"), 1);
    assert_eq!(metric(&orch, "workers_completed_total"), 1);
}

#[test]
fn exit_3_writes_one_failure_and_terminates_the_claim() {
    let Some(mut lab) = WorkerLab::new(
        "exit_3_writes_one_failure",
        &controller("'exit=3', 'lines=2'", 1),
    ) else {
        return;
    };
    let orch = lab.orchestrator(&[]);
    let claim = lab.stack.goal();
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(
        fields["termination_reason"],
        "Worker failed with exit code 3"
    );
    let failures = lab.artefacts_by("Coder");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert_eq!(f["structural_type"], "Failure");
    assert_eq!(f["type"], "WorkerFailure");
    assert_eq!(f["source_artefacts"], "[]");
    let payload = &f["payload"];
    assert!(
        payload.starts_with("Worker container exited with code 3\n\nLogs:\n"),
        "{payload:?}"
    );
    for line in ["out 1\n", "err 1\n", "out 2\n", "err 2\n"] {
        assert!(payload.contains(line), "{line:?} in {payload:?}");
    }
    assert!(!payload.contains('\u{1}'), "no frame headers: {payload:?}");
    wait_one_line(&orch, "worker_cleanup", &claim);
    let failed = lines_for(&orch, "worker_failed", &claim);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["exit_code"], 3);
    no_containers_left(&lab);
    assert_eq!(metric(&orch, "workers_failed_total"), 1);
    assert_eq!(
        metric(&orch, "claims_terminated_total{cause=\"worker_failed\"}"),
        1
    );
}

#[test]
fn a_missing_image_terminates_the_claim_with_the_reason() {
    let yaml = controller("'x'", 1).replace("'{IMAGE}'", "sett-no-such-image:missing");
    let Some(mut lab) = WorkerLab::new("a_missing_image_terminates", &yaml) else {
        return;
    };
    let orch = lab.orchestrator(&[]);
    let missing = orch.wait_for_event("worker_image_missing");
    assert_eq!(missing["image"], "sett-no-such-image:missing");
    let claim = lab.stack.goal();
    let fields = lab.wait_status(&claim, "terminated");
    let reason = &fields["termination_reason"];
    assert!(reason.starts_with("Failed to launch worker: "), "{reason}");
    assert!(reason.contains("sett-no-such-image"), "{reason}");
    assert_eq!(fields["granted_agent_image_id"], "");
    assert!(lab.containers().is_empty(), "{:?}", lab.containers());
    wait_one_line(&orch, "worker_error", &claim);
    assert_eq!(metric(&orch, "worker_launch_errors_total"), 1);
}

/// `max_concurrent` with 10 claims at once: never more workers than that
/// (the engine polled all along), all complete, granted first in first out.
fn limit_holds(test: &str, max: u32) {
    let Some(mut lab) = WorkerLab::new(test, &controller("'sleep_ms=300'", max)) else {
        return;
    };
    let orch = lab.orchestrator(&[]);
    let claims = lab.stack.goals(10);
    let most = lab.wait_all_complete(&claims);
    assert!(
        most as u32 <= max,
        "{most} workers ran at once (limit {max})"
    );
    assert_eq!(lab.artefacts_by("Coder").len(), 10);
    assert!(wait_until(PATIENCE, || orch.events("worker_cleanup").len() == 10));
    // Queued claims were launched in the order they joined the queue.
    let queued: Vec<String> = orch
        .events("grant_paused_for_queue")
        .iter()
        .map(|l| l["claim_id"].as_str().unwrap().to_string())
        .collect();
    let resumed: Vec<String> = orch
        .events("grant_resumed_from_queue")
        .iter()
        .map(|l| l["claim_id"].as_str().unwrap().to_string())
        .collect();
    assert!(queued.len() >= 10 - 2 * max as usize, "{queued:?}");
    assert_eq!(resumed, queued);
    let launched = orch.events("worker_launched").len();
    assert_eq!(launched, 10);
    no_containers_left(&lab);
    assert_eq!(metric(&orch, "workers_completed_total"), 10);
}

#[test]
fn max_concurrent_1_holds_for_10_claims() {
    limit_holds("max_concurrent_1_holds_for_10_claims", 1);
}

#[test]
fn max_concurrent_2_holds_for_10_claims() {
    limit_holds("max_concurrent_2_holds_for_10_claims", 2);
}

#[test]
fn a_phase_timeout_stops_a_sleeping_worker() {
    let Some(mut lab) =
        WorkerLab::new("a_phase_timeout_stops", &controller("'sleep_ms=120000'", 1))
    else {
        return;
    };
    let orch = lab.orchestrator(&[("SETT_PHASE_TIMEOUT", "2s")]);
    let claim = lab.stack.goal();
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(
        fields["termination_reason"],
        "Phase 'exclusive' timed out after 2s: no artefact from Coder"
    );
    no_containers_left(&lab);
    wait_one_line(&orch, "worker_cleanup", &claim);
    assert_eq!(lines_for(&orch, "worker_stopping", &claim).len(), 1);
    assert!(
        lab.artefacts_by("Coder").is_empty(),
        "a stopped worker's end writes no Failure"
    );
}

#[test]
fn a_traditional_reviewer_and_a_controller_coder_in_one_registry() {
    let yaml = controller("'type=CodeCommit'", 1)
        + "  Reviewer:\n    image: r\n    bidding_strategy: review\n";
    let Some(mut lab) = WorkerLab::new("a_traditional_reviewer_and_a_controller", &yaml) else {
        return;
    };
    let _reviewer = lab.stack.agent(Spec::approver("Reviewer"));
    let orch = lab.orchestrator(&[]);
    let claim = lab.stack.goal();
    lab.wait_status(&claim, "complete");
    assert_eq!(lab.artefacts_by("Reviewer").len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    wait_one_line(&orch, "worker_completed", &claim);
    no_containers_left(&lab);
}

#[test]
fn the_workspace_is_mounted_from_host_workspace_path() {
    let yaml =
        controller("'payload_file=/workspace/note.txt'", 1) + "      workspace: {mode: ro}\n";
    let Some(mut lab) = WorkerLab::new("the_workspace_is_mounted", &yaml) else {
        return;
    };
    let workspace = TempDir::new();
    workspace.file("note.txt", "from the host");
    let host = workspace.path().display().to_string();
    let _orch = lab.orchestrator(&[("HOST_WORKSPACE_PATH", host.as_str())]);
    let claim = lab.stack.goal();
    lab.wait_status(&claim, "complete");
    let work = lab.artefacts_by("Coder");
    assert_eq!(work.len(), 1);
    assert_eq!(work[0]["payload"], "from the host");
    no_containers_left(&lab);
}

/// A worker container that never started (Docker refused its start, or its
/// launcher died between create and start) and whose claim has ended is
/// removed, once. Docker answers a stop of a created container 304 and
/// leaves it created: stopping it woke the next pass at once, for ever, one
/// `worker_stopping` line a pass.
#[test]
fn a_never_started_worker_of_an_ended_claim_is_removed_once() {
    let Some(mut lab) = WorkerLab::new("a_never_started_worker", &controller("'exit=0'", 1)) else {
        return;
    };
    let claim = uuid();
    let claim_key = lab.stack.key(&format!("claim:{claim}"));
    redis::cmd("HSET")
        .arg(&claim_key)
        .arg("status")
        .arg("terminated")
        .query::<()>(&mut lab.stack.conn)
        .unwrap();
    let name = lab.create_unstarted(&claim);
    assert_eq!(lab.containers(), vec![(name, "created".to_string())]);

    let orch = lab.orchestrator(&[]);
    wait_one_line(&orch, "worker_cleanup", &claim);
    no_containers_left(&lab);
    assert_eq!(lines_for(&orch, "worker_stopping", &claim).len(), 0);
    assert_eq!(lab.stack.claim(&claim)["status"], "terminated");
}

/// A container made but not recorded as made (Redis refused `created.lua`,
/// or its launcher died between the two) is not started while its launch
/// record cannot say `created`: a worker running under a record that still
/// says `launching` could be made a second time later. Once Redis takes
/// writes again, a pass records it and starts it.
#[test]
fn a_worker_starts_only_once_recorded_as_created() {
    let Some(mut lab) = WorkerLab::new(
        "a_worker_starts_only_once_recorded",
        &controller("'exit=0'", 1),
    ) else {
        return;
    };
    let orch = lab.orchestrator(&[]);
    orch.wait_for_event("reconcile_complete");
    // The claim holds Coder's slot; its launch record says `launching`.
    let claim = uuid();
    let record = lab.stack.key(&format!("orchestrator:worker:{claim}"));
    let slots = lab.stack.key("orchestrator:workers:Coder");
    redis::pipe()
        .hset_multiple(
            lab.stack.key(&format!("claim:{claim}")),
            &[
                ("status", "pending_exclusive"),
                ("granted_exclusive_agent", "Coder"),
            ],
        )
        .sadd(&slots, &claim)
        .set(&record, "launching")
        .query::<()>(&mut lab.stack.conn)
        .unwrap();
    refuse_writes(&mut lab.stack.conn, true);
    let name = lab.create_unstarted(&claim);
    // A pass starts a created container 30 s after its creation; two more
    // passes (every 2 s) after that.
    std::thread::sleep(std::time::Duration::from_secs(35));
    assert_eq!(
        lab.containers(),
        vec![(name.clone(), "created".to_string())]
    );
    let state = |lab: &mut WorkerLab| -> Option<String> {
        redis::cmd("GET")
            .arg(&record)
            .query(&mut lab.stack.conn)
            .unwrap()
    };
    assert_eq!(state(&mut lab).as_deref(), Some("launching"));
    refuse_writes(&mut lab.stack.conn, false);
    assert!(wait_until(PATIENCE, || state(&mut lab).as_deref() != Some("launching")));
    assert!(
        wait_until(PATIENCE, || lab
            .containers()
            .iter()
            .all(|(_, s)| s != "created")),
        "{:?}",
        lab.containers()
    );
    // The line follows the start the engine just showed (the log's own
    // thread writes it): waited for, not read at once (it failed so once
    // on a clean clone of 64a3e8d).
    orch.wait_for_event("worker_launched");
    assert_eq!(lines_for(&orch, "worker_launched", &claim).len(), 1);
}
