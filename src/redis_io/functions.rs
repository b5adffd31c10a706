//! Redis Functions (7.0+): decisions loaded once as one library and called
//! with FCALL, or, where Redis has no FUNCTION (5.0, 6.x) or refuses it
//! (an ACL without `function`/`fcall`, as on some managed Redis), the same
//! decisions as plain scripts (EVALSHA).
//!
//! Why: Redis runs a script's whole text on every EVALSHA, so each call built
//! every function and table of the shared parts again (docs/performance.md,
//! "Issue 15"). A library's top level runs once, at FUNCTION LOAD; a call
//! runs only its decision.
//!
//! The library's name carries a hash of its text, and so does each function's
//! (function names are global in Redis): binaries of different versions
//! sharing one Redis each load and call their own library, and the same
//! version loads the same one again (`REPLACE`), harmlessly.
//!
//! Which path a call takes is one flag for the process (one process talks to
//! one Redis): set at every session start by the FUNCTION LOAD's answer, and
//! cleared when a reload fails later. Falling back says so in one
//! `redis_functions_unavailable` line.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};

use crate::log::Line;

/// Where a library's body names itself, before its name (which hashes the
/// body) is known.
const MARK: &str = "\u{1}LIBRARY\u{1}";

/// One library: its name (`<prefix>_<hash>`) and how its text is written.
/// The text (tens of KiB) is built when it is loaded, not kept
/// (docs/performance.md, "Idle memory").
pub struct Library {
    pub name: String,
    body: fn(&str) -> String,
}

impl Library {
    /// The library of `body` (Lua that registers its functions with
    /// [`Library::function`]'s names): named `<prefix>_<12 hex digits of the
    /// body's SHA1>`.
    pub fn new(prefix: &str, body: fn(&str) -> String) -> Library {
        // The names inside the body carry the hash too: hash a body written
        // with a placeholder, then write the real names in.
        let hash = redis::Script::new(&body(MARK)).get_hash()[..12].to_string();
        Library {
            name: format!("{prefix}_{hash}"),
            body,
        }
    }

    /// The library's whole text, the `#!lua name=…` line included.
    pub fn text(&self) -> String {
        format!("#!lua name={}\n", self.name) + &(self.body)(MARK).replace(MARK, &self.name)
    }

    /// The name a function of this library is registered under.
    pub fn function(&self, decision: &str) -> String {
        format!("{}_{decision}", self.name)
    }

    /// FUNCTION LOAD REPLACE, as a command (to pipeline).
    pub fn load_cmd(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg("REPLACE").arg(self.text());
        cmd
    }

    /// Loads the library (again).
    pub async fn load(&self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        self.load_cmd()
            .query_async::<redis::Value>(conn)
            .await
            .map(drop)
    }
}

/// Whether decisions that have a function are called with FCALL. True until
/// a FUNCTION LOAD fails: the first call on a new Redis then finds no
/// function, loads the library and retries ([`is_missing`]).
static FUNCTIONS: AtomicBool = AtomicBool::new(true);

/// True when decisions go through FCALL.
pub fn enabled() -> bool {
    FUNCTIONS.load(Relaxed)
}

/// A library loaded: FCALL from now on.
pub fn loaded() {
    FUNCTIONS.store(true, Relaxed);
}

/// A library could not be loaded (`e`): EVALSHA from now on; one log line
/// when this changes the path.
pub fn fall_back(e: &RedisError) {
    if FUNCTIONS.swap(false, Relaxed) {
        Line::warn("redis_functions_unavailable")
            .str("error", &e.to_string())
            .str("using", "EVALSHA")
            .emit();
    }
}

/// True when an FCALL failed before anything ran because the function is not
/// there: not loaded (a new or restarted Redis, FUNCTION FLUSH), FCALL
/// unknown (Redis before 7.0) or not allowed (ACL). Such a call is safe to
/// retry. An error raised inside a function never reads like these: Redis
/// adds the script's name to it and names the command the script called.
pub fn is_missing(e: &RedisError) -> bool {
    let detail = e.detail().unwrap_or("").to_ascii_lowercase();
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::ResponseError) => {
            detail == "function not found"
                || (detail.starts_with("unknown command") && detail.contains("fcall"))
        }
        ErrorKind::Server(ServerErrorKind::NoPerm) => {
            detail.contains("'fcall' command") && !detail.contains("script")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_io::error_from_reply as reply;

    #[test]
    fn only_errors_raised_before_a_function_runs_are_missing_functions() {
        for text in [
            "ERR Function not found",
            "ERR unknown command 'FCALL', with args beginning with: 'sett_lc_0123_due' '1' ",
            "ERR unknown command `FCALL`, with args beginning with: `sett_lc_0123_due`, ",
            "NOPERM this user has no permissions to run the 'fcall' command",
            "NOPERM User fb has no permissions to run the 'fcall' command",
        ] {
            assert!(is_missing(&reply(text)), "{text}");
        }
        for text in [
            "NOSCRIPT No matching script. Please use EVAL.",
            "ERR unknown command 'FOO'",
            "NOPERM this user has no permissions to run the 'hset' command script: sett_lc_0123_artefact, on @user_function:12.",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "ERR user_function:3: Script attempted to access nonexistent global variable 'x' script: sett_lc_0123_due",
            "READONLY You can't write against a read only replica.",
        ] {
            assert!(!is_missing(&reply(text)), "{text}");
        }
    }

    #[test]
    fn a_library_is_named_by_its_text_and_names_its_functions_so() {
        fn body(name: &str) -> String {
            format!("redis.register_function('{name}_due', function() end)\n")
        }
        let a = Library::new("sett_lc", body);
        let b = Library::new("sett_lc", |n: &str| body(n) + "-- another version\n");
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("sett_lc_") && a.name.len() == "sett_lc_".len() + 12);
        assert_eq!(
            a.text(),
            format!(
                "#!lua name={0}\nredis.register_function('{0}_due', function() end)\n",
                a.name
            )
        );
        assert_eq!(a.function("due"), format!("{}_due", a.name));
    }
}
