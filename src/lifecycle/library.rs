//! The lifecycle's Lua, assembled two ways from the same files.
//!
//! - As scripts (EVALSHA, every Redis from 5.0): each decision is the shared
//!   parts it uses, `begin(ARGV)` (lib.lua: the call's state), then its entry
//!   file. Redis runs the whole text on every call.
//! - As one Redis Functions library (FCALL, Redis 7.0+ where FUNCTION is
//!   allowed): the shared parts once, then each entry file as the body of a
//!   function `(KEYS, ARGV)` registered under the decision's name. Loading it
//!   builds the shared parts' functions and tables once; a call runs
//!   `begin(ARGV)` and its entry only (docs/performance.md, "Issue 15").
//!
//! Either way a decision is one atomic call that checks the claim's state
//! before it writes, with the same text doing the same thing. Which one runs
//! is `redis_io::functions`' choice.

use std::fmt::Write;
use std::sync::LazyLock;

use crate::redis_io::functions::Library;
use crate::redis_io::scripts::Script;

/// The shared parts, in the order each decision starts with them.
pub static SHARED: [&str; 7] = [
    lua!("lifecycle/lua/lib.lua"),
    lua!("lifecycle/lua/json.lua"),
    lua!("lifecycle/lua/claims.lua"),
    lua!("workers/lua/grant.lua"),
    lua!("lifecycle/lua/grants.lua"),
    lua!("lifecycle/lua/feedback.lua"),
    lua!("lifecycle/lua/phases.lua"),
];

/// The library's head, before the shared parts: the standard globals as
/// locals, bound by a call (`locals.lua`). Scripts run without it.
const LOCALS: &str = lua!("lifecycle/lua/locals.lua");

/// What a decision's script runs between the shared parts and its entry:
/// lib.lua's per-call state from the arguments and the server clock.
pub const BEGIN: &str = "begin(ARGV)\n";

/// One decision of the library.
struct Decision {
    name: &'static str,
    /// How many shared parts its script needs. Redis runs a script's whole
    /// text on every call: the hot decisions that need fewer parts leave the
    /// rest out (a test holds each to the parts it uses:
    /// `every_decision_includes_the_parts_it_uses`). The library holds every
    /// part once.
    parts: usize,
    entry: &'static str,
    /// It never writes: registered `no-writes`. Redis refuses a function
    /// that may write as a whole under OOM or NOREPLICAS (or MISCONF), where
    /// the script ran until its first write; one that never writes still
    /// answers then (`due_still_answers_under_oom`).
    reads_only: bool,
}

const fn writes(name: &'static str, parts: usize, entry: &'static str) -> Decision {
    Decision {
        name,
        parts,
        entry,
        reads_only: false,
    }
}

const DECISIONS: [Decision; 7] = [
    writes("artefact", 7, lua!("lifecycle/lua/artefact.lua")),
    // lib, json, claims, workers' grant, grants.
    writes("bids", 5, lua!("lifecycle/lua/bids.lua")),
    // lib, json, claims.
    writes("timeout", 3, lua!("lifecycle/lua/timeout.lua")),
    // lib.
    Decision {
        reads_only: true,
        ..writes("due", 1, lua!("lifecycle/lua/due.lua"))
    },
    writes("late_bid", 7, lua!("lifecycle/lua/late_bid.lua")),
    writes("overdue", 7, lua!("lifecycle/lua/overdue.lua")),
    writes("adopt", 7, lua!("lifecycle/lua/adopt.lua")),
];

/// A decision's function: the call's state first (`begin`), then its entry.
/// The registries outlive a call here, kept by tag (lib.lua): a call names
/// its registry's tag and sends the registry only when the library answers
/// `NOREGISTRY` (`redis_io::call::NO_REGISTRY`; a test holds the two equal).
const RUN: &str = "
KEEP_REGISTRY = true
local api = loading_api()
local function run(entry)
  return function(keys, args)
    bind_standard()
    if not begin(args) then
      return redis.error_reply('NOREGISTRY send the registry with this call')
    end
    return entry(keys, args)
  end
end
";

/// Every decision in one library, named `sett_lc_<hash of its text>`.
pub static LIBRARY: LazyLock<Library> = LazyLock::new(|| Library::new("sett_lc", body));

/// The library's text after its `#!lua` line, registering each decision as
/// `<name>_<decision>`.
fn body(name: &str) -> String {
    let mut text = LOCALS.to_string();
    text.push_str(&SHARED.concat());
    text.push_str(RUN);
    for d in DECISIONS {
        let flags = if d.reads_only {
            "{ 'no-writes' }"
        } else {
            "{}"
        };
        let _ = write!(
            text,
            "api.register_function{{ function_name = '{name}_{}', flags = {flags},\n\
             callback = run(function(KEYS, ARGV)\n{}\nend) }}\n",
            d.name, d.entry
        );
    }
    text
}

/// The decision named `name` (one of `DECISIONS`): its script, which the
/// library also holds as a function. Assembled when it is loaded rather than
/// at build time, so the binary holds each part once, not once per decision,
/// and the process keeps no decision's text.
pub fn decision(name: &'static str) -> Script {
    let d = DECISIONS
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no lifecycle decision named {name}"));
    Script::with_function(name, &SHARED[..d.parts], &[BEGIN, d.entry], &LIBRARY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_io::call::NO_REGISTRY;

    #[test]
    fn a_call_without_its_registry_answers_the_code_the_caller_retries() {
        assert!(RUN.contains(&format!("redis.error_reply('{NO_REGISTRY} ")));
    }
}
