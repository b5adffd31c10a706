//! Server-side scripts: loading them, and running a batch of calls as one
//! pipeline of EVALSHAs whose answers are decoded into effects.
//!
//! Every decision that changes a claim is one Lua script, so Redis runs it
//! alone and replicas cannot interleave. Sending a batch of them as one
//! pipeline costs one write and one round trip. A script that is also a
//! function of a loaded library (`functions`) is called with FCALL, else
//! with EVALSHA. Redis forgets loaded scripts and functions when it restarts
//! or runs SCRIPT FLUSH / FUNCTION FLUSH: calls that meet NOSCRIPT or find
//! no function (nothing ran) are retried once after SCRIPT LOAD or FUNCTION
//! LOAD (or as EVALSHA when the library cannot be loaded); the others are
//! never re-run (each already ran, or failed for its own reason).
//!
//! Every script answers in one protocol ([`crate::blackboard::effects`]),
//! decoded here by the one decoder. Each states its version
//! (`local PROTOCOL = N`, its first line of code); [`check_protocols`] holds
//! them to the decoder's before any is loaded, so a mismatch stops the
//! start-up instead of failing claim after claim.

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

use super::errors::{ends_session, is_connection_lost};
use super::functions::{self, Library};
use crate::blackboard::decode::{decode, UnexpectedReply};
use crate::blackboard::effects::{Effect, PROTOCOL};

/// A script we run: its name (for errors), the parts its text is made of,
/// its SHA; and the library function that does the same, if there is one.
///
/// The text is built when it is needed (loading it: once per session, and
/// after NOSCRIPT), not kept: a decision is the shared parts before its
/// entry file, and keeping every decision's text resident (plus the redis
/// crate's copy) held about half a MiB of the idle process
/// (docs/performance.md, "Idle memory").
pub struct Script {
    pub name: &'static str,
    parts: &'static [&'static str],
    /// What follows the parts (e.g. `begin(ARGV)`, then the entry file).
    rest: Vec<&'static str>,
    sha: String,
    function: Option<(&'static Library, String)>,
}

impl Script {
    /// The script whose text is `parts`, then `rest`, in order.
    pub fn new(
        name: &'static str,
        parts: &'static [&'static str],
        rest: &[&'static str],
    ) -> Script {
        let mut script = Script {
            name,
            parts,
            rest: rest.to_vec(),
            sha: String::new(),
            function: None,
        };
        script.sha = redis::Script::new(&script.text()).get_hash().to_string();
        script
    }

    /// A script that `library` also holds, as the function named
    /// `library.function(name)`: called with FCALL while functions are
    /// enabled, else as this text.
    pub fn with_function(
        name: &'static str,
        parts: &'static [&'static str],
        rest: &[&'static str],
        library: &'static Library,
    ) -> Script {
        Script {
            function: Some((library, library.function(name))),
            ..Script::new(name, parts, rest)
        }
    }

    /// The script's text.
    pub fn text(&self) -> String {
        let all = || self.parts.iter().chain(&self.rest);
        let mut text = String::with_capacity(all().map(|p| p.len()).sum());
        all().for_each(|p| text.push_str(p));
        text
    }

    /// The library holding this script as a function.
    pub fn library(&self) -> Option<&'static Library> {
        self.function.as_ref().map(|(library, _)| *library)
    }

    /// The function to FCALL for this script, when functions are in use.
    fn fcall(&self) -> Option<&str> {
        let (_, name) = self.function.as_ref()?;
        functions::enabled().then_some(name.as_str())
    }

    /// The script's SHA1 (what EVALSHA names).
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// Loads the script into Redis's script cache.
    pub async fn load(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.text())
            .query_async::<Value>(conn)
            .await
            .map(drop)
    }

    /// The protocol version the script states (`local PROTOCOL = N`).
    pub fn protocol(&self) -> Option<i64> {
        let first = self.parts.iter().chain(&self.rest).next()?;
        first
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("--"))?
            .strip_prefix("local PROTOCOL = ")?
            .parse()
            .ok()
    }
}

