//! The lifecycle's decisions, each one Lua script (`src/lifecycle/lua/`).
//!
//! A decision file (`artefact.lua`, `bids.lua`, `timeout.lua`, `due.lua`) is
//! put behind the shared parts (`lib.lua` helpers and
//! JSON, `claims.lua`, `grants.lua`, `feedback.lua`, `phases.lua`), so each
//! decision is still one atomic script that checks the claim's current state
//! before it writes or publishes anything. This file only builds the calls.

use std::sync::LazyLock;
use std::time::Duration;

use uuid::Uuid;

use crate::blackboard::Keys;
use crate::config::registry::Registry;
use crate::ids::{new_v4, ArtefactId, ClaimId, IdText};
use crate::redis_io::scripts::{Call, Script};

/// The shared parts, in the order each decision script starts with them.
const SHARED: [&str; 6] = [
    lua!("lifecycle/lua/lib.lua"),
    lua!("lifecycle/lua/claims.lua"),
    lua!("workers/lua/grant.lua"),
    lua!("lifecycle/lua/grants.lua"),
    lua!("lifecycle/lua/feedback.lua"),
    lua!("lifecycle/lua/phases.lua"),
];

/// One decision: the shared parts, then its entry file. Assembled once at
/// start-up rather than at build time, so the binary holds each part once,
/// not once per decision.
pub fn decision(name: &'static str, entry: &str) -> Script {
    Script::new(name, SHARED.concat() + entry)
}

pub static ARTEFACT: LazyLock<Script> =
    LazyLock::new(|| decision("artefact", lua!("lifecycle/lua/artefact.lua")));
pub static BIDS: LazyLock<Script> =
    LazyLock::new(|| decision("bids", lua!("lifecycle/lua/bids.lua")));
pub static TIMEOUT: LazyLock<Script> =
    LazyLock::new(|| decision("timeout", lua!("lifecycle/lua/timeout.lua")));
pub static DUE: LazyLock<Script> = LazyLock::new(|| decision("due", lua!("lifecycle/lua/due.lua")));

/// Every lifecycle script, to load once per session.
pub fn scripts() -> Vec<&'static Script> {
    vec![&ARTEFACT, &BIDS, &TIMEOUT, &DUE]
}

/// The arguments every lifecycle script starts with (see `lib.lua`).
#[derive(Clone, Debug)]
pub struct Context {
    prefix: String,
    registry: String,
    max_review_iterations: String,
}

impl Context {
    pub fn new(keys: &Keys, registry: &Registry) -> Context {
        let registry_text = registry.script_text();
        Context {
            prefix: keys.prefix().to_string(),
            registry: registry_text,
            max_review_iterations: registry.max_review_iterations.to_string(),
        }
    }

    fn args(&self, rest: &[&str]) -> Vec<String> {
        let seed = new_v4().hyphenated().to_string();
        let mut args = Vec::with_capacity(4 + rest.len());
        args.extend([
            self.prefix.clone(),
            self.registry.clone(),
            self.max_review_iterations.clone(),
            seed,
        ]);
        args.extend(rest.iter().map(|s| s.to_string()));
        args
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// An artefact arrived: count it for its sources' claims, claim it.
    /// `claim_id` is the id its claim gets if one is created.
    pub fn artefact(&self, keys: &Keys, id: &ArtefactId, claim_id: &Uuid) -> Call<'static> {
        let claim_id = claim_id.hyphenated().to_string();
        Call {
            script: &ARTEFACT,
            keys: vec![keys.artefact(id), keys.claim_by_artefact(id)],
            args: self.args(&[id.as_str(), &claim_id]),
        }
    }

    /// Is bidding on `claim_id` complete (every name bid, or timed out)?
    pub fn bids(&self, claim_id: &ClaimId, timeout: Option<Duration>) -> Call<'static> {
        let timeout_ms = timeout.map_or(0, |t| t.as_millis()).to_string();
        Call {
            script: &BIDS,
            keys: vec![self.claim_key(claim_id), self.bids_key(claim_id)],
            args: self.args(&[claim_id.as_str(), &timeout_ms]),
        }
    }

    /// Terminate `claim_id` if its phase has waited longer than `timeout`
    /// (`shown` is how the reason spells the duration, e.g. `2s`).
    pub fn timeout(&self, claim_id: &ClaimId, timeout: Duration, shown: &str) -> Call<'static> {
        Call {
            script: &TIMEOUT,
            keys: vec![self.claim_key(claim_id)],
            args: self.args(&[claim_id.as_str(), &timeout.as_millis().to_string(), shown]),
        }
    }

    /// Up to `limit` members of an orchestrator set older than `age` (server clock).
    pub fn due(&self, set: Set, age: Duration, limit: usize) -> Call<'static> {
        Call {
            script: &DUE,
            keys: vec![self.set_key(set)],
            args: self.args(&[&age.as_millis().to_string(), &limit.to_string()]),
        }
    }

    /// `{p}:{i}:orchestrator:bidding` or `…:active` (orchestrator-owned sorted
    /// sets of claim ids; other programs ignore keys they do not know).
    pub fn set_key(&self, set: Set) -> String {
        self.key(match set {
            Set::Bidding => "orchestrator:bidding",
            Set::Active => "orchestrator:active",
        })
    }

    /// The bids hash of a claim.
    pub fn bids_key(&self, claim_id: &ClaimId) -> String {
        format!("{}claim:{claim_id}:bids", self.prefix)
    }

    /// The hash of a claim.
    pub fn claim_key(&self, claim_id: &(impl IdText + ?Sized)) -> String {
        let mut key = self.prefix.clone();
        key.push_str("claim:");
        claim_id.push_to(&mut key);
        key
    }
}

/// The orchestrator's own sets: claims collecting bids (scored by creation
/// time), and claims in a phase or awaiting rework (scored by phase start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Bidding,
    Active,
}
