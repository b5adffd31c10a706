//! Configuration: the environment variables, read once at start-up and checked.
//!
//! Every error names the variable and what is wrong with it, and never repeats
//! the Redis password (nor, for `REDIS_URL`, the value at all).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

/// Default address of the HTTP responder.
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080));
/// How long Redis may stay unreachable while running before we give up.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// Every variable the orchestrator reads, with a one-line description (for `--help`).
pub const VARIABLES: &[(&str, &str)] = &[
    ("SETT_INSTANCE_NAME", "required; 1-63 of a-z 0-9 '-', not starting or ending with '-'"),
    ("REDIS_URL", "required; redis://, rediss://, unix:// or redis+unix:// (user and password allowed)"),
    ("SETT_HTTP_ADDR", "optional; HTTP listen address, default 0.0.0.0:8080 (':8080' also accepted)"),
    ("SETT_REDIS_RETRY_TIMEOUT", "optional; give up after Redis is unreachable this long, default 60s (e.g. 90, 30s, 500ms, 2m)"),
    ("SETT_RECONCILE", "optional; 'on' (default) or 'off': catch-up scan for unclaimed artefacts after every subscribe"),
    ("SETT_REDIS_CA_FILE", "optional; PEM CA certificate(s) to trust for rediss:// instead of the built-in web PKI roots"),
];

/// The checked configuration.
#[derive(Clone)]
pub struct Config {
    pub instance: String,
    /// The full URL, password included: hand it to the Redis client only.
    redis_url: String,
    pub http_addr: SocketAddr,
    pub retry_timeout: Duration,
    pub reconcile: bool,
    pub redis_ca_file: Option<PathBuf>,
}

/// What is wrong with the environment.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid { var: &'static str, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(var) => write!(f, "{var} is not set (it is required)"),
            ConfigError::Invalid { var, reason } => write!(f, "{var} is invalid: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads the variables through `lookup` (the environment, or a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let instance =
            lookup("SETT_INSTANCE_NAME").ok_or(ConfigError::Missing("SETT_INSTANCE_NAME"))?;
        check_instance_name(&instance).map_err(|r| invalid("SETT_INSTANCE_NAME", r))?;
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
            Some(v) => Some(PathBuf::from(v)),
        };
        Ok(Config {
            instance,
            redis_url,
            http_addr,
            retry_timeout,
            reconcile,
            redis_ca_file,
        })
    }

    /// The Redis URL with its password. Never log this; log [`Config::redis_display`].
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// The Redis URL without any credentials, for logs.
    pub fn redis_display(&self) -> String {
        redact_url(&self.redis_url)
    }
}

/// Sett's instance-name rule: 1 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn check_instance_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!(
            "must be 1 to 63 characters (got {})",
            name.chars().count()
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only lowercase letters, digits and '-' are allowed".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

const REDIS_SCHEMES: &[&str] = &["redis", "rediss", "unix", "redis+unix"];

/// Checks `REDIS_URL` without ever echoing it (it may hold a password).
pub fn check_redis_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let scheme = url.scheme();
    if !REDIS_SCHEMES.contains(&scheme) {
        return Err("scheme must be redis://, rediss://, unix:// or redis+unix://".into());
    }
    let is_unix = scheme == "unix" || scheme == "redis+unix";
    if is_unix && url.path().is_empty() {
        return Err("a unix URL needs a socket path".into());
    }
    if !is_unix && url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if !is_unix {
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() && db.parse::<u32>().is_err() {
            return Err("the path must be a database number, e.g. /0".into());
        }
    }
    redis::Client::open(raw)
        .map(drop)
        .map_err(|_| "not accepted by the Redis client".to_string())
}

/// The URL without credentials or query (`unix://` URLs may carry `?pass=`):
/// `scheme://host:port/db`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "<invalid>".into(),
    }
}

/// `host:port`, `[v6]:port` or `:port` (all interfaces).
pub fn parse_http_addr(raw: &str) -> Result<SocketAddr, String> {
    let raw = raw.trim();
    if let Some(port) = raw.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| "port must be a number 0-65535".to_string())?;
        return Ok(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::UNSPECIFIED,
            port,
        )));
    }
    raw.parse()
        .map_err(|_| "expected host:port with a numeric IP, e.g. 0.0.0.0:8080 or [::]:8080".into())
}

