//! The claim lifecycle (placeholder doc; see the state machine later).
pub mod bids;
pub mod effects;
pub mod metrics;
pub mod registry;
pub mod scripts;
