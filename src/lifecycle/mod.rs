//! The claim lifecycle: registry, bids, grants, phases, feedback.
//!
//! It runs only when an agent registry is present (`sett.yml` / `holt.yml`);
//! without one the orchestrator stays in Phase 1. For now this holds the
//! registry: which agents bid on claims, and the role each one plays.

pub mod registry;
