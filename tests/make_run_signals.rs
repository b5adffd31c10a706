//! `make run` (scripts/run.sh) and signals: one SIGTERM to make's process
//! group (what `timeout 90 make run` sends), to run.sh's, or to run.sh alone,
//! and one Ctrl-C (SIGINT to the group), is one graceful shutdown; a second
//! signal still cuts the drain short (exit 1), as the binary documents.
//!
//! The orchestrator is kept draining (a claim stuck on paused writes, until
//! the 5 s drain limit), so a signal that reached it twice would show as a
//! forced exit. Make is the real one, running the Makefile's `run` recipe.

use sett_test_support as support;

use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

use support::*;

const RUN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/run.sh");

/// Runs `program args` as a process group leader on a test Redis whose
/// claims hang, and waits until a claim is in flight.
fn draining(redis: &RedisServer, program: &str, args: &[&str]) -> Orchestrator {
    stuck_claims(redis, "run");
    let path = std::env::var("PATH").unwrap();
    let url = redis.url();
    let addr = format!("127.0.0.1:{}", free_port());
    let env = [
        ("PATH", path.as_str()),
        ("SETT_INSTANCE_NAME", "run"),
        ("REDIS_URL", url.as_str()),
        ("SETT_HTTP_ADDR", addr.as_str()),
    ];
    let run = Orchestrator::spawn_group_leader(program, &env, args);
    run.wait_claim_in_flight();
    run
}

/// `make run`, with the Makefile's recipe on the binary under test.
fn make_run(redis: &RedisServer) -> Orchestrator {
    let recipe = format!("run: ; @{RUN} {}", bin());
    draining(
        redis,
        "make",
        &["-f", "/dev/null", "--eval", &recipe, "run"],
    )
}

fn run_sh(redis: &RedisServer) -> Orchestrator {
    draining(redis, RUN, &[bin()])
}

/// Waits for the exit; returns the status and the events from
/// `shutdown_requested` on, as `event` or `event signal forced`.
fn shutdown(mut run: Orchestrator) -> (ExitStatus, Vec<String>) {
    let status = run.wait_exit(PATIENCE).expect("make run did not stop");
    assert!(run.wait_output_closed());
    assert_all_json(&run);
    let events: Vec<String> = run
        .stdout()
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .skip_while(|e| e["event"] != "shutdown_requested")
        .map(|e| {
            let mut said = vec![e["event"].as_str().unwrap().to_string()];
            for field in ["signal", "forced"] {
                if !e[field].is_null() {
                    said.push(e[field].to_string().replace('"', ""));
                }
            }
            said.join(" ")
        })
        .collect();
    (status, events)
}

/// A graceful shutdown on `signal` of an orchestrator stuck in a claim.
fn graceful(signal: &str) -> Vec<String> {
    vec![
        format!("shutdown_requested {signal}"),
        "shutdown_drain_timeout".to_string(),
        "orchestrator_shutdown false".to_string(),
    ]
}

#[test]
fn one_sigterm_to_make_and_its_group_as_timeout_sends_it_is_one_graceful_shutdown() {
    let redis = RedisServer::start();
    let run = make_run(&redis);
    // What `timeout` does: make itself, then the whole group.
    run.signal(libc::SIGTERM);
    run.signal_group(libc::SIGTERM);
    let (status, events) = shutdown(run);
    assert_eq!(events, graceful("SIGTERM"));
    // Make waits for its recipe (run.sh, exit 0), then dies of the signal.
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn ctrl_c_to_make_run_is_one_graceful_shutdown() {
    let redis = RedisServer::start();
    let run = make_run(&redis);
    run.signal_group(libc::SIGINT);
    let (status, events) = shutdown(run);
    assert_eq!(events, graceful("SIGINT"));
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

/// run.sh sent one SIGTERM by `send`: one graceful shutdown, exit 0.
fn run_sh_stops_gracefully(send: fn(&Orchestrator)) {
    let redis = RedisServer::start();
    let run = run_sh(&redis);
    send(&run);
    let (status, events) = shutdown(run);
    assert_eq!(events, graceful("SIGTERM"));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn one_sigterm_to_run_sh_and_its_group_is_one_graceful_shutdown_exit_0() {
    run_sh_stops_gracefully(|run| run.signal_group(libc::SIGTERM));
}

#[test]
fn one_sigterm_to_run_sh_alone_is_one_graceful_shutdown_exit_0() {
    run_sh_stops_gracefully(|run| run.signal(libc::SIGTERM));
}

#[test]
fn a_second_signal_to_the_group_still_forces_exit_1() {
    let redis = RedisServer::start();
    let run = run_sh(&redis);
    run.signal_group(libc::SIGTERM);
    run.wait_for_event("shutdown_requested");
    run.signal_group(libc::SIGINT);
    let (status, events) = shutdown(run);
    assert_eq!(
        events,
        [
            "shutdown_requested SIGTERM",
            "orchestrator_shutdown SIGINT true"
        ]
    );
    assert_eq!(status.code(), Some(1), "{status:?}");
}
