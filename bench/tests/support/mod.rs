//! What the sett-bench tests share: sett-bench itself with `--json`; the
//! private `redis-server`, the shipped orchestrator as a child (optionally
//! with an agent registry) and temporary files are the orchestrator's
//! tests' own (sett-test-support).

#![allow(dead_code, unused_imports)]

use std::process::Command;

use serde_json::Value;
pub use sett_test_support::{Orchestrator, RedisServer as Redis, TempDir};

pub const BENCH: &str = env!("CARGO_BIN_EXE_sett-bench");

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
