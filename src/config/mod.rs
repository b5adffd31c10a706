//! Configuration: the environment variables, read once at start-up and checked,
//! and the agent registry file they point to.
//!
//! Reading the variables ([`Config::from_lookup`]) does no I/O, so it can be
//! fuzzed; [`Config::load_files`] reads the files they name (the registry,
//! the Redis CA) afterwards, before the runtime starts. Every error names the variable (or the registry file)
//! and what is wrong with it, and never repeats the Redis password (nor, for
//! `REDIS_URL`, the value at all).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use registry::Registry;

mod ca_file;
mod controller_env;
mod error;
pub mod registry;
mod registry_file;
mod values;

pub use ca_file::RedisCa;
pub use controller_env::{socket_from_docker_host, DEFAULT_SOCKET};
use error::invalid;
pub use error::ConfigError;
pub use registry_file::{RegistryFile, MAX_REGISTRY_BYTES};
pub use values::*;

/// The version printed by `--version` and exported as `build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default address of the HTTP responder.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080));
/// How long Redis may stay unreachable while running before we give up.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a claim waits for every agent's bid (`SETT_BID_TIMEOUT`):
/// `None`, for every registered agent (a busy agent is not an absent one).
pub const DEFAULT_BID_TIMEOUT: Option<Duration> = None;
/// How long a claim waits for bids before a `bids_overdue` warning
/// (`SETT_BID_OVERDUE`).
pub const DEFAULT_BID_OVERDUE: Duration = Duration::from_secs(600);
/// How often the slow periodic catch-up scan runs (`SETT_CATCHUP_INTERVAL`).
pub const DEFAULT_CATCHUP_INTERVAL: Duration = Duration::from_secs(300);

/// Every variable the orchestrator reads, with a one-line description (for
/// `--help`). New ones go at the end: the fuzz seeds address them by position.
pub const VARIABLES: &[(&str, &str)] = &[
    ("SETT_INSTANCE_NAME", "required (or HOLT_INSTANCE_NAME); 1-63 of a-z 0-9 '-', not starting or ending with '-'"),
    ("REDIS_URL", "required; redis://, rediss://, unix:// or redis+unix:// (user and password allowed)"),
    ("SETT_HTTP_ADDR", "optional; HTTP listen address, default 0.0.0.0:8080 (':8080' also accepted)"),
    ("SETT_REDIS_RETRY_TIMEOUT", "optional; give up after Redis is unreachable this long, default 60s (e.g. 90, 30s, 500ms, 2m, 1h)"),
    ("SETT_RECONCILE", "optional; 'on' (default) or 'off': catch-up scan for unclaimed artefacts after every subscribe"),
    ("SETT_REDIS_CA_FILE", "optional; PEM CA certificate(s) to trust for rediss:// instead of the built-in web PKI roots"),
    ("HOLT_INSTANCE_NAME", "instead of SETT_INSTANCE_NAME (same rule): keys holt:<instance>:..., registry /workspace/holt.yml"),
    ("SETT_CONFIG_FILE", "optional; the agent registry, default /workspace/sett.yml (holt.yml); with one, the claim lifecycle runs"),
    ("SETT_BID_TIMEOUT", "optional; lifecycle: how long a claim waits for bids, default 0 (waits for every agent); missing agents then count as ignore"),
    ("SETT_PHASE_TIMEOUT", "optional; lifecycle: terminate a claim whose phase has not delivered in time; default 0 (off)"),
    ("SETT_CATCHUP_INTERVAL", "optional; a slow periodic catch-up scan, default 5m; 0 turns it off"),
    ("SETT_LOG_LEVEL", "optional; 'info' (default) or 'debug'"),
    ("SETT_BID_OVERDUE", "optional; lifecycle: warn (bids_overdue) when a claim has waited this long for bids, default 10m; 0 turns it off"),
    ("DOCKER_HOST", "optional; controllers: the Docker socket, unix:///path (default unix:///var/run/docker.sock)"),
    ("HOST_WORKSPACE_PATH", "optional; controllers: the workspace's absolute path on the Docker host, mounted in workers"),
    ("SETT_WORKER_REDIS_URL", "optional; controllers: the REDIS_URL workers get (default: REDIS_URL)"),
];

