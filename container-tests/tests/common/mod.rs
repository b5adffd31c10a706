//! Container-test support: the orchestrator image next to a Redis container on
//! a user-defined network of its own, both started with testcontainers'
//! blocking API; artefacts written and claims read from the host through
//! Redis's published port.
//!
//! The images are local (built by `make docker-orchestrator` and
//! scripts/container-tests.sh): testcontainers pulls only when the daemon
//! does not know the image, so nothing here needs a registry. What
//! testcontainers does not offer (network disconnect, `docker stats`, image
//! inspection) goes through the `docker` CLI.
//!
//! Every wait is bounded and polls; nothing asserts wall-clock speed.

#![allow(dead_code)]

mod blackboard;
pub mod holt_up;

// Not every test file uses every helper.
#[allow(unused_imports)]
pub use blackboard::{write_pipeline, ClaimListener};

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

/// Generous bound for anything the tests wait on (shared, noisy machines).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The orchestrator image under test (`make docker-orchestrator` builds it).
pub fn orchestrator_image() -> String {
    std::env::var("SETT_CT_IMAGE").unwrap_or_else(|_| "sett-orchestrator:latest".into())
}

/// The Redis image: built from the host's redis-server by
/// scripts/container-tests.sh, or e.g. `redis:7-alpine` where a registry is reachable.
pub fn redis_image() -> String {
    std::env::var("SETT_CT_REDIS_IMAGE").unwrap_or_else(|_| "sett-ct-redis:test".into())
}

