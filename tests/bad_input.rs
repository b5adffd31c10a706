//! Hostile or malformed artefact events: none crashes the orchestrator, none
//! creates a claim or builds a key from a bad id, none leaks a payload into the
//! logs; the valid oddities (null sources, extra fields, 8 MiB payload) are claimed.

use sett_test_support as support;

use support::*;

const NOT_JSON: &str = "not valid JSON (or not UTF-8)";
const TOO_DEEP: &str = "JSON nested too deeply";
const NOT_OBJECT: &str = "not a JSON object";
const MISSING_ID: &str = "no id field";
const ID_NOT_STRING: &str = "id is not a string";
const ID_NOT_UUID: &str = "id is not a UUID in a form the Go client accepts";

/// The bad messages and the reason each `malformed_event` line must give.
fn corpus() -> Vec<(Vec<u8>, &'static str)> {
    let trailing = format!("{}x", uuid());
    let deep_id = format!("{{\"id\":{}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    vec![
        (b"not json".to_vec(), NOT_JSON),
        (b"".to_vec(), NOT_JSON),
        (b"{\"id\":".to_vec(), NOT_JSON),
        (b"{}".to_vec(), MISSING_ID),
        (b"{\"id\":null}".to_vec(), MISSING_ID),
        (
            b"{\"id\":42,\"structural_type\":\"Standard\"}".to_vec(),
            ID_NOT_STRING,
        ),
        (
            b"[{\"id\":\"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6\"}]".to_vec(),
            NOT_OBJECT,
        ),
        (b"\"just a string\"".to_vec(), NOT_OBJECT),
        (b"{\"id\":\"../x\"}".to_vec(), ID_NOT_UUID),
        (b"{\"id\":\"a*:b\"}".to_vec(), ID_NOT_UUID),
        (
            format!("{{\"id\":\"{trailing}\"}}").into_bytes(),
            ID_NOT_UUID,
        ),
        (b"{\"id\":\"\xff\xfe\x80\"}".to_vec(), NOT_JSON),
        (b"\xc3\x28\xa0\xa1 binary \x00\x01".to_vec(), NOT_JSON),
        (deep_id.into_bytes(), TOO_DEEP),
        (
            b"{\"id\":\"bad\",\"payload\":\"TOPSECRET\"}".to_vec(),
            ID_NOT_UUID,
        ),
        (
            b"{\"payload\":\"TOPSECRET\",\"id\":7}".to_vec(),
            ID_NOT_STRING,
        ),
    ]
}

