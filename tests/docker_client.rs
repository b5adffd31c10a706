//! The Docker client against this machine's real engine (support/docker.rs
//! builds the FROM-scratch test worker): exact ids, states, exit codes, the
//! 409 exactly-once guard, demultiplexed logs, lists by label, stop, remove,
//! the spec as Docker recorded it (the events stream: docker_events.rs).
//! Skipped (one `SKIPPED:` line) without an engine, except with CI=true.

use sett_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use sett_orchestrator::docker::{Access, ErrorKind, LogOptions, NEWEST_API};
use support::docker::{docker_cli, Engine};
use support::TempDir;

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn ping_version_and_image_inspect() {
    let Some(engine) = Engine::get("docker_client::ping_version_and_image_inspect") else {
        return;
    };
    let d = &engine.docker;
    let ping = engine.block_on(d.ping()).unwrap();
    assert_eq!(ping.api, ping.daemon_api.min(NEWEST_API));
    let version = engine.block_on(d.version()).unwrap();
    assert_eq!(
        version.version,
        docker_cli(&["version", "-f", "{{.Server.Version}}"]).unwrap()
    );
    assert_eq!(version.api_version, ping.daemon_api.to_string());
    assert_eq!(version.os, "linux");
    let image = engine.block_on(d.image_inspect(&engine.image.tag)).unwrap();
    assert_eq!(
        image.id,
        docker_cli(&["image", "inspect", "-f", "{{.Id}}", &engine.image.tag]).unwrap()
    );
    let hex = image.id.strip_prefix("sha256:").unwrap();
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{}",
        image.id
    );
    assert_eq!(
        image.repo_digests,
        Vec::<String>::new(),
        "built here, never pushed"
    );
    let missing = engine
        .block_on(d.image_inspect("sett-no-such-image:never"))
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Permanent, "{missing}");
    assert!(missing.message().contains("No such image"), "{missing}");
}

#[test]
fn a_worker_runs_exits_with_its_code_and_its_name_is_taken_once() {
    let Some(engine) =
        Engine::get("docker_client::a_worker_runs_exits_with_its_code_and_its_name_is_taken_once")
    else {
        return;
    };
    let d = &engine.docker;
    let spec = engine
        .spec("exit3", [3, 2, 0, 3])
        .label("holt.claim.id", "claim-1");
    let created = engine.block_on(d.create(&spec)).unwrap();
    assert!(
        created.id.len() == 64 && created.id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{}",
        created.id
    );
    let before = engine.block_on(d.inspect(&created.id)).unwrap();
    assert_eq!(
        (before.state.status.as_str(), before.state.running),
        ("created", false)
    );
    // The exactly-once guard: the same name again is a conflict, not a second container.
    let again = engine.block_on(d.create(&spec)).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    engine.block_on(d.start(&created.id)).unwrap();
    let info = engine.exited(&created.id);
    assert_eq!(info.id, created.id);
    assert_eq!(info.name, spec.name());
    assert_eq!(info.state.exit_code, 3);
    assert!(!info.tty && !info.state.oom_killed && info.state.error.is_empty());
    let image = engine.block_on(d.image_inspect(&engine.image.tag)).unwrap();
    assert_eq!(info.image_id, image.id);
    assert_eq!(&info.labels, spec.labels());
    // Logs: each stream exactly; both together are the same lines, each stream in order.
    let only = |stdout, stderr| LogOptions {
        stdout,
        stderr,
        tail: None,
    };
    let out = engine
        .block_on(d.logs(&created.id, only(true, false)))
        .unwrap();
    assert_eq!(
        (text(&out.text), out.truncated),
        ("out 1\nout 2\nout 3\n", false)
    );
    let err = engine
        .block_on(d.logs(&created.id, only(false, true)))
        .unwrap();
    assert_eq!(text(&err.text), "err 1\nerr 2\n");
    let both = engine
        .block_on(d.logs(&created.id, LogOptions::default()))
        .unwrap();
    let lines: Vec<&str> = text(&both.text).lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, ["err 1", "err 2", "out 1", "out 2", "out 3"]);
    let outs: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("out"))
        .collect();
    assert_eq!(outs, ["out 1", "out 2", "out 3"]);
    assert_eq!(both.failure_text(), text(&both.text));
    // Remove: then it is not found, by any call.
    engine.block_on(d.remove(&created.id)).unwrap();
    for e in [
        engine
            .block_on(d.inspect(&created.id))
            .map(drop)
            .unwrap_err(),
        engine.block_on(d.remove(&created.id)).unwrap_err(),
        engine.block_on(d.start(&created.id)).unwrap_err(),
        engine
            .block_on(d.logs(&created.id, LogOptions::default()))
            .map(drop)
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
}

