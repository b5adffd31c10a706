//! `make demo`, minus the shell: a private redis-server, the orchestrator
//! with sett-demo's registry, and sett-demo itself, which must end with the
//! three expected outcomes; and, without the registry (Phase 1: no grants),
//! sett-demo must fail and say why. With Docker, the controller story the
//! way demo.sh plays it: its two expected outcomes, no container left.
//!
//! The private redis-server, the orchestrator (`$SETT_TEST_BIN`: `make
//! test` sets it to the shipped binary) and the skips are the orchestrator's
//! tests' own (sett-test-support).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sett_sim::docker_cli::docker_cli;
use sett_test_support::{skip, Orchestrator, RedisServer as Redis, PATIENCE};

const DEMO: &str = env!("CARGO_BIN_EXE_sett-demo");

/// The orchestrator on `redis`, instance `demo`, with `registry` when given;
/// returns once it has started.
fn start_orchestrator(redis: &Redis, registry: Option<&PathBuf>) -> Orchestrator {
    let file = registry.map(|f| f.to_str().unwrap().to_string());
    let env: Vec<(&str, &str)> = file
        .iter()
        .map(|f| ("SETT_CONFIG_FILE", f.as_str()))
        .collect();
    Orchestrator::start_env(redis, "demo", &env)
}

fn demo(args: &[&str]) -> Output {
    Command::new(DEMO).args(args).output().unwrap()
}

/// `out`'s stdout, once its exit status is 0 (else both outputs are shown).
fn succeeded(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    stdout
}

fn last_lines(out: &Output, n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = text.lines().map(String::from).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// SIGTERM; the exit code.
fn sigterm(mut orch: Orchestrator) -> Option<i32> {
    orch.signal(libc::SIGTERM);
    orch.wait_exit(PATIENCE).and_then(|status| status.code())
}

#[test]
fn the_demo_ends_with_the_three_expected_outcomes() {
    let redis = Redis::start();
    let registry = std::env::temp_dir().join(format!("sett-demo-smoke-{}.yml", std::process::id()));
    std::fs::write(&registry, demo(&["registry"]).stdout).unwrap();
    let orch = start_orchestrator(&redis, Some(&registry));
    let out = demo(&["--redis-url", &redis.url(), "--instance", "demo"]);
    let _ = std::fs::remove_file(&registry);
    let stdout = succeeded(&out);
    assert_eq!(
        last_lines(&out, 4),
        [
            "== outcomes",
            r#"ok     1. "build a bridge": complete after review (Reviewer), parallel (WorkerA, WorkerB), exclusive (Coder)"#,
            r#"ok     2. "fix the door [reject v1]": patch v1 rejected, reworked by Coder (feedback claim complete), v2 approved: complete"#,
            r#"ok     3. "fix the roof [reject all]": patch v1 reworked, v2 rejected at the limit: terminated, Failure MaxIterationsExceeded"#,
        ]
    );
    assert_eq!(stdout.matches("s  granted ").count(), 10, "{stdout}");
    assert_eq!(stdout.matches("stays dormant").count(), 3, "{stdout}");
    assert_eq!(stdout.matches(" terminated: ").count(), 3, "{stdout}");

    // On the blackboard: 12 claims (4 per story, feedback claims included),
    // and the keyspace notifications put back as they were.
    let mut conn = redis.conn();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sett:demo:claim:*")
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        keys.iter().filter(|k| !k.ends_with(":bids")).count(),
        12,
        "{keys:?}"
    );
    let (_, notify): (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut conn)
        .unwrap();
    assert_eq!(notify, "");
    assert_eq!(sigterm(orch), Some(0));
}

