//! A claim Redis refuses while the connection stays up (MISCONF, OOM,
//! NOREPLICAS, READONLY…) is not lost: the catch-up scan retries it. Tried
//! with NOREPLICAS and MISCONF.

use sett_test_support as support;

use support::*;

#[test]
fn a_refused_claim_is_retried_by_the_catch_up_scan() {
    // With no replica attached, every write (the claim script's too) is refused.
    refused_then_retried("refused", "NOREPLICAS", |_, conn, refuse| {
        refuse_writes(conn, refuse)
    });
}

#[test]
fn a_claim_refused_with_misconf_is_retried_by_the_catch_up_scan() {
    // A snapshot that cannot be written stops writes (stop-writes-on-bgsave-error).
    refused_then_retried("misconf", "MISCONF", |redis, conn, refuse| {
        refuse_writes_misconf(conn, &redis.dir, refuse)
    });
}

/// A claim refused with `code` (`refuse` turns the refusals on and off) is
/// made by the catch-up once Redis accepts writes again, the connection kept.
fn refused_then_retried(
    instance: &str,
    code: &str,
    refuse: impl Fn(&RedisServer, &mut redis::Connection, bool),
) {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, instance);
    let orch = Orchestrator::start(&redis, instance);
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, instance);
    let id = uuid();
    p.store(&id, "Standard", "x");
    refuse(&redis, &mut p.conn, true);
    p.publish_raw(Producer::event_json(&id, "Standard", "x").as_bytes());
    let refused = orch.wait_for_event("redis_error");
    assert_eq!(refused["operation"], "claim");
    assert_eq!(refused["artefact_id"], id.as_str());
    assert!(
        refused["error"].as_str().unwrap().contains(code),
        "{refused}"
    );
    // The scan it triggers is refused too, and says so.
    let failed_pass = wait_until(PATIENCE, || {
        orch.events("reconcile_complete")
            .iter()
            .any(|e| e["failed"] == 1)
    });
    assert!(failed_pass, "{:#?}", orch.stdout());
    assert_eq!(p.claim_of(&id), None);
    assert_eq!(
        orch.get("/healthz").0,
        200,
        "a refused write is not a lost connection"
    );
    refuse(&redis, &mut p.conn, false);
    let events = listener.wait_for(1);
    let claim_id = p.claim_of(&id).expect("claimed once Redis accepts writes");
    assert!(events[0].contains(&claim_id));
    let created = orch.wait_for_event("claim_created");
    assert_eq!(created["source"], "reconcile");
    assert_eq!(created["artefact_id"], id.as_str());
    assert_eq!(p.claims(), 1);
    assert_eq!(p.index_entries(), 1);
    assert!(orch.events("redis_reconnected").is_empty());
    assert_all_json(&orch);
}
