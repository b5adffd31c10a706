//! The instance lock `{p}:{i}:lock` (contract section 7): `holt up` reads it
//! and refuses to start a second stack while it is fresh. We write it, keep
//! it fresh, and at shutdown delete it if it is still ours.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redis::RedisError;

use super::Lifecycle;

/// How long the lock lives unless refreshed.
const LOCK_TTL_SECS: u64 = 30;

/// `{p}:{i}:lock` = `orchestrator:<unix seconds>`, expiring in 30 s.
pub async fn refresh(conn: &mut MultiplexedConnection, lc: &Lifecycle) -> Result<(), RedisError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let value = format!("orchestrator:{now}");
    redis::cmd("SET")
        .arg(&lc.lock_key)
        .arg(&value)
        .arg("EX")
        .arg(LOCK_TTL_SECS)
        .query_async::<()>(conn)
        .await?;
    *lc.lock_value.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    Ok(())
}

/// At shutdown: deletes the lock if it still holds what this process wrote
/// (so `holt up` need not wait 30 s), in one script (another replica may
/// have refreshed it since: then it stays).
pub async fn release(conn: &mut MultiplexedConnection, lc: &Lifecycle) {
    const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
    let value = lc
        .lock_value
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(value) = value {
        let _ = redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&lc.lock_key)
            .arg(value)
            .query_async::<i64>(conn)
            .await;
    }
}
