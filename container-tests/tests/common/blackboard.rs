//! The blackboard side of the container tests: artefacts written the way the
//! Go producer does, and claim announcements collected, over the host's
//! connection to the Redis container.

use std::sync::{Arc, Mutex};
use std::thread;

/// Adds HSET + PUBLISH of one artefact to `pipe`.
pub fn write_pipeline<'a>(
    instance: &str,
    pipe: &'a mut redis::Pipeline,
    id: &str,
    structural_type: &str,
    payload: &str,
) -> &'a mut redis::Pipeline {
    let event = serde_json::json!({
        "id": id, "logical_id": id, "version": 1, "structural_type": structural_type,
        "type": "GoalDefined", "payload": payload, "source_artefacts": [], "produced_by_role": "user"
    });
    pipe.cmd("HSET")
        .arg(format!("sett:{instance}:artefact:{id}"))
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
        .ignore()
        .cmd("PUBLISH")
        .arg(format!("sett:{instance}:artefact_events"))
        .arg(event.to_string())
        .ignore()
}

/// Collects every message on `claim_events` in a background thread.
pub struct ClaimListener {
    messages: Arc<Mutex<Vec<String>>>,
}

impl ClaimListener {
    pub fn start(mut conn: redis::Connection, instance: &str) -> ClaimListener {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        let channel = format!("sett:{instance}:claim_events");
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

    pub fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Every message published on the channel before now: a sentinel
    /// published now arrives after them (one subscriber sees the server's
    /// order), so once it is here nothing published earlier is still on its
    /// way. The sentinel itself is left out.
    pub fn all_before_now(&self, conn: &mut redis::Connection, instance: &str) -> Vec<String> {
        let sentinel = format!("sentinel-{}", super::uuid());
        redis::cmd("PUBLISH")
            .arg(format!("sett:{instance}:claim_events"))
            .arg(&sentinel)
            .query::<i64>(conn)
            .unwrap();
        let arrived = super::wait_until(super::PATIENCE, || self.messages().contains(&sentinel));
        assert!(arrived, "the sentinel never arrived");
        let mut messages = self.messages();
        let at = messages.iter().position(|m| *m == sentinel).unwrap();
        messages.truncate(at);
        messages
    }
}
