//! Events that arrive before their hash (issue 9 item 4): an artefact whose
//! hash is absent or incomplete when its event is claimed is tried again
//! after 0.25 s, 1 s and 5 s before it is given up, with one line and nothing
//! for the tries in between.

use sett_test_support as support;

use std::thread;
use std::time::Duration;

use support::verify::stop;
use support::*;

/// Starts an orchestrator on `inst` whose first catch-up is done (so nothing
/// but the event and its retries can claim what follows).
fn ready(redis: &RedisServer, inst: &str) -> (Orchestrator, Producer) {
    let orch = Orchestrator::start(redis, inst);
    orch.wait_for_event("reconcile_complete");
    (orch, Producer::new(redis, inst))
}

fn created_for(orch: &Orchestrator, id: &str) -> Vec<serde_json::Value> {
    orch.events("claim_created")
        .into_iter()
        .filter(|l| l["artefact_id"] == id)
        .collect()
}

#[test]
fn an_event_published_50ms_before_its_hset_is_claimed() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "early");
    let (mut orch, mut p) = ready(&redis, "early");
    let id = uuid();
    p.publish_raw(Producer::event_json(&id, "Standard", "early").as_bytes());
    thread::sleep(Duration::from_millis(50));
    p.store(&id, "Standard", "early");
    let events = listener.wait_for(1);
    assert_eq!(announced_artefacts(&events), vec![id.clone()]);
    // The claim event is published by the script; its log line follows the answer.
    assert!(wait_until(PATIENCE, || !created_for(&orch, &id).is_empty()));
    let created = created_for(&orch, &id);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["source"], "event");
    assert!(orch.events("artefact_not_found").is_empty());
    assert_eq!(orch.metric("artefacts_not_found_total"), 0);
    stop(&mut orch);
    assert_eq!(p.claims(), 1);
}

#[test]
fn a_hash_written_in_two_hsets_300ms_apart_is_claimed() {
    let redis = RedisServer::start();
    let (mut orch, mut p) = ready(&redis, "twostep");
    let id = uuid();
    let key = p.artefact_key(&id);
    redis::cmd("HSET")
        .arg(&key)
        .arg(&[("id", id.as_str()), ("payload", "first half")])
        .query::<()>(&mut p.conn)
        .unwrap();
    p.publish_raw(Producer::event_json(&id, "Standard", "first half").as_bytes());
    thread::sleep(Duration::from_millis(300));
    p.store(&id, "Standard", "whole");
    assert!(wait_until(PATIENCE, || p.claim_of(&id).is_some()));
    // The claim exists once its script ran; its log line follows the answer.
    assert!(wait_until(PATIENCE, || !created_for(&orch, &id).is_empty()));
    let created = created_for(&orch, &id);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["source"], "event");
    assert!(orch.events("artefact_invalid").is_empty());
    assert_eq!(orch.metric("artefacts_invalid_total"), 0);
    stop(&mut orch);
    assert_eq!(p.claims(), 1);
}

#[test]
fn an_event_whose_hash_never_comes_is_given_up_once_after_the_retries() {
    let redis = RedisServer::start();
    let (mut orch, mut p) = ready(&redis, "never");
    let id = uuid();
    p.publish_raw(Producer::event_json(&id, "Standard", "never").as_bytes());
    // The tries at 0.25 s and 1.25 s are over; the last (6.25 s) is not: nothing yet.
    thread::sleep(Duration::from_millis(2_000));
    assert!(
        orch.events("artefact_not_found").is_empty(),
        "given up before its retries"
    );
    let gave_up = orch.wait_for_event("artefact_not_found");
    assert_eq!(gave_up["artefact_id"], id.as_str());
    assert_eq!(gave_up["level"], "warn");
    // Nothing more comes for it.
    thread::sleep(Duration::from_millis(1_000));
    assert_eq!(orch.events("artefact_not_found").len(), 1);
    assert_eq!(orch.metric("artefacts_not_found_total"), 1);
    assert!(orch.events("claim_created").is_empty());
    assert!(orch.events("redis_error").is_empty());
    stop(&mut orch);
    assert_eq!(p.claim_of(&id), None);
    assert_eq!(p.claims(), 0);
    assert_all_json(&orch);
}

#[test]
fn the_periodic_catch_up_claims_what_no_event_announced() {
    let redis = RedisServer::start();
    let mut orch = Orchestrator::start_env(&redis, "periodic", &[("SETT_CATCHUP_INTERVAL", "1s")]);
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "periodic");
    // Written after the start-up pass, and never announced.
    let id = uuid();
    p.store(&id, "Standard", "silent");
    assert!(wait_until(PATIENCE, || p.claim_of(&id).is_some()));
    // The claim exists once its script ran; its log line follows the answer.
    assert!(wait_until(PATIENCE, || !created_for(&orch, &id).is_empty()));
    let created = created_for(&orch, &id);
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["source"], "reconcile");
    assert!(orch.events("reconcile_complete").len() >= 2);
    stop(&mut orch);
    assert_eq!(p.claims(), 1);
}
