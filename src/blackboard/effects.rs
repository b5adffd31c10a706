//! What a decision script reports: the protocol between our Lua and our Rust.
//!
//! Every decision is one server-side script that writes and publishes; the
//! orchestrator only tells the operator what it did (log lines, metrics) and
//! acts on the few answers that need it (a claim created, a worker to start).
//! Each script answers a list of rows, one per thing it did; a row is a tag
//! followed by its cells, each a string, an integer or a list of strings
//! (never a comma-joined string), as a list of its own or laid flat in the
//! answer after its cell count (protocol 6: no table per row for Redis to
//! make a reply of). `decode` is the one decoder of every script's answer,
//! into typed [`Effect`]s.
//!
//! Every script states the protocol version it speaks (`local PROTOCOL = N`
//! in `lifecycle/lua/lib.lua` and `phase1/claim.lua`); it is checked against
//! [`PROTOCOL`] before the scripts are loaded (`redis_io::scripts`), so a
//! script and a decoder that disagree stop the start-up instead of failing
//! claim after claim.

use crate::ids::{ArtefactId, ClaimId};

/// The reply protocol this decoder reads. Bump it with any change to a row.
pub const PROTOCOL: i64 = 8;

/// The phases a claim goes through, as scripts and log lines name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Review,
    Parallel,
    Exclusive,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Review, Phase::Parallel, Phase::Exclusive];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Review => "review",
            Phase::Parallel => "parallel",
            Phase::Exclusive => "exclusive",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Why a claim was terminated (the `cause` of its log line and metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    ReviewRejected,
    MaxIterations,
    MissingAgent,
    AgentFailure,
    PhaseTimeout,
    /// A controller's worker exited with a code other than 0.
    WorkerFailed,
    /// A controller's worker could not be created or started.
    WorkerLaunch,
}

