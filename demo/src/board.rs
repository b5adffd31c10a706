//! What the timeline saw: artefacts and claims, as a client sees them. The
//! stories judge their outcome from it; the timeline asks it whether the
//! blackboard has settled.

use std::collections::{HashMap, HashSet};

use sett_sim::Artefact;

use crate::ids::short;

/// A claim as seen from outside.
#[derive(Clone, Debug, Default)]
pub struct Claim {
    pub artefact: String,
    pub status: String,
    pub reason: String,
    /// A feedback claim: its agent (`granted_exclusive_agent` when created).
    pub assignee: Option<String>,
    /// Every registered agent bid `ignore`: nothing will happen to it.
    pub dormant: bool,
    /// `(grant_type, agent)`, in the order granted.
    pub grants: Vec<(String, String)>,
    /// It waited in a controller's grant queue (`grant_queue` was set).
    pub queued: bool,
    /// The timeline's line number of its first grant, and of its end.
    pub granted_at: Option<u64>,
    pub ended_at: Option<u64>,
}

impl Claim {
    fn settled(&self) -> bool {
        self.dormant || matches!(self.status.as_str(), "complete" | "terminated")
    }
}

/// In lifecycle mode these structural types get a claim (contract section 3).
fn needs_claim(a: &Artefact) -> bool {
    matches!(
        a.structural_type.as_str(),
        "Standard" | "Question" | "Answer"
    )
}

/// Artefacts and claims seen so far.
#[derive(Default)]
pub struct Board {
    pub artefacts: HashMap<String, Artefact>,
    pub claims: HashMap<String, Claim>,
    /// Claim ids in the order they were announced.
    order: Vec<String>,
    /// Lines printed so far (what `granted_at` and `ended_at` count).
    pub lines: u64,
}

impl Board {
    pub fn add_claim(&mut self, id: &str, claim: Claim) {
        if self.claims.insert(id.to_string(), claim).is_none() {
            self.order.push(id.to_string());
        }
    }

    /// Claims not yet complete, terminated or dormant, oldest first.
    pub fn open_claims(&self) -> Vec<String> {
        (self.order.iter())
            .filter(|id| !self.claims[*id].settled())
            .cloned()
            .collect()
    }

    /// Artefacts that should have a claim and have none yet.
    pub fn unclaimed(&self) -> usize {
        let claimed: HashSet<&str> = self.claims.values().map(|c| c.artefact.as_str()).collect();
        (self.artefacts.values())
            .filter(|a| needs_claim(a) && !claimed.contains(a.id.as_str()))
            .count()
    }

    /// The claim for `artefact` (feedback claims when `feedback`).
    pub fn claim_of(&self, artefact: &str, feedback: bool) -> Option<&Claim> {
        self.order
            .iter()
            .map(|id| &self.claims[id])
            .find(|c| c.artefact == artefact && c.assignee.is_some() == feedback)
    }

    /// Every artefact that gets a claim has one, and every claim is done
    /// (complete, terminated or dormant).
    pub fn settled(&self) -> bool {
        self.unclaimed() == 0 && self.claims.values().all(Claim::settled)
    }

    /// `"build a bridge"` for what the user wrote, `Coder's Patch v2` for an agent's work.
    pub fn name(&self, artefact: &str) -> String {
        match self.artefacts.get(artefact) {
            Some(a) if a.role == "user" => format!("\"{}\"", a.payload),
            Some(a) => format!("{}'s {} v{}", a.role, a.kind, a.version),
            None => format!("artefact {}", short(artefact)),
        }
    }
}
