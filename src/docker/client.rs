//! The client itself: the socket path, the time-outs, the negotiated API
//! version (`/_ping`, capped at [`NEWEST_API`], refused below [`OLDEST_API`])
//! and the one way a call goes out and is judged ([`Call`]). Apart from the
//! module's face because the endpoints (`api`, `events`) are built on it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::error::{self, daemon_message, from_status, is_version_refusal, DockerError, Missing};
use super::wire::{self, Conn, Request};
use crate::config::socket_from_docker_host;

/// The oldest Engine API we speak: Docker 20.10's.
pub const OLDEST_API: ApiVersion = ApiVersion(1, 41);
/// The newest we speak (Docker 25's); also the oldest Docker 29.0 accepts.
pub const NEWEST_API: ApiVersion = ApiVersion(1, 44);
/// Largest JSON body we read whole (an inspect is a few KiB; the container
/// list, which can be far longer, is read entry by entry: `list`).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// An Engine API version, `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.trim().split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }

    fn packed(self) -> u32 {
        u32::from(self.0) << 16 | u32::from(self.1)
    }

    fn unpack(v: u32) -> ApiVersion {
        ApiVersion((v >> 16) as u16, v as u16)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// How long calls may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect to the socket.
    pub connect: Duration,
    /// A whole call: connect, request, the whole response.
    pub call: Duration,
    /// An events stream asks Docker to end it after this long (see `events`).
    pub events_window: Duration,
    /// How long past its window a stream may stay open before it is called dead.
    pub events_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            call: Duration::from_secs(10),
            events_window: Duration::from_secs(60),
            events_grace: Duration::from_secs(10),
        }
    }
}

/// What `/_ping` told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// The newest version the daemon speaks.
    pub daemon_api: ApiVersion,
    /// The version our calls use from now on.
    pub api: ApiVersion,
}

/// The client: a socket path, time-outs and the negotiated version. Cheap to
/// share (`Arc`); every call opens its own connection.
#[derive(Debug)]
pub struct Docker {
    socket: PathBuf,
    pub(super) timeouts: Timeouts,
    /// [`ApiVersion::packed`], 0 until negotiated.
    api: AtomicU32,
}

impl Docker {
    pub fn new(socket: impl Into<PathBuf>, timeouts: Timeouts) -> Docker {
        Docker {
            socket: socket.into(),
            timeouts,
            api: AtomicU32::new(0),
        }
    }

