//! Reconnecting over a slow link (issue 9 item 3): through a proxy that adds
//! 0.5 s to every chunk each way (a 1 s round trip), the orchestrator starts,
//! claims, and, once the proxy drops every connection, reconnects and claims
//! again. Each connection step has its own time limit; no one limit covers
//! the five or six round trips of an attempt.

use sett_test_support as support;

use std::time::Duration;

use support::proxy::Proxy;
use support::verify::stop;
use support::*;

#[test]
fn through_a_half_second_proxy_it_starts_reconnects_and_claims() {
    let redis = RedisServer::start();
    let inst = "slow-link";
    let proxy = Proxy::start(redis.port);
    proxy.set_delay(Duration::from_millis(500));
    let mut orch = Orchestrator::spawn_on(&proxy.url(), inst, &[]);
    orch.wait_for_event("orchestrator_startup");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, inst);
    let first = p.write("Standard", "over a slow link");
    assert!(wait_until(PATIENCE, || p.claim_of(&first).is_some()));

    // Its answer may still be on the way back: then that claim's reply is lost
    // with the connection (logged as a claim error), not the claim.
    proxy.drop_connections();
    assert!(wait_until(PATIENCE, || orch
        .events("redis_error")
        .iter()
        .any(|l| l["operation"] == "session")));
    let lost = orch.events("redis_error");
    let back = orch.wait_for_event("redis_reconnected");
    eprintln!("lost: {lost:?}; back: {back}");
    assert!(orch.wait_status("/healthz", 200));
    let second = p.write("Standard", "after the reconnect");
    assert!(
        wait_until(PATIENCE, || p.claim_of(&second).is_some()),
        "{:#?}",
        orch.stdout()
    );
    let logged = wait_until(PATIENCE, || {
        orch.events("claim_created")
            .iter()
            .any(|l| l["artefact_id"] == second.as_str() && l["source"] == "event")
    });
    assert!(logged, "{:#?}", orch.stdout());
    assert!(orch.events("redis_unavailable").is_empty());
    // A 1 s round trip is slow but not a stall: no PING waited 2 s.
    assert!(
        orch.events("redis_slow").is_empty(),
        "{:#?}",
        orch.events("redis_slow")
    );
    stop(&mut orch);
    assert_eq!(p.claims(), 2);
}