#[test]
fn the_failure_text_holds_the_last_100_lines() {
    let Some(engine) = Engine::get("docker_client::the_failure_text_holds_the_last_100_lines")
    else {
        return;
    };
    let d = &engine.docker;
    let created = engine
        .block_on(d.create(&engine.spec("many", [150, 0, 0, 1])))
        .unwrap();
    engine.block_on(d.start(&created.id)).unwrap();
    assert_eq!(engine.exited(&created.id).state.exit_code, 1);
    let logs = engine
        .block_on(d.logs(&created.id, LogOptions::default()))
        .unwrap();
    let expected: String = (51..=150).map(|i| format!("out {i}\n")).collect();
    assert_eq!(
        text(&logs.text),
        expected,
        "tail=100 asked Docker for the last 100"
    );
    let all = engine
        .block_on(d.logs(
            &created.id,
            LogOptions {
                tail: None,
                ..LogOptions::default()
            },
        ))
        .unwrap();
    assert_eq!(
        all.failure_text(),
        expected,
        "and the Failure text cuts any longer log to them"
    );
}

#[test]
fn containers_are_listed_by_label() {
    let Some(engine) = Engine::get("docker_client::containers_are_listed_by_label") else {
        return;
    };
    let d = &engine.docker;
    let mut ids = BTreeMap::new();
    for (suffix, role) in [("a1", "coder"), ("a2", "coder"), ("b1", "reviewer")] {
        let spec = engine
            .spec(suffix, [0, 0, 0, 0])
            .label("holt.agent.role", role);
        ids.insert(
            engine.block_on(d.create(&spec)).unwrap().id,
            spec.name().to_string(),
        );
    }
    let run = engine.run_label();
    let coders = engine
        .block_on(d.list(true, &[&run, "holt.agent.role=coder"]))
        .unwrap();
    let mut names: Vec<&str> = coders.iter().map(|c| c.names[0].as_str()).collect();
    names.sort();
    assert_eq!(names, [engine.name("a1"), engine.name("a2")]);
    for c in &coders {
        assert_eq!(ids[&c.id], c.names[0]);
        assert_eq!(c.state, "created");
        assert_eq!(c.labels["holt.agent.role"], "coder");
        assert!(c.created > 0);
    }
    assert_eq!(
        engine
            .block_on(d.list(true, &[&run, "holt.agent.role"]))
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        engine.block_on(d.list(false, &[&run])).unwrap().len(),
        0,
        "none is running"
    );
    assert_eq!(
        engine
            .block_on(d.list(true, &[&run, "holt.agent.role=nobody"]))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_sleeping_worker_is_stopped_by_sigterm() {
    let Some(engine) = Engine::get("docker_client::a_sleeping_worker_is_stopped_by_sigterm") else {
        return;
    };
    let d = &engine.docker;
    let created = engine
        .block_on(d.create(&engine.spec("sleeper", [1, 0, 600_000, 0])))
        .unwrap();
    engine.block_on(d.start(&created.id)).unwrap();
    // Already running: 304, success.
    engine.block_on(d.start(&created.id)).unwrap();
    // Its SIGTERM handler is in place once it has printed its line: stopped
    // before that (PID 1 ignores a signal it has no handler for) it would
    // be killed after the stop's 20 s, 137 (seen once in a clean clone's CI).
    let printed = support::wait_until(support::PATIENCE, || {
        let logs = engine
            .block_on(d.logs(&created.id, LogOptions::default()))
            .unwrap();
        logs.text.ends_with(b"out 1\n")
    });
    assert!(printed, "the sleeper never printed its line");
    let running = engine.block_on(d.inspect(&created.id)).unwrap();
    assert_eq!(
        (running.state.status.as_str(), running.state.running),
        ("running", true)
    );
    engine
        .block_on(d.stop(&created.id, Duration::from_secs(20)))
        .unwrap();
    let info = engine.block_on(d.inspect(&created.id)).unwrap();
    assert_eq!(info.state.status, "exited");
    assert_eq!(
        info.state.exit_code, 7,
        "its SIGTERM handler ran (a kill would be 137)"
    );
    engine
        .block_on(d.stop(&created.id, Duration::from_secs(20)))
        .unwrap(); // already stopped: 304
}

#[test]
fn the_spec_reaches_docker_as_written_and_nothing_more() {
    let Some(engine) =
        Engine::get("docker_client::the_spec_reaches_docker_as_written_and_nothing_more")
    else {
        return;
    };
    let d = &engine.docker;
    let workspace = TempDir::new();
    let host_path = workspace.path().to_str().unwrap().to_string();
    let spec = engine
        .spec("spec", [0, 0, 0, 0])
        .env("HOLT_AGENT_NAME", "coder")
        .env("REDIS_URL", "redis://:pw@redis:6379")
        .network("none")
        .workspace(&host_path, Access::ReadOnly);
    let created = engine.block_on(d.create(&spec)).unwrap();
    let field = |template: &str| docker_cli(&["inspect", "-f", template, &created.id]).unwrap();
    assert_eq!(field("{{json .Config.Cmd}}"), r#"["0","0","0","0"]"#);
    // Docker adds a default PATH to an image that sets none.
    let env = r#"["HOLT_AGENT_NAME=coder","REDIS_URL=redis://:pw@redis:6379","PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]"#;
    assert_eq!(field("{{json .Config.Env}}"), env);
    assert_eq!(field("{{.HostConfig.NetworkMode}}"), "none");
    assert_eq!(
        field("{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}};{{end}}"),
        format!("bind {host_path} /workspace false;")
    );
    assert_eq!(
        field("{{.HostConfig.Privileged}} {{json .HostConfig.CapAdd}} {{json .HostConfig.Binds}}"),
        "false null null"
    );
    assert_eq!(
        field("{{.Config.Tty}} {{.HostConfig.PidMode}}{{.HostConfig.IpcMode}}"),
        "false private"
    );
    // A network that does not exist: created, then start is refused for good.
    let lost = engine
        .spec("nonet", [0, 0, 0, 0])
        .network("sett-no-such-network");
    let id = engine.block_on(d.create(&lost)).unwrap().id;
    let e = engine.block_on(d.start(&id)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent, "{e}");
    // An image that does not exist: refused for good, and no container is left.
    let ghost = sett_orchestrator::docker::ContainerSpec::new(
        &engine.name("ghost"),
        "sett-no-such-image:never",
        vec![],
    )
    .label("sett.test.run", &engine.run);
    let e = engine.block_on(d.create(&ghost)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent, "{e}");
    assert_eq!(
        e.message(),
        "create container: 404 No such image: sett-no-such-image:never"
    );
    assert!(engine
        .block_on(d.list(true, &[&format!("sett.test.run={}", engine.run)]))
        .unwrap()
        .iter()
        .all(|c| c.names[0] != ghost.name()));
}
