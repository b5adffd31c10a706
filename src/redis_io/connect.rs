//! A Redis session: one multiplexed command connection (claims, scripts,
//! PINGs, SCAN) and one streaming subscription connection (see `subscriber`)
//! on the channels the engine names (`artefact_events`, and in lifecycle
//! mode also `workflow_events`); made and lost together.
//!
//! Connecting is a few steps, each with its own time limit rather than one
//! limit for the whole attempt, so that a slow link can still reconnect: every
//! step of the subscription (TCP, TLS, AUTH, SELECT, SUBSCRIBE) and every step
//! that waits for one answer (SCRIPT LOAD and FUNCTION LOAD with ROLE) gets
//! [`STEP_TIMEOUT`], the PING bound, and opening the command connection
//! (TCP, TLS, HELLO or AUTH: up to four round trips) gets [`OPEN_TIMEOUT`].
//! A FUNCTION LOAD refused leaves the session on EVALSHA
//! (`functions`). The two connections
//! are made side by side. A server that says it is a replica is
//! refused (claims need the primary): after a failover the reconnect keeps
//! trying until the name it dials reaches the new primary.
//!
//! Start-up retries for a short budget ([`connect_at_startup`]); the engine
//! owns the reconnect policy after a loss, with the same backoff.

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError, RedisResult, Value};

use super::errors::is_connection_lost;
use super::functions::{self, Library};
use super::scripts::{check_protocols, text, Script};
use super::subscriber::{self, Decode, Reader, Target, Writer};
use crate::config::Config;
use crate::deadline::within;

/// Time one connection step that waits for one answer may take. A Redis that
/// answers PING within this can always reconnect.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);
/// Time opening one connection may take: TCP, TLS (two round trips at most)
/// and the HELLO or AUTH pipeline, a [`STEP_TIMEOUT`] each.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(8);
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(3);
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
    /// Every script the session's decisions run.
    scripts: Vec<&'static Script>,
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
    /// The server is older than [`MIN_REDIS_VERSION`] (`INFO server`).
    TooOld(String),
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
            ConnectError::TooOld(version) => write!(
                f,
                "the server is Redis {version}; this orchestrator needs Redis {}.{} or later",
                MIN_REDIS_VERSION.0, MIN_REDIS_VERSION.1
            ),
        }
    }
}

impl Clients {
    /// The clients for `REDIS_URL` (trusting `SETT_REDIS_CA_FILE` when set),
    /// subscribing to `channels` (artefact events first) and loading `scripts`
    /// in every session. Refused when a script does not state the protocol
    /// this binary decodes.
    pub fn new(
        config: &Config,
        channels: Vec<(String, Decode)>,
        scripts: Vec<&'static Script>,
    ) -> Result<Clients, String> {
        check_protocols(&scripts).map_err(|e| e.to_string())?;
        Ok(Clients {
            commands: client(config)?,
            subscription: subscriber::target(config)?,
            channels,
            scripts,
        })
    }
}

fn client(config: &Config) -> Result<Client, String> {
    // Read and checked with the configuration (only with rediss://).
    let Some(ca) = config.redis_ca()? else {
        return Client::open(config.redis_url())
            .map_err(|_| "REDIS_URL is not accepted by the Redis client".into());
    };
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.pem.clone()),
    };
    Client::build_with_tls(config.redis_url(), certs).map_err(|e| {
        format!(
            "SETT_REDIS_CA_FILE: not usable with REDIS_URL: {:?}",
            e.kind()
        )
    })
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

/// Connects for commands, and loads the session's scripts over a connection
/// of their own, closed once they are in (before the command connection
/// opens, so that one reuses its memory); refuses a replica. A connection
/// keeps a write buffer the size of the largest pipeline it sent: every
/// script's text and the library (about 270 KiB), held for the whole session
/// had the command connection sent them (docs/performance.md, "Idle memory").
async fn command_connection(clients: &Clients) -> Result<MultiplexedConnection, ConnectError> {
    let config = connection_config();
    let open = || {
        step(
            "commands: connect",
            OPEN_TIMEOUT,
            clients
                .commands
                .get_multiplexed_async_connection_with_config(&config),
        )
    };
    let mut loader = open().await?;
    load_scripts(&mut loader, &clients.scripts).await?;
    drop(loader);
    open().await
}