/// A script that does not state the protocol this binary decodes.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolMismatch {
    pub script: &'static str,
    pub stated: Option<i64>,
}

impl std::fmt::Display for ProtocolMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stated {
            Some(v) => write!(
                f,
                "the {} script speaks protocol {v}; this binary reads protocol {PROTOCOL}",
                self.script
            ),
            None => write!(
                f,
                "the {} script does not state its protocol; this binary reads protocol {PROTOCOL}",
                self.script
            ),
        }
    }
}

/// Every script must state the protocol the decoder reads.
pub fn check_protocols(scripts: &[&Script]) -> Result<(), ProtocolMismatch> {
    match scripts.iter().find(|s| s.protocol() != Some(PROTOCOL)) {
        Some(s) => Err(ProtocolMismatch {
            script: s.name,
            stated: s.protocol(),
        }),
        None => Ok(()),
    }
}

pub use super::call::{Frame, Framed};
use super::call::{Registry, NO_REGISTRY};

/// One script call: the script, its KEYS and its ARGV (with a frame: the
/// frame's head, the seed, `args`, the frame's tail; see `call`).
pub struct Call<'a> {
    pub script: &'a Script,
    pub keys: Vec<String>,
    pub args: Vec<String>,
    pub frame: Option<Framed>,
}

impl Call<'_> {
    /// The command that makes this call: FCALL naming the registry by its
    /// tag for a library function, else EVALSHA (carrying the registry, when
    /// the call has a frame). A library call sent this way may answer
    /// `NOREGISTRY` (or a missing function, or NOSCRIPT for EVALSHA), having
    /// done nothing: [`decide`] sends it again as it must; this is for
    /// callers that load what they call themselves (the bench's ceiling).
    pub fn command(&self) -> redis::Cmd {
        self.command_sent(false)
    }

    /// [`Call::command`]; `again`: a library call sent again carries its
    /// registry for the library to keep ([`pipeline`]).
    fn command_sent(&self, again: bool) -> redis::Cmd {
        let (verb, name, registry) = match (self.script.fcall(), again) {
            (Some(function), false) => ("FCALL", function, Registry::Tagged),
            (Some(function), true) => ("FCALL", function, Registry::Kept),
            (None, _) => ("EVALSHA", self.script.sha(), Registry::Sent),
        };
        super::call::command(
            verb,
            name,
            &self.keys,
            self.frame.as_ref(),
            &self.args,
            registry,
        )
    }
}

/// Why one decision did not report its effects.
#[derive(Clone, Debug)]
pub enum CallError {
    /// Redis refused it (OOM, MISCONF, a script error…) or the connection failed.
    Redis(RedisError),
    /// It answered outside the protocol.
    Unexpected(UnexpectedReply),
}

impl CallError {
    /// True when the session must be rebuilt (see [`ends_session`]).
    pub fn ends_session(&self) -> bool {
        match self {
            CallError::Redis(e) => ends_session(e),
            CallError::Unexpected(_) => false,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Redis(e) => write!(f, "{e}"),
            CallError::Unexpected(e) => write!(f, "{e}"),
        }
    }
}

/// What one decision did, or why it did not say.
pub type Decided = Result<Vec<Effect>, CallError>;

/// Runs `calls` (one pipeline) and decodes each answer. `Err` only when the
/// pipeline as a whole failed (the connection is gone).
pub async fn decide(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
) -> Result<Vec<Decided>, RedisError> {
    Ok(run_batch(conn, calls)
        .await?
        .into_iter()
        .map(|reply| match reply {
            Ok(value) => decode(&value).map_err(CallError::Unexpected),
            Err(e) => Err(CallError::Redis(e)),
        })
        .collect())
}