/// Whether Docker answers. Without it the tests are skipped (saying so), but
/// in CI (`CI=true`) a missing Docker is a failure.
pub fn docker_or_skip(test: &str) -> bool {
    let answer = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let why = match answer {
        Err(e) => format!("the docker CLI cannot be run ({e})"),
        Ok(out) if !out.status.success() => {
            format!(
                "the Docker daemon does not answer: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
        Ok(_) => return true,
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: Docker is required when CI=true, but {why}");
    }
    // Straight to stderr: the test harness would swallow eprintln! of a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

/// Runs `docker args…`; returns (success, stdout trimmed, stderr trimmed).
pub fn docker(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// `docker inspect -f FORMAT target`, which must succeed.
pub fn inspect(target: &str, format: &str) -> String {
    let (ok, out, err) = docker(&["inspect", "-f", format, target]);
    assert!(ok, "docker inspect {target}: {err}");
    out
}

/// The image name split at its tag, as testcontainers wants it.
fn generic(image: &str) -> GenericImage {
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    GenericImage::new(name, tag)
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A network, a Redis container on it and (once started) the orchestrator.
/// Everything is removed on drop (testcontainers removes the containers, and
/// the network it created once its last container is gone).
pub struct Stack {
    pub network: String,
    pub redis_name: String,
    pub instance: String,
    pub redis: Container<GenericImage>,
    /// Redis's plain port, published to the host for the test's own client.
    plain_port: u16,
    pub orchestrator: Option<Container<GenericImage>>,
}

/// A read-only bind mount of `host` at `container`.
pub fn mount(host: &str, container: &str) -> Mount {
    Mount::bind_mount(host, container).with_access_mode(AccessMode::ReadOnly)
}

/// A fresh name suffix, so that parallel tests never share a container or network.
pub fn suffix() -> String {
    uuid()[..8].to_string()
}

impl Stack {
    /// A fresh network `sett-ct-…` with Redis on it, reachable from the host.
    pub fn redis(instance: &str) -> Stack {
        Stack::redis_with(instance, &suffix(), 6379, &[], None)
    }

    /// Redis named `sett-ct-redis-{suffix}` on network `sett-ct-net-{suffix}`,
    /// `args` added to its command line (e.g. TLS settings), `files` mounted,
    /// and its plain port `plain_port` published to the host.
    pub fn redis_with(
        instance: &str,
        suffix: &str,
        plain_port: u16,
        args: &[&str],
        files: Option<Mount>,
    ) -> Stack {
        let network = format!("sett-ct-net-{suffix}");
        let redis_name = format!("sett-ct-redis-{suffix}");
        let port = plain_port.to_string();
        let mut cmd = vec![
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            &port,
        ];
        cmd.extend_from_slice(args);
        let mut request = generic(&redis_image())
            .with_exposed_port(plain_port.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_network(&network)
            .with_container_name(&redis_name)
            .with_cmd(cmd);
        if let Some(files) = files {
            request = request.with_mount(files);
        }
        let redis = request.start().unwrap_or_else(|e| {
            panic!(
                "start {} (scripts/container-tests.sh builds it): {e}",
                redis_image()
            )
        });
        Stack {
            network,
            redis_name,
            instance: instance.into(),
            redis,
            plain_port,
            orchestrator: None,
        }
    }

    /// Starts the orchestrator image on the network, Redis addressed by its
    /// container name; waits for `orchestrator_startup`. `memory`: bytes, like `--memory`.
    pub fn start_orchestrator(&mut self, memory: Option<i64>, env: &[(&str, &str)]) {
        self.start_orchestrator_with(memory, env, None);
    }

    /// As [`Stack::start_orchestrator`], with `files` mounted; `env` may also
    /// replace `REDIS_URL` (the last value of a variable wins).
    pub fn start_orchestrator_with(
        &mut self,
        memory: Option<i64>,
        env: &[(&str, &str)],
        files: Option<Mount>,
    ) {
        let mut request = generic(&orchestrator_image())
            .with_exposed_port(8080.tcp())
            .with_wait_for(WaitFor::message_on_stdout(
                "\"event\":\"orchestrator_startup\"",
            ))
            .with_network(&self.network)
            .with_container_name(self.orchestrator_name())
            .with_env_var("SETT_INSTANCE_NAME", &self.instance)
            .with_env_var("REDIS_URL", format!("redis://{}:6379", self.redis_name));
        for (k, v) in env {
            request = request.with_env_var(*k, *v);
        }
        if let Some(files) = files {
            request = request.with_mount(files);
        }
        if let Some(bytes) = memory {
            request = request.with_host_config_modifier(move |hc| hc.memory = Some(bytes));
        }
        let container = request.start().unwrap_or_else(|e| {
            panic!(
                "start {} (make docker-orchestrator builds it): {e}",
                orchestrator_image()
            )
        });
        self.orchestrator = Some(container);
    }

    /// `sett-ct-{suffix}-orch`.
    pub fn orchestrator_name(&self) -> String {
        format!("{}-orch", self.redis_name.replace("-redis-", "-"))
    }

    pub fn orch(&self) -> &Container<GenericImage> {
        self.orchestrator.as_ref().expect("orchestrator started")
    }

    /// Redis's published port on the host (it changes when the container is
    /// reconnected to its network, so ask again each time).
    pub fn redis_port(&self) -> u16 {
        self.redis
            .get_host_port_ipv4(self.plain_port.tcp())
            .expect("redis host port")
    }

    pub fn conn(&self) -> redis::Connection {
        connect(self.redis_port())
    }

    /// `GET path` on the orchestrator's published HTTP port; status 0 if no answer.
    pub fn http_status(&self, path: &str) -> u16 {
        let Ok(port) = self.orch().get_host_port_ipv4(8080.tcp()) else {
            return 0;
        };
        http_status(port, path)
    }

    /// The orchestrator's stdout so far (JSON lines).
    pub fn orch_log(&self) -> String {
        String::from_utf8_lossy(&self.orch().stdout_to_vec().unwrap_or_default()).into_owned()
    }

    /// The orchestrator's log lines whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.orch_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Writes an artefact the way the Go producer does: HSET, then PUBLISH.
    pub fn write(
        &self,
        conn: &mut redis::Connection,
        structural_type: &str,
        payload: &str,
    ) -> String {
        let id = uuid();
        write_pipeline(
            &self.instance,
            &mut redis::pipe(),
            &id,
            structural_type,
            payload,
        )
        .query::<()>(conn)
        .unwrap();
        id
    }

    pub fn claim_of(&self, conn: &mut redis::Connection, artefact_id: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!(
                "sett:{}:claim_by_artefact:{artefact_id}",
                self.instance
            ))
            .query(conn)
            .unwrap()
    }

    /// Number of keys matching `sett:{instance}:{pattern}` (SCAN, not KEYS).
    pub fn count(&self, conn: &mut redis::Connection, pattern: &str) -> usize {
        let iter: redis::Iter<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(format!("sett:{}:{pattern}", self.instance))
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(conn)
            .unwrap();
        iter.count()
    }
}

/// A connection to Redis published on the host's `port` (retried while it starts).
pub fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut last = None;
    for _ in 0..100 {
        match client.get_connection() {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot connect to Redis through its published port: {last:?}");
}

/// `GET path` on 127.0.0.1:port; the status, or 0 when nothing answers.
pub fn http_status(port: u16, path: &str) -> u16 {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The container's memory cgroup (v1), as seen from the Docker host, if readable here.
pub fn memory_cgroup_file(container_id: &str, file: &str) -> Option<u64> {
    let path = format!("/sys/fs/cgroup/memory/docker/{container_id}/{file}");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
