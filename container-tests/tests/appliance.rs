//! The appliance: the FROM-scratch image next to a Redis container on a
//! user-defined network. Claims, image shape and size, uid, Docker health,
//! `docker stop`, a 10,000-artefact burst under `--memory 50m`, and a Redis
//! network partition.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;

/// The workspace's version, which the image's tag and label must carry.
fn crate_version() -> String {
    let manifest = include_str!("../../Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.starts_with("version = "))
        .expect("version line");
    line.trim_start_matches("version = ")
        .trim_matches('"')
        .to_string()
}

#[test]
fn the_image_is_only_the_binary_small_and_labelled() {
    if !docker_or_skip("the_image_is_only_the_binary_small_and_labelled") {
        return;
    }
    let image = orchestrator_image();
    let size: u64 = inspect(&image, "{{.Size}}").parse().unwrap();
    println!(
        "image {image}: {size} bytes ({:.2} MB); target under 2.5 MB: {}",
        size as f64 / 1e6,
        size < 2_500_000
    );
    assert!(size < 5_000_000, "image is {size} bytes, over 5 MB");
    // One layer (the COPY of the binary) on an empty base.
    assert_eq!(inspect(&image, "{{len .RootFS.Layers}}"), "1");
    assert_eq!(inspect(&image, "{{.Config.User}}"), "65534:65534");
    assert_eq!(
        inspect(&image, "{{json .Config.ExposedPorts}}"),
        r#"{"8080/tcp":{}}"#
    );
    assert_eq!(
        inspect(&image, "{{json .Config.Entrypoint}}"),
        r#"["/sett-orchestrator"]"#
    );
    assert_eq!(
        inspect(&image, "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","/sett-orchestrator","healthcheck"]"#
    );
    let labels: BTreeMap<String, String> =
        serde_json::from_str(&inspect(&image, "{{json .Config.Labels}}")).unwrap();
    assert_eq!(labels["org.opencontainers.image.version"], crate_version());
    // The source is the checkout's origin remote as a web address, or no
    // label at all when there is none (never a placeholder).
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/oci-source.sh");
    let out = std::process::Command::new(script).output().unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    let source = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        labels
            .get("org.opencontainers.image.source")
            .map(String::as_str),
        source.strip_suffix('\n'),
        "{labels:?}"
    );
    // :VERSION is the same image as :latest.
    let name = image.rsplit_once(':').map_or(image.as_str(), |(n, _)| n);
    assert_eq!(
        inspect(&format!("{name}:{}", crate_version()), "{{.Id}}"),
        inspect(&image, "{{.Id}}")
    );
}

#[test]
fn an_artefact_in_the_redis_container_gets_its_claim_from_the_orchestrator_container() {
    if !docker_or_skip(
        "an_artefact_in_the_redis_container_gets_its_claim_from_the_orchestrator_container",
    ) {
        return;
    }
    let mut stack = Stack::redis("ct1");
    let listener = ClaimListener::start(stack.conn(), "ct1");
    stack.start_orchestrator(None, &[]);
    let mut conn = stack.conn();
    let terminal = stack.write(&mut conn, "Terminal", "the end");
    let id = stack.write(&mut conn, "Standard", "hello from the host");
    assert!(
        wait_until(PATIENCE, || !listener.messages().is_empty()),
        "no claim event; log:\n{}",
        stack.orch_log()
    );
    let claim_id = stack.claim_of(&mut conn, &id).expect("index key");
    let hash: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("sett:ct1:claim:{claim_id}"))
        .query(&mut conn)
        .unwrap();
    let want: BTreeMap<String, String> = [
        ("id", claim_id.as_str()),
        ("artefact_id", id.as_str()),
        ("status", "pending_review"),
        ("granted_review_agents", "[]"),
        ("granted_parallel_agents", "[]"),
        ("granted_exclusive_agent", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(hash, want);
    // Events are handled in order: the Terminal one was seen first and got nothing.
    assert_eq!(stack.claim_of(&mut conn, &terminal), None);
    assert_eq!(
        listener.messages(),
        vec![format!(
            r#"{{"id":"{claim_id}","artefact_id":"{id}","status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#
        )]
    );
    // Redis was found by container name: the startup line names it.
    let startup = &stack.events("orchestrator_startup")[0];
    assert_eq!(
        startup["redis"],
        format!("redis://{}:6379", stack.redis_name)
    );

    // The process runs as nobody (65534), as the Docker host sees it.
    let (ok, top, err) = docker(&["top", stack.orch().id(), "-o", "pid,uid,gid,comm"]);
    assert!(ok, "docker top: {err}");
    let rows: Vec<Vec<&str>> = top
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 1, "exactly one process in the container: {top}");
    // ps shows at most 15 characters of the command name.
    assert_eq!(rows[0][1..3], ["65534", "65534"], "{top}");
    assert_eq!(rows[0][3], "sett-orchestrat", "{top}");
}

