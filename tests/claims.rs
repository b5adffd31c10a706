//! Claims from events: the contract's shapes, every structural type, duplicates.

mod support;

use support::*;

#[test]
fn a_standard_artefact_gets_exactly_one_contract_claim() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "t1");
    let orch = Orchestrator::start(&redis, "t1");
    let mut p = Producer::new(&redis, "t1");
    let id = p.write("Standard", "hello world");
    let events = listener.wait_for(1);
    let claim_id = p.claim_of(&id).expect("index key");
    let hash: std::collections::BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(format!("sett:t1:claim:{claim_id}")).query(&mut p.conn).unwrap();
    let want: std::collections::BTreeMap<String, String> = [
        ("id", claim_id.as_str()),
        ("artefact_id", id.as_str()),
        ("status", "pending_review"),
        ("granted_review_agents", "[]"),
        ("granted_parallel_agents", "[]"),
        ("granted_exclusive_agent", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(hash, want);
    assert_eq!(
        events,
        vec![format!(
            r#"{{"id":"{claim_id}","artefact_id":"{id}","status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#
        )]
    );
    let logged = orch.wait_for_event("claim_created");
    assert_eq!(logged["artefact_id"], id.as_str());
    assert_eq!(logged["claim_id"], claim_id.as_str());
    assert_eq!(logged["status"], "pending_review");
    assert!(logged["latency_ms"].as_f64().unwrap() >= 0.0);
}
