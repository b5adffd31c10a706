//! sett-orchestrator: watches a Sett blackboard in Redis and gives every
//! artefact that needs work one claim; with an agent registry it also runs
//! the claim lifecycle (bids, grants, phases, feedback).
//!
//! One module per concept: `config` (environment and registry file), `ids`
//! (artefact ids as written), `blackboard` (keys and wire types), `claim` (the
//! Phase-1 claim script), `scripts` (batches of server-side scripts),
//! `subscriber` (a streaming subscription connection that never holds a whole
//! message), `subscription` (events cut down to ids and queued), `engine`
//! (workers and the session supervisor), `outcome` (logging and counting each
//! claim), `retry` (events that came before their hash), `reconcile` (catch-up
//! scan), `session` (connections and reconnects), `watchdog` (slow or dead
//! Redis), `lifecycle` (registry, bids, grants, phases, feedback), `http` (the
//! responder), `health`, `metrics`, `shutdown`, `log`, `cli`, and `app`
//! (start-up and shutdown order). `main.rs` only dispatches.

pub mod app;
pub mod blackboard;
pub mod claim;
pub mod cli;
pub mod config;
pub mod docker;
pub mod engine;
pub mod health;
pub mod http;
pub mod ids;
pub mod lifecycle;
pub mod log;
pub mod metrics;
pub mod outcome;
pub mod reconcile;
pub mod retry;
pub mod scripts;
pub mod session;
pub mod shutdown;
pub mod subscriber;
pub mod subscription;
pub mod watchdog;

/// State every task shares: read-mostly, behind one `Arc`.
pub struct Shared {
    pub config: config::Config,
    pub keys: blackboard::Keys,
    /// Present in lifecycle mode (an agent registry was found).
    pub lifecycle: Option<lifecycle::Lifecycle>,
    pub metrics: metrics::Metrics,
    pub health: health::Health,
    pub shutdown: shutdown::Shutdown,
}

/// The version printed by `--version` and exported as `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
