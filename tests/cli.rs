//! The command line of the real binary: `--version`, `--help`, unknown
//! arguments, and `healthcheck` (what the image's HEALTHCHECK runs) against a
//! running orchestrator, one whose Redis is gone, and a dead port.

use sett_test_support as support;

use std::process::{Command, Output};

use support::*;

/// Runs the binary with `args` and exactly `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run the binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn version_prints_the_name_and_version_and_exits_0() {
    for flag in ["--version", "-V", "version"] {
        let out = run(&[flag], &[]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(
            text(&out.stdout),
            format!("sett-orchestrator {VERSION}\n"),
            "{flag}"
        );
        assert_eq!(text(&out.stderr), "", "{flag}");
    }
}

#[test]
fn help_describes_usage_variables_and_endpoints_and_exits_0() {
    for flag in ["--help", "-h", "help"] {
        let out = run(&[flag], &[]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(text(&out.stderr), "", "{flag}");
        let help = text(&out.stdout);
        assert!(
            help.starts_with(&format!("sett-orchestrator {VERSION}\n")),
            "{help}"
        );
        for needle in [
            "USAGE:",
            "sett-orchestrator healthcheck",
            "--version | --help",
            "SETT_INSTANCE_NAME",
            "REDIS_URL",
            "SETT_HTTP_ADDR",
            "SETT_REDIS_RETRY_TIMEOUT",
            "SETT_RECONCILE",
            "SETT_REDIS_CA_FILE",
            "/healthz",
            "/readyz",
            "/livez",
            "/metrics",
        ] {
            assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
        }
    }
}

#[test]
fn unknown_arguments_exit_2_and_point_to_help() {
    let out = run(&["--bogus", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "sett-orchestrator: unknown arguments '--bogus x' (see --help)\n"
    );
}

#[test]
fn healthcheck_exits_0_against_a_healthy_orchestrator() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "cli1");
    assert!(orch.wait_status("/healthz", 200));
    let addr = format!("127.0.0.1:{}", orch.http_port);
    let out = run(&["healthcheck"], &[("SETT_HTTP_ADDR", &addr)]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "healthy\n");
    assert_eq!(text(&out.stderr), "");
    // An all-interfaces listen address is probed on loopback (as in the image).
    let any = format!("0.0.0.0:{}", orch.http_port);
    let out = run(&["healthcheck"], &[("SETT_HTTP_ADDR", &any)]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
}

#[test]
fn healthcheck_exits_1_when_the_orchestrator_has_lost_redis() {
    let mut redis = RedisServer::start();
    let orch = Orchestrator::start_env(&redis, "cli2", &[("SETT_REDIS_RETRY_TIMEOUT", "5m")]);
    assert!(orch.wait_status("/healthz", 200));
    redis.kill();
    assert!(orch.wait_status("/healthz", 503));
    let addr = format!("127.0.0.1:{}", orch.http_port);
    let out = run(&["healthcheck"], &[("SETT_HTTP_ADDR", &addr)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(err.starts_with("unhealthy: HTTP/1.1 503 "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn healthcheck_exits_1_against_a_dead_port() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = run(&["healthcheck"], &[("SETT_HTTP_ADDR", &addr)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!("unhealthy: cannot connect to {addr}: Connection refused (os error 111)\n")
    );
}

#[test]
fn healthcheck_exits_1_on_an_invalid_address() {
    let out = run(&["healthcheck"], &[("SETT_HTTP_ADDR", "nowhere")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("unhealthy: SETT_HTTP_ADDR is invalid: "),
        "{err}"
    );
}
