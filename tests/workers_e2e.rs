//! Controller agents' workers end to end: the shipped binary, a real Redis
//! and the machine's real Docker engine, workers running `sett-test-worker`
//! in a `FROM scratch` image (see `support::workers`). Each test asserts
//! exact claim fields, artefacts, log lines and the containers left.

mod support;

use sett_sim::{Spec, Work};
use support::e2e::*;
use support::lifecycle::Art;
use support::workers::WorkerLab;
use support::*;

/// A controller `Coder` whose worker's command is `words` (the test worker's
/// instructions), at most `max` at once.
fn controller(words: &str, max: u32) -> String {
    format!(
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    image: coder:latest\n    \
         bidding_strategy: exclusive\n    worker:\n      image: '{{IMAGE}}'\n      command: [{words}]\n      \
         max_concurrent: {max}\n"
    )
}

/// The controller's bids: `exclusive` on what the user wrote (it never works itself).
fn bidder(lab: &WorkerLab) -> sett_sim::SimAgent {
    lab.stack
        .agent(Spec::new("Coder", "exclusive", Work::new("Standard", "Never", "")))
}

fn no_containers_left(lab: &WorkerLab) {
    assert!(
        wait_until(PATIENCE, || lab.containers().is_empty()),
        "left: {:?}",
        lab.containers()
    );
}

#[test]
fn one_worker_completes_a_claim() {
    let Some(mut lab) = WorkerLab::new("one_worker_completes_a_claim", &controller("'type=CodeCommit'", 1)) else {
        return;
    };
    let _coder = bidder(&lab);
    let mut tap = lab.stack.wiretap();
    let orch = lab.orchestrator(&[]);
    let startup = orch.wait_for_event("orchestrator_startup");
    assert_eq!(startup["controllers"]["Coder"]["max_concurrent"], 1, "{startup}");
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
    let name = format!("holt-{}-Coder-worker-{}", lab.stack.instance, &claim[..8]);
    assert!(wait_until(PATIENCE, || lines_for(&orch, "worker_cleanup", &claim).len() == 1));
    for event in ["worker_launching", "worker_launched", "worker_completed", "worker_cleanup"] {
        let lines = lines_for(&orch, event, &claim);
        assert_eq!(lines.len(), 1, "{event}: {lines:?}");
        assert_eq!(lines[0]["role"], "Coder", "{event}");
    }
    assert_eq!(lines_for(&orch, "worker_launched", &claim)[0]["container_name"], name);
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
    let Some(mut lab) = WorkerLab::new("exit_3_writes_one_failure", &controller("'exit=3', 'lines=2'", 1)) else {
        return;
    };
    let _coder = bidder(&lab);
    let orch = lab.orchestrator(&[]);
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(fields["termination_reason"], "Worker failed with exit code 3");
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
    assert!(wait_until(PATIENCE, || lines_for(&orch, "worker_cleanup", &claim).len() == 1));
    let failed = lines_for(&orch, "worker_failed", &claim);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["exit_code"], 3);
    no_containers_left(&lab);
    assert_eq!(metric(&orch, "workers_failed_total"), 1);
    assert_eq!(metric(&orch, "claims_terminated_total{cause=\"worker_failed\"}"), 1);
}

#[test]
fn a_missing_image_terminates_the_claim_with_the_reason() {
    let yaml = controller("'x'", 1).replace("'{IMAGE}'", "sett-no-such-image:missing");
    let Some(mut lab) = WorkerLab::new("a_missing_image_terminates", &yaml) else {
        return;
    };
    let _coder = bidder(&lab);
    let orch = lab.orchestrator(&[]);
    let missing = orch.wait_for_event("worker_image_missing");
    assert_eq!(missing["image"], "sett-no-such-image:missing");
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    let fields = lab.wait_status(&claim, "terminated");
    let reason = &fields["termination_reason"];
    assert!(reason.starts_with("Failed to launch worker: "), "{reason}");
    assert!(reason.contains("sett-no-such-image"), "{reason}");
    assert_eq!(fields["granted_agent_image_id"], "");
    assert!(lab.containers().is_empty(), "{:?}", lab.containers());
    assert!(wait_until(PATIENCE, || lines_for(&orch, "worker_error", &claim).len() == 1));
    assert_eq!(metric(&orch, "worker_launch_errors_total"), 1);
}

