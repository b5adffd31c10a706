//! What one simulated agent does, as its owner scripts it: the bid it sends
//! for a claim on a given artefact, the artefact it writes when granted,
//! the rework it writes for a feedback claim. Everything else (when to
//! read, what to check, what to publish) is the contract's, in
//! [`crate::agent`].

use crate::artefact::Artefact;

/// The artefact a claim is for, as the agent read it.
pub type Target = Artefact;

/// What an agent writes: structural type, domain type, payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    pub structural_type: String,
    pub kind: String,
    pub payload: String,
}

impl Work {
    pub fn new(structural_type: &str, kind: &str, payload: &str) -> Work {
        Work {
            structural_type: structural_type.into(),
            kind: kind.into(),
            payload: payload.into(),
        }
    }
}

pub type BidFn = dyn Fn(&Target) -> Option<String> + Send + Sync;
pub type WorkFn = dyn Fn(&Target) -> Option<Work> + Send + Sync;

/// How one simulated agent behaves.
pub struct Spec {
    pub name: String,
    /// Its `produced_by_role` (Holt: the name; Sett registries may differ).
    pub role: String,
    /// The bid for a claim on `target` (`None`: no bid at all).
    pub bid: Box<BidFn>,
    /// The artefact written when granted (`None`: never answers).
    pub work: Box<WorkFn>,
    /// The rework of a feedback claim's target (`None`: never reworks).
    /// It keeps the target's `type` whatever this says (Go does).
    pub rework: Option<Box<WorkFn>>,
}

impl Spec {
    /// Bids `bid` on everything the user wrote, `ignore` on agents' work;
    /// writes `work` when granted; no rework. Its role is its name.
    pub fn new(name: &str, bid: &'static str, work: Work) -> Spec {
        Spec {
            name: name.into(),
            role: name.into(),
            bid: Box::new(move |t: &Target| {
                Some(if t.role == "user" { bid } else { "ignore" }.to_string())
            }),
            work: Box::new(move |_| Some(work.clone())),
            rework: None,
        }
    }

    /// A reviewer that approves (`{}`) what the user wrote and ignores the rest.
    pub fn approver(name: &str) -> Spec {
        Spec::new(name, "review", Work::new("Review", "ReviewResult", "{}"))
    }

    pub fn with_role(mut self, role: &str) -> Spec {
        self.role = role.into();
        self
    }

    pub fn with_bid(
        mut self,
        f: impl Fn(&Target) -> Option<String> + Send + Sync + 'static,
    ) -> Spec {
        self.bid = Box::new(f);
        self
    }

    pub fn with_work(
        mut self,
        f: impl Fn(&Target) -> Option<Work> + Send + Sync + 'static,
    ) -> Spec {
        self.work = Box::new(f);
        self
    }

    pub fn with_rework(
        mut self,
        f: impl Fn(&Target) -> Option<Work> + Send + Sync + 'static,
    ) -> Spec {
        self.rework = Some(Box::new(f));
        self
    }
}
