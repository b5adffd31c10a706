//! SIGTERM and SIGINT: a graceful exit 0 that finishes in-flight claims and
//! leaves no half-written claim; a second signal during the drain exits 1 at once.

use sett_test_support as support;

use std::collections::HashSet;

use support::*;

/// Claim ids and artefact ids of every claim hash in `instance`, checking that
/// each has exactly the six fields and that the index agrees both ways.
fn consistent_claims(p: &mut Producer) -> HashSet<String> {
    let index: Vec<String> = redis::cmd("KEYS")
        .arg(format!("sett:{}:claim_by_artefact:*", p.instance))
        .query(&mut p.conn)
        .unwrap();
    let mut artefacts = HashSet::new();
    for key in &index {
        let artefact = key.rsplit(':').next().unwrap().to_string();
        let claim_id: String = redis::cmd("GET").arg(key).query(&mut p.conn).unwrap();
        let claim: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("sett:{}:claim:{claim_id}", p.instance))
            .query(&mut p.conn)
            .unwrap();
        assert_eq!(claim.len(), 6, "claim {claim_id} of {artefact}: {claim:?}");
        assert_eq!(claim["id"], claim_id);
        assert_eq!(claim["artefact_id"], artefact);
        assert_eq!(claim["status"], "pending_review");
        artefacts.insert(artefact);
    }
    assert_eq!(
        p.claims(),
        index.len(),
        "a claim hash without an index entry"
    );
    artefacts
}

#[test]
fn sigterm_during_a_batch_exits_0_with_every_logged_claim_complete() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "term");
    let mut orch = Orchestrator::start(&redis, "term");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "term");
    // Stored first, then all 500 events in one pipeline, so SIGTERM lands mid-batch.
    let ids: Vec<String> = (0..500).map(|_| uuid()).collect();
    let mut burst = redis::pipe();
    for id in &ids {
        p.store(id, "Standard", "batch");
        burst
            .cmd("PUBLISH")
            .arg("sett:term:artefact_events")
            .arg(Producer::event_json(id, "Standard", "batch"))
            .ignore();
    }
    burst.query::<()>(&mut p.conn).unwrap();
    // Signal as soon as claiming has visibly begun (a tight, bounded poll).
    let deadline = std::time::Instant::now() + PATIENCE;
    while orch.events("claim_created").is_empty() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    orch.signal(libc::SIGTERM);

    let status = orch.wait_exit(PATIENCE).expect("no exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(orch.wait_output_closed());
    let requested = orch.events("shutdown_requested");
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["signal"], "SIGTERM");
    let shutdown = orch.events("orchestrator_shutdown");
    assert_eq!(shutdown.len(), 1);
    assert_eq!(shutdown[0]["forced"], false);
    assert_eq!(orch.events("shutdown_drain_timeout").len(), 0);

    let claimed = consistent_claims(&mut p);
    let logged: HashSet<String> = orch
        .events("claim_created")
        .iter()
        .map(|c| c["artefact_id"].as_str().unwrap().to_string())
        .collect();
    let differ: Vec<&String> = logged.symmetric_difference(&claimed).collect();
    assert!(
        differ.is_empty(),
        "{} logged, {} stored; differ on {differ:?}",
        logged.len(),
        claimed.len()
    );
    assert_eq!(listener.wait_for(claimed.len()).len(), claimed.len());
    assert_all_json(&orch);

    // Whatever the first one left unclaimed, the next one's catch-up claims.
    let next = Orchestrator::start(&redis, "term");
    next.wait_for_event("reconcile_complete");
    let all = consistent_claims(&mut p);
    assert_eq!(all, ids.iter().cloned().collect::<HashSet<_>>());
    assert_eq!(listener.wait_for(500).len(), 500);
    assert_all_json(&next);
}

#[test]
fn sigint_exits_0_and_closes_the_http_port() {
    let redis = RedisServer::start();
    let mut orch = Orchestrator::start(&redis, "int");
    let mut p = Producer::new(&redis, "int");
    let id = p.write("Standard", "x");
    orch.wait_for_event("claim_created");
    assert_eq!(orch.get("/livez").0, 200);
    orch.signal(libc::SIGINT);
    let status = orch.wait_exit(PATIENCE).expect("no exit after SIGINT");
    assert_eq!(status.code(), Some(0));
    assert!(orch.wait_output_closed());
    assert_eq!(orch.events("shutdown_requested")[0]["signal"], "SIGINT");
    let shutdown = orch.events("orchestrator_shutdown");
    assert_eq!(shutdown.len(), 1);
    assert_eq!(shutdown[0]["forced"], false);
    assert_eq!(orch.get("/livez").0, 0, "HTTP still answering after exit");
    assert!(p.claim_of(&id).is_some());
    assert_all_json(&orch);
}

/// Starts an orchestrator whose catch-up claims hang (writes paused), and
/// waits until a claim script is in flight.
fn stuck_in_a_claim(redis: &RedisServer, instance: &str) -> Orchestrator {
    stuck_claims(redis, instance);
    let orch = Orchestrator::start(redis, instance);
    orch.wait_claim_in_flight();
    orch
}

#[test]
fn a_second_signal_during_the_drain_exits_1_at_once() {
    let redis = RedisServer::start();
    let mut orch = stuck_in_a_claim(&redis, "twice");
    orch.signal(libc::SIGTERM);
    orch.wait_for_event("shutdown_requested");
    orch.signal(libc::SIGINT);
    let status = orch
        .wait_exit(PATIENCE)
        .expect("no exit after the second signal");
    assert_eq!(status.code(), Some(1));
    assert!(orch.wait_output_closed());
    let shutdown = orch.events("orchestrator_shutdown");
    assert_eq!(shutdown.len(), 1, "{shutdown:?}");
    assert_eq!(shutdown[0]["forced"], true);
    assert_eq!(shutdown[0]["signal"], "SIGINT");
    assert_eq!(shutdown[0]["level"], "warn");
    // It did not sit out the drain limit.
    assert_eq!(orch.events("shutdown_drain_timeout").len(), 0);
    assert_eq!(orch.events("claim_created").len(), 0);
    assert_all_json(&orch);
}

#[test]
fn a_drain_that_cannot_finish_is_cut_at_its_limit_and_exits_0() {
    let redis = RedisServer::start();
    let mut orch = stuck_in_a_claim(&redis, "limit");
    orch.signal(libc::SIGTERM);
    // While it drains, it still serves probes: not ready, but alive.
    orch.wait_for_event("shutdown_requested");
    let (status, body) = orch.get("/readyz");
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "unhealthy");
    assert_eq!(ready["error"], "shutting down");
    assert_eq!(orch.get("/livez").0, 200);
    let status = orch
        .wait_exit(PATIENCE)
        .expect("no exit after the drain limit");
    assert_eq!(status.code(), Some(0));
    assert!(orch.wait_output_closed());
    let cut = orch.events("shutdown_drain_timeout");
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0]["timeout_ms"], 5000);
    let shutdown = orch.events("orchestrator_shutdown");
    assert_eq!(shutdown.len(), 1);
    assert_eq!(shutdown[0]["forced"], false);
    assert_eq!(orch.events("claim_created").len(), 0);
    assert_all_json(&orch);
}
