//! The worker slots this process granted and has not launched yet: the
//! launcher task (`launcher`) launches them as soon as the grant's answer
//! is in, beside a running reconciliation pass and without a list (the
//! grant -> started path is `launch.lua` and Docker's create and start),
//! and `worker_launched` tells how long after its grant the worker started
//! (`since_grant_ms`). Only a shortcut and a measure: the pass still finds
//! every slot without a container, whoever granted it.
//!
//! And the claims whose launch runs in this process now ([`Granted::begin`]):
//! the launcher and the pass never launch one claim at once (two launches
//! overlapping let one's 409 mark the record `created` before the other's
//! create answered, and a third read `created`, found no container and
//! terminated the claim as "disappeared").

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

/// The most grants remembered (a grant whose worker another replica
/// launches is never taken back: the book is emptied when full).
const REMEMBERED: usize = 1024;

struct Grant {
    at: Instant,
    role: String,
    /// Handed to a launch already (it is not handed out twice).
    tried: bool,
}

#[derive(Default)]
pub struct Granted {
    book: Mutex<HashMap<String, Grant>>,
    /// The claims a launch of this process is working on.
    launching: Mutex<HashSet<String>>,
}

/// Grants handed to the launcher: (claim, role), oldest first.
pub struct Batch<'a> {
    granted: &'a Granted,
    pub claims: Vec<(String, String)>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let mut book = self.granted.book();
        for (claim, _) in &self.claims {
            book.remove(claim);
        }
    }
}

/// A launch of one claim in this process; the claim is free again when dropped.
pub struct Launching<'a> {
    granted: &'a Granted,
    claim: String,
}

impl Drop for Launching<'_> {
    fn drop(&mut self) {
        let mut set = self
            .granted
            .launching
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        set.remove(&self.claim);
    }
}

impl Granted {
    fn book(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `claim` got a slot of `role` now.
    pub fn note(&self, claim: &str, role: &str) {
        let mut book = self.book();
        if book.len() >= REMEMBERED {
            book.clear();
        }
        let grant = Grant {
            at: Instant::now(),
            role: role.to_string(),
            tried: false,
        };
        book.insert(claim.to_string(), grant);
    }

    /// The grants not handed to a launch yet, (claim, role) oldest first;
    /// each is handed out once, and forgotten when the batch is dropped
    /// (launched or not: a launch that did not happen is the pass's then).
    pub fn fresh(&self) -> Batch<'_> {
        let mut book = self.book();
        let mut out: Vec<(Instant, String, String)> = book
            .iter_mut()
            .filter(|(_, g)| !g.tried)
            .map(|(claim, g)| {
                g.tried = true;
                (g.at, claim.clone(), g.role.clone())
            })
            .collect();
        out.sort();
        Batch {
            granted: self,
            claims: out.into_iter().map(|(_, c, r)| (c, r)).collect(),
        }
    }

    /// Is `claim` the launcher's (granted here, its batch not done)? The
    /// pass leaves it alone then: launches stay at most
    /// [`LAUNCHES_AT_ONCE`](super::launcher) at a time per task.
    pub fn noted(&self, claim: &str) -> bool {
        self.book().contains_key(claim)
    }

    /// This process starts launching `claim`; `None` when a launch of it
    /// runs here already (that one decides, with `launch.lua`).
    pub fn begin(&self, claim: &str) -> Option<Launching<'_>> {
        let mut set = self.launching.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(claim.to_string()).then(|| Launching {
            granted: self,
            claim: claim.to_string(),
        })
    }

    /// When `claim`'s slot was granted here, if it was; forgotten then.
    pub fn take(&self, claim: &str) -> Option<Instant> {
        self.book().remove(claim).map(|g| g.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_grants_are_handed_out_once_and_taken_with_their_time() {
        let g = Granted::default();
        g.note("a", "Coder");
        g.note("b", "Docs");
        assert!(g.noted("a"));
        let batch = g.fresh();
        assert_eq!(
            batch.claims,
            [
                ("a".to_string(), "Coder".to_string()),
                ("b".into(), "Docs".into())
            ]
        );
        assert!(g.fresh().claims.is_empty());
        assert!(g.take("a").is_some());
        assert!(g.take("a").is_none());
        assert!(g.noted("b"), "the launcher's until its batch is done");
        drop(batch);
        assert!(!g.noted("b"), "not launched: the pass's now");
        assert!(g.take("b").is_none());
        g.note("c", "Coder");
        assert_eq!(g.fresh().claims, [("c".to_string(), "Coder".to_string())]);
    }

    #[test]
    fn one_launch_of_a_claim_at_a_time() {
        let g = Granted::default();
        let first = g.begin("a");
        assert!(first.is_some());
        assert!(g.begin("a").is_none(), "a second launch of a");
        assert!(g.begin("b").is_some());
        drop(first);
        assert!(g.begin("a").is_some(), "free again once the first ended");
    }
}
