//! `make run` / `make build-orchestrator` while `bin/sett-orchestrator` runs
//! (another terminal, a bench): the build installs with
//! `scripts/install-bin.sh`, a temporary file renamed over the old binary,
//! so it never fails with `Text file busy` as `cp` does.

use sett_test_support as support;

use std::process::Command;

use support::*;

#[test]
fn the_binary_is_reinstalled_while_it_runs() {
    let redis = RedisServer::start();
    let dir = TempDir::new();
    let installed = dir.path().join("sett-orchestrator");
    let installed = installed.to_str().unwrap();
    let install = |src: &str| {
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/install-bin.sh"
        ))
        .args([src, installed])
        .output()
        .unwrap()
    };
    assert!(install(bin()).status.success());
    let addr = format!("127.0.0.1:{}", free_port());
    let url = redis.url();
    let running = Orchestrator::spawn_program(
        installed,
        &[
            ("SETT_INSTANCE_NAME", "inst"),
            ("REDIS_URL", url.as_str()),
            ("SETT_HTTP_ADDR", addr.as_str()),
        ],
        &[],
    );
    running.wait_for_event("reconcile_complete");
    // What `cp` did: refused while the binary runs.
    let cp = Command::new("cp")
        .args([bin(), installed])
        .output()
        .unwrap();
    assert!(!cp.status.success());
    assert!(
        String::from_utf8_lossy(&cp.stderr).contains("Text file busy"),
        "{cp:?}"
    );
    // The install: a new file in place, the running one untouched.
    let other = dir.file("other", "#!/bin/sh\necho other\n");
    let out = install(&other);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read(installed).unwrap(),
        b"#!/bin/sh\necho other\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    assert!(running.wait_status("/healthz", 200));
}
