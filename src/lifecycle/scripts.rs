//! The lifecycle's decisions (`src/lifecycle/lua/`, assembled by
//! `library`): each one atomic call, as a script or as a function of one
//! library, that checks the claim's current state before it writes or
//! publishes anything. This file only builds the calls.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use uuid::Uuid;

use super::library::decision;
use crate::blackboard::{Indexed, Keys};
use crate::config::registry::Registry;
use crate::ids::{new_v4, uuid_string, ArtefactId, ClaimId, IdText};
use crate::redis_io::scripts::{Call, Frame, Framed, Script};

pub static ARTEFACT: LazyLock<Script> = LazyLock::new(|| decision("artefact"));
pub static BIDS: LazyLock<Script> = LazyLock::new(|| decision("bids"));
pub static TIMEOUT: LazyLock<Script> = LazyLock::new(|| decision("timeout"));
pub static DUE: LazyLock<Script> = LazyLock::new(|| decision("due"));
pub static LATE_BID: LazyLock<Script> = LazyLock::new(|| decision("late_bid"));
pub static OVERDUE: LazyLock<Script> = LazyLock::new(|| decision("overdue"));
pub static ADOPT: LazyLock<Script> = LazyLock::new(|| decision("adopt"));

/// Every lifecycle script, to load once per session.
pub fn scripts() -> Vec<&'static Script> {
    vec![
        &ARTEFACT, &BIDS, &TIMEOUT, &DUE, &LATE_BID, &OVERDUE, &ADOPT,
    ]
}

/// The arguments every lifecycle script starts with (see `lib.lua`).
#[derive(Clone, Debug)]
pub struct Context {
    prefix: String,
    /// ARGV around each call's own arguments, shared by every call (see
    /// `redis_io::call`): the prefix, the registry's size as text (`n` or
    /// `n/c`, see `Registry::script_args`) and `max_review_iterations`
    /// before the seed; after the call's own, the registry: the names
    /// (bytewise), their roles, then each controller's name, limit and
    /// image id (a library call names it by its tag instead, and sends it
    /// only when the library does not hold it: `redis_io::call::Registry`).
    frame: Arc<Frame>,
}

impl Context {
    pub fn new(keys: &Keys, registry: &Registry) -> Context {
        Context {
            prefix: keys.prefix().to_string(),
            frame: Arc::new(Frame::for_registry(keys.prefix(), registry)),
        }
    }

    /// A call of `script`: the shared arguments, a fresh seed, then `rest`.
    fn call(&self, script: &'static Script, keys: Vec<String>, rest: Vec<String>) -> Call<'static> {
        Call {
            script,
            keys,
            args: rest,
            frame: Some(Framed {
                frame: self.frame.clone(),
                seed: new_v4(),
            }),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// An artefact arrived: count it for its sources' claims, claim it.
    /// `claim_id` is the id its claim gets if one is created; `replay`: a
    /// catch-up pass found it (not a live event), so for a claim adopted
    /// from someone else it counts only if written since the phase began.
    pub fn artefact(
        &self,
        keys: &Keys,
        id: &ArtefactId,
        claim_id: &Uuid,
        replay: bool,
    ) -> Call<'static> {
        let replay = if replay { "replay" } else { "" };
        self.call(
            &ARTEFACT,
            vec![keys.artefact(id), keys.claim_by_artefact(id)],
            vec![
                id.as_str().to_string(),
                uuid_string(claim_id),
                replay.to_string(),
            ],
        )
    }

    /// Is bidding on `claim_id` complete (every name bid, or timed out)?
    pub fn bids(&self, claim_id: &ClaimId, timeout: Option<Duration>) -> Call<'static> {
        self.bids_seen(claim_id, timeout, None)
    }

    /// [`Context::bids`] right after seeing (HLEN) that the bids hash had
    /// `fields` fields: a small hash is then read without counting it again.
    pub fn bids_seen(
        &self,
        claim_id: &ClaimId,
        timeout: Option<Duration>,
        fields: Option<usize>,
    ) -> Call<'static> {
        let timeout_ms = timeout.map_or(0, |t| t.as_millis()).to_string();
        let seen = fields.map_or(String::new(), |n| n.to_string());
        self.call(
            &BIDS,
            vec![self.claim_key(claim_id), self.bids_key(claim_id)],
            vec![claim_id.as_str().to_string(), timeout_ms, seen],
        )
    }