/// `max_concurrent` with 10 claims at once: never more workers than that
/// (the engine polled all along), all complete, granted first in first out.
fn limit_holds(test: &str, max: u32) {
    let Some(mut lab) = WorkerLab::new(test, &controller("'sleep_ms=300'", max)) else {
        return;
    };
    let _coder = bidder(&lab);
    let orch = lab.orchestrator(&[]);
    let goals: Vec<Art> = (0..10).map(|_| Art::goal()).collect();
    for g in &goals {
        lab.stack.write(g);
    }
    let claims: Vec<String> = goals.iter().map(|g| lab.stack.claim_of(&g.id)).collect();
    let mut most = 0;
    let all_done = wait_until(PATIENCE * 3, || {
        most = most.max(lab.running());
        claims
            .iter()
            .all(|c| lab.stack.claim(c).get("status").map(String::as_str) == Some("complete"))
    });
    assert!(all_done, "not all complete");
    assert!(most as u32 <= max, "{most} workers ran at once (limit {max})");
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
    let Some(mut lab) = WorkerLab::new("a_phase_timeout_stops", &controller("'sleep_ms=120000'", 1)) else {
        return;
    };
    let _coder = bidder(&lab);
    let orch = lab.orchestrator(&[("SETT_PHASE_TIMEOUT", "2s")]);
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(
        fields["termination_reason"],
        "Phase 'exclusive' timed out after 2s: no artefact from Coder"
    );
    no_containers_left(&lab);
    assert!(wait_until(PATIENCE, || lines_for(&orch, "worker_cleanup", &claim).len() == 1));
    assert_eq!(lines_for(&orch, "worker_stopping", &claim).len(), 1);
    assert!(lab.artefacts_by("Coder").is_empty(), "a stopped worker's end writes no Failure");
}

