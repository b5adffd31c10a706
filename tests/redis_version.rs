//! The minimum Redis version (5.0) is checked at start-up: a server that says
//! it is older (`INFO server`, here rewritten on its way by a proxy in front
//! of a real redis-server) stops the start with exit 1 and one stderr line.

use sett_test_support as support;

use std::time::Duration;

use support::proxy::Proxy;
use support::*;

#[test]
fn a_redis_older_than_5_0_is_refused_at_start_up_in_one_line() {
    let redis = RedisServer::start();
    let version: String = redis::cmd("INFO")
        .arg("server")
        .query::<String>(&mut redis.conn())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:").map(str::to_string))
        .unwrap();
    let proxy = Proxy::start(redis.port);
    let real = format!("redis_version:{version}");
    let old = format!("redis_version:4{}", &version[1..]);
    proxy.set_rewrite(real.as_bytes(), old.as_bytes());
    let url = proxy.url();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut orch = Orchestrator::spawn(&[
        ("SETT_INSTANCE_NAME", "old"),
        ("REDIS_URL", url.as_str()),
        ("SETT_HTTP_ADDR", addr.as_str()),
    ]);
    let status = orch
        .wait_exit(Duration::from_secs(15))
        .expect("exits rather than retrying");
    assert_eq!(status.code(), Some(1));
    assert!(orch.wait_output_closed());
    assert_eq!(
        orch.stderr(),
        vec![format!(
            "sett-orchestrator: cannot reach Redis at {url}: the server is Redis 4{}; \
             this orchestrator needs Redis 5.0 or later",
            &version[1..]
        )]
    );
    // The real version is accepted.
    let fine = Orchestrator::start(&redis, "new");
    fine.wait_for_event("reconcile_complete");
}
