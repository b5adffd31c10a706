//! What the simulated agents saw and when, per artefact of the run, on the
//! run's clock: the scenario reads it to time artefact -> complete and last
//! bid -> grant, and to find anything that happened twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use uuid::Uuid;

/// What happened to each of the run's artefacts (by index), in ns on the run's clock.
#[derive(Default)]
pub struct Track {
    /// Claim id -> index of the run's artefact it is for.
    pub claim_index: HashMap<String, u32>,
    /// Deliverable artefact id -> index of the artefact whose claim it was made for.
    pub deliverable_index: HashMap<String, u32>,
    /// Claim events seen per artefact (1 expected).
    pub claim_events: Vec<u32>,
    /// When its claim event arrived (first).
    pub created_ns: Vec<u64>,
    /// The latest bid sent for its claim (just before the HSET + PUBLISH went out).
    pub last_bid_ns: Vec<u64>,
    /// Grants received for its claim, and when the first arrived.
    pub grants: Vec<u32>,
    pub granted_ns: Vec<u64>,
    /// Deliverables written for its claim (1 expected).
    pub written: Vec<u32>,
    /// Claim events of its deliverables: the first one says its claim is
    /// complete (the script that completes a claim also claims the deliverable).
    pub deliverable_claims: Vec<u32>,
    pub complete_ns: Vec<u64>,
    pub created: usize,
    pub completed: usize,
    pub bids_sent: u64,
    /// Claim events of neither the run's artefacts nor their deliverables.
    pub foreign_claims: u64,
    /// Redis errors the agents met (they stop acting on that message).
    pub errors: u64,
}

/// The agents' record of a run, shared with the scenario.
pub struct Tracker {
    index: Arc<HashMap<Uuid, u32>>,
    clock: Instant,
    pub track: Mutex<Track>,
}

impl Tracker {
    pub fn new(index: Arc<HashMap<Uuid, u32>>, clock: Instant) -> Tracker {
        let n = index.len();
        Tracker {
            index,
            clock,
            track: Mutex::new(Track {
                claim_events: vec![0; n],
                created_ns: vec![0; n],
                last_bid_ns: vec![0; n],
                grants: vec![0; n],
                granted_ns: vec![0; n],
                written: vec![0; n],
                deliverable_claims: vec![0; n],
                complete_ns: vec![0; n],
                ..Track::default()
            }),
        }
    }

    /// Ns on the run's clock, +1 so that 0 means "never".
    pub fn now(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64 + 1
    }

    pub fn original(&self, artefact_id: &str) -> Option<u32> {
        Uuid::parse_str(artefact_id)
            .ok()
            .and_then(|u| self.index.get(&u).copied())
    }

    pub fn progress(&self) -> (usize, usize) {
        let t = self.track.lock().unwrap();
        (t.created, t.completed)
    }

    /// The observer's view of a claim event.
    pub fn claim_seen(&self, claim_id: &str, artefact_id: &str, at: u64) {
        let mut t = self.track.lock().unwrap();
        if let Some(i) = self.original(artefact_id) {
            let i = i as usize;
            t.claim_events[i] += 1;
            if t.created_ns[i] == 0 {
                t.created_ns[i] = at;
                t.created += 1;
            }
            t.claim_index.insert(claim_id.to_string(), i as u32);
        } else if let Some(&i) = t.deliverable_index.get(artefact_id) {
            let i = i as usize;
            t.deliverable_claims[i] += 1;
            if t.complete_ns[i] == 0 {
                t.complete_ns[i] = at;
                t.completed += 1;
            }
        } else {
            t.foreign_claims += 1;
        }
    }

    /// A grant for `claim_id` arrived at `at`.
    pub fn granted(&self, claim_id: &str, at: u64) {
        let mut t = self.track.lock().unwrap();
        if let Some(&i) = t.claim_index.get(claim_id) {
            t.grants[i as usize] += 1;
            if t.granted_ns[i as usize] == 0 {
                t.granted_ns[i as usize] = at;
            }
        }
    }

    /// A bid for the claim on `artefact_id` goes out now.
    pub fn bid_sent(&self, artefact_id: &str) {
        let sent = self.now();
        let i = self.original(artefact_id);
        let mut t = self.track.lock().unwrap();
        if let Some(i) = i {
            t.last_bid_ns[i as usize] = t.last_bid_ns[i as usize].max(sent);
        }
        t.bids_sent += 1;
    }

    /// The deliverable `id` for `claim_id` goes out now.
    pub fn delivering(&self, claim_id: &str, id: &str) {
        let mut t = self.track.lock().unwrap();
        if let Some(i) = t.claim_index.get(claim_id).copied() {
            t.deliverable_index.insert(id.to_string(), i);
            t.written[i as usize] += 1;
        }
    }

    pub fn error(&self) {
        self.track.lock().unwrap().errors += 1;
    }
}