#[test]
fn it_becomes_healthy_and_docker_stop_exits_0_within_the_grace_period() {
    if !docker_or_skip("it_becomes_healthy_and_docker_stop_exits_0_within_the_grace_period") {
        return;
    }
    let mut stack = Stack::redis("ct2");
    stack.start_orchestrator(None, &[]);
    let id = stack.orch().id().to_string();
    let mut health = String::new();
    let healthy = wait_until(PATIENCE, || {
        health = inspect(&id, "{{.State.Health.Status}}");
        health == "healthy"
    });
    assert!(
        healthy,
        "health stayed '{health}': {}",
        inspect(&id, "{{json .State.Health}}")
    );
    assert_eq!(stack.http_status("/livez"), 200);
    assert_eq!(stack.http_status("/readyz"), 200);

    let started = Instant::now();
    stack.orch().stop_with_timeout(Some(10)).unwrap();
    let took = started.elapsed();
    println!("docker stop took {took:?} (grace period 10 s)");
    // 0, not 137: it exited on SIGTERM by itself, before Docker's SIGKILL.
    assert_eq!(stack.orch().exit_code().unwrap(), Some(0));
    assert_eq!(inspect(&id, "{{.State.OOMKilled}}"), "false");
    let shutdown = stack.events("orchestrator_shutdown");
    assert_eq!(shutdown.len(), 1, "log:\n{}", stack.orch_log());
    assert_eq!(shutdown[0]["forced"], false);
    assert_eq!(stack.events("shutdown_requested")[0]["signal"], "SIGTERM");
}

