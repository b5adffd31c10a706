//! The threads of a running orchestrator are the ones `src/main.rs` lists,
//! whatever `SMOL_THREADS` says: the executor is pinned to one thread.

use sett_test_support as support;

use support::verify::stop;
use support::*;

/// The names (`comm`) of the process's threads, sorted.
fn thread_names(pid: i32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let comm = task.unwrap().path().join("comm");
            std::fs::read_to_string(comm).unwrap().trim().to_string()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_threads_are_the_documented_ones_whatever_smol_threads_says() {
    let redis = RedisServer::start();
    // A numeric Redis host: no name to resolve, so no `blocking` thread.
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    for extra in [vec![], vec![("SMOL_THREADS", "8")]] {
        let mut orch = Orchestrator::start_env(&redis, "threads", &extra);
        // Every path has run once: claim, log, probe.
        Producer::new(&redis, "threads").write("Standard", "x");
        orch.wait_for_event("claim_created");
        assert_eq!(orch.get("/healthz").0, 200);
        assert_eq!(
            thread_names(orch.pid()),
            ["async-io", "log-writer", "sett-orchestrat", "smol-1"],
            "with {extra:?}"
        );
        stop(&mut orch);
    }
}
