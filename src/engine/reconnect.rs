//! After Redis is lost: reconnect with exponential backoff (50 ms to 3 s)
//! until connected, shut down, or `SETT_REDIS_RETRY_TIMEOUT` has passed.

use std::time::Instant;

use super::shared::Shared;
use crate::log::Line;
use crate::metrics::inc;
use crate::redis_io::connect::{connect, Clients, Session, FIRST_BACKOFF, MAX_BACKOFF};

/// How a reconnect loop ended.
pub enum Reconnect {
    Connected(Box<Session>),
    ShuttingDown,
    /// Redis stayed unreachable for `SETT_REDIS_RETRY_TIMEOUT`; the last
    /// attempt's error.
    GaveUp(String),
}

/// Reconnects after a loss, until connected, shut down or out of time.
pub async fn reconnect(shared: &Shared, clients: &Clients, lost_at: Instant) -> Reconnect {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts: u64 = 0;
    loop {
        if shared
            .shutdown
            .unless_triggered(smol::Timer::after(backoff))
            .await
            .is_none()
        {
            return Reconnect::ShuttingDown;
        }
        attempts += 1;
        let attempt = shared.shutdown.unless_triggered(connect(clients));
        match attempt.await {
            None => return Reconnect::ShuttingDown,
            Some(Ok(session)) => {
                inc(&shared.metrics.redis_reconnects);
                Line::info("redis_reconnected")
                    .num("attempts", attempts)
                    .num("downtime_ms", lost_at.elapsed().as_millis() as u64)
                    .emit();
                return Reconnect::Connected(Box::new(session));
            }
            Some(Err(e)) => {
                let error = e.to_string();
                inc(&shared.metrics.redis_errors);
                shared.health.session_down(&error);
                Line::warn("redis_error")
                    .str("operation", "reconnect")
                    .str("error", &error)
                    .num("attempt", attempts)
                    .emit();
                if lost_at.elapsed() >= shared.config.retry_timeout {
                    return Reconnect::GaveUp(error);
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