    /// Terminate `claim_id` if its phase has waited longer than `timeout`
    /// (`shown` is how the reason spells the duration, e.g. `2s`).
    pub fn timeout(&self, claim_id: &ClaimId, timeout: Duration, shown: &str) -> Call<'static> {
        self.call(
            &TIMEOUT,
            vec![self.claim_key(claim_id)],
            vec![
                claim_id.as_str().to_string(),
                timeout.as_millis().to_string(),
                shown.to_string(),
            ],
        )
    }

    /// Bids on `claims` that came after their bidding was decided (with
    /// `look_late`), and claims among them granted to an agent the registry
    /// no longer has: one call for the batch (`late_bid.lua`).
    pub fn late_bids(&self, claims: &[ClaimId]) -> Call<'static> {
        let mut rest = Vec::with_capacity(1 + claims.len());
        rest.push(claims.len().to_string());
        rest.extend(claims.iter().map(|c| c.as_str().to_string()));
        self.call(&LATE_BID, Vec::new(), rest)
    }

    /// At most `max` `bids_overdue` warnings for claims waiting longer than
    /// `after`, looking from rank `from` among them (the answer ends with
    /// `overdue_next`: where the next call starts).
    pub fn overdue(&self, after: Duration, max: usize, from: u64) -> Call<'static> {
        self.call(
            &OVERDUE,
            vec![self.set_key(Set::Bidding)],
            vec![
                after.as_millis().to_string(),
                max.to_string(),
                from.to_string(),
            ],
        )
    }

    /// Adopts the claims among `claims` that none of our sets holds: their
    /// ids, then the artefact id of each one's index entry.
    pub fn adopt(&self, claims: &[Indexed]) -> Call<'static> {
        self.adopt_in(claims, false)
    }

    /// [`Self::adopt`]; `replaying` (a pass replaying what adopted claims
    /// were delivered): the artefacts of claims someone else finished count
    /// too (adopt.lua, `recount`).
    pub fn adopt_in(&self, claims: &[Indexed], replaying: bool) -> Call<'static> {
        let mut ids = Vec::with_capacity(2 + 2 * claims.len());
        ids.push(if replaying { "replay" } else { "adopt" }.to_string());
        ids.push(claims.len().to_string());
        ids.extend(claims.iter().map(|c| c.claim.as_str().to_string()));
        ids.extend(claims.iter().map(|c| c.artefact.as_str().to_string()));
        self.call(&ADOPT, Vec::new(), ids)
    }

    /// Up to `limit` members of an orchestrator set older than `age` (server clock).
    pub fn due(&self, set: Set, age: Duration, limit: usize) -> Call<'static> {
        self.call(
            &DUE,
            vec![self.set_key(set)],
            vec![age.as_millis().to_string(), limit.to_string()],
        )
    }

    /// `{p}:{i}:orchestrator:bidding`, `…:active`, `…:dormant` or `…:recount`
    /// (orchestrator-owned sorted sets of claim ids; other programs ignore
    /// keys they do not know).
    pub fn set_key(&self, set: Set) -> String {
        self.key(match set {
            Set::Bidding => "orchestrator:bidding",
            Set::Active => "orchestrator:active",
            Set::Dormant => "orchestrator:dormant",
            Set::Recount => "orchestrator:recount",
        })
    }

    /// The bids hash of a claim.
    pub fn bids_key(&self, claim_id: &ClaimId) -> String {
        let mut key = self.claim_key(claim_id);
        key.push_str(":bids");
        key
    }

    /// The hash of a claim.
    pub fn claim_key(&self, claim_id: &(impl IdText + ?Sized)) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 6 + 45 + 5);
        key.push_str(&self.prefix);
        key.push_str("claim:");
        claim_id.push_to(&mut key);
        key
    }
}

/// The orchestrator's own sets: claims collecting bids (scored by creation
/// time), claims in a phase or awaiting rework (scored by phase start), and
/// dormant claims (nobody bid to work; scored by decision time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Bidding,
    Active,
    Dormant,
    /// Claims adopted into a phase or awaiting rework, by adoption time:
    /// the replaying passes recount for them (adopt.lua).
    Recount,
}

#[cfg(test)]
mod tests {
    use super::super::library::SHARED;
    use super::*;

    /// Names a Lua text defines at its top level (`local function f`,
    /// `local A, B =`).
    fn defined(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("local function ") {
                out.extend(rest.split('(').next().map(str::to_string));
            } else if let Some(rest) = line.strip_prefix("local ") {
                if let Some((names, _)) = rest.split_once(" =") {
                    out.extend(names.split(',').map(|n| n.trim().to_string()));
                }
            }
        }
        out
    }

    fn uses(text: &str, name: &str) -> bool {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices(name).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    /// A decision given fewer parts must not call into a part it left out
    /// (Redis would fail it at run time, "nonexistent global variable").
    #[test]
    fn every_decision_includes_the_parts_it_uses() {
        for script in scripts() {
            let text = &script.text();
            let included = SHARED.iter().take_while(|p| text.contains(*p)).count();
            assert!(included >= 1, "{}", script.name);
            for part in &SHARED[included..] {
                for name in defined(part) {
                    if name == "PROTOCOL" {
                        continue;
                    }
                    assert!(
                        !uses(text, &name),
                        "the {} script uses {name}, defined in a part it leaves out",
                        script.name
                    );
                }
            }
        }
        assert!(defined(SHARED[5]).contains(&"reject".to_string()));
        assert!(uses("x = reject(c)", "reject") && !uses("rejected = 1", "reject"));
    }
}
