//! The instance lock `{p}:{i}:lock` (contract section 7): `holt up` reads it
//! and refuses to start a second stack while it is fresh. The process that
//! holds it keeps it fresh, and at shutdown deletes it; another process's
//! lock (a live replica's) is never refreshed nor deleted.
//!
//! The value is `orchestrator:<unix seconds>:<token>`: `holt up` parses the
//! `orchestrator:%d` prefix (over 30 s old = stale); the token, random per
//! process, says whose it is. Both operations are one small script
//! (`lua/lock.lua`) that compares the token and writes in one step.

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;

/// How long the lock lives unless refreshed.
const LOCK_TTL_SECS: u64 = 30;

static LOCK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(lua!("lifecycle/lua/lock.lua")));

/// What a refresh found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Ours (written or refreshed).
    Ours,
    /// Another process's, fresh: left alone (it keeps it fresh).
    Theirs,
    /// The key holds another type than a string: left alone.
    WrongType,
}

/// Writes or refreshes the lock unless another process holds it.
pub async fn refresh(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Result<Held, RedisError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let done: i64 = LOCK
        .key(&lc.lock_key)
        .arg("refresh")
        .arg(&lc.lock_token)
        .arg(now)
        .arg(LOCK_TTL_SECS)
        .invoke_async(conn)
        .await?;
    Ok(match done {
        1 => Held::Ours,
        0 => Held::Theirs,
        _ => Held::WrongType,
    })
}

/// At shutdown: deletes the lock if it is ours (so `holt up` need not wait
/// 30 s); another process's stays.
pub async fn release(conn: &mut MultiplexedConnection, lc: &Lifecycle) {
    let _ = LOCK
        .key(&lc.lock_key)
        .arg("release")
        .arg(&lc.lock_token)
        .invoke_async::<i64>(conn)
        .await;
}
