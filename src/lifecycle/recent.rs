//! The bids decisions this process saw made, the latest few: a claim that
//! left the bidding set never returns to it, so a later `bid_submitted`
//! event for it (agents bid within moments of each other) is answered
//! without a command to Redis (`bids::decide_batch`; docs/performance.md,
//! "Issue 15: the Redis cost per claim, again"). Bounded: memory does not
//! grow with the claims decided.

use std::collections::{HashSet, VecDeque};

use crate::ids::ClaimId;

/// How many decided claims `Lifecycle::decided` remembers: bid events for a
/// claim come within moments of each other; a later one is decided by its
/// script (answering `not_bidding`), as after a restart.
pub const RECENT: usize = 1024;

/// The latest [`RECENT`] claims whose bids decision this process saw made
/// (granted, dormant, or not bidding): they never collect bids again.
#[derive(Debug, Default)]
pub struct Recent {
    order: VecDeque<ClaimId>,
    set: HashSet<ClaimId>,
}

impl Recent {
    pub fn contains(&self, claim: &ClaimId) -> bool {
        self.set.contains(claim)
    }

    /// Remembers `claim`, forgetting the oldest beyond [`RECENT`].
    pub fn insert(&mut self, claim: ClaimId) {
        if !self.set.insert(claim) {
            return;
        }
        self.order.push_back(claim);
        if self.order.len() > RECENT {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_decisions_are_remembered_up_to_a_bound() {
        let claims: Vec<ClaimId> = (0..=RECENT)
            .map(|i| ClaimId::parse(&format!("4a7c8f1e-2b3d-4c5e-8f90-{i:012x}")).unwrap())
            .collect();
        let mut recent = Recent::default();
        for claim in &claims {
            recent.insert(*claim);
            recent.insert(*claim);
        }
        assert!(!recent.contains(&claims[0]));
        assert!(claims[1..].iter().all(|c| recent.contains(c)));
        assert_eq!(recent.order.len(), RECENT);
    }
}