    /// The socket `DOCKER_HOST` names (see [`socket_from_docker_host`]), default time-outs.
    pub fn from_env() -> Result<Docker, String> {
        let host = std::env::var("DOCKER_HOST").ok();
        let socket = socket_from_docker_host(host.as_deref())
            .map_err(|why| format!("DOCKER_HOST: {why}"))?;
        Ok(Docker::new(socket, Timeouts::default()))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// `GET /_ping` (unversioned, as Docker's own client negotiates): checks the
    /// daemon answers and (re)negotiates the version every call uses.
    pub async fn ping(&self) -> Result<Ping, DockerError> {
        self.ping_by(Instant::now() + self.timeouts.call).await
    }

    async fn ping_by(&self, deadline: Instant) -> Result<Ping, DockerError> {
        let req = Request {
            method: "GET",
            target: "/_ping",
            json: None,
        };
        let (head, body) = self.exchange(&req, deadline, 4096).await?;
        let (status, api) = (head.status, head.api_version);
        if status != 200 {
            let msg = daemon_message(&body);
            return Err(from_status(status, "ping", &msg, Missing::Other));
        }
        let daemon_api = api
            .as_deref()
            .and_then(ApiVersion::parse)
            .ok_or_else(|| DockerError::garbage("a ping answer without a valid Api-Version"))?;
        if daemon_api < OLDEST_API {
            return Err(DockerError::permanent(format!(
                "Docker speaks Engine API {daemon_api}, older than {OLDEST_API} (Docker 20.10)"
            )));
        }
        let api = daemon_api.min(NEWEST_API);
        self.api.store(api.packed(), Relaxed);
        Ok(Ping { daemon_api, api })
    }

    /// The negotiated version, negotiating first (by `deadline`) if need be.
    pub async fn api_version(&self, deadline: Instant) -> Result<ApiVersion, DockerError> {
        match self.api.load(Relaxed) {
            0 => Ok(self.ping_by(deadline).await?.api),
            v => Ok(ApiVersion::unpack(v)),
        }
    }

    /// `/v{api}{path}` (path starts with `/`, query already encoded).
    async fn target(&self, path: &str, deadline: Instant) -> Result<String, DockerError> {
        Ok(format!("/v{}{path}", self.api_version(deadline).await?))
    }

    /// One call; its JSON (or empty) answer, at most [`MAX_JSON_BYTES`].
    /// Success is 2xx and 304; anything else is mapped by [`from_status`] with
    /// the daemon's message, scrubbed of `secrets`. `extra` lengthens the deadline.
    pub(crate) async fn call(
        &self,
        method: &'static str,
        path: &str,
        json: Option<&[u8]>,
        call: Call<'_>,
    ) -> Result<Vec<u8>, DockerError> {
        let deadline = Instant::now() + self.timeouts.call + call.extra;
        let target = self.target(path, deadline).await?;
        let req = Request {
            method,
            target: &target,
            json,
        };
        let (head, body) = self.exchange(&req, deadline, MAX_JSON_BYTES).await?;
        if (200..300).contains(&head.status) || head.status == 304 {
            return Ok(body);
        }
        let message = error::redact(&daemon_message(&body), call.secrets);
        if head.status == 400 && is_version_refusal(&message) {
            self.api.store(0, Relaxed);
        }
        Err(from_status(head.status, call.what, &message, call.missing))
    }

    /// One request and its whole answer (at most `max` bytes of body), the
    /// connection closed after.
    async fn exchange(
        &self,
        req: &Request<'_>,
        deadline: Instant,
        max: usize,
    ) -> Result<(wire::Head, Vec<u8>), DockerError> {
        let (mut conn, mut head) =
            Conn::open(&self.socket, req, self.timeouts.connect, deadline).await?;
        let mut body = Vec::new();
        conn.read_body(
            &mut head.framing,
            deadline,
            &mut wire::collect(&mut body, max),
        )
        .await?;
        Ok((head, body))
    }

    /// Opens a streaming call (logs, events): the head is read and checked;
    /// the caller reads the body.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        deadline: Instant,
        what: &str,
        missing: Missing,
    ) -> Result<(Conn, wire::Head), DockerError> {
        let target = self.target(path, deadline).await?;
        let req = Request {
            method: "GET",
            target: &target,
            json: None,
        };
        let (mut conn, mut head) =
            Conn::open(&self.socket, &req, self.timeouts.connect, deadline).await?;
        if head.status == 200 {
            return Ok((conn, head));
        }
        let mut body = Vec::new();
        conn.read_body(
            &mut head.framing,
            deadline,
            &mut wire::collect(&mut body, 64 * 1024),
        )
        .await?;
        let message = daemon_message(&body);
        if head.status == 400 && is_version_refusal(&message) {
            self.api.store(0, Relaxed);
        }
        Err(from_status(head.status, what, &message, missing))
    }
}

/// How one call is described and judged.
pub(crate) struct Call<'a> {
    /// Names the call in errors ("create container"), never its arguments' secrets.
    pub what: &'a str,
    pub missing: Missing,
    pub secrets: &'a [&'a str],
    pub extra: Duration,
}

impl<'a> Call<'a> {
    pub(crate) fn new(what: &'a str, missing: Missing) -> Call<'a> {
        Call {
            what,
            missing,
            secrets: &[],
            extra: Duration::ZERO,
        }
    }
}