#[test]
fn a_10000_artefact_burst_is_fully_claimed_within_50_mib() {
    if !docker_or_skip("a_10000_artefact_burst_is_fully_claimed_within_50_mib") {
        return;
    }
    const N: usize = 10_000;
    const LIMIT: i64 = 50 * 1024 * 1024;
    let mut stack = Stack::redis("ct3");
    let listener = ClaimListener::start(stack.conn(), "ct3");
    stack.start_orchestrator(Some(LIMIT), &[]);
    let id = stack.orch().id().to_string();
    assert_eq!(inspect(&id, "{{.HostConfig.Memory}}"), LIMIT.to_string());

    let payload: String = (0..4096).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let mut conn = stack.conn();
    let mut written = BTreeSet::new();
    for _ in 0..N / 500 {
        let mut pipe = redis::pipe();
        for _ in 0..500 {
            let artefact = uuid();
            write_pipeline("ct3", &mut pipe, &artefact, "Standard", &payload);
            written.insert(artefact);
        }
        pipe.query::<()>(&mut conn).unwrap();
    }
    let done = wait_until(Duration::from_secs(240), || {
        stack.count(&mut conn, "claim_by_artefact:*") >= N
    });
    let claimed = stack.count(&mut conn, "claim_by_artefact:*");
    assert!(
        done,
        "{claimed} of {N} claimed; running: {}",
        inspect(&id, "{{.State.Running}}")
    );
    // Every announcement made so far (a sentinel published after them marks
    // the end): exactly N and no more.
    assert_eq!(claimed, N);
    assert_eq!(stack.count(&mut conn, "claim:*"), N);
    let announced: Vec<String> = listener
        .all_before_now(&mut conn, "ct3")
        .iter()
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(m).unwrap()["artefact_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(announced.len(), N);
    assert_eq!(announced.into_iter().collect::<BTreeSet<_>>(), written);

    assert_eq!(inspect(&id, "{{.State.OOMKilled}}"), "false");
    assert_eq!(inspect(&id, "{{.State.Running}}"), "true");
    assert_eq!(stack.http_status("/healthz"), 200);
    let full_id = inspect(&id, "{{.Id}}");
    match memory_cgroup_file(&full_id, "memory.max_usage_in_bytes") {
        Some(peak) => {
            println!(
                "peak memory of the orchestrator container: {peak} bytes ({:.1} MiB) of 50 MiB",
                peak as f64 / 1048576.0
            );
            assert!(peak <= LIMIT as u64);
        }
        None => println!("peak memory: the memory cgroup is not readable from here"),
    }
    let (_, stats, _) = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &id]);
    println!("docker stats after the burst: {stats}");
}

#[test]
fn a_redis_partition_turns_healthz_503_and_claims_resume_after_it() {
    if !docker_or_skip("a_redis_partition_turns_healthz_503_and_claims_resume_after_it") {
        return;
    }
    let mut stack = Stack::redis("ct4");
    // Longer than the partition can last here, so it reconnects rather than gives up.
    stack.start_orchestrator(None, &[("SETT_REDIS_RETRY_TIMEOUT", "5m")]);
    assert!(wait_until(PATIENCE, || stack.http_status("/healthz") == 200));
    let mut conn = stack.conn();
    let before = stack.write(&mut conn, "Standard", "before");
    assert!(wait_until(PATIENCE, || stack
        .claim_of(&mut conn, &before)
        .is_some()));

    let (ok, _, err) = docker(&["network", "disconnect", &stack.network, &stack.redis_name]);
    assert!(ok, "disconnect: {err}");
    let mut status = 0;
    let down = wait_until(PATIENCE, || {
        status = stack.http_status("/healthz");
        status == 503
    });
    assert!(down, "/healthz answered {status} while Redis was cut off");
    assert_eq!(
        stack.http_status("/livez"),
        200,
        "the process itself is alive"
    );

    let (ok, _, err) = docker(&["network", "connect", &stack.network, &stack.redis_name]);
    assert!(ok, "connect: {err}");
    let up = wait_until(PATIENCE, || {
        status = stack.http_status("/healthz");
        status == 200
    });
    assert!(
        up,
        "/healthz answered {status} after Redis came back; log:\n{}",
        stack.orch_log()
    );
    // A partition shorter than the dead bound (10 s of silence) is a stall:
    // the session survives it (`redis_slow`); a longer one is rebuilt. Either
    // line is written as /healthz turns green, and reaches `docker logs` later.
    assert!(
        wait_until(PATIENCE, || !stack.events("redis_reconnected").is_empty()
            || !stack.events("redis_slow").is_empty()),
        "log:\n{}",
        stack.orch_log()
    );

    // Redis's published port moved with the reconnect: a new connection.
    let mut conn = stack.conn();
    let after = stack.write(&mut conn, "Standard", "after");
    assert!(
        wait_until(PATIENCE, || stack.claim_of(&mut conn, &after).is_some()),
        "log:\n{}",
        stack.orch_log()
    );
    assert_eq!(stack.count(&mut conn, "claim_by_artefact:*"), 2);
    assert_eq!(stack.count(&mut conn, "claim:*"), 2);
}
