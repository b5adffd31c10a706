//! The lifecycle scenarios' agents: who bids what ([`Behaviour`]), run as
//! sett-sim's simulated agents (tasks on smol's one executor thread, any
//! number of claims at once; they read, bid, accept and write as the
//! lifecycle contract says agents do), with the run's [`Tracker`] watching
//! what they hear and send, so the scenario can time artefact -> complete
//! and last bid -> grant.

use std::sync::Arc;

use sett_orchestrator::blackboard::Keys;
use sett_sim::{Act, Heard, Spec, Swarm, Watch, Work};

pub use crate::track::{Track, Tracker};

/// How an agent bids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `exclusive` on work nobody of the registry wrote, `ignore` on agents' work.
    Exclusive,
    /// `ignore` on everything.
    Ignore,
    /// Never bids (claims wait for ever with `SETT_BID_TIMEOUT=0`).
    Silent,
}

/// One agent of the registry and how it behaves.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub name: String,
    pub role: String,
    pub behaviour: Behaviour,
}

/// The artefact an agent writes when granted.
const WORK: (&str, &str, &str) = ("Standard", "BenchWork", "bench agent work");

impl AgentSpec {
    /// As a simulated agent; `roles`: every role of the registry (work of
    /// these roles is agents' work).
    fn sim(&self, roles: &[String]) -> Spec {
        let (roles, behaviour) = (roles.to_vec(), self.behaviour);
        Spec::new(&self.name, "ignore", Work::new(WORK.0, WORK.1, WORK.2))
            .with_role(&self.role)
            .with_bid(move |t| match behaviour {
                Behaviour::Silent => None,
                Behaviour::Exclusive if !roles.contains(&t.role) => Some("exclusive".into()),
                _ => Some("ignore".into()),
            })
    }
}

/// Starts `specs` on `url` for `keys`; returns once every agent is subscribed.
/// The first agent also records claim events (the observer).
pub fn start(
    url: &str,
    keys: &Keys,
    specs: &[AgentSpec],
    tracker: Arc<Tracker>,
) -> Result<Swarm, String> {
    let roles: Vec<String> = specs.iter().map(|s| s.role.clone()).collect();
    let watch = Watching {
        observer: specs.first().map(|s| s.name.clone()).unwrap_or_default(),
        tracker,
    };
    let sims = specs.iter().map(|s| s.sim(&roles)).collect();
    Swarm::start(url, keys.prefix(), sims, Arc::new(watch))
}

/// The tracker, fed from what the agents hear and send.
struct Watching {
    observer: String,
    tracker: Arc<Tracker>,
}

impl Watch for Watching {
    fn heard(&self, agent: &str, heard: &Heard) {
        let at = self.tracker.now();
        match heard {
            Heard::Claim { id, artefact, .. } if agent == self.observer => {
                self.tracker.claim_seen(id, artefact, at)
            }
            Heard::Claim { .. } => {}
            Heard::Grant { claim, .. } => self.tracker.granted(claim, at),
        }
    }

    /// Stamped before the writes go out: a grant may arrive before their reply.
    fn sending(&self, _: &str, act: &Act) {
        match act {
            Act::Bid { artefact, .. } => self.tracker.bid_sent(artefact),
            Act::Work { claim, id, .. } => self.tracker.delivering(claim, id),
            Act::Rework { .. } => {}
        }
    }

    fn failed(&self, _: &str, _: &redis::RedisError) {
        self.tracker.error();
    }
}
