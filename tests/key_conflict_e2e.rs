//! A wrong-typed key the orchestrator owns, on the shipped binary: the
//! decision that would write it writes nothing, says so in one
//! `key_conflict` line and one count, and every other claim goes on.

use sett_test_support as support;

use support::e2e_wire::Hand;
use support::lifecycle::*;
use support::*;

#[test]
fn a_wrong_typed_counted_key_costs_one_line_and_holds_up_only_its_claim() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let dir = TempDir::new();
    let file = dir.file("sett.yml", "version: '1.0'\nagents:\n  Coder: {}\n");
    let orch = Orchestrator::start_env(
        &redis,
        "kc",
        &[("SETT_CONFIG_FILE", &file), ("SETT_BID_TIMEOUT", "0")],
    );
    orch.wait_for_event("reconcile_complete");
    let mut hand = Hand::new(&redis, "kc");
    let claim_of = |conn: &mut redis::Connection, id: &str| -> Option<String> {
        redis::cmd("GET")
            .arg(format!("sett:kc:claim_by_artefact:{id}"))
            .query(conn)
            .unwrap()
    };
    let (goal_a, goal_b) = (Art::goal(), Art::goal());
    let mut claims = Vec::new();
    for (i, goal) in [&goal_a, &goal_b].into_iter().enumerate() {
        hand.write(goal);
        assert!(wait_until(PATIENCE, || claim_of(&mut conn, &goal.id).is_some()));
        let claim = claim_of(&mut conn, &goal.id).unwrap();
        hand.bid(&claim, "Coder", "exclusive");
        orch.wait_for_events("claim_granted", i + 1);
        claims.push(claim);
    }
    let counted = format!("sett:kc:orchestrator:counted:{}", claims[0]);
    redis::cmd("RPUSH")
        .arg(&counted)
        .arg("junk")
        .query::<()>(&mut conn)
        .unwrap();
    let work_a = Art::work("Coder", &goal_a.id);
    hand.write(&work_a);
    let line = orch.wait_for_event("key_conflict");
    assert_eq!(line["key"], counted.as_str());
    assert_eq!(line["key_type"], "list");
    assert_eq!(line["artefact_id"], work_a.id.as_str());
    assert_eq!(line["level"], "warn");
    // The other claim completes; this one is untouched (no claim for its work either).
    hand.write(&Art::work("Coder", &goal_b.id));
    let done = orch.wait_for_event("claim_complete");
    assert_eq!(done["claim_id"], claims[1].as_str());
    let status: String = redis::cmd("HGET")
        .arg(format!("sett:kc:claim:{}", claims[0]))
        .arg("status")
        .query(&mut conn)
        .unwrap();
    assert_eq!(status, "pending_exclusive");
    assert_eq!(claim_of(&mut conn, &work_a.id), None);
    assert_eq!(orch.events("key_conflict").len(), 1);
    assert_eq!(orch.metric("key_conflicts_total"), 1);
    assert_eq!(orch.stderr(), Vec::<String>::new());
}