/// Whole seconds (`90`) or a number with `ms`, `s` or `m`; more than zero, at most a day.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit_ms) = if let Some(d) = raw.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = raw.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = raw.strip_suffix('m') {
        (d, 60_000)
    } else {
        (raw, 1_000)
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration such as 60, 60s, 500ms or 2m".to_string())?;
    let ms = n.saturating_mul(unit_ms);
    if ms == 0 || ms > 86_400_000 {
        return Err("must be more than zero and at most 24h".into());
    }
    Ok(Duration::from_millis(ms))
}

/// TEMPORARY (the registry branch adds it): `2s`, `500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn parse_switch(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err("expected 'on' or 'off'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    const OK: &[(&str, &str)] = &[
        ("SETT_INSTANCE_NAME", "prod"),
        ("REDIS_URL", "redis://localhost:6379"),
    ];

    #[test]
    fn defaults() {
        let c = Config::from_lookup(env(OK)).unwrap();
        assert_eq!(c.instance, "prod");
        assert_eq!(c.http_addr, DEFAULT_HTTP_ADDR);
        assert_eq!(c.retry_timeout, Duration::from_secs(60));
        assert!(c.reconcile);
        assert_eq!(c.redis_ca_file, None);
    }

    #[test]
    fn instance_names() {
        for good in ["a", "prod", "dev-1", "0", &"a".repeat(63)] {
            assert_eq!(check_instance_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Prod",
            "a_b",
            "a.b",
            "a b",
            "ä",
            &"a".repeat(64),
            "a:b",
            "*",
        ] {
            assert!(check_instance_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_variables() {
        let e = Config::from_lookup(env(&[("REDIS_URL", "redis://x")]))
            .err()
            .unwrap();
        assert_eq!(e, ConfigError::Missing("SETT_INSTANCE_NAME"));
        let e = Config::from_lookup(env(&[("SETT_INSTANCE_NAME", "x")]))
            .err()
            .unwrap();
        assert_eq!(e, ConfigError::Missing("REDIS_URL"));
    }

    #[test]
    fn redis_urls() {
        for good in [
            "redis://localhost",
            "redis://localhost:6379/0",
            "redis://:secret@localhost:6379",
            "redis://user:secret@10.0.0.1:6379/3",
            "rediss://redis.example.com:6380",
            "unix:///tmp/redis.sock",
            "redis+unix:///tmp/redis.sock",
        ] {
            assert_eq!(check_redis_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "localhost:6379",
            "http://localhost",
            "redis://",
            "redis://host:99999",
            "redis://h/x",
        ] {
            assert!(check_redis_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        let pairs = [
            ("SETT_INSTANCE_NAME", "x"),
            ("REDIS_URL", "http://u:hunter2@host"),
        ];
        let e = Config::from_lookup(env(&pairs)).err().unwrap();
        assert!(e.to_string().starts_with("REDIS_URL is invalid"));
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(redact_url("redis://u:hunter2@host:1/2"), "redis://host:1/2");
        assert!(!redact_url("redis://:hunter2@host").contains("hunter2"));
        assert_eq!(
            redact_url("unix:///run/redis.sock?db=1&user=u&pass=hunter2"),
            "unix:///run/redis.sock"
        );
        assert_eq!(
            redact_url("redis+unix:///s.sock?pass=hunter2"),
            "redis+unix:///s.sock"
        );
    }

    #[test]
    fn http_addresses() {
        assert_eq!(
            parse_http_addr(":9000").unwrap().to_string(),
            "0.0.0.0:9000"
        );
        assert_eq!(
            parse_http_addr("127.0.0.1:80").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert_eq!(
            parse_http_addr("[::]:8080").unwrap().to_string(),
            "[::]:8080"
        );
        for bad in ["", "8080", "localhost:8080", ":x", "1.2.3.4:70000"] {
            assert!(parse_http_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_switches() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "0", "-1", "1h", "abc", "99999999999999999999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let off = [
            ("SETT_INSTANCE_NAME", "x"),
            ("REDIS_URL", "redis://h"),
            ("SETT_RECONCILE", "off"),
        ];
        assert!(!Config::from_lookup(env(&off)).unwrap().reconcile);
        let bad = [
            ("SETT_INSTANCE_NAME", "x"),
            ("REDIS_URL", "redis://h"),
            ("SETT_RECONCILE", "maybe"),
        ];
        assert!(matches!(
            Config::from_lookup(env(&bad)),
            Err(ConfigError::Invalid {
                var: "SETT_RECONCILE",
                ..
            })
        ));
    }
}
