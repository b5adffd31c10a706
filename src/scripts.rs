//! Server-side scripts: a batch of script calls as one pipeline of EVALSHAs.
//!
//! Every decision that changes a claim is one Lua script, so Redis runs it
//! alone and replicas cannot interleave. Sending a batch of them as one
//! pipeline costs one write and one round trip. Redis forgets loaded scripts
//! when it restarts or runs SCRIPT FLUSH: calls that meet NOSCRIPT are retried
//! once after SCRIPT LOAD; the others are never re-run (each already ran, or
//! failed for its own reason).

use redis::aio::MultiplexedConnection;
use redis::{ErrorKind, RedisError, RedisResult, Script, ServerErrorKind, Value};

/// One script call: the script, its KEYS and its ARGV.
pub struct Call<'a> {
    pub script: &'a Script,
    pub keys: Vec<String>,
    pub args: Vec<String>,
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
        if !loaded.iter().any(|s| s.get_hash() == script.get_hash()) {
            script.prepare_invoke().load_async(conn).await?;
            loaded.push(script);
        }
    }
    let again = pipeline(conn, calls, Some(&retry)).await?;
    for (i, reply) in retry.into_iter().zip(again) {
        replies[i] = reply;
    }
    Ok(replies)
}

/// Loads `script` into Redis's script cache (once per session, so the first
/// batch does not pay for NOSCRIPT).
pub async fn load(conn: &mut MultiplexedConnection, script: &Script) -> Result<(), RedisError> {
    script.prepare_invoke().load_async(conn).await.map(drop)
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
    let mut pipe = redis::pipe();
    let mut add = |call: &Call<'_>| {
        let cmd = pipe
            .cmd("EVALSHA")
            .arg(call.script.get_hash())
            .arg(call.keys.len());
        for key in &call.keys {
            cmd.arg(key);
        }
        for arg in &call.args {
            cmd.arg(arg);
        }
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

/// A reply that is a list of string lists (what the lifecycle scripts return).
pub fn rows(v: &Value) -> Option<Vec<Vec<String>>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .map(|row| match row {
            Value::Array(cells) => cells.iter().map(text).collect(),
            _ => None,
        })
        .collect()
}
