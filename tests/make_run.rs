//! `make run` (scripts/run.sh): without `SETT_HTTP_ADDR` it listens on
//! 0.0.0.0:8080, or on a free port when 8080 is taken, and says which and
//! the URLs to try, on stderr; with `SETT_HTTP_ADDR` it uses that. The
//! orchestrator is the binary under test, against a test Redis.

use sett_test_support as support;

use std::net::TcpListener;

use support::*;

const RUN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/run.sh");

/// Runs scripts/run.sh on `redis` (or its own private one) with `extra`
/// variables; waits for the stderr line naming the HTTP address and returns
/// the script and its stderr so far.
fn make_run(redis: Option<&RedisServer>, extra: &[(&str, &str)]) -> (Orchestrator, Vec<String>) {
    let path = std::env::var("PATH").unwrap();
    let url = redis.map(RedisServer::url);
    let mut env = vec![("PATH", path.as_str()), ("SETT_INSTANCE_NAME", "run")];
    if let Some(url) = &url {
        env.push(("REDIS_URL", url));
    }
    env.extend_from_slice(extra);
    let run = Orchestrator::spawn_program(RUN, &env, &[bin()]);
    let told = wait_until(PATIENCE, || {
        run.stderr()
            .iter()
            .any(|l| l.starts_with("make run: HTTP on "))
    });
    assert!(told, "stderr: {:?}", run.stderr());
    let stderr = run.stderr();
    (run, stderr)
}

/// `make run: HTTP on {addr}: …` for the port `port` reached at `host`.
fn urls_line(addr: &str, host: &str, port: u16) -> String {
    let base = format!("http://{host}:{port}");
    format!("make run: HTTP on {addr}: {base}/healthz {base}/readyz {base}/livez {base}/metrics")
}

fn stops_cleanly(mut run: Orchestrator) {
    run.signal(libc::SIGTERM);
    let status = run.wait_exit(PATIENCE).expect("make run did not stop");
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?}; stderr: {:?}; stdout: {:?}",
        run.stderr(),
        run.stdout()
    );
}

#[test]
fn with_8080_taken_it_picks_a_free_port_and_prints_the_urls() {
    let redis = RedisServer::start();
    // Ours, or someone else's: either way 8080 is taken while this runs.
    let _held = TcpListener::bind("0.0.0.0:8080");
    let (mut run, stderr) = make_run(Some(&redis), &[]);
    assert_eq!(
        stderr[0],
        "make run: 0.0.0.0:8080 is taken; HTTP on a free port instead (set SETT_HTTP_ADDR to choose)"
    );
    let port: u16 = stderr[1]
        .strip_prefix("make run: HTTP on 0.0.0.0:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{stderr:?}"));
    assert_ne!(port, 8080);
    assert_eq!(
        stderr[1],
        urls_line(&format!("0.0.0.0:{port}"), "127.0.0.1", port)
    );
    run.http_port = port;
    assert!(run.wait_status("/healthz", 200));
    assert_eq!(
        run.get("/healthz").1,
        "{\"status\":\"healthy\",\"redis\":\"connected\"}\n"
    );
    let startup = run.wait_for_event("orchestrator_startup");
    assert_eq!(startup["http_addr"], format!("0.0.0.0:{port}"));
    stops_cleanly(run);
}

#[test]
fn a_given_sett_http_addr_is_used_and_its_urls_printed() {
    let redis = RedisServer::start();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (mut run, stderr) = make_run(Some(&redis), &[("SETT_HTTP_ADDR", &addr)]);
    assert_eq!(stderr, vec![urls_line(&addr, "127.0.0.1", port)]);
    run.http_port = port;
    assert!(run.wait_status("/healthz", 200));
    assert_eq!(
        run.wait_for_event("orchestrator_startup")["http_addr"],
        addr
    );
    stops_cleanly(run);
}

#[test]
fn without_redis_url_it_runs_a_private_redis_and_stops_it_on_exit() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (mut run, stderr) = make_run(None, &[("SETT_HTTP_ADDR", &addr)]);
    assert_eq!(stderr.len(), 2, "{stderr:?}");
    let redis_port: u16 = stderr[0]
        .strip_prefix("make run: private redis-server on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{stderr:?}"));
    assert!(stderr[0].ends_with(", instance 'run'"), "{stderr:?}");
    assert_eq!(stderr[1], urls_line(&addr, "127.0.0.1", port));
    run.http_port = port;
    assert!(run.wait_status("/healthz", 200));
    let startup = run.wait_for_event("orchestrator_startup");
    assert_eq!(startup["redis"], format!("redis://127.0.0.1:{redis_port}"));
    stops_cleanly(run);
    // The private Redis went with it.
    let gone = wait_until(PATIENCE, || {
        std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err()
    });
    assert!(
        gone,
        "the private redis-server on {redis_port} still answers"
    );
}
