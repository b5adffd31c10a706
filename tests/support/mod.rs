//! Test support: a real `redis-server` on a free port, the built orchestrator
//! as a child process, and a producer that writes artefacts the way the Go
//! client does (HSET the hash, then PUBLISH the JSON).
//!
//! Every wait here is bounded and polls; no test asserts on wall-clock speed.

#![allow(dead_code)]

pub mod verify;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sett-orchestrator");
/// Generous bound for anything the tests wait on (the machines are shared and noisy).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A private `redis-server` (no persistence unless asked), killed on drop.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// `extra` are redis-server arguments, e.g. `["--appendonly", "yes"]`.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("sett-test-redis-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer {
            port: free_port(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut args: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--dir".into(),
            self.dir.display().to_string(),
        ];
        if !self.extra.iter().any(|a| a == "--appendonly") {
            args.extend(["--appendonly".into(), "no".into()]);
        }
        args.extend(self.extra.iter().cloned());
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        let (port, url) = (self.port, self.url());
        assert!(
            wait_until(PATIENCE, || redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()),
            "redis-server did not start on port {port}"
        );
    }

    /// The URL to reach it, with the `--requirepass` password when it has one.
    pub fn url(&self) -> String {
        match self.password() {
            Some(pw) => self.url_with_password(pw),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The `--requirepass` argument it was started with, if any.
    pub fn password(&self) -> Option<&str> {
        let at = self.extra.iter().position(|a| a == "--requirepass")?;
        self.extra.get(at + 1).map(String::as_str)
    }

    /// `redis://:{password}@127.0.0.1:{port}` (any password, right or wrong).
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}", self.port)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// SIGKILLs the server (the port stays reserved for [`RedisServer::restart`]).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory (AOF data survives).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The orchestrator binary as a child process, its stdout and stderr captured.
pub struct Orchestrator {
    pub http_port: u16,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// How many of stdout and stderr have reached end of file.
    closed: Arc<AtomicUsize>,
}

fn capture(
    stream: impl Read + Send + 'static,
    closed: &Arc<AtomicUsize>,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (sink, closed) = (lines.clone(), closed.clone());
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
        closed.fetch_add(1, Ordering::SeqCst);
    });
    lines
}

impl Orchestrator {
    /// Spawns the binary with exactly `env` (plus PATH); does not wait for start-up.
    pub fn spawn(env: &[(&str, &str)]) -> Orchestrator {
        Orchestrator::spawn_args(env, &[])
    }

    pub fn spawn_args(env: &[(&str, &str)], args: &[&str]) -> Orchestrator {
        Orchestrator::spawn_program(BIN, env, args)
    }

    /// Spawns `program` (the binary, or e.g. `qemu-aarch64` with the binary as
    /// its first argument) with exactly `env`; does not wait for start-up.
    pub fn spawn_program(program: &str, env: &[(&str, &str)], args: &[&str]) -> Orchestrator {
        let http_port = env
            .iter()
            .find(|(k, _)| *k == "SETT_HTTP_ADDR")
            .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
            .unwrap_or(0);
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn orchestrator");
        let closed = Arc::new(AtomicUsize::new(0));
        let stdout = capture(child.stdout.take().unwrap(), &closed);
        let stderr = capture(child.stderr.take().unwrap(), &closed);
        Orchestrator {
            http_port,
            child,
            stdout,
            stderr,
            closed,
        }
    }

    /// Starts one on `redis` for `instance` and waits for `orchestrator_startup`.
    pub fn start(redis: &RedisServer, instance: &str) -> Orchestrator {
        Orchestrator::start_env(redis, instance, &[])
    }

