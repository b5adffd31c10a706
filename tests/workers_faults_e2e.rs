//! Controller agents' workers through faults: an orchestrator killed while
//! its worker runs or after it exited, three replicas with one killed,
//! Docker going away and coming back, and no Docker at start-up. The shipped
//! binary, a real Redis and the machine's real Docker engine (see
//! `support::workers`).

use sett_test_support as support;

use support::e2e::*;
use support::fake_docker::{json, Answer, FakeDocker};
use support::workers::*;
use support::*;

#[test]
fn kill_9_while_a_worker_runs_then_a_restart_completes_it_once() {
    let Some(mut lab) = WorkerLab::new(
        "kill_9_while_a_worker_runs",
        &controller("'sleep_ms=4000'", 1),
    ) else {
        return;
    };
    let since = unix_now();
    let mut first = lab.orchestrator(&[]);
    let claim = lab.stack.goal();
    first.wait_for_event("worker_launched");
    first.kill9();
    assert_eq!(lab.running(), 1, "the worker outlives the orchestrator");
    let second = lab.orchestrator(&[]);
    lab.wait_status(&claim, "complete");
    wait_one_line(&second, "worker_cleanup", &claim);
    assert!(
        lines_for(&second, "worker_launching", &claim).is_empty(),
        "adopted, not launched again"
    );
    assert_eq!(lines_for(&second, "worker_completed", &claim).len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    assert_eq!(lab.created_since(since).len(), 1, "one container ever");
    no_containers_left(&lab);
}

#[test]
fn a_worker_that_exits_while_no_orchestrator_runs_is_recorded_after_the_restart() {
    let Some(mut lab) = WorkerLab::new(
        "a_worker_that_exits_while_none_runs",
        &controller("'sleep_ms=1500', 'exit=3'", 1),
    ) else {
        return;
    };
    let claim = lab.worker_exits_while_down();
    assert_eq!(lab.stack.claim(&claim)["status"], "pending_exclusive");
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(
        fields["termination_reason"],
        "Worker failed with exit code 3"
    );
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    wait_one_line(&second, "worker_cleanup", &claim);
    assert_eq!(lines_for(&second, "worker_failed", &claim).len(), 1);
    no_containers_left(&lab);
}

/// A worker's end that cannot be recorded keeps its container, and a pass
/// after the repair records it once (one Failure artefact, the claim
/// terminated with the exit code) and removes it: its claim would end while
/// the active set is wrong-typed (one `key_conflict`, nothing written), or
/// while Redis refuses writes (NOREPLICAS: `redis_error` lines). Removed
/// unrecorded, the claim would end as "worker container disappeared".
#[test]
fn a_worker_end_not_recorded_keeps_its_container_until_it_is() {
    let Some(mut lab) = WorkerLab::new(
        "a_worker_end_not_recorded",
        &controller("'sleep_ms=3000', 'exit=3'", 1),
    ) else {
        return;
    };
    let orch = lab.orchestrator(&[]);
    let active = lab.stack.key("orchestrator:active");
    let refusals = || {
        orch.events("redis_error")
            .iter()
            .filter(|l| l["operation"] == "workers")
            .count()
    };
    for (n, junk_set) in [true, false].into_iter().enumerate() {
        let claim = lab.stack.goal();
        wait_one_line(&orch, "worker_launched", &claim);
        if junk_set {
            let junk = redis::pipe()
                .del(&active)
                .set(&active, "junk")
                .query::<()>(&mut lab.stack.conn);
            junk.unwrap();
            // (Other decisions meeting the junk set log theirs too.)
            let worker_conflict = || {
                orch.events("key_conflict")
                    .into_iter()
                    .find(|l| l["operation"] == "worker")
            };
            assert!(wait_until(PATIENCE, || worker_conflict().is_some()));
            let conflict = worker_conflict().unwrap();
            assert_eq!(
                (&conflict["key"], &conflict["key_type"]),
                (&active.as_str().into(), &"string".into())
            );
        } else {
            refuse_writes(&mut lab.stack.conn, true);
            let exited = || lab.containers().iter().any(|(_, s)| s == "exited");
            assert!(wait_until(PATIENCE, exited), "{:?}", lab.containers());
            // A pass makes at most two refused calls (the end, the queue):
            // three more since the exit was seen mean a pass that began
            // after it tried to record it.
            let seen = refusals();
            assert!(wait_until(PATIENCE, || refusals() >= seen + 3));
        }
        assert_eq!(
            lab.containers(),
            vec![(lab.worker_name(&claim), "exited".to_string())]
        );
        assert_eq!(lab.stack.claim(&claim)["status"], "pending_exclusive");
        assert_eq!(lab.artefacts_by("Coder").len(), n);
        if junk_set {
            let repair = redis::pipe()
                .del(&active)
                .zadd(&active, &claim, 1)
                .query::<()>(&mut lab.stack.conn);
            repair.unwrap();
        } else {
            refuse_writes(&mut lab.stack.conn, false);
        }
        let fields = lab.wait_status(&claim, "terminated");
        assert_eq!(
            fields["termination_reason"],
            "Worker failed with exit code 3"
        );
        wait_one_line(&orch, "worker_cleanup", &claim);
        assert_eq!(lines_for(&orch, "worker_failed", &claim).len(), 1);
        assert_eq!(lab.artefacts_by("Coder").len(), n + 1);
        no_containers_left(&lab);
    }
}

#[test]
fn docker_going_away_and_coming_back_loses_nothing() {
    let Some(mut lab) = WorkerLab::new(
        "docker_going_away_and_back",
        &controller("'sleep_ms=200'", 1),
    ) else {
        return;
    };
    let proxy = support::socket_proxy::SocketProxy::start(&docker_socket());
    let host = format!("unix://{}", proxy.path);
    let orch = lab.orchestrator(&[("DOCKER_HOST", host.as_str())]);
    assert!(orch.wait_status("/readyz", 200));
    proxy.down();
    assert!(orch.wait_status("/readyz", 503));
    let (_, body) = orch.get("/readyz");
    assert!(body.contains("\"docker\":\"unreachable\""), "{body}");
    orch.wait_for_event("docker_unavailable");
    let claims = lab.stack.goals(3);
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
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "docker_errors_total"
    ) >= errors + 2));
    assert_eq!(metric(&orch, "docker_up"), 0);
    for c in &claims {
        assert_eq!(
            lab.stack.claim(c)["status"],
            "pending_exclusive",
            "nothing terminated for it"
        );
    }
    assert!(lab.containers().is_empty());
    proxy.up();
    for c in &claims {
        lab.wait_status(c, "complete");
    }
    assert!(orch.wait_status("/readyz", 200));
    // Written by the log's own thread: waited for, not read at once.
    orch.wait_for_event("docker_available");
    assert_eq!(orch.events("docker_available").len(), 1);
    assert_eq!(lab.artefacts_by("Coder").len(), 3);
    assert!(wait_until(PATIENCE, || orch.events("worker_cleanup").len() == 3));
    assert_eq!(orch.events("worker_launched").len(), 3);
    no_containers_left(&lab);
}

