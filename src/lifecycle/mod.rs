//! The claim lifecycle: agents bid on each claim; the orchestrator grants a
//! review, a parallel and an exclusive phase in turn, judges the reviews,
//! sends rejected work back to its author (feedback claims), writes Failure
//! artefacts, and completes or terminates claims
//! (`lifecycle-contract.md`). It runs when an agent registry is present.
//!
//! # The state machine
//!
//! ```text
//!   artefact (Standard, Question, Answer)
//!        │ artefact.lua: claim created, joins the bidding set
//!        ▼
//!   pending_review, phase_state ""  ── collecting bids ──┐
//!        │ bids.lua: every registered name bid,           │ all bids `ignore`
//!        │ or SETT_BID_TIMEOUT passed (missing = ignore)  ▼
//!        │                                             dormant (orchestrator:dormant)
//!        ├─ any `review` ─────► pending_review   (review phase)
//!        ├─ else any `claim` ─► pending_parallel (parallel phase)
//!        └─ else `exclusive` ─► pending_exclusive (exclusive phase)
//!
//!   every phase: artefact.lua counts an artefact sourced from the claim's
//!   artefact whose role is granted in the phase; when all granted roles
//!   have delivered, the phase is complete:
//!
//!   review complete ── all approve ──► next phase (parallel if any `claim`
//!        │                             bid, else exclusive if any
//!        │                             `exclusive`, else complete)
//!        └─ a rejection ──► terminated (negative review) and, for the target:
//!              ├─ version-1 >= max_review_iterations > 0 ─► Failure artefact
//!              │     MaxIterationsExceeded (claim keeps that reason)
//!              ├─ author's role not registered ─► Failure artefact
//!              │     MissingAgentConfiguration
//!              └─ else feedback claim: pending_assignment ──(author's
//!                    rework)──► complete; the rework gets its own claim
//!   parallel complete ──► exclusive if any `exclusive` bid, else complete
//!   exclusive complete (the winner's first artefact) ──► complete
//!
//!   a late bid (SETT_BID_TIMEOUT set; late_bid.lua, live or by the
//!   catch-up for bids written while none listened): a dormant claim
//!   starts the phase it asks for; a claim in an earlier phase keeps it for
//!   that phase; else `late_bid`, once
//!   a claim someone else made (adopt.lua, by the catch-up): joins bidding,
//!   its phase, or the active set
//!   a claim in a phase granted to an agent the registry no longer has
//!   (adopt.lua, or late_bid.lua over the active set) ──► terminated
//!
//!   any phase or feedback claim:
//!     a Failure artefact from a granted role ──► terminated
//!     SETT_PHASE_TIMEOUT passed ──► terminated
//!
//!   a controller agent's exclusive grant or feedback claim (`workers`):
//!     a worker slot free ─► the claim's worker container starts
//!     else ─► queued (grant_queue) until a worker of the role ends
//!     its worker exits N, or cannot launch ─► terminated
//! ```
//!
//! Every arrow is one Lua script (`lua/`) that checks the claim's current
//! state before writing and publishing, so replays, restarts and any number
//! of replicas make each grant, event and Failure artefact exactly once.
//! Which claims are collecting bids or waiting in a phase lives in Redis (two
//! orchestrator-owned sorted sets), never only in our memory, so a restart or
//! another replica carries on.
//!
//! The files: `scripts` (the calls, over `lua/`), `artefacts` and `bids` (the
//! decisions events set off; `workflow_message` reads the bid events),
//! `sweep` (the ones no event announces), `catchup` (what the catch-up
//! replays, claims it adopts), `overdue` (waiting made visible), `lock` (the
//! instance lock), `report` (effects as log lines and metrics). The engine
//! runs them; nothing here holds a connection of its own or spawns a task.

pub mod adopt;
pub mod artefacts;
pub mod bids;
pub mod catchup;
pub mod library;
pub mod lock;
pub mod overdue;
pub mod recent;
pub mod recheck;
pub mod report;
pub mod scripts;
pub mod sweep;
pub mod workflow_message;

#[cfg(test)]
mod bids_tests;

use std::time::Duration;

use crate::blackboard::Keys;
use crate::config::registry::Registry;
use crate::metrics::lifecycle::LifecycleMetrics;
use scripts::Context;

/// The lifecycle's configuration and counters, shared by every task.
pub struct Lifecycle {
    pub registry: Registry,
    pub scripts: Context,
    /// `None`: wait for bids for ever.
    pub bid_timeout: Option<Duration>,
    /// `None`: no `bids_overdue` warning (see `overdue`).
    pub bid_overdue: Option<Duration>,
    /// `None`: phases never time out.
    pub phase_timeout: Option<Duration>,
    pub metrics: LifecycleMetrics,
    /// `{p}:{i}:lock`, kept fresh while we run (contract section 7).
    pub lock_key: String,
    /// This process's part of the lock's value (random, per process): the
    /// lock is refreshed and released only while it holds this token.
    pub lock_token: String,
    /// Claims whose bids script is on its way with every field in (see
    /// `bids::decide_batch`): another bid event for one of them needs no call.
    pub deciding: std::sync::Mutex<std::collections::HashSet<crate::ids::ClaimId>>,
    /// Claims whose bids decision this process saw made, the latest few
    /// (see `bids::decide_batch`): without a bid timeout, a later bid event
    /// for one of them needs no command.
    pub decided: std::sync::Mutex<recent::Recent>,
    /// Where the next `bids_overdue` look starts among the overdue claims
    /// (see `overdue`).
    pub overdue_from: std::sync::atomic::AtomicU64,
    /// Without a bid timeout: the next catch-up pass walks the dormant set
    /// for late bids too (see `recheck`). Set at each session's start and
    /// when a bid to work may have been missed; taken by the walk.
    pub dormant_walk_due: std::sync::atomic::AtomicBool,
}

impl Lifecycle {
    pub fn new(
        keys: &Keys,
        registry: Registry,
        bid_timeout: Option<Duration>,
        phase_timeout: Option<Duration>,
    ) -> Lifecycle {
        Lifecycle {
            scripts: Context::new(keys, &registry),
            registry,
            bid_timeout,
            bid_overdue: None,
            phase_timeout,
            metrics: LifecycleMetrics::default(),
            lock_key: format!("{}lock", keys.prefix()),
            lock_token: crate::ids::new_v4().simple().to_string(),
            deciding: Default::default(),
            decided: Default::default(),
            overdue_from: Default::default(),
            // Set by each session's start (`engine::session`).
            dormant_walk_due: Default::default(),
        }
    }

    /// Asks the next catch-up pass to walk the dormant set (see `recheck`).
    pub fn walk_dormant_set(&self) {
        self.dormant_walk_due
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
