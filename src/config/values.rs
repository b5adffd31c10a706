//! The value forms the variables accept: instance names, Redis URLs, listen
//! addresses, durations, switches, the namespace and the log level. Each parser
//! returns a reason that never repeats the value (it may hold a password).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// The key namespace: which instance variable names the instance, and the
/// prefix of every key and channel (`sett:{i}:…` or `holt:{i}:…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    Sett,
    Holt,
}

impl Namespace {
    /// The key prefix without its colon: `sett` or `holt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Sett => "sett",
            Namespace::Holt => "holt",
        }
    }

    /// The variable that names the instance in this namespace.
    pub fn instance_variable(self) -> &'static str {
        match self {
            Namespace::Sett => "SETT_INSTANCE_NAME",
            Namespace::Holt => "HOLT_INSTANCE_NAME",
        }
    }

    /// Where `sett up` / `holt up` mount the agent registry.
    pub fn default_registry(self) -> &'static str {
        match self {
            Namespace::Sett => "/workspace/sett.yml",
            Namespace::Holt => "/workspace/holt.yml",
        }
    }
}

/// How much the orchestrator logs (`SETT_LOG_LEVEL` sets `info` or `debug`).
pub use crate::log::Level as LogLevel;

/// `info` or `debug`, in any letter case.
pub fn parse_log_level(raw: &str) -> Result<LogLevel, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        _ => Err("expected 'info' or 'debug'".into()),
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
    if url.fragment().is_some() {
        return Err("a #fragment such as #insecure (no certificate checks) is not supported; to trust a private CA, set SETT_REDIS_CA_FILE".into());
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

/// The longest duration any variable accepts.
const MAX_DURATION_MS: u64 = 86_400_000;

/// Whole seconds (`90`) or a number with `ms`, `s`, `m` or `h`; more than
/// zero, at most a day.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    match parse_duration_or_zero(raw)? {
        Some(d) => Ok(d),
        None => Err("must be more than zero and at most 24h".into()),
    }
}

/// As [`parse_duration`], but zero (`0`, `0s`, …) is allowed and means `None`
/// (off, or for ever: the variable says which).
pub fn parse_duration_or_zero(raw: &str) -> Result<Option<Duration>, String> {
    let raw = raw.trim();
    let (digits, unit_ms) = if let Some(d) = raw.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = raw.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = raw.strip_suffix('m') {
        (d, 60_000)
    } else if let Some(d) = raw.strip_suffix('h') {
        (d, 3_600_000)
    } else {
        (raw, 1_000)
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration such as 60, 60s, 500ms, 2m or 1h".to_string())?;
    let ms = n.saturating_mul(unit_ms);
    if ms > MAX_DURATION_MS {
        return Err("must be at most 24h".into());
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// A duration the way logs and reasons show it, in the largest unit that is
/// exact: `500ms`, `90s`, `2m`, `1h`; `0` for zero. [`parse_duration`] reads
/// it back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0".into()
    } else if !ms.is_multiple_of(1_000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1_000)
    }
}

/// An optional duration for logs: `0` when off (or for ever).
pub fn format_optional_duration(d: Option<Duration>) -> String {
    format_duration(d.unwrap_or_default())
}

/// `on` or `off` (letter case and surrounding spaces ignored, as for
/// `SETT_LOG_LEVEL`); nothing else, so the docs, `--help` and the refusal
/// state one rule.
pub(super) fn parse_switch(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected 'on' or 'off'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "rediss://h:6380/#insecure",
        ] {
            assert!(check_redis_url(bad).is_err(), "{bad}");
        }
        assert!(check_redis_url("rediss://h/#insecure")
            .unwrap_err()
            .contains("SETT_REDIS_CA_FILE"));
    }

    #[test]
    fn redacted_urls_have_no_credentials() {
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
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 24h "), Ok(Duration::from_secs(86_400)));
        for bad in [
            "",
            "0",
            "0s",
            "0ms",
            "-1",
            "25h",
            "1d",
            "1.5s",
            "abc",
            "h",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_or_zero() {
        for zero in ["0", "0s", "0ms", "0m", "0h", " 0 "] {
            assert_eq!(parse_duration_or_zero(zero), Ok(None), "{zero}");
        }
        assert_eq!(
            parse_duration_or_zero("2s"),
            Ok(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            parse_duration_or_zero("1h"),
            Ok(Some(Duration::from_secs(3600)))
        );
        for bad in ["", "-0", "off", "25h", "5x"] {
            assert!(parse_duration_or_zero(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        let cases = [
            (Duration::ZERO, "0"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(5_400), "90m"),
            (Duration::from_micros(2_000_400), "2s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text, "{d:?}");
            if !d.is_zero() && d.subsec_micros() % 1000 == 0 {
                assert_eq!(parse_duration(text), Ok(d), "round trip {text}");
            }
        }
        assert_eq!(format_optional_duration(None), "0");
        assert_eq!(
            format_optional_duration(Some(Duration::from_secs(120))),
            "2m"
        );
    }

    #[test]
    fn switches_levels_and_namespaces() {
        assert_eq!(parse_switch("ON"), Ok(true));
        assert_eq!(parse_switch(" off "), Ok(false));
        for bad in ["maybe", "", "true", "yes", "1", "false", "no", "0"] {
            assert_eq!(
                parse_switch(bad),
                Err("expected 'on' or 'off'".into()),
                "{bad}"
            );
        }
        assert_eq!(parse_log_level("info"), Ok(LogLevel::Info));
        assert_eq!(parse_log_level(" DEBUG "), Ok(LogLevel::Debug));
        for bad in ["", "trace", "warn", "verbose"] {
            assert!(parse_log_level(bad).is_err(), "{bad}");
        }
        assert_eq!(Namespace::Sett.as_str(), "sett");
        assert_eq!(Namespace::Holt.as_str(), "holt");
        assert_eq!(Namespace::Holt.instance_variable(), "HOLT_INSTANCE_NAME");
        assert_eq!(Namespace::Sett.default_registry(), "/workspace/sett.yml");
        assert_eq!(Namespace::Holt.default_registry(), "/workspace/holt.yml");
    }
}
