//! Test support: a real `redis-server` on a free port, the built orchestrator
//! as a child process, and a producer that writes artefacts the way the Go
//! client does (HSET the hash, then PUBLISH the JSON).
//!
//! Every wait here is bounded and polls; no test asserts on wall-clock speed.
//!
//! The binary under test is `$SETT_TEST_BIN`: `make test` points it at the
//! shipped one (bin/sett-orchestrator, static musl, `panic=abort`). Unset, the
//! tests fall back to cargo's debug build and say so once on stderr.

#![allow(dead_code)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub mod adoption;
pub mod certs;
pub mod docker;
pub mod e2e;
pub mod e2e_chain;
pub mod e2e_flow;
pub mod e2e_team;
pub mod e2e_wire;
pub mod fake_docker;
mod foreground;
pub mod lifecycle;
mod lifecycle_flow;
pub mod lifecycle_loop;
mod lifecycle_wire;
mod orchestrator;
pub mod phase1_board;
mod producer;
pub mod promtool;
pub mod proxy;
mod redis_server;
pub mod socket_proxy;
pub mod tls_redis;
pub mod verify;
pub mod worker_calls;
pub mod workers;

pub use orchestrator::*;
pub use producer::*;
pub use redis_server::*;

/// The orchestrator binary the tests run (see the module doc).
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var("SETT_TEST_BIN") {
        Ok(path) if !path.is_empty() => {
            assert!(
                std::path::Path::new(&path).is_file(),
                "SETT_TEST_BIN={path}: no such file (make build-orchestrator builds it)"
            );
            path
        }
        _ => {
            // cargo's debug build of the binary, beside the test binary's
            // `deps` folder (what CARGO_BIN_EXE_sett-orchestrator names in a
            // test file; this crate is a library, which is not told it).
            let debug = target_profile_dir().join("sett-orchestrator");
            assert!(
                debug.is_file(),
                "SETT_TEST_BIN is unset and there is no debug build at {} (set SETT_TEST_BIN to the binary to test)",
                debug.display()
            );
            let debug = debug.display();
            // Straight to stderr: the test harness would swallow eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "NOTE: SETT_TEST_BIN is unset; testing the debug build {debug}, not the shipped binary (make test sets it)"
            );
            debug.to_string()
        }
    })
}

/// Records that `test` could not run and why: a line in `target/test-skips/`
/// (`make test` lists them at the end) and on stderr. With `CI=true` a missing
/// prerequisite is a failure instead.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run: {why} (required when CI=true)");
    }
    let dir = skips_dir();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(format!("{test}.txt")), format!("{test}: {why}\n"));
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// `target/test-skips`: `$CARGO_TARGET_DIR/test-skips` when that is set,
/// as scripts/test-skips.sh reads it.
pub fn skips_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    repo_root().join(target).join("test-skips")
}

/// The running test binary's profile folder (`target/debug`: the binary is
/// in its `deps`).
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("a test binary lies in <profile>/deps")
        .to_path_buf()
}

/// The repository's root (this crate is tests/support).
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(std::path::Path::parent)
        .expect("tests/support lies two folders down")
}
/// Generous bound for anything the tests wait on (the machines are shared and noisy).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The six fields of a Phase-1 claim on `artefact`, as Phase 1 (ours or
/// Holt's) writes it: what the lifecycle adopts.
pub fn phase1_claim_fields<'a>(claim: &'a str, artefact: &'a str) -> [(&'static str, &'a str); 6] {
    [
        ("id", claim),
        ("artefact_id", artefact),
        ("status", "pending_review"),
        ("granted_review_agents", "[]"),
        ("granted_parallel_agents", "[]"),
        ("granted_exclusive_agent", ""),
    ]
}

/// A port nobody listens on right now, below the kernel's ephemeral range
/// (`ip_local_port_range`). A port the kernel hands out for `:0` comes from
/// that range, where every outgoing connection also takes its local port:
/// between this check and the orchestrator's bind, a test's client
/// connection could take it (`Address in use` at start-up, seen once in a
/// `make test`). Ports below the range are only ever taken by a bind.
pub fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (first, span) = (10_000u16, low.saturating_sub(10_000).max(1));
    for _ in 0..1000 {
        let port = first + (uuid::Uuid::new_v4().as_u128() % u128::from(span)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {first} and {low}");
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

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

// No `Default`: making one creates a directory.
#[allow(clippy::new_without_default)]
impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("sett-test-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Writes `name` with `content`; returns its path as text.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// With `refuse`, Redis refuses every write (`min-replicas-to-write 1` and no
/// replica attached: NOREPLICAS, scripts that write included; reads and
/// PUBLISH go on); without, it accepts them again.
pub fn refuse_writes(conn: &mut redis::Connection, refuse: bool) {
    redis::cmd("CONFIG")
        .arg(&[
            "SET",
            "min-replicas-to-write",
            if refuse { "1" } else { "0" },
        ])
        .query::<()>(conn)
        .unwrap();
}

/// With `refuse`, Redis refuses writes with `MISCONF` as a server whose
/// snapshot cannot be written does: a save point set, the server's
/// directory `dir` removed, and one `BGSAVE` failed (reads and PUBLISH go
/// on). Without, it accepts them again (no save points).
pub fn refuse_writes_misconf(conn: &mut redis::Connection, dir: &std::path::Path, refuse: bool) {
    let save = if refuse { "3600 1" } else { "" };
    redis::cmd("CONFIG")
        .arg(&["SET", "save", save])
        .query::<()>(conn)
        .unwrap();
    if !refuse {
        return;
    }
    std::fs::remove_dir_all(dir).unwrap();
    redis::cmd("BGSAVE").query::<()>(conn).unwrap();
    let failed = wait_until(PATIENCE, || {
        let info: String = redis::cmd("INFO").arg("persistence").query(conn).unwrap();
        info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_last_bgsave_status:err")
    });
    assert!(failed, "the snapshot did not fail");
}

/// `INFO commandstats`: command -> calls (scripts' own commands counted too).
pub fn command_calls(conn: &mut redis::Connection) -> std::collections::BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(":calls=")?;
            Some((name.to_string(), rest.split(',').next()?.parse().ok()?))
        })
        .collect()
}
