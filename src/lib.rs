//! sett-orchestrator: watches a Sett blackboard in Redis and gives every
//! non-Terminal artefact exactly one claim (Phase 1).
//!
//! One module per concept: `config` (environment), `blackboard` (keys and wire
//! types), `claim` (the atomic claim script), `subscription` (events cut down
//! to ids), `subscriber` (a streaming subscription connection that never
//! holds a whole message), `engine` (claim workers and session supervisor), `outcome`
//! (logging and counting each claim), `reconcile` (catch-up scan), `session`
//! (connections and reconnects), `http` (the responder), `health`, `metrics`,
//! `shutdown`, `log`, `cli`, and `app` (start-up and shutdown order).
//! `main.rs` only dispatches.

pub mod app;
pub mod blackboard;
pub mod claim;
pub mod cli;
pub mod config;
pub mod engine;
pub mod health;
pub mod http;
pub mod ids;
pub mod log;
pub mod metrics;
pub mod outcome;
pub mod reconcile;
pub mod session;
pub mod shutdown;
pub mod subscriber;
pub mod subscription;

/// State every task shares: read-mostly, behind one `Arc`.
pub struct Shared {
    pub config: config::Config,
    pub keys: blackboard::Keys,
    pub metrics: metrics::Metrics,
    pub health: health::Health,
    pub shutdown: shutdown::Shutdown,
}

/// The version printed by `--version` and exported as `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
