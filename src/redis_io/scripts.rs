//! Server-side scripts: loading them, and running a batch of calls as one
//! pipeline of EVALSHAs whose answers are decoded into effects.
//!
//! Every decision that changes a claim is one Lua script, so Redis runs it
//! alone and replicas cannot interleave. Sending a batch of them as one
//! pipeline costs one write and one round trip. Redis forgets loaded scripts
//! when it restarts or runs SCRIPT FLUSH: calls that meet NOSCRIPT are retried
//! once after SCRIPT LOAD; the others are never re-run (each already ran, or
//! failed for its own reason).
//!
//! Every script answers in one protocol ([`crate::blackboard::effects`]),
//! decoded here by the one decoder. Each states its version
//! (`local PROTOCOL = N`, its first line of code); [`check_protocols`] holds
//! them to the decoder's before any is loaded, so a mismatch stops the
//! start-up instead of failing claim after claim.

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

use super::errors::ends_session;
use crate::blackboard::decode::{decode, UnexpectedReply};
use crate::blackboard::effects::{Effect, PROTOCOL};

/// A script we run: its name (for errors), the parts its text is made of,
/// and its SHA.
///
/// The text is built when it is needed (loading it: once per session, and
/// after NOSCRIPT), not kept: a decision is the shared parts before its
/// entry file, and keeping every decision's text resident (plus the redis
/// crate's copy) held about half a MiB of the idle process
/// (docs/performance.md, "Issue 16").
pub struct Script {
    pub name: &'static str,
    parts: &'static [&'static str],
    entry: &'static str,
    sha: String,
}

impl Script {
    /// The script whose text is `parts`, in order, then `entry`.
    pub fn new(name: &'static str, parts: &'static [&'static str], entry: &'static str) -> Script {
        let mut script = Script {
            name,
            parts,
            entry,
            sha: String::new(),
        };
        script.sha = redis::Script::new(&script.text()).get_hash().to_string();
        script
    }

    /// The script's text.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(
            self.parts.iter().map(|p| p.len()).sum::<usize>() + self.entry.len(),
        );
        self.parts.iter().for_each(|p| text.push_str(p));
        text.push_str(self.entry);
        text
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
        let first = self.parts.first().unwrap_or(&self.entry);
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

/// One script call: the script, its KEYS and its ARGV.
pub struct Call<'a> {
    pub script: &'a Script,
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

/// Why one decision did not report its effects.
#[derive(Debug)]
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
pub async fn run_batch(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
) -> Result<Vec<RedisResult<Value>>, RedisError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let mut replies = pipeline(conn, calls, None).await?;
    let retry: Vec<usize> = (0..replies.len())
        .filter(|&i| is_noscript(&replies[i]))
        .collect();
    if retry.is_empty() {
        return Ok(replies);
    }
    let mut loaded: Vec<&Script> = Vec::new();
    for &i in &retry {
        let script = calls[i].script;
        if !loaded.iter().any(|s| s.sha() == script.sha()) {
            script.load(conn).await?;
            loaded.push(script);
        }
    }
    let again = pipeline(conn, calls, Some(&retry)).await?;
    for (i, reply) in retry.into_iter().zip(again) {
        replies[i] = reply;
    }
    Ok(replies)
}

fn is_noscript(reply: &RedisResult<Value>) -> bool {
    matches!(reply, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript))
}

/// EVALSHA for the calls at `only` (all when `None`).
async fn pipeline(
    conn: &mut MultiplexedConnection,
    calls: &[Call<'_>],
    only: Option<&[usize]>,
) -> Result<Vec<RedisResult<Value>>, RedisError> {
    let mut pipe = redis::Pipeline::with_capacity(only.map_or(calls.len(), <[usize]>::len));
    let mut add = |call: &Call<'_>| {
        // Sized up front: growing the command's buffers argument by argument
        // cost several reallocations per call.
        let (sha, keys) = (call.script.sha(), call.keys.len());
        let args = call.keys.iter().chain(&call.args);
        let bytes = "EVALSHA".len() + sha.len() + 4 + args.clone().map(String::len).sum::<usize>();
        let mut cmd = redis::Cmd::with_capacity(3 + call.keys.len() + call.args.len(), bytes);
        cmd.arg("EVALSHA").arg(sha).arg(keys);
        for arg in args {
            cmd.arg(arg);
        }
        pipe.add_command(cmd);
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
