//! A recorder of every message published under one prefix (one PSUBSCRIBE
//! `{prefix}:*`), in the order Redis sent them, for tests that assert on
//! exactly what went over the wire: [`Recorder::since_last`] takes what
//! came since it was last asked, synchronised by a marker it publishes on
//! its own channel (one connection receives in the server's publish order,
//! so the marker comes after everything published before it).
//! [`by_orchestrator`] keeps what the orchestrator published; [`counted`]
//! counts repeats.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use redis::IntoConnectionInfo;

use crate::artefact::new_id;
use crate::wire::Msg;

/// How long a marker may take to come back before the recorder gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Every message on `{prefix}:*`, channels without `{prefix}:`.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Msg>>>,
    conn: redis::Connection,
    /// Not under the prefix: this recorder's own markers.
    sync: String,
    /// How many of `seen` were taken (markers included).
    taken: usize,
    marks: u64,
}

impl Recorder {
    /// Subscribed when it returns. Panics when Redis cannot be reached (a test tool).
    pub fn start(redis: impl IntoConnectionInfo, prefix: &str) -> Recorder {
        let client = redis::Client::open(redis).expect("a Redis address");
        let mut sub = client.get_connection().expect("Redis for the recorder");
        let strip = format!("{}:", prefix.trim_end_matches(':'));
        let sync = format!("sett-sim-recorder-{}", new_id());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sink, marks) = (seen.clone(), sync.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut pubsub = sub.as_pubsub();
            pubsub.psubscribe(format!("{strip}*")).unwrap();
            pubsub.subscribe(&marks).unwrap();
            ready_tx.send(()).unwrap();
            while let Ok(msg) = pubsub.get_message() {
                let channel = msg.get_channel_name();
                let channel = channel.strip_prefix(&strip).unwrap_or(channel).to_string();
                let payload = String::from_utf8(msg.get_payload_bytes().to_vec())
                    .unwrap_or_else(|e| panic!("non-UTF-8 message on {channel}: {e}"));
                sink.lock().unwrap().push(Msg { channel, payload });
            }
        });
        ready_rx.recv().unwrap();
        Recorder {
            seen,
            conn: client.get_connection().expect("Redis for the recorder"),
            sync,
            taken: 0,
            marks: 0,
        }
    }

    /// Every message published since the last call (or the start), in order.
    pub fn since_last(&mut self) -> Vec<Msg> {
        let at = self.mark();
        let all = self.seen.lock().unwrap();
        let out = self.without_marks(&all[self.taken..at]);
        self.taken = at + 1;
        out
    }

    /// Every message recorded since the start, in order.
    pub fn everything(&mut self) -> Vec<Msg> {
        self.since_last();
        let all = self.seen.lock().unwrap();
        self.without_marks(&all)
    }

    /// What the orchestrator published since the last call (see [`by_orchestrator`]).
    pub fn orchestrator_since_last(&mut self) -> Vec<Msg> {
        by_orchestrator(self.since_last())
    }

    /// Publishes a marker and waits (bounded) until it is recorded; its index.
    fn mark(&mut self) -> usize {
        self.marks += 1;
        let mark = Msg::new(self.sync.as_str(), format!("mark-{}", self.marks));
        redis::cmd("PUBLISH")
            .arg(&mark.channel)
            .arg(&mark.payload)
            .query::<i64>(&mut self.conn)
            .expect("PUBLISH a marker");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(at) = self.seen.lock().unwrap().iter().rposition(|m| *m == mark) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "the recorder's marker never arrived"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn without_marks(&self, msgs: &[Msg]) -> Vec<Msg> {
        msgs.iter()
            .filter(|m| m.channel != self.sync)
            .cloned()
            .collect()
    }
}

/// Whether the orchestrator published `m`: not an artefact event (the
/// user's and the agents') and not an agent's workflow event (bids, reworks).
pub fn is_orchestrators(m: &Msg) -> bool {
    let by_agent = [
        "{\"event\":\"bid_submitted\"",
        "{\"event\":\"artefact_reworked\"",
    ];
    m.channel != "artefact_events"
        && !(m.channel == "workflow_events" && by_agent.iter().any(|a| m.payload.starts_with(a)))
}

pub fn by_orchestrator(msgs: Vec<Msg>) -> Vec<Msg> {
    msgs.into_iter().filter(is_orchestrators).collect()
}

/// How many times each message occurs.
pub fn counted(msgs: &[Msg]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for m in msgs {
        *out.entry((m.channel.clone(), m.payload.clone()))
            .or_insert(0) += 1;
    }
    out
}