/// The checked configuration.
#[derive(Clone)]
pub struct Config {
    /// Which instance variable was set, and so the key prefix.
    pub namespace: Namespace,
    pub instance: String,
    /// The full URL, password included: hand it to the Redis client only.
    redis_url: String,
    pub http_addr: SocketAddr,
    pub retry_timeout: Duration,
    pub reconcile: bool,
    pub redis_ca_file: Option<PathBuf>,
    /// The CA certificates of `redis_ca_file`, once [`Config::load_files`]
    /// read them (see [`Config::redis_ca`]).
    redis_ca: Option<RedisCa>,
    /// Where the agent registry is (or would be).
    pub registry_file: RegistryFile,
    /// The agent registry once [`Config::load_registry`] found one: the
    /// lifecycle runs. `None`: Phase 1 only.
    pub registry: Option<Registry>,
    /// How long a claim waits for bids; `None`: for ever.
    pub bid_timeout: Option<Duration>,
    /// How long a claim waits for bids before `bids_overdue`; `None`: no warning.
    pub bid_overdue: Option<Duration>,
    /// How long a phase may take; `None`: no limit.
    pub phase_timeout: Option<Duration>,
    /// Period of the slow catch-up scan; `None`: off.
    pub catchup_interval: Option<Duration>,
    pub log_level: LogLevel,
    /// `DOCKER_HOST` as given (checked by [`Config::load_files`] when the
    /// registry has controllers).
    docker_host: Option<String>,
    /// The Docker socket `DOCKER_HOST` names, read by
    /// [`Config::load_files`] when the registry has controllers (the
    /// default socket until then).
    pub docker_socket: PathBuf,
    /// `HOST_WORKSPACE_PATH`: absolute, or empty when unset.
    pub host_workspace: String,
    /// `SETT_WORKER_REDIS_URL`, else `REDIS_URL` (password included: only for workers' env).
    worker_redis_url: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the variables through `lookup` (the environment, or a table in
    /// tests). No file I/O: the registry stays unread (see [`Config::load_registry`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let (namespace, instance) = instance_name(&lookup)?;
        let redis_url = lookup("REDIS_URL").ok_or(ConfigError::Missing("REDIS_URL"))?;
        check_redis_url(&redis_url).map_err(|r| invalid("REDIS_URL", r))?;
        let http_addr = match lookup("SETT_HTTP_ADDR") {
            None => DEFAULT_HTTP_ADDR,
            Some(v) => parse_http_addr(&v).map_err(|r| invalid("SETT_HTTP_ADDR", r))?,
        };
        let retry_timeout = match lookup("SETT_REDIS_RETRY_TIMEOUT") {
            None => DEFAULT_RETRY_TIMEOUT,
            Some(v) => parse_duration(&v).map_err(|r| invalid("SETT_REDIS_RETRY_TIMEOUT", r))?,
        };
        let reconcile = match lookup("SETT_RECONCILE") {
            None => true,
            Some(v) => parse_switch(&v).map_err(|r| invalid("SETT_RECONCILE", r))?,
        };
        let redis_ca_file = match lookup("SETT_REDIS_CA_FILE") {
            None => None,
            Some(v) if v.is_empty() => return Err(invalid("SETT_REDIS_CA_FILE", "empty path")),
            Some(v) => {
                ca_file::check_scheme(&redis_url)?;
                Some(PathBuf::from(v))
            }
        };
        let registry_file = match lookup("SETT_CONFIG_FILE") {
            None => RegistryFile::default_for(namespace),
            Some(v) if v.is_empty() => return Err(invalid("SETT_CONFIG_FILE", "empty path")),
            Some(v) => RegistryFile::named(PathBuf::from(v)),
        };
        let optional_duration = |var: &'static str, default: Option<Duration>| match lookup(var) {
            None => Ok(default),
            Some(v) => parse_duration_or_zero(&v).map_err(|r| invalid(var, r)),
        };
        let bid_timeout = optional_duration("SETT_BID_TIMEOUT", DEFAULT_BID_TIMEOUT)?;
        let bid_overdue = optional_duration("SETT_BID_OVERDUE", Some(DEFAULT_BID_OVERDUE))?;
        let phase_timeout = optional_duration("SETT_PHASE_TIMEOUT", None)?;
        let catchup_interval =
            optional_duration("SETT_CATCHUP_INTERVAL", Some(DEFAULT_CATCHUP_INTERVAL))?;
        let log_level = match lookup("SETT_LOG_LEVEL") {
            None => LogLevel::Info,
            Some(v) => parse_log_level(&v).map_err(|r| invalid("SETT_LOG_LEVEL", r))?,
        };
        let host_workspace = lookup("HOST_WORKSPACE_PATH").unwrap_or_default();
        if !host_workspace.is_empty() && !host_workspace.starts_with('/') {
            return Err(invalid("HOST_WORKSPACE_PATH", "must be an absolute path"));
        }
        let worker_redis_url = match lookup("SETT_WORKER_REDIS_URL").filter(|v| !v.is_empty()) {
            None => redis_url.clone(),
            Some(v) => {
                check_redis_url(&v).map_err(|r| invalid("SETT_WORKER_REDIS_URL", r))?;
                v
            }
        };
        Ok(Config {
            docker_host: lookup("DOCKER_HOST"),
            docker_socket: PathBuf::from(DEFAULT_SOCKET),
            host_workspace,
            worker_redis_url,
            namespace,
            instance,
            redis_url,
            http_addr,
            retry_timeout,
            reconcile,
            redis_ca_file,
            redis_ca: None,
            registry_file,
            registry: None,
            bid_timeout,
            bid_overdue,
            phase_timeout,
            catchup_interval,
            log_level,
        })
    }

    /// Reads the files the variables name (before the runtime starts, so a
    /// bad one is refused like a bad variable): the agent registry (present
    /// and valid, the lifecycle runs; absent at the default path, Phase 1),
    /// `DOCKER_HOST` and `HOST_WORKSPACE_PATH` when the registry has
    /// controllers (the one time they are used), then the Redis CA file.
    pub fn load_files(&mut self) -> Result<(), ConfigError> {
        self.load_registry()?;
        if let Some(registry) = &self.registry {
            let file = self.registry_file.display();
            let needs = controller_env::check(
                registry,
                &file,
                self.docker_host.as_deref(),
                &self.host_workspace,
            )?;
            if let Some(socket) = needs {
                self.docker_socket = socket;
            }
        }
        self.redis_ca = match &self.redis_ca_file {
            Some(path) => Some(RedisCa::load(path)?),
            None => None,
        };
        Ok(())
    }

    /// Reads the agent registry file only (see [`Config::load_files`]).
    pub fn load_registry(&mut self) -> Result<(), ConfigError> {
        self.registry = self.registry_file.load()?;
        Ok(())
    }

    /// `lifecycle` when a registry was loaded, else `phase1`.
    pub fn mode(&self) -> &'static str {
        if self.registry.is_some() {
            "lifecycle"
        } else {
            "phase1"
        }
    }

    /// The CA certificates to trust for `rediss://` instead of the web PKI
    /// roots, when `SETT_REDIS_CA_FILE` is set. An error when it is set but
    /// [`Config::load_files`] has not read it: never the web roots instead.
    pub fn redis_ca(&self) -> Result<Option<&RedisCa>, String> {
        match (&self.redis_ca_file, &self.redis_ca) {
            (None, _) => Ok(None),
            (Some(_), Some(ca)) => Ok(Some(ca)),
            (Some(_), None) => {
                Err("SETT_REDIS_CA_FILE has not been read (Config::load_files)".into())
            }
        }
    }

    /// The Redis URL with its password. Never log this; log [`Config::redis_display`].
    /// The Redis URL workers are given (password included: their env only).
    pub fn worker_redis_url(&self) -> &str {
        &self.worker_redis_url
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// The Redis URL without any credentials, for logs.
    pub fn redis_display(&self) -> String {
        redact_url(&self.redis_url)
    }
}

/// `SETT_INSTANCE_NAME` (namespace `sett`) or `HOLT_INSTANCE_NAME` (`holt`), not both.
fn instance_name(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(Namespace, String), ConfigError> {
    let sett = Namespace::Sett.instance_variable();
    let holt = Namespace::Holt.instance_variable();
    let (namespace, instance) = match (lookup(sett), lookup(holt)) {
        (Some(_), Some(_)) => return Err(ConfigError::Conflict(sett, holt)),
        (Some(i), None) => (Namespace::Sett, i),
        (None, Some(i)) => (Namespace::Holt, i),
        (None, None) => return Err(ConfigError::Missing(sett)),
    };
    check_instance_name(&instance).map_err(|r| invalid(namespace.instance_variable(), r))?;
    Ok((namespace, instance))
}

#[cfg(test)]
mod tests;
