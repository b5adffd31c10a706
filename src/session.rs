//! A Redis session: one multiplexed command connection (claims, PINGs, SCAN)
//! and one RESP3 subscription connection on `artefact_events` (see
//! `subscription`), made and lost together.
//!
//! Also the reconnect policy: exponential backoff from 50 ms to 3 s, until
//! `SETT_REDIS_RETRY_TIMEOUT` has passed since Redis was lost.

use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, RedisError};

use crate::blackboard::Keys;
use crate::log::Line;
use crate::metrics::inc;
use crate::subscription::{self, Inbox};
use crate::Shared;

/// Time one connection attempt (TCP, TLS, AUTH, PING, SUBSCRIBE) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// A command unanswered this long fails (and ends the session), so no claim waits forever.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Session {
    pub conn: MultiplexedConnection,
    /// The subscription's connection: kept to PING it and to keep it open.
    pub subscription: MultiplexedConnection,
    pub inbox: Inbox,
}

/// The clients for `REDIS_URL`: the subscription's speaks RESP3 (Redis 6 or
/// later), so its messages arrive as push messages.
#[derive(Clone)]
pub struct Clients {
    commands: Client,
    subscription: Client,
}

/// Why a connection attempt failed, as shown in logs and `/healthz`.
#[derive(Debug)]
pub enum ConnectError {
    Redis(RedisError),
    TimedOut,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Redis(e) => write!(f, "{e}"),
            ConnectError::TimedOut => write!(f, "no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        }
    }
}

/// The clients for `REDIS_URL`, trusting `SETT_REDIS_CA_FILE` when set.
pub fn clients(config: &crate::config::Config) -> Result<Clients, String> {
    let commands = client(config)?;
    let info = commands.get_connection_info().clone();
    let resp3 = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let subscription = Client::open(info.set_redis_settings(resp3))
        .map_err(|_| "REDIS_URL is not accepted by the Redis client".to_string())?;
    Ok(Clients {
        commands,
        subscription,
    })
}

fn client(config: &crate::config::Config) -> Result<Client, String> {
    let Some(path) = &config.redis_ca_file else {
        return Client::open(config.redis_url())
            .map_err(|_| "REDIS_URL is not accepted by the Redis client".into());
    };
    let pem = std::fs::read(path)
        .map_err(|e| format!("SETT_REDIS_CA_FILE: cannot read {}: {e}", path.display()))?;
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    Client::build_with_tls(config.redis_url(), certs).map_err(|e| {
        format!(
            "SETT_REDIS_CA_FILE: not usable with REDIS_URL: {:?}",
            e.kind()
        )
    })
}

/// Runs `fut`, or gives up after `limit`.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            smol::Timer::after(limit).await;
            None
        })
        .await
}

/// Subscribes, connects for commands, PINGs and loads the claim script.
pub async fn connect(clients: &Clients, keys: &Keys) -> Result<Session, ConnectError> {
    let attempt = async {
        let (on_push, inbox) = subscription::channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let mut subscription = clients
            .subscription
            .get_multiplexed_async_connection_with_config(&config.clone().set_push_sender(on_push))
            .await?;
        subscription.subscribe(keys.artefact_events()).await?;
        let mut conn = clients
            .commands
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        crate::claim::load_script(&mut conn).await?;
        Ok::<_, RedisError>(Session {
            conn,
            subscription,
            inbox,
        })
    };
    match within(CONNECT_TIMEOUT, attempt).await {
        Some(Ok(session)) => Ok(session),
        Some(Err(e)) => Err(ConnectError::Redis(e)),
        None => Err(ConnectError::TimedOut),
    }
}

/// Connects at start-up, retrying briefly (Redis may be starting beside us),
/// for at most `budget`.
pub async fn connect_at_startup(
    clients: &Clients,
    keys: &Keys,
    budget: Duration,
) -> Result<Session, ConnectError> {
    let deadline = Instant::now() + budget;
    let mut backoff = FIRST_BACKOFF;
    loop {
        // No attempt may run past the budget (each could take CONNECT_TIMEOUT).
        let left = deadline.saturating_duration_since(Instant::now());
        let result = within(left, connect(clients, keys))
            .await
            .unwrap_or(Err(ConnectError::TimedOut));
        match result {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() + backoff >= deadline => return Err(e),
            Err(_) => {}
        }
        smol::Timer::after(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How a reconnect loop ended.
pub enum Reconnect {
    Connected(Session),
    ShuttingDown,
    /// Redis stayed unreachable for `SETT_REDIS_RETRY_TIMEOUT`.
    GaveUp,
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
        match connect(clients, &shared.keys).await {
            Ok(session) => {
                inc(&shared.metrics.redis_reconnects);
                Line::info("redis_reconnected")
                    .num("attempts", attempts)
                    .num("downtime_ms", lost_at.elapsed().as_millis() as u64)
                    .emit();
                return Reconnect::Connected(session);
            }
            Err(e) => {
                inc(&shared.metrics.redis_errors);
                shared.health.session_down(&e.to_string());
                Line::warn("redis_error")
                    .str("operation", "reconnect")
                    .display("error", &e)
                    .num("attempt", attempts)
                    .emit();
            }
        }
        if lost_at.elapsed() >= shared.config.retry_timeout {
            return Reconnect::GaveUp;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