impl Cause {
    pub const ALL: [Cause; 7] = [
        Cause::ReviewRejected,
        Cause::MaxIterations,
        Cause::MissingAgent,
        Cause::AgentFailure,
        Cause::PhaseTimeout,
        Cause::WorkerFailed,
        Cause::WorkerLaunch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ReviewRejected => "review_rejected",
            Cause::MaxIterations => "max_iterations",
            Cause::MissingAgent => "missing_agent",
            Cause::AgentFailure => "agent_failure",
            Cause::PhaseTimeout => "phase_timeout",
            Cause::WorkerFailed => "worker_failed",
            Cause::WorkerLaunch => "worker_launch",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One thing a script did (or found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The artefact got its claim.
    Created {
        claim: ClaimId,
    },
    /// The artefact already had one (its index entry's value).
    Duplicate {
        existing: String,
    },
    /// The artefact's claim is someone else's (in a live status, in none of
    /// our sets: Phase 1's, Holt's Go orchestrator's): a catch-up pass is
    /// asked for at once, and adopts it.
    Foreign {
        claim: ClaimId,
    },
    /// No artefact hash.
    NotFound,
    /// The artefact hash cannot be judged (yet): not a hash, fields missing.
    Invalid {
        reason: String,
    },
    /// The artefact's `claim_by_artefact` key holds another type than a
    /// string: its claim cannot be looked up, so none is made.
    IndexConflict {
        key_type: String,
    },
    /// A key the decision would write holds another type (junk, or another
    /// program's key): the script wrote nothing. The key as named, and its type.
    KeyConflict {
        key: String,
        key_type: String,
    },
    /// Redis refused a write of this artefact's claim (OOM, MISCONF,
    /// NOREPLICAS, READONLY…), with its error text: Phase 1's claim script
    /// answers it per artefact of a call, and the artefact is reported as
    /// that Redis error (`phase1::claim_batch`).
    Refused {
        error: String,
    },
    /// Terminal (and in lifecycle mode Failure and Review) artefacts get no claim.
    Skipped {
        structural_type: String,
        artefact_type: String,
    },
    Delivered {
        claim: ClaimId,
        phase: Phase,
        role: String,
        artefact: ArtefactId,
    },
    /// A deliverable replayed by adoption for a claim in a phase, written
    /// (its `created_at_ms`) before that phase began: an earlier phase's,
    /// which whoever ran the phase counted; not counted again.
    NotCounted {
        claim: ClaimId,
        phase: Phase,
        role: String,
        artefact: ArtefactId,
    },
    Granted {
        claim: ClaimId,
        phase: Phase,
        agents: Vec<String>,
    },
    ReviewApproved {
        claim: ClaimId,
        role: String,
        review: String,
    },
    ReviewRejected {
        claim: ClaimId,
        role: String,
        review: String,
    },
    Complete {
        claim: ClaimId,
    },
    Terminated {
        claim: ClaimId,
        cause: Cause,
        reason: String,
    },
    FeedbackClaim {
        claim: ClaimId,
        feedback_claim: ClaimId,
        agent: String,
        iteration: u64,
    },
    FailureArtefact {
        claim: ClaimId,
        artefact: ArtefactId,
        kind: String,
    },
    Reworked {
        claim: ClaimId,
        artefact: ArtefactId,
    },
    /// Every bid was `ignore`: nothing is granted.
    Dormant {
        claim: ClaimId,
    },
    BidTimeout {
        claim: ClaimId,
        agents: Vec<String>,
    },
    InvalidBid {
        claim: ClaimId,
        agent: String,
        value: String,
    },
    UnknownBidder {
        claim: ClaimId,
        agent: String,
    },
    /// A bids hash too large to list: this many fields of unknown names.
    UnknownBidders {
        claim: ClaimId,
        count: u64,
    },
    /// Still collecting bids: this many registered agents have not bid.
    Waiting {
        claim: ClaimId,
        missing: u64,
    },
    NotBidding {
        claim: ClaimId,
    },
    /// No bid on the claim came after its bidding was decided.
    NotLate {
        claim: ClaimId,
    },
    /// A late bid is honoured: it joins (or starts) `phase`.
    LateBidHonoured {
        claim: ClaimId,
        agent: String,
        bid: String,
        phase: Phase,
    },
    /// A late bid came after the phase it asks for (`at`: the claim's
    /// current phase, or its status when it is in none).
    LateBid {
        claim: ClaimId,
        agent: String,
        bid: String,
        at: String,
    },
    /// The claim has waited `waited_ms` for bids from `agents` (and `more`).
    BidsOverdue {
        claim: ClaimId,
        waited_ms: u64,
        agents: Vec<String>,
        more: u64,
    },
    /// Where the next `bids_overdue` look starts: a rank among the overdue
    /// claims (0: the oldest again). Kept by the orchestrator, never logged.
    OverdueNext {
        from: u64,
    },
    /// A claim someone else made joined ours (`how`: `phase1`, `closed`,
    /// `bidding`, `assignment`, or its phase). Row `adopted` (claim, how), or
    /// `adopted_claims` (how, claim ids): one effect per claim either way.
    Adopted {
        claim: ClaimId,
        how: String,
    },
    /// A claim someone else made, in a live status, that adoption leaves
    /// alone as junk (`reason`: what is wrong with it); said every pass.
    NotAdopted {
        claim: ClaimId,
        reason: String,
    },
    NotActive {
        claim: ClaimId,
    },
    /// A controller's claim took a worker slot: its container is to be
    /// launched (`resumed`: it waited in the grant queue).
    WorkerGranted {
        claim: ClaimId,
        role: String,
        agent: String,
        resumed: bool,
    },
    /// The role is at `max_concurrent`: the claim waits in the grant queue
    /// (which now holds `queued` claims).
    WorkerQueued {
        claim: ClaimId,
        role: String,
        queued: u64,
    },
    /// This process may create the claim's container now.
    WorkerLaunch {
        claim: ClaimId,
    },
    /// The claim's container was already created (`state`: created, ended).
    WorkerLaunched {
        claim: ClaimId,
        state: String,
    },
    /// The claim holds no worker slot (its worker's end was recorded).
    WorkerGone {
        claim: ClaimId,
    },
    /// A worker's end was recorded: `kind` exit (with its code), launch_failed,
    /// or not_launched (its claim no longer waited: no container was made).
    WorkerEnded {
        claim: ClaimId,
        role: String,
        kind: String,
        code: i64,
    },
    Running {
        claim: ClaimId,
    },
}
