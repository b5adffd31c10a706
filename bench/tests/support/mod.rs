//! What the sett-bench tests share: a private `redis-server` per test, the
//! real orchestrator (optionally with an agent registry), and sett-bench
//! itself with `--json`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BENCH: &str = env!("CARGO_BIN_EXE_sett-bench");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Redis {
    pub port: u16,
    child: Child,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make deps installs it)");
        let r = Redis { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while redis::Client::open(r.url())
            .and_then(|c| c.get_connection())
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs sett-bench with `--json` and returns its report.
pub fn bench(redis: &Redis, args: &str) -> Value {
    let out = Command::new(BENCH)
        .args(["--redis-url", &redis.url(), "--instance", "t", "--json"])
        .args(args.split_whitespace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sett-bench {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `$SETT_ORCHESTRATOR_BIN`, else target/<profile>/sett-orchestrator next to this
/// test binary: `cargo test --workspace` builds it for the root package's tests.
/// (Not built from here: a nested cargo would wait forever on the outer one's lock.)
pub fn orchestrator_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("SETT_ORCHESTRATOR_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("sett-orchestrator");
    assert!(
        bin.exists(),
        "no orchestrator binary at {}: run `cargo test --workspace` (it builds it) or `cargo build -p sett-orchestrator` first",
        bin.display()
    );
    bin
}

pub struct Orchestrator(pub Child);

impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_orchestrator(redis: &Redis) -> Orchestrator {
    start_orchestrator_with(redis, "t", &[])
}

/// The orchestrator on instance `instance`, with `env` besides REDIS_URL and
/// the instance; returns once `/healthz` answers 200.
pub fn start_orchestrator_with(
    redis: &Redis,
    instance: &str,
    env: &[(&str, &str)],
) -> Orchestrator {
    let port = free_port();
    let child = Command::new(orchestrator_bin())
        .env_clear()
        .env("REDIS_URL", redis.url())
        .env("SETT_INSTANCE_NAME", instance)
        .env("SETT_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let o = Orchestrator(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut s| {
                use std::io::{Read, Write};
                s.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
                    .ok()?;
                let mut out = String::new();
                s.read_to_string(&mut out).ok()?;
                Some(out)
            });
        if body.is_some_and(|b| b.starts_with("HTTP/1.1 200")) {
            return o;
        }
        assert!(
            Instant::now() < deadline,
            "orchestrator never became healthy"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sett-bench lifecycle` on instance `instance` with `--json`.
pub fn bench_lifecycle(redis: &Redis, instance: &str, args: &str) -> Value {
    let out = Command::new(BENCH)
        .args([
            "lifecycle",
            "--redis-url",
            &redis.url(),
            "--instance",
            instance,
            "--json",
        ])
        .args(args.split_whitespace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sett-bench lifecycle {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A file in a fresh temporary directory, removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str, text: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!(
            "sett-bench-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        TempFile { path }
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
