//! sett-orchestrator: watches a Sett blackboard in Redis and gives every
//! artefact that needs work one claim; with an agent registry it also runs
//! the claim lifecycle (bids, grants, phases, feedback).
//!
//! # The map
//!
//! Modules stand in layers; a module imports only from layers below its own,
//! never from a sibling of its layer (siblings talk through the layer above),
//! and files inside one module never import each other in a loop.
//! `tests/layers.rs` reads every `use crate::…`/`super::…` line and holds
//! the code to this map (it reads the block below).
//!
//! ```text
//! layer 9  process   app cli
//! layer 8  process   http
//! layer 7  engine    engine
//! layer 6  deciders  phase1 lifecycle workers
//! layer 5  io        redis_io docker
//! layer 4  leaves    metrics health shutdown
//! layer 3  leaves    blackboard
//! layer 2  leaves    config
//! layer 1  leaves    log
//! layer 0  leaves    ids deadline alloc_cache
//! ```
//!
//! - process: `app` (start-up and shutdown order), `cli` (the command line),
//!   `http` (probes and metrics); `main.rs` only dispatches.
//! - engine: sessions against Redis and their tasks (subscription, decision
//!   pool, retries, catch-up, sweep, watchdog), reporting what was decided.
//! - deciders: `phase1` (one claim per artefact), `lifecycle` (bids, grants,
//!   phases, feedback), `workers` (controllers' worker slots, queue, launch
//!   records, endings); each decision is one Lua script next to its caller.
//! - io: `redis_io` (session connections, the streaming subscriber, running
//!   scripts and decoding their answers), `docker` (the Docker Engine API
//!   over its unix socket, for worker containers).
//! - leaves: `blackboard` (keys, wire types, the decision protocol),
//!   `metrics`, `health`, `shutdown` (the stop signal), `config` (the
//!   environment and the agent registry), `log` (JSON lines), `ids`,
//!   `deadline` (time limits), `alloc_cache` (the process's allocator).

/// The text of a Lua decision under `src/` (`lua!("phase1/claim.lua")`), as
/// `build.rs` copies it: comment-only lines emptied, code byte for byte.
macro_rules! lua {
    ($path:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/", $path))
    };
}

pub mod alloc_cache;
pub mod app;
pub mod blackboard;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod docker;
pub mod engine;
pub mod health;
pub mod http;
pub mod ids;
pub mod lifecycle;
pub mod log;
pub mod metrics;
pub mod phase1;
pub mod redis_io;
pub mod shutdown;
pub mod workers;

pub use config::VERSION;
