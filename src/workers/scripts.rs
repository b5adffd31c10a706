//! The worker decisions, each one Lua script (`src/workers/lua/`) behind the
//! shared parts it uses (`lib.lua`, `json.lua`, `claims.lua`, `grant.lua`), so each is
//! one atomic script that checks the claim's slot and launch record before
//! it writes. This file only builds the calls.

use std::sync::{Arc, LazyLock};

use crate::blackboard::Keys;
use crate::config::registry::Registry;
use crate::ids::new_v4;
use crate::redis_io::scripts::{Call, Frame, Framed, Script};

static SHARED: [&str; 4] = [
    lua!("lifecycle/lua/lib.lua"),
    lua!("lifecycle/lua/json.lua"),
    lua!("lifecycle/lua/claims.lua"),
    lua!("workers/lua/grant.lua"),
];

/// lib.lua's per-call state, between the shared parts and the entry.
const BEGIN: &str = "begin(ARGV)\n";

/// The shared parts, lib.lua's `begin(ARGV)` (the call's state), the entry.
fn decision(name: &'static str, entry: &'static str) -> Script {
    Script::new(name, &SHARED, &[BEGIN, entry])
}

pub static LAUNCH: LazyLock<Script> =
    LazyLock::new(|| decision("worker_launch", lua!("workers/lua/launch.lua")));
pub static CREATED: LazyLock<Script> =
    LazyLock::new(|| decision("worker_created", lua!("workers/lua/created.lua")));
pub static ENDED: LazyLock<Script> =
    LazyLock::new(|| decision("worker_ended", lua!("workers/lua/ended.lua")));
pub static RESUME: LazyLock<Script> =
    LazyLock::new(|| decision("worker_resume", lua!("workers/lua/resume.lua")));

/// Every worker script, to load once per session.
pub fn scripts() -> Vec<&'static Script> {
    vec![&LAUNCH, &CREATED, &ENDED, &RESUME]
}

/// How a worker ended, as `ended.lua` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The container exited with this code; `logs`: the Failure payload's text.
    Exit { code: i64, logs: String },
    /// It could not be created or started.
    LaunchFailed { reason: String },
}

/// The arguments every worker script starts with (those of `lib.lua`).
#[derive(Clone, Debug)]
pub struct Calls {
    prefix: String,
    /// ARGV around each call's own arguments, shared by every call (see
    /// `redis_io::call`): the prefix, the registry's size
    /// (`Registry::script_args`) and `max_review_iterations` before the
    /// seed, the registry's arguments after the call's own.
    frame: Arc<Frame>,
}

impl Calls {
    pub fn new(keys: &Keys, registry: &Registry) -> Calls {
        Calls {
            prefix: keys.prefix().to_string(),
            frame: Arc::new(Frame::for_registry(keys.prefix(), registry)),
        }
    }

    fn call(&self, script: &'static Script, rest: &[&str]) -> Call<'static> {
        Call {
            script,
            keys: Vec::new(),
            args: rest.iter().map(|s| s.to_string()).collect(),
            frame: Some(Framed {
                frame: self.frame.clone(),
                seed: new_v4(),
            }),
        }
    }

    /// May this process create `claim`'s container now?
    pub fn launch(&self, claim: &str, role: &str) -> Call<'static> {
        self.call(&LAUNCH, &[claim, role])
    }

    /// `claim`'s container exists.
    pub fn created(&self, claim: &str, role: &str) -> Call<'static> {
        self.call(&CREATED, &[claim, role])
    }

    /// `claim`'s worker ended.
    pub fn ended(&self, claim: &str, role: &str, ending: &Ending) -> Call<'static> {
        match ending {
            Ending::Exit { code, logs } => {
                self.call(&ENDED, &[claim, role, "exit", &code.to_string(), logs])
            }
            Ending::LaunchFailed { reason } => {
                self.call(&ENDED, &[claim, role, "launch_failed", "0", reason])
            }
        }
    }

    /// Free slots of `role` go to its oldest queued claims.
    pub fn resume(&self, role: &str) -> Call<'static> {
        self.call(&RESUME, &[role])
    }

    /// The set of claims holding a worker slot of `role`.
    pub fn slots_key(&self, role: &str) -> String {
        format!("{}orchestrator:workers:{role}", self.prefix)
    }

    /// The grant queue of `role` (Holt's key).
    pub fn queue_key(&self, role: &str) -> String {
        format!("{}grant_queue:{role}", self.prefix)
    }

    /// A claim's launch record.
    pub fn record_key(&self, claim: &str) -> String {
        format!("{}orchestrator:worker:{claim}", self.prefix)
    }

    /// A claim's hash.
    pub fn claim_key(&self, claim: &str) -> String {
        format!("{}claim:{claim}", self.prefix)
    }
}
