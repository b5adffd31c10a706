//! Controller agents and their worker containers (`workers-contract.md`).
//!
//! A controller only bids; when it wins a claim's exclusive phase (or is the
//! author a feedback claim goes back to), the grant script gives the claim a
//! worker slot, counted in Redis inside that script so `max_concurrent` holds
//! across replicas and restarts, or queues it first in, first out
//! (`lua/grant.lua`, a shared part of every lifecycle decision). The engine
//! then launches the container (`spec`), guarded by the claim's launch record
//! (`lua/launch.lua`, `lua/created.lua`: exactly one container per claim,
//! ever), and records its end (`lua/ended.lua`: exit 0, exit N with one
//! `WorkerFailure` artefact, or a launch failure), which hands the slot to
//! the oldest queued claim.
//!
//! The files: `scripts` (the calls), `spec` (the one container spec a
//! worker gets), `report` (effects as Holt's log lines and our metrics).
//! Nothing here holds a connection or spawns a task: `engine::workers` runs it.

pub mod report;
pub mod scripts;
pub mod spec;
