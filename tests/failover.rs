//! Failover (issue 9 item 5): after the primary is demoted, its `READONLY`
//! answer ends the session; the reconnect, through an address that now leads
//! to the new primary, claims what was written there, exactly once.

use sett_test_support as support;

use support::proxy::Proxy;
use support::verify::{assert_exactly_once, stop};
use support::*;

fn replicaof(server: &RedisServer, primary: Option<&RedisServer>) {
    let mut cmd = redis::cmd("REPLICAOF");
    match primary {
        Some(p) => cmd.arg("127.0.0.1").arg(p.port),
        None => cmd.arg("NO").arg("ONE"),
    };
    cmd.query::<()>(&mut server.conn()).unwrap();
}

/// Waits until `replica`'s link to its primary is up (synced).
fn wait_synced(replica: &RedisServer) {
    let synced = wait_until(PATIENCE, || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.conn())
            .unwrap();
        info.contains("master_link_status:up")
    });
    assert!(synced, "replica on port {} never synced", replica.port);
}

#[test]
fn readonly_after_a_failover_reconnects_to_the_new_primary() {
    let old = RedisServer::start();
    let new = RedisServer::start();
    let inst = "failover";
    replicaof(&new, Some(&old));
    wait_synced(&new);
    // The name the orchestrator dials: it leads to the old primary for now.
    let proxy = Proxy::start(old.port);
    let mut orch = Orchestrator::spawn_on(&proxy.url(), inst, &[]);
    orch.wait_for_event("reconcile_complete");
    let mut on_old = Producer::new(&old, inst);
    let before = on_old.write("Standard", "before the failover");
    assert!(wait_until(PATIENCE, || on_old.claim_of(&before).is_some()));
    // Replication is asynchronous: promoted before the claim reached it, the
    // replica would lose it (and the old primary with it, once it follows).
    let mut on_new = Producer::new(&new, inst);
    assert!(wait_until(PATIENCE, || on_new.claim_of(&before).is_some()));

    // Failover: promote the replica, move the name, demote the old primary.
    replicaof(&new, None);
    proxy.set_target(new.port);
    replicaof(&old, Some(&new));
    wait_synced(&old);
    let listener = ClaimListener::start(&new, inst);
    let mut p = Producer::new(&new, inst);
    // The events reach the orchestrator on the old primary (replicated): its
    // claims there are refused with READONLY.
    let after: Vec<String> = (0..20).map(|_| p.write("Standard", "after")).collect();
    assert!(
        wait_until(PATIENCE, || after.iter().all(|id| p.claim_of(id).is_some())),
        "{:#?}",
        orch.stdout()
    );
    // The session ended before the claims on the new primary were made, but
    // its line may still be on its way to stdout.
    let readonly = |l: &serde_json::Value| {
        l["operation"] == "session" && l["error"].as_str().unwrap().contains("read only replica")
    };
    assert!(
        wait_until(PATIENCE, || orch.events("redis_error").iter().any(readonly)),
        "{:#?}",
        orch.events("redis_error")
    );
    orch.wait_for_event("redis_reconnected");
    assert!(orch.wait_status("/healthz", 200));
    stop(&mut orch);
    let events = listener.wait_for(after.len());
    assert_eq!(events.len(), after.len(), "{events:?}");
    let mut all = vec![before];
    all.extend(after);
    assert_exactly_once(&mut p, &all, &[], None);
}