/// Runs `calls` as one pipeline. `Err` only when the pipeline as a whole
/// failed (the connection is gone); otherwise one result per call, in order.
/// Calls that ran nothing (NOSCRIPT, no function) are retried after loading
/// what they miss: once, and once more as EVALSHA if their function is still
/// missing after its library loaded (FCALL alone refused by an ACL).
pub async fn run_batch(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
) -> Result<Vec<RedisResult<Value>>, RedisError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let mut replies = pipeline(conn, calls, None).await?;
    let mut reloaded = false;
    for _ in 0..2 {
        let retry: Vec<usize> = (0..replies.len())
            .filter(|&i| {
                is_noscript(&replies[i])
                    || is_missing_function(&replies[i])
                    || is_missing_registry(&replies[i])
            })
            .collect();
        if retry.is_empty() {
            break;
        }
        let missing: Vec<usize> = retry
            .iter()
            .copied()
            .filter(|&i| !is_missing_registry(&replies[i]))
            .collect();
        if !missing.is_empty() {
            load_missing(conn, calls, &replies, &missing, reloaded).await?;
            reloaded = true;
        }
        let again = pipeline(conn, calls, Some(&retry)).await?;
        for (i, reply) in retry.into_iter().zip(again) {
            replies[i] = reply;
        }
    }
    Ok(replies)
}

/// Loads what the calls at `retry` missed: their libraries (or, when a
/// library cannot be loaded, or was loaded already and the function is still
/// not there, EVALSHA from now on), then the scripts that run as EVALSHA.
async fn load_missing(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
    replies: &[RedisResult<Value>],
    retry: &[usize],
    reloaded: bool,
) -> Result<(), RedisError> {
    let mut libraries: Vec<&Library> = Vec::new();
    for &i in retry {
        let (Err(e), Some(library)) = (&replies[i], calls[i].script.library()) else {
            continue;
        };
        if !functions::is_missing(e) || libraries.iter().any(|l| l.name == library.name) {
            continue;
        }
        libraries.push(library);
        if reloaded {
            functions::fall_back(e);
            continue;
        }
        match library.load(conn).await {
            Ok(()) => functions::loaded(),
            Err(e) if is_connection_lost(&e) => return Err(e),
            Err(e) => functions::fall_back(&e),
        }
    }
    let mut loaded: Vec<&Script> = Vec::new();
    for &i in retry {
        let script = calls[i].script;
        if script.fcall().is_none() && !loaded.iter().any(|s| s.sha() == script.sha()) {
            script.load(conn).await?;
            loaded.push(script);
        }
    }
    Ok(())
}

fn is_noscript(reply: &RedisResult<Value>) -> bool {
    matches!(reply, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
}

fn is_missing_function(reply: &RedisResult<Value>) -> bool {
    matches!(reply, Err(e) if functions::is_missing(e))
}

/// A library call whose registry the library does not hold (lib.lua's
/// `begin`): nothing ran.
fn is_missing_registry(reply: &RedisResult<Value>) -> bool {
    matches!(reply, Err(e) if e.code() == Some(NO_REGISTRY))
}

/// FCALL or EVALSHA for the calls at `only` (all when `None`). A library
/// call names its registry by its tag; sent again (`only`), it carries the
/// registry for the library to keep: a call is sent again when its library
/// did not hold its registry or had to be loaded (then it holds none).
async fn pipeline(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
    only: Option<&[usize]>,
) -> Result<Vec<RedisResult<Value>>, RedisError> {
    let mut pipe = redis::Pipeline::with_capacity(only.map_or(calls.len(), <[usize]>::len));
    let mut add = |call: &Call<'_>| {
        pipe.add_command(call.command_sent(only.is_some()));
    };
    match only {
        Some(indices) => indices.iter().for_each(|&i| add(&calls[i])),
        None => calls.iter().for_each(&mut add),
    }
    pipe.ignore_errors().query_async(conn).await
}

/// The text of a bulk or simple string reply.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}