/// An event for a stored artefact, with `edit` applied to the JSON.
fn valid_event(
    p: &mut Producer,
    payload: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (String, Vec<u8>) {
    let id = uuid();
    p.store(&id, "Standard", payload);
    let mut v: serde_json::Value =
        serde_json::from_str(&Producer::event_json(&id, "Standard", payload)).unwrap();
    edit(&mut v);
    (id, serde_json::to_vec(&v).unwrap())
}

#[test]
fn a_corpus_of_bad_messages_is_rejected_and_valid_oddities_are_claimed() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "bad");
    let orch = Orchestrator::start(&redis, "bad");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "bad");

    let bad = corpus();
    for (message, _) in &bad {
        p.publish_raw(message);
    }
    let null_sources = valid_event(&mut p, "n", |v| {
        v["source_artefacts"] = serde_json::Value::Null
    });
    let extra_fields = valid_event(&mut p, "e", |v| {
        v["unknown"] = serde_json::json!({"nested": [1, 2, {"x": null}]});
        v["another"] = serde_json::json!(3.5);
    });
    // Deep nesting in a field we do not read is skipped, not refused.
    let mut deep_extra = valid_event(&mut p, "d", |_| {});
    let tail = format!(",\"deep\":{}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    deep_extra.1.pop();
    deep_extra.1.extend_from_slice(tail.as_bytes());
    let huge = "P".repeat(8 * 1024 * 1024);
    let big = valid_event(&mut p, &huge, |_| {});
    let valid = [null_sources, extra_fields, deep_extra, big];
    for (_, message) in &valid {
        p.publish_raw(message);
    }
    // The subscription is read in order: once this claim is logged, every bad
    // message before it has been judged.
    let fresh = p.write("Standard", "fresh");
    let fresh_claim = wait_until(PATIENCE, || {
        orch.events("claim_created")
            .iter()
            .any(|c| c["artefact_id"] == fresh.as_str())
    });
    assert!(
        fresh_claim,
        "fresh artefact not claimed; stdout: {:#?}",
        orch.stdout()
    );
    let created = orch.wait_for_events("claim_created", 5);
    assert_eq!(created.len(), 5);
    let events = listener.wait_for(5);
    assert_eq!(events.len(), 5);

    let malformed = orch.events("malformed_event");
    let reasons: Vec<&str> = malformed
        .iter()
        .map(|m| m["reason"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = bad.iter().map(|(_, r)| *r).collect();
    assert_eq!(reasons, want);
    for (line, (message, _)) in malformed.iter().zip(&bad) {
        assert_eq!(line["level"], "warn");
        assert_eq!(line["bytes"], message.len() as u64);
        assert!(
            line["sample"].as_str().unwrap().len() <= 200 * 3,
            "sample too long: {line}"
        );
    }
    for (id, _) in &valid {
        assert!(p.claim_of(id).is_some(), "valid artefact {id} not claimed");
    }
    assert!(p.claim_of(&fresh).is_some());

    // No claim key was built from a bad id, in any instance.
    let mut conn = redis.conn();
    let index: Vec<String> = redis::cmd("KEYS")
        .arg("sett:*:claim_by_artefact:*")
        .query(&mut conn)
        .unwrap();
    assert_eq!(index.len(), 5, "{index:?}");
    let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    for key in &all {
        assert!(!key.contains("../x") && !key.contains("a*:b"), "{key}");
    }
    for key in &index {
        let id = key.strip_prefix("sett:bad:claim_by_artefact:").unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(id).unwrap().hyphenated().to_string(),
            id
        );
    }
    assert_eq!(p.claims(), 5);

    // Payloads never reach the logs, not even in a bad message's sample.
    let secret_sample = &malformed[bad.len() - 2]["sample"];
    assert_eq!(secret_sample, r#"{"id":"bad","payload""#);
    let (_, metrics) = orch.get("/metrics");
    let counted = format!("\nsett_orchestrator_malformed_events_total {}\n", bad.len());
    assert!(metrics.contains(&counted), "{metrics}");
    for line in orch.all_output() {
        assert!(!line.contains("TOPSECRET"), "payload leaked: {line}");
        assert!(
            !line.contains("PPPPPPPP"),
            "payload leaked: {}",
            &line[..line.len().min(300)]
        );
    }
    assert_eq!(orch.get("/healthz").0, 200);
    assert_eq!(orch.events("redis_error").len(), 0);
    assert_all_json(&orch);
}

#[test]
fn a_stored_artefact_that_cannot_be_judged_gets_no_claim() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "odd");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "odd");
    // A string where the hash should be, and a hash without structural_type.
    let (as_string, no_type) = (uuid(), uuid());
    redis::cmd("SET")
        .arg(p.artefact_key(&as_string))
        .arg("x")
        .query::<()>(&mut p.conn)
        .unwrap();
    redis::cmd("HSET")
        .arg(p.artefact_key(&no_type))
        .arg("id")
        .arg(&no_type)
        .query::<()>(&mut p.conn)
        .unwrap();
    p.publish_raw(Producer::event_json(&as_string, "Standard", "").as_bytes());
    p.publish_raw(Producer::event_json(&no_type, "Standard", "").as_bytes());
    let invalid = orch.wait_for_events("artefact_invalid", 2);
    let mut ids: Vec<&str> = invalid
        .iter()
        .map(|l| l["artefact_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![as_string.as_str(), no_type.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(p.claims(), 0);
    assert_eq!(p.index_entries(), 0);
    assert_eq!(orch.get("/healthz").0, 200);
    assert_all_json(&orch);
}
