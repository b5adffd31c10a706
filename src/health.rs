//! Health: is Redis answering and is our subscription live?
//!
//! The engine reports its session going up and down here; `/healthz` asks
//! [`Health::check`], which also PINGs Redis (2 s at most) on the command
//! connection, so a hung Redis turns the probe red even before the engine notices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// How long a health PING may take before Redis counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Health {
    /// The live session's command connection; `None` while there is no session.
    conn: Mutex<Option<MultiplexedConnection>>,
    subscribed: AtomicBool,
    last_error: Mutex<String>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            conn: Mutex::new(None),
            subscribed: AtomicBool::new(false),
            last_error: Mutex::new("not connected yet".into()),
        }
    }
}

impl Health {
    /// A session is connected and subscribed.
    pub fn session_up(&self, conn: MultiplexedConnection) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        self.subscribed.store(true, Ordering::SeqCst);
    }

    /// The session is gone; `error` says why (shown by `/healthz`).
    pub fn session_down(&self, error: &str) {
        self.subscribed.store(false, Ordering::SeqCst);
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error.to_string();
    }

    pub fn is_up(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }

    /// Ok when subscribed and a PING answers within [`PING_TIMEOUT`].
    pub async fn check(&self) -> Result<(), String> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (Some(mut conn), true) = (conn, self.is_up()) else {
            return Err(self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone());
        };
        let ping = redis::cmd("PING");
        match crate::session::within(PING_TIMEOUT, ping.query_async::<String>(&mut conn)).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("PING timed out after 2s".to_string()),
        }
    }
}
