//! Steps of the lifecycle that many tests share, each checked as it goes:
//! a new claim, a round of bids, an agent's artefact for a claim.

use sett_orchestrator::blackboard::effects::{Cause, Effect, Phase};
use sett_orchestrator::blackboard::Indexed;
use sett_orchestrator::ids::{ArtefactId, ClaimId};

use super::lifecycle::{Lab, Msg};
use super::lifecycle_wire::*;

/// What one artefact decision did, apart from claiming the artefact itself.
#[derive(Debug)]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub published: Vec<Msg>,
    /// The artefact's own new claim (`Standard`, `Question`, `Answer`).
    pub own_claim: Option<String>,
}

fn claimable(structural_type: &str) -> bool {
    !matches!(structural_type, "Terminal" | "Failure" | "Review")
}

impl Lab {
    /// Writes `art`, runs its decision, and checks its new claim: the single
    /// `created` effect, the Phase-1 event, the 14 fields, the index, the
    /// bidding set. Returns the claim id.
    pub fn new_claim(&mut self, art: &Art) -> String {
        let out = self.deliver(art);
        assert_eq!(out.effects, vec![], "a fresh artefact counts for nothing");
        assert_eq!(out.published, vec![]);
        out.own_claim.expect("a claim")
    }

    /// An agent writes `art` and the orchestrator runs the artefact decision.
    /// Its own claim (or skip) comes last; it is checked and split off.
    pub fn deliver(&mut self, art: &Art) -> Outcome {
        self.write(art);
        let mut effects = self.on_artefact(&art.id);
        let mut published = self.published();
        let own = effects.pop().expect("an effect for the artefact itself");
        let own_claim = if claimable(&art.structural_type) {
            let Effect::Created { claim } = own else {
                panic!("expected a claim for {art:?}, got {own:?}")
            };
            let claim = claim.to_string();
            assert_eq!(published.pop(), Some(claim_event(&claim, &art.id)));
            assert_eq!(self.claim(&claim), new_claim_fields(&claim, &art.id));
            assert_eq!(self.index(&art.id).as_deref(), Some(claim.as_str()));
            assert!(self
                .set_members(sett_orchestrator::lifecycle::scripts::Set::Bidding)
                .contains(&claim));
            Some(claim)
        } else {
            assert_eq!(
                own,
                Effect::Skipped {
                    structural_type: art.structural_type.clone(),
                    artefact_type: art.kind.clone()
                }
            );
            None
        };
        Outcome {
            effects,
            published,
            own_claim,
        }
    }

    /// Each bid in turn with the bids decision after it; every decision but
    /// the last must keep waiting and publish nothing. Returns the last
    /// decision's effects; its messages are left for the caller.
    pub fn bid_all(&mut self, claim: &str, bids: &[(&str, &str)]) -> Vec<Effect> {
        let (last, first) = bids.split_last().expect("bids");
        for (name, value) in first {
            let effects = self.bid_and_decide(claim, name, value);
            assert!(
                matches!(effects.as_slice(), [Effect::Waiting { .. }]),
                "{effects:?}"
            );
            assert_eq!(self.published(), vec![]);
        }
        self.bid_and_decide(claim, last.0, last.1)
    }

    /// A claim on a new goal whose bids are all in: the caller checks the grant.
    pub fn granted_claim(&mut self, goal: &Art, bids: &[(&str, &str)]) -> (String, Vec<Effect>) {
        let claim = self.new_claim(goal);
        let effects = self.bid_all(&claim, bids);
        (claim, effects)
    }

    /// `start_time_ms` of the claim's stored `phase_state` (within the last
    /// decision's time window).
    pub fn phase_start(&mut self, claim: &str) -> u64 {
        let ps = self.claim(claim)["phase_state"].clone();
        self.stamped(&ps, "start_time_ms")
    }
}

pub fn granted(claim: &str, phase: &str, agents: &[&str]) -> Effect {
    Effect::Granted {
        claim: cid(claim),
        phase: Phase::parse(phase).expect("a phase"),
        agents: agents.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn delivered(claim: &str, phase: &str, role: &str, artefact: &str) -> Effect {
    Effect::Delivered {
        claim: cid(claim),
        phase: Phase::parse(phase).expect("a phase"),
        role: role.into(),
        artefact: aid(artefact),
    }
}

pub fn not_counted(claim: &str, phase: &str, role: &str, artefact: &str) -> Effect {
    Effect::NotCounted {
        claim: cid(claim),
        phase: Phase::parse(phase).expect("a phase"),
        role: role.into(),
        artefact: aid(artefact),
    }
}

pub fn complete(claim: &str) -> Effect {
    Effect::Complete { claim: cid(claim) }
}

pub fn terminated(claim: &str, cause: &str, reason: &str) -> Effect {
    Effect::Terminated {
        claim: cid(claim),
        cause: Cause::parse(cause).expect("a cause"),
        reason: reason.into(),
    }
}

/// A claim id a test holds as text.
pub fn cid(id: impl AsRef<str>) -> ClaimId {
    let id = id.as_ref();
    ClaimId::parse(id).unwrap_or_else(|| panic!("not a claim id: {id:?}"))
}

/// An artefact id a test holds as text.
pub fn aid(id: impl AsRef<str>) -> ArtefactId {
    let id = id.as_ref();
    ArtefactId::parse(id).unwrap_or_else(|| panic!("not an artefact id: {id:?}"))
}

/// A claim someone else made, adopted `how` (`phase1`, `closed`, …).
pub fn adopted(claim: &str, how: &str) -> Effect {
    Effect::Adopted {
        claim: cid(claim),
        how: how.into(),
    }
}

/// Why adoption leaves a claim alone: its `artefact_id` is not the
/// artefact whose index entry named it.
pub const NOT_ITS_ARTEFACT: &str = "its artefact_id is not the artefact whose index names it";
/// ... or its `phase_state` is not a phase of its status.
pub const NOT_A_PHASE: &str = "its phase_state does not read as a phase of its status";
/// ... or its phase grants no agent (nobody to wait for).
pub const NO_AGENT: &str = "its phase grants no agent";

/// A claim in a live status that adoption leaves alone, and why.
pub fn not_adopted(claim: &str, reason: &str) -> Effect {
    Effect::NotAdopted {
        claim: cid(claim),
        reason: reason.into(),
    }
}

/// The index entry of `artefact` naming `claim`, as the catch-up reads it.
pub fn indexed(artefact: impl AsRef<str>, claim: impl AsRef<str>) -> Indexed {
    Indexed {
        artefact: aid(artefact),
        claim: cid(claim),
    }
}