#[test]
fn three_replicas_one_killed_every_claim_completes_once_within_the_limit() {
    let Some(mut lab) = WorkerLab::new(
        "three_replicas_one_killed",
        &controller("'sleep_ms=600'", 2),
    ) else {
        return;
    };
    let since = unix_now();
    let mut replicas: Vec<_> = (0..3).map(|_| lab.orchestrator(&[])).collect();
    let claims = lab.stack.goals(6);
    assert!(wait_until(PATIENCE, || replicas
        .iter()
        .any(|o| !o.events("worker_launched").is_empty())));
    replicas[0].kill9();
    let most = lab.wait_all_complete(&claims);
    assert!(most <= 2, "{most} workers at once (limit 2)");
    assert_eq!(lab.artefacts_by("Coder").len(), 6, "one worker per claim");
    no_containers_left(&lab);
    let mut created = lab.created_since(since);
    created.sort();
    let mut expected: Vec<String> = claims.iter().map(|c| lab.worker_name(c)).collect();
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
    // The exit can come before the reader threads took the last lines.
    assert!(orch.wait_output_closed());
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

/// A daemon that answers `/_ping` and the image inspect, then misbehaves as
/// `rest` says: the claim is granted its slot and waits, nothing is
/// terminated, the process serves, and every line stays bounded.
fn misbehaving_daemon(test: &str, rest: fn(&str) -> Answer) {
    let fake = FakeDocker::with_an_image(rest);
    let (mut stack, orch, claim, _coder) = fake_stack(&fake);
    let slots = stack.key("orchestrator:workers:Coder");
    let conn = &mut stack.conn;
    assert!(wait_until(PATIENCE, || {
        let held: Vec<String> = redis::cmd("SMEMBERS").arg(&slots).query(conn).unwrap();
        held == [claim.clone()]
    }));
    assert!(
        wait_until(PATIENCE, || metric(&orch, "docker_errors_total") >= 3),
        "{test}"
    );
    assert!(orch.wait_status("/readyz", 503));
    assert_eq!(orch.get("/livez").0, 200);
    let fields = stack.claim(&claim);
    assert_eq!(
        fields["status"], "pending_exclusive",
        "{test}: nothing terminated"
    );
    assert_eq!(fields["granted_agent_image_id"], "sha256:feed");
    // The line is written by the log's own thread, after the state just
    // read: waited for, not read at once (it failed so once on a clean
    // clone, under load).
    orch.wait_for_event("docker_unavailable");
    for line in orch.stdout() {
        assert!(line.len() < 2048, "{test}: an unbounded line: {line}");
    }
}

#[test]
fn a_daemon_answering_garbage_terminates_nothing() {
    misbehaving_daemon("garbage", |_| {
        Answer::Bytes(b"HTTP/1.1 200 OK\r\n\x00\x01 garbage \xff\r\n\r\n{{{".to_vec())
    });
}

#[test]
fn a_daemon_closing_mid_body_terminates_nothing() {
    misbehaving_daemon("mid-body", |path| {
        if path.contains("/containers/json") {
            Answer::Bytes(json("200 OK", "[]"))
        } else {
            let mut cut = json("200 OK", r#"{"Id":"0123456789abcdef","Warnings":[]}"#);
            cut.truncate(cut.len() - 10);
            Answer::Bytes(cut)
        }
    });
}

#[test]
fn a_daemon_that_never_answers_terminates_nothing() {
    misbehaving_daemon("silent", |_| Answer::Hang);
}

/// Another replica's create in flight: Docker refuses ours because the
/// name is taken (409) yet shows no such container (404), and may never
/// (its create can still fail). Nothing is recorded as created and nothing
/// is terminated as "disappeared": the record stays `launching`, one
/// `worker_name_taken` line per try, and later passes try again.
#[test]
fn a_name_taken_by_a_create_in_flight_terminates_nothing() {
    let fake = FakeDocker::with_an_image(|path| {
        if path.contains("/containers/json") {
            Answer::Bytes(json("200 OK", "[]"))
        } else if path.contains("/containers/create") {
            Answer::Bytes(json(
                "409 Conflict",
                r#"{"message":"Conflict. The container name is already in use"}"#,
            ))
        } else if path.contains("/containers/") {
            Answer::Bytes(json("404 Not Found", r#"{"message":"No such container"}"#))
        } else {
            Answer::Hang
        }
    });
    let (mut stack, orch, claim, _coder) = fake_stack(&fake);
    let creates = || {
        fake.paths()
            .iter()
            .filter(|p| p.contains("/containers/create"))
            .count()
    };
    assert!(wait_until(PATIENCE, || creates() >= 3), "tried again");
    assert!(wait_until(PATIENCE, || {
        lines_for(&orch, "worker_name_taken", &claim).len() >= 3
    }));
    let record: Option<String> = redis::cmd("GET")
        .arg(stack.key(&format!("orchestrator:worker:{claim}")))
        .query(&mut stack.conn)
        .unwrap();
    assert_eq!(record.as_deref(), Some("launching"));
    let fields = stack.claim(&claim);
    assert_eq!(fields["status"], "pending_exclusive", "nothing terminated");
    assert!(lines_for(&orch, "claim_terminated", &claim).is_empty());
    assert!(lines_for(&orch, "worker_error", &claim).is_empty());
}
