//! A Redis session: one multiplexed command connection (claims, scripts,
//! PINGs, SCAN) and one streaming subscription connection (see `subscriber`
//! and `subscription`) on `artefact_events`, and in lifecycle mode also
//! `workflow_events`; made and lost together.
//!
//! Connecting is a few steps, each with its own time limit rather than one
//! limit for the whole attempt, so that a slow link can still reconnect: every
//! step of the subscription (TCP, TLS, AUTH, SELECT, SUBSCRIBE) and every step
//! that waits for one answer (SCRIPT LOAD with ROLE) gets [`STEP_TIMEOUT`],
//! the PING bound, and opening the command connection (TCP, TLS, HELLO or
//! AUTH: up to four round trips) gets [`OPEN_TIMEOUT`]. The two connections
//! are made side by side. A server that says it is a replica is
//! refused (claims need the primary): after a failover the reconnect keeps
//! trying until the name it dials reaches the new primary.
//!
//! Which errors end a session is decided here too ([`ends_session`]).
//!
//! Also the reconnect policy: exponential backoff from 50 ms to 3 s, until
//! `SETT_REDIS_RETRY_TIMEOUT` has passed since Redis was lost.

use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value,
};

use crate::blackboard::Keys;
use crate::lifecycle::bids::MAX_WORKFLOW_MESSAGE;
use crate::log::Line;
use crate::metrics::inc;
use crate::subscriber::{self, Decode, Reader, Target, Writer};
use crate::Shared;

/// Time one connection step that waits for one answer may take. A Redis that
/// answers PING within this can always reconnect.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// Time opening one connection may take: TCP, TLS (two round trips at most)
/// and the HELLO or AUTH pipeline, a [`STEP_TIMEOUT`] each.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(8);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// A command unanswered this long fails. No answer at all for this long is a
/// dead Redis (see `watchdog`); any shorter silence is a slow one.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Session {
    pub conn: MultiplexedConnection,
    /// The subscription connection: its events, and where the watchdog PINGs it.
    pub reader: Reader,
    pub writer: Writer,
}

/// How to make a session: the command client for `REDIS_URL`, where the
/// subscription connects, the channels it subscribes to (artefact events
/// first) and the scripts each session loads.
#[derive(Clone)]
pub struct Clients {
    commands: Client,
    subscription: Target,
    channels: Vec<(String, Decode)>,
    /// The source of every script the session's decisions run.
    scripts: Vec<&'static str>,
}

/// Why a connection attempt failed, as shown in logs and `/healthz`.
#[derive(Debug)]
pub enum ConnectError {
    Redis(RedisError),
    /// The step named got no answer within its time limit.
    TimedOut {
        step: &'static str,
        limit: Duration,
    },
    /// The server is a replica (`ROLE`): it would refuse every claim.
    Replica,
    /// The subscription connection could not be made.
    Subscription(subscriber::ConnectError),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Redis(e) => write!(f, "{e}"),
            ConnectError::TimedOut { step, limit } => {
                write!(f, "{step}: no answer within {}s", limit.as_secs())
            }
            ConnectError::Replica => {
                f.write_str("the server is a replica (ROLE); claims need the primary")
            }
            ConnectError::Subscription(e) => write!(f, "{e}"),
        }
    }
}

