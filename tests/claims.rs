//! Claims from events: the contract's shapes, every structural type, duplicates.

use sett_test_support as support;

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
    let hash: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("sett:t1:claim:{claim_id}"))
        .query(&mut p.conn)
        .unwrap();
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

/// Starts an orchestrator and waits for its first catch-up scan to finish, so
/// every claim in the test comes from an event (the scan cannot race it).
fn settled(redis: &RedisServer, instance: &str) -> Orchestrator {
    let orch = Orchestrator::start(redis, instance);
    orch.wait_for_event("reconcile_complete");
    orch
}

#[test]
fn every_structural_type_but_terminal_gets_one_claim() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "types");
    let orch = settled(&redis, "types");
    let mut p = Producer::new(&redis, "types");
    let types = ["Standard", "Review", "Question", "Answer", "Failure"];
    let ids: Vec<String> = types.iter().map(|t| p.write(t, "x")).collect();
    // The Terminal artefact carries its own domain type, which the skip line must name.
    let terminal = uuid();
    p.store(&terminal, "Terminal", "done");
    redis::cmd("HSET")
        .arg(p.artefact_key(&terminal))
        .arg("type")
        .arg("FinalReport")
        .query::<()>(&mut p.conn)
        .unwrap();
    p.publish_raw(Producer::event_json(&terminal, "Terminal", "done").as_bytes());

    let skipped = orch.wait_for_event("terminal_skipped");
    assert_eq!(skipped["level"], "info");
    assert_eq!(skipped["artefact_id"], terminal.as_str());
    assert_eq!(skipped["type"], "FinalReport");
    let events = listener.wait_for(5);
    let created = orch.wait_for_events("claim_created", 5);

    assert_eq!(p.claims(), 5);
    assert_eq!(p.index_entries(), 5);
    assert_eq!(p.claim_of(&terminal), None);
    for id in &ids {
        let claim_id = p
            .claim_of(id)
            .unwrap_or_else(|| panic!("no claim for {id}"));
        let artefact: String = redis::cmd("HGET")
            .arg(format!("sett:types:claim:{claim_id}"))
            .arg("artefact_id")
            .query(&mut p.conn)
            .unwrap();
        assert_eq!(&artefact, id);
    }
    let announced = announced_artefacts(&events);
    let mut want = ids.clone();
    want.sort();
    let mut got = announced.clone();
    got.sort();
    assert_eq!(
        got, want,
        "one announcement per non-Terminal artefact, none for {terminal}"
    );
    assert_eq!(created.len(), 5);
    assert_eq!(orch.events("terminal_skipped").len(), 1);
    assert_all_json(&orch);
}

#[test]
fn an_event_published_five_times_makes_one_claim() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "dup");
    let orch = settled(&redis, "dup");
    let mut p = Producer::new(&redis, "dup");
    let id = uuid();
    p.store(&id, "Standard", "same");
    let event = Producer::event_json(&id, "Standard", "same");
    for _ in 0..5 {
        p.publish_raw(event.as_bytes());
    }
    // All five events are accounted for once there are one creation and four duplicates.
    let dups = orch.wait_for_events("duplicate_artefact", 4);
    let created = orch.wait_for_events("claim_created", 1);
    let claim_id = p.claim_of(&id).expect("index key");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["claim_id"], claim_id.as_str());
    assert_eq!(dups.len(), 4);
    for d in &dups {
        assert_eq!(d["level"], "warn");
        assert_eq!(d["artefact_id"], id.as_str());
        assert_eq!(d["existing_claim_id"], claim_id.as_str());
    }
    assert_eq!(p.claims(), 1);
    assert_eq!(p.index_entries(), 1);
    assert_eq!(listener.wait_for(1).len(), 1);
    // A sixth, unrelated artefact is announced after them: by then a second
    // announcement for `id` would have arrived too.
    let other = p.write("Standard", "other");
    let events = listener.wait_for(2);
    assert_eq!(events.len(), 2);
    assert!(events[1].contains(&other), "{events:?}");
    assert_all_json(&orch);
}

#[test]
fn an_event_without_its_artefact_hash_makes_no_claim() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "ghost");
    let orch = settled(&redis, "ghost");
    let mut p = Producer::new(&redis, "ghost");
    let ghost = uuid();
    p.publish_raw(Producer::event_json(&ghost, "Standard", "never stored").as_bytes());
    let missing = orch.wait_for_event("artefact_not_found");
    assert_eq!(missing["level"], "warn");
    assert_eq!(missing["artefact_id"], ghost.as_str());
    // A real artefact published after the ghost is the only claim and announcement.
    let real = p.write("Standard", "real");
    let events = listener.wait_for(1);
    orch.wait_for_event("claim_created");
    assert_eq!(events.len(), 1);
    assert!(events[0].contains(&real));
    assert_eq!(p.claim_of(&ghost), None);
    assert_eq!(p.claims(), 1);
    assert_eq!(p.index_entries(), 1);
    assert_eq!(orch.events("artefact_not_found").len(), 1);
    assert_all_json(&orch);
}

#[test]
fn claims_go_on_after_the_script_cache_is_flushed() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "t5");
    let orch = settled(&redis, "t5");
    let mut p = Producer::new(&redis, "t5");
    let first = p.write("Standard", "before");
    listener.wait_for(1);
    // The claim script is loaded once per session; a flush makes EVALSHA answer NOSCRIPT.
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut p.conn)
        .unwrap();
    let second = p.write("Standard", "after");
    listener.wait_for(2);
    assert!(p.claim_of(&first).is_some());
    assert!(p.claim_of(&second).is_some());
    assert_eq!(p.claims(), 2);
    assert_eq!(orch.wait_for_events("claim_created", 2).len(), 2);
    assert!(
        orch.events("redis_error").is_empty(),
        "{:#?}",
        orch.stdout()
    );
    assert_all_json(&orch);
}