#[test]
fn without_the_registry_the_demo_fails_and_says_why() {
    let redis = Redis::start();
    let orch = start_orchestrator(&redis, None);
    let out = demo(&["--redis-url", &redis.url(), "--timeout", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let last = last_lines(&out, 3);
    assert!(
        last[0].starts_with(r#"FAILED 1. "build a bridge": did not settle in time: open: [claim "#)
            && last[0].ends_with(
                " pending_review]; artefacts without a claim: 0 (is the orchestrator running, with the demo's registry?)"
            ),
        "{stdout}"
    );
    assert_eq!(
        last[1..],
        [
            r#"FAILED 2. "fix the door [reject v1]": not played (an earlier story failed)"#,
            r#"FAILED 3. "fix the roof [reject all]": not played (an earlier story failed)"#,
        ]
    );
    assert_eq!(sigterm(orch), Some(0));
}

/// The clients subscribed as the simulated agents are (each to
/// `claim_events` and its own channel; the timeline uses patterns, the
/// Phase-1 orchestrator one channel): their `CLIENT LIST` ids.
fn agent_subscribers(conn: &mut redis::Connection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(conn).unwrap();
    list.lines()
        .filter(|l| l.contains(" sub=2 psub=0 "))
        .filter_map(|l| l.strip_prefix("id=")?.split(' ').next().map(String::from))
        .collect()
}

/// When the agents' subscriptions end under it (their clients killed),
/// sett-demo ends at once with exit 1 and says so, and puts Redis's
/// notification setting back (before, the ended agents went unnoticed and
/// the story waited out its timeout, here a minute).
#[test]
fn when_the_agents_subscriptions_end_the_demo_fails_at_once_and_puts_redis_back() {
    let redis = Redis::start();
    // No registry: the first story waits for grants that never come.
    let orch = start_orchestrator(&redis, None);
    let child = Command::new(DEMO)
        .args(["--redis-url", &redis.url(), "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = redis.conn();
    let notify = |conn: &mut redis::Connection| {
        let (_, flags): (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query(conn)
            .unwrap();
        flags
    };
    // The timeline's setting is made once every agent has subscribed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(notify(&mut conn).contains('K') && notify(&mut conn).contains('h')) {
        assert!(Instant::now() < deadline, "sett-demo never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let agents = agent_subscribers(&mut conn);
    assert_eq!(agents.len(), 4, "{agents:?}");
    for id in &agents {
        redis::cmd("CLIENT")
            .arg(&["KILL", "ID", id])
            .query::<()>(&mut conn)
            .unwrap();
    }
    // On a thread of its own: a demo that waited out its timeout fails here.
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output().unwrap());
    });
    let out = exited
        .recv_timeout(Duration::from_secs(30))
        .expect("sett-demo went on after its agents' subscriptions ended");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("sett-demo: the simulated agents stopped: their subscriptions ended"),
        "{stderr}"
    );
    assert_eq!(notify(&mut conn), "");
    assert_eq!(sigterm(orch), Some(0));
}

#[test]
fn without_redis_it_says_how_to_give_one() {
    let out = Command::new(DEMO).env_remove("REDIS_URL").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("sett-demo: no Redis: pass --redis-url or set REDIS_URL\n"),
        "{stderr}"
    );
}

/// Everything the controller story made, removed when dropped.
struct Controllers {
    instance: String,
    network: String,
    image: String,
}

impl Drop for Controllers {
    fn drop(&mut self) {
        for id in workers_of(&self.instance) {
            let _ = docker_cli(&["rm", "-f", &id]);
        }
        let _ = docker_cli(&["network", "rm", &self.network]);
        sett_sim::worker_image::remove(&self.image);
    }
}

/// The instance's containers (ids), as `docker ps -a` lists them.
fn workers_of(instance: &str) -> Vec<String> {
    let filter = format!("label=holt.instance.name={instance}");
    let ids = docker_cli(&["ps", "-aq", "--filter", &filter]).unwrap_or_default();
    ids.lines().map(String::from).collect()
}

#[test]
fn the_controller_story_ends_with_its_two_expected_outcomes() {
    let test = "the_controller_story_ends_with_its_two_expected_outcomes";
    if let Err(e) = docker_cli(&["version", "--format", "{{.Server.Version}}"]) {
        return skip(test, &format!("no Docker engine: {e}"));
    }
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let bin = sett_sim::worker_image::worker_bin(&root);
    if !bin.is_file() {
        return skip(test, &format!("no test worker at {}", bin.display()));
    }
    let instance = format!("demo-smoke-{}", std::process::id());
    let lab = Controllers {
        network: format!("holt-network-{instance}"),
        image: format!("sett-demo-worker:{instance}"),
        instance,
    };
    docker_cli(&["network", "create", &lab.network]).unwrap();
    let gateway = docker_cli(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        &lab.network,
    ])
    .unwrap();
    let built = demo(&["worker-image", bin.to_str().unwrap(), &lab.image]);
    let id = String::from_utf8_lossy(&built.stdout).trim().to_string();
    assert_eq!(
        id,
        docker_cli(&["image", "inspect", "-f", "{{.Id}}", &lab.image]).unwrap()
    );
    let registry = std::env::temp_dir().join(format!("{}.yml", lab.instance));
    std::fs::write(
        &registry,
        demo(&["registry", "--workers", &lab.image]).stdout,
    )
    .unwrap();
    // Also on the network's gateway, for the workers (then without
    // protected mode, which would refuse them).
    let redis = Redis::start_with(&["--bind", "127.0.0.1", &gateway, "--protected-mode", "no"]);
    let worker_url = format!("redis://{gateway}:{}", redis.port);
    let orch = Orchestrator::start_env(
        &redis,
        &lab.instance,
        &[
            ("SETT_CONFIG_FILE", registry.to_str().unwrap()),
            ("SETT_WORKER_REDIS_URL", &worker_url),
        ],
    );
    let out = demo(&[
        "workers",
        "--redis-url",
        &redis.url(),
        "--instance",
        &lab.instance,
        "--timeout",
        "60",
    ]);
    let _ = std::fs::remove_file(&registry);
    let stdout = succeeded(&out);
    assert_eq!(
        last_lines(&out, 3),
        [
            "== outcomes",
            "ok     4. three goals, Coder's max_concurrent 2: two Coder workers at once, the third goal queued and granted when one ended: three claims complete, one Code each",
            "ok     5. a Tester worker that exits 3: terminated (Worker failed with exit code 3); Failure WorkerFailure with the worker's logs",
        ]
    );
    assert_eq!(
        stdout.matches("s  granted exclusive to ").count(),
        4,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("waits in Coder's grant queue").count(),
        1,
        "{stdout}"
    );
    assert_eq!(sigterm(orch), Some(0));
    assert_eq!(workers_of(&lab.instance), Vec::<String>::new());
}