/// Checks who `conn` reached and loads `scripts` there: one round trip.
async fn load_scripts(
    conn: &mut MultiplexedConnection,
    scripts: &[&'static Script],
) -> Result<(), ConnectError> {
    // One round trip: who we reached, the scripts for this session's
    // decisions, and the libraries holding some of them as functions (the
    // scripts are loaded too: the way back when FCALL fails later).
    let libraries = libraries(scripts);
    let mut pipe = redis::pipe();
    pipe.cmd("INFO").arg("server");
    for script in scripts {
        pipe.cmd("SCRIPT").arg("LOAD").arg(script.text());
    }
    for library in &libraries {
        pipe.add_command(library.load_cmd());
    }
    pipe.cmd("ROLE");
    let replies: Vec<RedisResult<Value>> = step(
        "SCRIPT LOAD",
        STEP_TIMEOUT,
        pipe.ignore_errors().query_async(conn),
    )
    .await?;
    let mut replies = replies.into_iter();
    // INFO may be renamed or not allowed (ACLs): then we cannot tell, and try.
    if let Some(Ok(info)) = replies.next() {
        if let Some(version) = too_old(&text(&info).unwrap_or_default()) {
            return Err(ConnectError::TooOld(version));
        }
    }
    for _ in scripts {
        if let Some(Err(e)) = replies.next() {
            return Err(ConnectError::Redis(e));
        }
    }
    let loads: Vec<_> = libraries.iter().map(|_| replies.next()).collect();
    // ROLE may be unknown or not allowed (ACLs): then we cannot tell, and try.
    if let Some(Ok(Value::Array(role))) = replies.next() {
        if matches!(role.first(), Some(Value::BulkString(r)) if r.as_slice() != b"master") {
            return Err(ConnectError::Replica);
        }
    }
    // FUNCTION unknown (before 7.0) or not allowed: EVALSHA this session.
    for load in loads {
        match load {
            Some(Err(e)) if is_connection_lost(&e) => return Err(ConnectError::Redis(e)),
            Some(Err(e)) => functions::fall_back(&e),
            _ => functions::loaded(),
        }
    }
    Ok(())
}

/// The libraries of `scripts`, each once.
fn libraries(scripts: &[&'static Script]) -> Vec<&'static Library> {
    let mut out: Vec<&'static Library> = Vec::new();
    for library in scripts.iter().filter_map(|s| s.library()) {
        if !out.iter().any(|l| l.name == library.name) {
            out.push(library);
        }
    }
    out
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
            // Retrying will not make the server newer.
            Err(e @ ConnectError::TooOld(_)) => return Err(e),
            Err(e) if Instant::now() + backoff >= deadline => return Err(e),
            Err(_) => {}
        }
        smol::Timer::after(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The oldest Redis the scripts run on: 5.0, where a script's effects are
/// replicated by default (every decision reads `TIME`, then writes), and
/// HSET takes several fields (4.0). `docs/operations.md` says why.
pub const MIN_REDIS_VERSION: (u32, u32) = (5, 0);

/// The `redis_version` of an `INFO server` answer when it is older than
/// [`MIN_REDIS_VERSION`]; `None` when new enough or not stated.
pub fn too_old(info: &str) -> Option<String> {
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?
        .trim();
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) < MIN_REDIS_VERSION => {
            Some(crate::log::truncate(version, 40).to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod version_tests {
    use super::too_old;

    #[test]
    fn servers_older_than_5_0_are_named() {
        let info = |v: &str| format!("# Server\r\nredis_version:{v}\r\nredis_mode:standalone\r\n");
        assert_eq!(too_old(&info("4.0.14")), Some("4.0.14".into()));
        assert_eq!(too_old(&info("3.2.12")), Some("3.2.12".into()));
        assert_eq!(too_old(&info("5.0.0")), None);
        assert_eq!(too_old(&info("7.0.15")), None);
        assert_eq!(too_old(&info("10.0.1")), None);
        assert_eq!(too_old(&info("unknown")), None);
        assert_eq!(too_old("# Server\r\n"), None);
    }
}