#[test]
fn kill_9_while_a_worker_runs_then_a_restart_completes_it_once() {
    let Some(mut lab) = WorkerLab::new("kill_9_while_a_worker_runs", &controller("'sleep_ms=4000'", 1)) else {
        return;
    };
    let _coder = bidder(&lab);
    let since = unix_now();
    let mut first = lab.orchestrator(&[]);
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    first.wait_for_event("worker_launched");
    first.kill9();
    assert_eq!(lab.running(), 1, "the worker outlives the orchestrator");
    let second = lab.orchestrator(&[]);
    lab.wait_status(&claim, "complete");
    assert!(wait_until(PATIENCE, || lines_for(&second, "worker_cleanup", &claim).len() == 1));
    assert!(lines_for(&second, "worker_launching", &claim).is_empty(), "adopted, not launched again");
    assert_eq!(lines_for(&second, "worker_completed", &claim).len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    assert_eq!(lab.created_since(since).len(), 1, "one container ever");
    no_containers_left(&lab);
}

#[test]
fn a_worker_that_exits_while_no_orchestrator_runs_is_recorded_after_the_restart() {
    let Some(mut lab) = WorkerLab::new("a_worker_that_exits_while_none_runs", &controller("'sleep_ms=1500', 'exit=3'", 1)) else {
        return;
    };
    let _coder = bidder(&lab);
    let mut first = lab.orchestrator(&[]);
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    first.wait_for_event("worker_launched");
    first.kill9();
    assert!(
        wait_until(PATIENCE, || lab.containers().iter().any(|(_, s)| s == "exited")),
        "{:?}",
        lab.containers()
    );
    assert_eq!(lab.stack.claim(&claim)["status"], "pending_exclusive");
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(fields["termination_reason"], "Worker failed with exit code 3");
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    assert!(wait_until(PATIENCE, || lines_for(&second, "worker_cleanup", &claim).len() == 1));
    assert_eq!(lines_for(&second, "worker_failed", &claim).len(), 1);
    no_containers_left(&lab);
}

#[test]
fn a_traditional_reviewer_and_a_controller_coder_in_one_registry() {
    let yaml = controller("'type=CodeCommit'", 1) + "  Reviewer:\n    image: r\n    bidding_strategy: review\n";
    let Some(mut lab) = WorkerLab::new("a_traditional_reviewer_and_a_controller", &yaml) else {
        return;
    };
    let _coder = bidder(&lab);
    let _reviewer = lab.stack.agent(Spec::approver("Reviewer"));
    let orch = lab.orchestrator(&[]);
    let goal = Art::goal();
    lab.stack.write(&goal);
    let claim = lab.stack.claim_of(&goal.id);
    lab.wait_status(&claim, "complete");
    assert_eq!(lab.artefacts_by("Reviewer").len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    assert!(wait_until(PATIENCE, || lines_for(&orch, "worker_completed", &claim).len() == 1));
    no_containers_left(&lab);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The Docker socket the machine's engine answers on.
fn docker_socket() -> String {
    sett_orchestrator::docker::socket_from_docker_host(std::env::var("DOCKER_HOST").ok().as_deref())
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn docker_going_away_and_coming_back_loses_nothing() {
    let Some(mut lab) = WorkerLab::new("docker_going_away_and_back", &controller("'sleep_ms=200'", 1)) else {
        return;
    };
    let proxy = support::socket_proxy::SocketProxy::start(&docker_socket());
    let _coder = bidder(&lab);
    let host = format!("unix://{}", proxy.path);
    let orch = lab.orchestrator(&[("DOCKER_HOST", host.as_str())]);
    assert!(orch.wait_status("/readyz", 200));
    proxy.down();
    assert!(orch.wait_status("/readyz", 503));
    let (_, body) = orch.get("/readyz");
    assert!(body.contains("\"docker\":\"unreachable\""), "{body}");
    orch.wait_for_event("docker_unavailable");
    let goals: Vec<Art> = (0..3).map(|_| Art::goal()).collect();
    for g in &goals {
        lab.stack.write(g);
    }
    let claims: Vec<String> = goals.iter().map(|g| lab.stack.claim_of(&g.id)).collect();
    // Every claim granted or queued while Docker is away, and launches retried.
    let slots = lab.stack.key("orchestrator:workers:Coder");
    let queue = lab.stack.key("grant_queue:Coder");
    let conn = &mut lab.stack.conn;
    assert!(wait_until(PATIENCE, || {
        let held: u64 = redis::cmd("SCARD").arg(&slots).query(conn).unwrap();
        let queued: u64 = redis::cmd("ZCARD").arg(&queue).query(conn).unwrap();
        held == 1 && queued == 2
    }));
    let errors = metric(&orch, "docker_errors_total");
    assert!(wait_until(PATIENCE, || metric(&orch, "docker_errors_total") >= errors + 2));
    assert_eq!(metric(&orch, "docker_up"), 0);
    for c in &claims {
        assert_eq!(lab.stack.claim(c)["status"], "pending_exclusive", "nothing terminated for it");
    }
    assert!(lab.containers().is_empty());
    proxy.up();
    for c in &claims {
        lab.wait_status(c, "complete");
    }
    assert!(orch.wait_status("/readyz", 200));
    assert_eq!(orch.events("docker_available").len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 3);
    assert!(wait_until(PATIENCE, || orch.events("worker_cleanup").len() == 3));
    assert_eq!(orch.events("worker_launched").len(), 3);
    no_containers_left(&lab);
}

#[test]
fn three_replicas_one_killed_every_claim_completes_once_within_the_limit() {
    let Some(mut lab) = WorkerLab::new("three_replicas_one_killed", &controller("'sleep_ms=600'", 2)) else {
        return;
    };
    let _coder = bidder(&lab);
    let since = unix_now();
    let mut replicas: Vec<_> = (0..3).map(|_| lab.orchestrator(&[])).collect();
    let goals: Vec<Art> = (0..6).map(|_| Art::goal()).collect();
    for g in &goals {
        lab.stack.write(g);
    }
    let claims: Vec<String> = goals.iter().map(|g| lab.stack.claim_of(&g.id)).collect();
    assert!(wait_until(PATIENCE, || replicas.iter().any(|o| !o.events("worker_launched").is_empty())));
    replicas[0].kill9();
    let mut most = 0;
    let done = wait_until(PATIENCE * 3, || {
        most = most.max(lab.running());
        claims
            .iter()
            .all(|c| lab.stack.claim(c).get("status").map(String::as_str) == Some("complete"))
    });
    assert!(done, "not all complete");
    assert!(most <= 2, "{most} workers at once (limit 2)");
    assert_eq!(lab.artefacts_by("Coder").len(), 6, "one worker per claim");
    no_containers_left(&lab);
    let mut created = lab.created_since(since);
    created.sort();
    let mut expected: Vec<String> = claims
        .iter()
        .map(|c| format!("holt-{}-Coder-worker-{}", lab.stack.instance, &c[..8]))
        .collect();
    expected.sort();
    assert_eq!(created, expected, "exactly one container per claim");
}

#[test]
fn a_controller_registry_without_docker_is_refused_with_one_line() {
    let dir = TempDir::new();
    let registry = dir.file("holt.yml", &controller("'x'", 1).replace("{IMAGE}", "w"));
    let redis = RedisServer::start();
    let url = redis.url();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut orch = Orchestrator::spawn(&[
        ("HOLT_INSTANCE_NAME", "nodocker"),
        ("REDIS_URL", url.as_str()),
        ("SETT_HTTP_ADDR", addr.as_str()),
        ("SETT_CONFIG_FILE", registry.as_str()),
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    ]);
    let status = orch.wait_exit(PATIENCE).expect("exits");
    assert_eq!(status.code(), Some(1));
    let stderr = orch.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(
        stderr[0].starts_with(
            "sett-orchestrator: the registry has controller agents, which need Docker, but Docker at /nonexistent/docker.sock does not answer: "
        ),
        "{stderr:?}"
    );
    let failed = orch.wait_for_event("startup_failed");
    assert_eq!(failed["stage"], "docker");
}