    pub fn start_env(redis: &RedisServer, instance: &str, extra: &[(&str, &str)]) -> Orchestrator {
        let addr = format!("127.0.0.1:{}", free_port());
        let url = redis.url();
        let mut env = vec![
            ("SETT_INSTANCE_NAME", instance),
            ("REDIS_URL", url.as_str()),
            ("SETT_HTTP_ADDR", addr.as_str()),
        ];
        env.extend_from_slice(extra);
        let o = Orchestrator::spawn(&env);
        o.wait_for_event("orchestrator_startup");
        o
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Parsed stdout lines whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    pub fn wait_for_event(&self, event: &str) -> serde_json::Value {
        self.wait_for_events(event, 1).remove(0)
    }

    pub fn wait_for_events(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        let ok = wait_until(PATIENCE, || self.events(event).len() >= n);
        assert!(
            ok,
            "expected {n} {event} lines; stdout: {:#?}\nstderr: {:#?}",
            self.stdout(),
            self.stderr()
        );
        self.events(event)
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for exit at most `limit`; `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    /// Waits (bounded) until stdout and stderr are both at end of file, so
    /// `stdout()`/`stderr()` are complete; call after the process exited.
    pub fn wait_output_closed(&self) -> bool {
        wait_until(PATIENCE, || self.closed.load(Ordering::SeqCst) == 2)
    }

    /// Every stdout and stderr line, for "never appears anywhere" checks.
    pub fn all_output(&self) -> Vec<String> {
        let mut all = self.stdout();
        all.extend(self.stderr());
        all
    }

    /// `(status, body)` of `GET path` on the HTTP port.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(
            self.http_port,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
    }

    /// Polls `path` until it answers `status`.
    pub fn wait_status(&self, path: &str, status: u16) -> bool {
        wait_until(PATIENCE, || self.get(path).0 == status)
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts every stdout line is a JSON object with string `ts`, `level` and `event`.
pub fn assert_all_json(orch: &Orchestrator) {
    for line in orch.stdout() {
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        for field in ["ts", "level", "event"] {
            assert!(v[field].is_string(), "no string {field} in: {line}");
        }
        assert!(
            ["info", "warn", "error"].contains(&v["level"].as_str().unwrap()),
            "bad level: {line}"
        );
    }
}

/// Sends raw bytes, returns the whole response (head and body) as text.
pub fn http_exchange(port: u16, raw: &[u8]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends raw bytes, returns `(status, body)`; `(0, "")` when nothing came back.
pub fn http_request(port: u16, raw: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Writes artefacts the way the Go producer does.
pub struct Producer {
    pub instance: String,
    pub conn: redis::Connection,
}

impl Producer {
    pub fn new(redis: &RedisServer, instance: &str) -> Producer {
        Producer {
            instance: instance.to_string(),
            conn: redis.conn(),
        }
    }

    pub fn artefact_key(&self, id: &str) -> String {
        format!("sett:{}:artefact:{id}", self.instance)
    }

    pub fn event_json(id: &str, structural_type: &str, payload: &str) -> String {
        serde_json::json!({
            "id": id, "logical_id": id, "version": 1, "structural_type": structural_type,
            "type": "GoalDefined", "payload": payload, "source_artefacts": [], "produced_by_role": "user"
        })
        .to_string()
    }

    /// HSET only (no event), e.g. for artefacts written while no orchestrator runs.
    pub fn store(&mut self, id: &str, structural_type: &str, payload: &str) {
        redis::cmd("HSET")
            .arg(self.artefact_key(id))
            .arg(&[
                ("id", id),
                ("logical_id", id),
                ("version", "1"),
                ("structural_type", structural_type),
                ("type", "GoalDefined"),
                ("payload", payload),
                ("source_artefacts", "[]"),
                ("produced_by_role", "user"),
            ])
            .query::<()>(&mut self.conn)
            .unwrap();
    }

    pub fn publish_raw(&mut self, message: &[u8]) {
        redis::cmd("PUBLISH")
            .arg(format!("sett:{}:artefact_events", self.instance))
            .arg(message)
            .query::<i64>(&mut self.conn)
            .unwrap();
    }

    /// HSET then PUBLISH; returns the new artefact id.
    pub fn write(&mut self, structural_type: &str, payload: &str) -> String {
        let id = uuid();
        self.store(&id, structural_type, payload);
        self.publish_raw(Producer::event_json(&id, structural_type, payload).as_bytes());
        id
    }

    pub fn count(&mut self, pattern: &str) -> usize {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("sett:{}:{pattern}", self.instance))
            .query(&mut self.conn)
            .unwrap();
        keys.len()
    }

    pub fn claims(&mut self) -> usize {
        self.count("claim:*")
    }

    pub fn index_entries(&mut self) -> usize {
        self.count("claim_by_artefact:*")
    }

    pub fn claim_of(&mut self, artefact_id: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!(
                "sett:{}:claim_by_artefact:{artefact_id}",
                self.instance
            ))
            .query(&mut self.conn)
            .unwrap()
    }
}

/// Collects every message on `claim_events` in a background thread.
pub struct ClaimListener {
    messages: Arc<Mutex<Vec<String>>>,
}

impl ClaimListener {
    pub fn start(redis: &RedisServer, instance: &str) -> ClaimListener {
        ClaimListener::start_on(redis.conn(), instance)
    }

    /// Listens on `conn` (e.g. a TLS connection the test opened itself).
    pub fn start_on(mut conn: redis::Connection, instance: &str) -> ClaimListener {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        let channel = format!("sett:{instance}:claim_events");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe(&channel).unwrap();
            ready_tx.send(()).unwrap();
            while let Ok(msg) = pubsub.get_message() {
                sink.lock()
                    .unwrap()
                    .push(msg.get_payload::<String>().unwrap());
            }
        });
        ready_rx.recv().unwrap();
        ClaimListener { messages }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let ok = wait_until(PATIENCE, || self.messages.lock().unwrap().len() >= n);
        assert!(
            ok,
            "expected {n} claim events, got {}",
            self.messages.lock().unwrap().len()
        );
        self.messages()
    }
}