/// True when the connection itself is gone.
pub fn is_connection_lost(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// True when an error must end the session: the connection is gone, or the
/// server stopped being a writable primary (`READONLY` after a failover,
/// `MASTERDOWN`), so reconnecting may reach the new primary. Other error
/// replies (OOM, MISCONF, NOREPLICAS, BUSY…) leave the session up.
pub fn ends_session(e: &RedisError) -> bool {
    is_connection_lost(e)
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// The clients for `REDIS_URL`, trusting `SETT_REDIS_CA_FILE` when set. In
/// lifecycle mode the subscription also reads `workflow_events` (bids) and
/// every session loads the lifecycle's scripts.
pub fn clients(config: &crate::config::Config, keys: &Keys) -> Result<Clients, String> {
    let mut channels = vec![(keys.artefact_events(), Decode::ArtefactEvent)];
    let mut scripts = vec![crate::claim::CLAIM_LUA];
    if config.registry.is_some() {
        channels.push((
            keys.workflow_events(),
            Decode::Capture {
                max: MAX_WORKFLOW_MESSAGE,
            },
        ));
        scripts.extend(crate::lifecycle::scripts::sources());
    }
    Ok(Clients {
        commands: client(config)?,
        subscription: subscriber::target(config)?,
        channels,
        scripts,
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

/// One connection step: `fut` within `limit`.
async fn step<T>(
    name: &'static str,
    limit: Duration,
    fut: impl std::future::Future<Output = RedisResult<T>>,
) -> Result<T, ConnectError> {
    match within(limit, fut).await {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ConnectError::Redis(e)),
        None => Err(ConnectError::TimedOut { step: name, limit }),
    }
}

fn connection_config() -> AsyncConnectionConfig {
    // The steps below enforce the time limits; the client's own response
    // timeout then bounds every command of the session.
    AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// The one place that makes the subscription: connects and subscribes to
/// every channel of `clients`, each step within [`STEP_TIMEOUT`].
pub async fn subscribe(clients: &Clients) -> Result<(Reader, Writer), ConnectError> {
    subscriber::connect(&clients.subscription, &clients.channels, STEP_TIMEOUT)
        .await
        .map_err(ConnectError::Subscription)
}

/// Connects for commands and loads the session's scripts; refuses a replica.
async fn command_connection(clients: &Clients) -> Result<MultiplexedConnection, ConnectError> {
    let mut conn = step(
        "commands: connect",
        OPEN_TIMEOUT,
        clients
            .commands
            .get_multiplexed_async_connection_with_config(&connection_config()),
    )
    .await?;
    // One round trip: the scripts for this session's decisions, and who we reached.
    let mut pipe = redis::pipe();
    for script in &clients.scripts {
        pipe.cmd("SCRIPT").arg("LOAD").arg(*script);
    }
    pipe.cmd("ROLE");
    let replies: Vec<RedisResult<Value>> = step(
        "SCRIPT LOAD",
        STEP_TIMEOUT,
        pipe.ignore_errors().query_async(&mut conn),
    )
    .await?;
    let mut replies = replies.into_iter();
    for _ in &clients.scripts {
        if let Some(Err(e)) = replies.next() {
            return Err(ConnectError::Redis(e));
        }
    }
    // ROLE may be unknown or not allowed (ACLs): then we cannot tell, and try.
    if let Some(Ok(Value::Array(role))) = replies.next() {
        if matches!(role.first(), Some(Value::BulkString(r)) if r.as_slice() != b"master") {
            return Err(ConnectError::Replica);
        }
    }
    Ok(conn)
}

/// Subscribes, and connects for commands (side by side): a session.
pub async fn connect(clients: &Clients) -> Result<Session, ConnectError> {
    let ((reader, writer), conn) =
        futures_lite::future::try_zip(subscribe(clients), command_connection(clients)).await?;
    Ok(Session {
        conn,
        reader,
        writer,
    })
}

/// Connects at start-up, retrying briefly (Redis may be starting beside us),
/// for at most `budget`.
pub async fn connect_at_startup(
    clients: &Clients,
    budget: Duration,
) -> Result<Session, ConnectError> {
    let deadline = Instant::now() + budget;
    let mut backoff = FIRST_BACKOFF;
    loop {
        // No attempt may run past the budget.
        let left = deadline.saturating_duration_since(Instant::now());
        let result = within(left, connect(clients))
            .await
            .unwrap_or(Err(ConnectError::TimedOut {
                step: "start-up",
                limit: budget,
            }));
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
    Connected(Box<Session>),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_and_masterdown_end_the_session_other_refusals_do_not() {
        let reply = |text: &str| -> RedisError {
            redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
                .and_then(Value::extract_error)
                .unwrap_err()
        };
        for text in [
            "READONLY You can't write against a read only replica.",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ] {
            assert!(ends_session(&reply(text)), "{text}");
        }
        for text in [
            "NOREPLICAS Not enough good replicas to write.",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
            "ERR unknown command",
        ] {
            assert!(!ends_session(&reply(text)), "{text}");
        }
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(ends_session(&io) && is_connection_lost(&io));
    }
}
