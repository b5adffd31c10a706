//! A simulated agent on a thread of its own, with blocking connections, one
//! message at a time (what the tests run beside the orchestrator), and
//! [`Seen`], its record of what it heard and did, so that tests can count
//! grants and see duplicates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use redis::IntoConnectionInfo;

use crate::agent::{Act, Agent, Heard, Next, Watch};
use crate::keys::Keys;
use crate::spec::Spec;

/// What an agent heard and did, for the tests' exactly-once checks.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// Grants received, per claim id (`claim_type` each time).
    pub grants: BTreeMap<String, Vec<String>>,
    /// Bids sent: (claim id, bid).
    pub bids: Vec<(String, String)>,
    /// Artefacts written (work and reworks), in order.
    pub written: Vec<String>,
    /// Feedback claims reworked.
    pub reworked: Vec<String>,
    /// Redis errors met (the message they hit was dropped).
    pub errors: Vec<String>,
}

impl Watch for Mutex<Seen> {
    fn heard(&self, _: &str, heard: &Heard) {
        if let Heard::Grant { claim, claim_type } = heard {
            let mut seen = self.lock().unwrap();
            let grants = seen.grants.entry(claim.clone()).or_default();
            grants.push(claim_type.clone());
        }
    }

    fn sent(&self, _: &str, act: &Act) {
        let mut seen = self.lock().unwrap();
        match act {
            Act::Bid { claim, bid, .. } => seen.bids.push((claim.clone(), bid.clone())),
            Act::Work { id, .. } => seen.written.push(id.clone()),
            Act::Rework { claim, id } => {
                seen.written.push(id.clone());
                seen.reworked.push(claim.clone());
            }
        }
    }

    fn failed(&self, agent: &str, error: &redis::RedisError) {
        let mut seen = self.lock().unwrap();
        seen.errors.push(format!("{agent}: {error}"));
    }
}

/// A running simulated agent; stops when dropped.
pub struct SimAgent {
    pub name: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SimAgent {
    /// Starts `spec` for `prefix` (e.g. `sett:lc`) on `redis`; returns once
    /// it is subscribed. Panics when Redis cannot be reached (a test tool).
    pub fn start(redis: impl IntoConnectionInfo, prefix: &str, spec: Spec) -> SimAgent {
        let client = redis::Client::open(redis).expect("a Redis address");
        let mut sub = client.get_connection().expect("Redis for the agent");
        let mut conn = client.get_connection().expect("Redis for the agent");
        let name = spec.name.clone();
        let agent = Agent::new(spec, Keys::new(prefix));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (watch, flag) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            sub.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut pubsub = sub.as_pubsub();
            let claims = agent.keys.channel("claim_events");
            let grants = agent.keys.agent_events(&agent.spec.name);
            pubsub.subscribe(&[&claims, &grants]).unwrap();
            ready_tx.send(()).unwrap();
            while !flag.load(Ordering::SeqCst) {
                let Ok(msg) = pubsub.get_message() else {
                    continue;
                };
                let on_claims = msg.get_channel_name() == claims;
                if let Some(heard) = Heard::parse(on_claims, msg.get_payload_bytes()) {
                    handle(&agent, &mut conn, &*watch, heard);
                }
            }
        });
        ready_rx.recv().unwrap();
        SimAgent {
            name,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Grants received for `claim`, counted.
    pub fn grants_for(&self, claim: &str) -> usize {
        self.seen().grants.get(claim).map_or(0, Vec::len)
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything `agent` does about `heard`, on `conn`.
fn handle(agent: &Agent, conn: &mut redis::Connection, watch: &dyn Watch, heard: Heard) {
    let name = agent.spec.name.as_str();
    watch.heard(name, &heard);
    let mut next = agent.on(heard);
    loop {
        next = match next {
            Next::Read(job) => {
                let values: redis::RedisResult<Vec<Option<String>>> = job.read().query(conn);
                match values {
                    Ok(values) => job.resume(agent, values),
                    Err(e) => return watch.failed(name, &e),
                }
            }
            Next::Write(act, pipe) => {
                watch.sending(name, &act);
                return match pipe.query::<()>(conn) {
                    Ok(()) => watch.sent(name, &act),
                    Err(e) => watch.failed(name, &e),
                };
            }
            Next::Done => return,
        }
    }
}
