//! sett-sim: the programs around the orchestrator that we do not control,
//! played as the lifecycle contract says they behave, for the tests,
//! `sett-bench` and `sett-demo` alike, so that all three test against one
//! reading of the contract.
//!
//! - [`json`]: Go's `encoding/json` spelling (escapes, sorted map keys);
//!   [`wire`]: every message on the blackboard's channels, byte for byte,
//!   as Go writes it; [`keys`]: the names under one instance.
//! - [`artefact`]: an artefact as agents read and write it, with
//!   [`commands`] built at their final size.
//! - [`spec`]: what one agent bids and writes; [`agent`]: its decisions
//!   on each message, apart from any connection, and the [`Watch`] that
//!   sees them; two drivers run them: [`thread`] (one blocking thread per
//!   agent, for the tests) and [`swarm`] (many agents as tasks on one
//!   executor, each message its own task: the bench's load, the demo).
//! - [`recorder`]: every message published under an instance, in order.
//!
//! Nothing here depends on the orchestrator's code: it plays Holt's Go
//! agents and producers, and a test is only as good as that independence.
//! The test worker for controller agents, a static binary, is here too, in
//! `src/bin/`; [`worker_image`] puts it in a `FROM scratch` image.

pub mod agent;
pub mod artefact;
pub mod commands;
pub mod json;
pub mod keys;
pub mod recorder;
pub mod spec;
pub mod swarm;
pub mod thread;
pub mod wire;
pub mod worker_image;

pub use agent::{Act, Heard, Watch};
pub use artefact::Artefact;
pub use keys::Keys;
pub use recorder::Recorder;
pub use spec::{Spec, Target, Work};
pub use swarm::Swarm;
pub use thread::{Seen, SimAgent};
pub use wire::Msg;
