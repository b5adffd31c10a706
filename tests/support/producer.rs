//! Writes artefacts the way the Go producer does, and listens on `claim_events`.

use std::sync::{Arc, Mutex};
use std::thread;

use super::*;

/// Writes artefacts the way the Go producer does.
pub struct Producer {
    pub instance: String,
    /// `sett` (or `holt`): every key and channel starts `{namespace}:{instance}:`.
    pub namespace: &'static str,
    pub conn: redis::Connection,
}

impl Producer {
    pub fn new(redis: &RedisServer, instance: &str) -> Producer {
        Producer::in_namespace(redis, "sett", instance)
    }

    pub fn in_namespace(redis: &RedisServer, namespace: &'static str, instance: &str) -> Producer {
        Producer {
            namespace,
            instance: instance.to_string(),
            conn: redis.conn(),
        }
    }

    pub fn artefact_key(&self, id: &str) -> String {
        format!("{}:{}:artefact:{id}", self.namespace, self.instance)
    }

    pub fn event_json(id: &str, structural_type: &str, payload: &str) -> String {
        serde_json::json!({
            "id": id, "logical_id": id, "version": 1, "structural_type": structural_type,
            "type": "GoalDefined", "payload": payload, "source_artefacts": [], "produced_by_role": "user"
        })
        .to_string()
    }

    /// HSET only (no event), e.g. for artefacts written while no orchestrator runs.
    pub fn store(&mut self, id: &str, structural_type: &str, payload: &str) {
        redis::cmd("HSET")
            .arg(self.artefact_key(id))
            .arg(&[
                ("id", id),
                ("logical_id", id),
                ("version", "1"),
                ("structural_type", structural_type),
                ("type", "GoalDefined"),
                ("payload", payload),
                ("source_artefacts", "[]"),
                ("produced_by_role", "user"),
            ])
            .query::<()>(&mut self.conn)
            .unwrap();
    }

    pub fn publish_raw(&mut self, message: &[u8]) {
        redis::cmd("PUBLISH")
            .arg(format!(
                "{}:{}:artefact_events",
                self.namespace, self.instance
            ))
            .arg(message)
            .query::<i64>(&mut self.conn)
            .unwrap();
    }

    /// HSET then PUBLISH; returns the new artefact id.
    pub fn write(&mut self, structural_type: &str, payload: &str) -> String {
        let id = uuid();
        self.store(&id, structural_type, payload);
        self.publish_raw(Producer::event_json(&id, structural_type, payload).as_bytes());
        id
    }

    pub fn count(&mut self, pattern: &str) -> usize {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:{}:{pattern}", self.namespace, self.instance))
            .query(&mut self.conn)
            .unwrap();
        keys.len()
    }

    pub fn claims(&mut self) -> usize {
        self.count("claim:*")
    }

    pub fn index_entries(&mut self) -> usize {
        self.count("claim_by_artefact:*")
    }

    pub fn claim_of(&mut self, artefact_id: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!(
                "{}:{}:claim_by_artefact:{artefact_id}",
                self.namespace, self.instance
            ))
            .query(&mut self.conn)
            .unwrap()
    }
}

/// Collects every message on `claim_events` in a background thread.
pub struct ClaimListener {
    messages: Arc<Mutex<Vec<String>>>,
}

impl ClaimListener {
    pub fn start(redis: &RedisServer, instance: &str) -> ClaimListener {
        ClaimListener::start_on(redis.conn(), instance)
    }

    /// Listens on `conn` (e.g. a TLS connection the test opened itself).
    pub fn start_on(conn: redis::Connection, instance: &str) -> ClaimListener {
        ClaimListener::on_channel(conn, &format!("sett:{instance}:claim_events"))
    }

    /// Listens on any `channel` (e.g. another namespace's claim events).
    pub fn on_channel(mut conn: redis::Connection, channel: &str) -> ClaimListener {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        let channel = channel.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe(&channel).unwrap();
            ready_tx.send(()).unwrap();
            while let Ok(msg) = pubsub.get_message() {
                sink.lock()
                    .unwrap()
                    .push(msg.get_payload::<String>().unwrap());
            }
        });
        ready_rx.recv().unwrap();
        ClaimListener { messages }
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let ok = wait_until(PATIENCE, || self.messages.lock().unwrap().len() >= n);
        assert!(
            ok,
            "expected {n} claim events, got {}",
            self.messages.lock().unwrap().len()
        );
        self.messages()
    }
}

/// The `artefact_id` of each claim event, in order.
pub fn announced_artefacts(events: &[String]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let claim: serde_json::Value = serde_json::from_str(e).unwrap();
            claim["artefact_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Three stored artefacts in `instance` whose claims hang: writes are paused
/// on `redis`, so an orchestrator started now keeps a catch-up claim in flight
/// ([`Orchestrator::wait_claim_in_flight`]) and a shutdown drains until its limit.
pub fn stuck_claims(redis: &RedisServer, instance: &str) {
    let mut p = Producer::new(redis, instance);
    for _ in 0..3 {
        p.store(&uuid(), "Standard", "stuck");
    }
    redis.pause_writes();
}
