//! Artefact ids in every form the Go client accepts, on the running binary
//! (Phase 1): canonical in any letter case, `{braced}`, `urn:uuid:` (prefix
//! in any case) and 32 hex digits each get exactly one claim whose index key,
//! `artefact_id` and claim event carry the id exactly as written, whether it
//! came by event or by the catch-up scan; case twins are two artefacts.
//! Every other id gets a `malformed_event` line, and no key is ever built
//! from it (the instance's keys are listed exactly afterwards).

use sett_test_support as support;

use std::collections::{BTreeMap, BTreeSet};

use support::lifecycle::claim_event;
use support::*;

const ID_NOT_UUID: &str = "id is not a UUID in a form the Go client accepts";

/// Each accepted form once, plus a lower/upper-case twin pair.
fn accepted() -> Vec<String> {
    let twin = uuid();
    vec![
        uuid(),
        uuid().to_uppercase(),
        "4A7c8F1e-2b3D-4c5E-8f90-A1b2C3d4E5f6".to_string(),
        format!("{{{}}}", uuid()),
        format!("{{{}}}", uuid().to_uppercase()),
        format!("urn:uuid:{}", uuid()),
        format!("URN:Uuid:{}", uuid().to_uppercase()),
        uuid().replace('-', ""),
        uuid().replace('-', "").to_uppercase(),
        twin.to_uppercase(),
        twin,
    ]
}

/// Ids the Go client would refuse, or whose outer bytes it ignores.
fn refused() -> Vec<String> {
    let u = uuid();
    vec![
        "../x".into(),
        "a*b".into(),
        format!(" {}", uuid()),
        format!("{} ", uuid()),
        uuid().replacen('-', " ", 1),
        "f".repeat(64),
        format!("{}{}", uuid(), "0".repeat(10_000)),
        format!("{}x", uuid()),
        format!("{{{}}}garbage", uuid()),
        format!("urn:uuid:{}/..", uuid()),
        format!("({u})"),
        format!("*{}*", uuid()),
        format!("[{}]", uuid()),
        format!("{{{}*", uuid()),
    ]
}

fn store(p: &mut Producer, id: &str) {
    p.store(id, "Standard", "as written");
}

fn announce(p: &mut Producer, id: &str) {
    p.publish_raw(Producer::event_json(id, "Standard", "as written").as_bytes());
}

/// Every key of the instance, sorted.
fn all_keys(p: &mut Producer) -> BTreeSet<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("sett:{}:*", p.instance))
        .query(&mut p.conn)
        .unwrap();
    keys.into_iter().collect()
}

/// Each of `ids` has exactly one claim, under its spelling: index, hash,
/// event and log line; `extra` are the keys other than those.
fn assert_claimed_as_written(
    p: &mut Producer,
    orch: &Orchestrator,
    listener: &ClaimListener,
    ids: &[String],
    source: &str,
    extra: &[String],
) {
    let lines = orch.wait_for_events("claim_created", ids.len());
    assert_eq!(lines.len(), ids.len());
    let events = listener.wait_for(ids.len());
    assert_eq!(events.len(), ids.len());
    let events: BTreeSet<String> = events.into_iter().collect();
    let i = p.instance.clone();
    let mut keys: BTreeSet<String> = extra.iter().cloned().collect();
    let mut claims = BTreeSet::new();
    for id in ids {
        let claim = p
            .claim_of(id)
            .unwrap_or_else(|| panic!("no claim_by_artefact:{id}"));
        let hash: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("sett:{i}:claim:{claim}"))
            .query(&mut p.conn)
            .unwrap();
        let want: BTreeMap<String, String> = [
            ("id", claim.as_str()),
            ("artefact_id", id),
            ("status", "pending_review"),
            ("granted_review_agents", "[]"),
            ("granted_parallel_agents", "[]"),
            ("granted_exclusive_agent", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(hash, want, "{id}");
        assert!(
            events.contains(&claim_event(&claim, id).payload),
            "{id}: {events:#?}"
        );
        let line: Vec<_> = lines
            .iter()
            .filter(|l| l["artefact_id"] == id.as_str())
            .collect();
        assert_eq!(line.len(), 1, "{id}");
        assert_eq!(line[0]["claim_id"], claim.as_str());
        assert_eq!(line[0]["source"], source);
        keys.insert(format!("sett:{i}:artefact:{id}"));
        keys.insert(format!("sett:{i}:claim_by_artefact:{id}"));
        keys.insert(format!("sett:{i}:claim:{claim}"));
        claims.insert(claim);
    }
    assert_eq!(claims.len(), ids.len(), "one distinct claim per id");
    assert_eq!(all_keys(p), keys);
}

#[test]
fn every_accepted_form_announced_by_event_is_claimed_as_written() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "idev");
    let orch = Orchestrator::start(&redis, "idev");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "idev");
    let ids = accepted();
    for id in &ids {
        store(&mut p, id);
        announce(&mut p, id);
    }
    assert_claimed_as_written(&mut p, &orch, &listener, &ids, "event", &[]);
    assert_eq!(
        orch.events("malformed_event"),
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(
        orch.events("duplicate_artefact"),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn every_accepted_form_stored_while_down_is_claimed_as_written_by_the_catch_up() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "idcu");
    let mut p = Producer::new(&redis, "idcu");
    let ids = accepted();
    for id in &ids {
        store(&mut p, id);
    }
    let orch = Orchestrator::start(&redis, "idcu");
    let done = orch.wait_for_event("reconcile_complete");
    assert_eq!(done["claimed"], ids.len() as u64, "{done}");
    assert_claimed_as_written(&mut p, &orch, &listener, &ids, "reconcile", &[]);
}

#[test]
fn refused_ids_get_a_malformed_event_line_and_never_a_key() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "idno");
    let mut p = Producer::new(&redis, "idno");
    let bad = refused();
    // Stored before start-up (the catch-up scan meets them) and announced after.
    for id in &bad {
        store(&mut p, id);
    }
    let orch = Orchestrator::start(&redis, "idno");
    let done = orch.wait_for_event("reconcile_complete");
    assert_eq!(done["claimed"], 0, "{done}");
    for id in &bad {
        announce(&mut p, id);
    }
    // A good artefact after them: once it is claimed, they were all read.
    let good = uuid();
    store(&mut p, &good);
    announce(&mut p, &good);
    let lines = orch.wait_for_events("malformed_event", bad.len());
    assert_eq!(lines.len(), bad.len());
    for line in &lines {
        assert_eq!(line["reason"], ID_NOT_UUID, "{line}");
        assert!(line["sample"].as_str().unwrap().len() <= 200, "{line}");
    }
    let stored: Vec<String> = bad
        .iter()
        .map(|id| format!("sett:idno:artefact:{id}"))
        .collect();
    assert_claimed_as_written(&mut p, &orch, &listener, &[good], "event", &stored);
    // Whatever was built, no key but the hashes the test wrote names a refused id.
    for key in all_keys(&mut p) {
        if stored.contains(&key) {
            continue;
        }
        for id in &bad {
            assert!(!key.contains(id.as_str()), "{key} built from {id:?}");
        }
    }
    assert_eq!(
        metric_value(&orch.get("/metrics").1, "malformed_events_total"),
        bad.len() as u64
    );
}
