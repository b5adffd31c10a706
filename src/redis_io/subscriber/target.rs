//! Where the subscription connects, read from `REDIS_URL` the way the redis
//! crate reads it (so both connections of a session reach the same server
//! as the same user):
//!
//! - `redis://[user:password@]host[:port][/db]`: port 6379 by default, user
//!   and password percent-decoded, host a name, an IPv4 or an `[IPv6]` address;
//! - `rediss://…`: the same over TLS (certificates always checked; a
//!   `#insecure` fragment is refused);
//! - `unix:///path` and `redis+unix:///path`, with `?db=N&user=U&pass=P`.
//!
//! A user without a password sends no AUTH (as in the redis crate).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use super::tls::{self, TlsSettings};
use crate::config::Config;

const DEFAULT_PORT: u16 = 6379;

/// A checked connection target. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct Target {
    address: Address,
    pub(super) tls: Option<TlsSettings>,
    username: Option<String>,
    pub(super) password: Option<String>,
    db: i64,
}

/// The socket to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A host name (resolved at each connect) or an IP address, and a port.
    Tcp {
        host: Host,
        port: u16,
    },
    Unix(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Target {
    pub fn address(&self) -> &Address {
        &self.address
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub fn db(&self) -> i64 {
        self.db
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("tls", &self.is_tls())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

/// The target of `REDIS_URL`, trusting `SETT_REDIS_CA_FILE` (instead of the
/// web PKI roots) for `rediss://` when set. Errors never repeat the URL.
pub fn target(config: &Config) -> Result<Target, String> {
    // The configuration refuses a CA file with any scheme but rediss://.
    let ca = config.redis_ca()?;
    parse(config.redis_url(), |host| {
        tls::settings(host, ca.map(|ca| &ca.roots))
    })
}

/// A URL fragment such as `#insecure` (no certificate checks) is refused.
pub const NO_FRAGMENT: &str = "REDIS_URL: a #fragment such as #insecure (no certificate checks) is not supported; to trust a private CA, set SETT_REDIS_CA_FILE";

/// [`target`] with the TLS settings made by `tls(host)`.
fn parse(
    raw: &str,
    tls: impl FnOnce(&str) -> Result<TlsSettings, String>,
) -> Result<Target, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("REDIS_URL is not a URL ({e})"))?;
    match url.scheme() {
        "redis" | "rediss" => tcp(&url, tls),
        "unix" | "redis+unix" => unix(&url),
        _ => Err("REDIS_URL: scheme must be redis://, rediss://, unix:// or redis+unix://".into()),
    }
}

fn tcp(
    url: &url::Url,
    tls: impl FnOnce(&str) -> Result<TlsSettings, String>,
) -> Result<Target, String> {
    let host = match url.host() {
        // For a non-special scheme the url crate leaves an IPv4 address as a "domain".
        Some(url::Host::Domain(name)) if !name.is_empty() => match name.parse() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(name.to_string()),
        },
        Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
        _ => return Err("REDIS_URL has no host".into()),
    };
    if matches!(host, Host::Ip(ip) if ip.is_unspecified()) {
        return Err("REDIS_URL: cannot connect to a wildcard address (0.0.0.0 or ::)".into());
    }
    let tls = match (url.scheme(), url.fragment()) {
        ("rediss", None) => Some(tls(&host.to_string())?),
        ("rediss", Some(_)) => return Err(NO_FRAGMENT.into()),
        _ => None,
    };
    let db = match url.path().trim_matches('/') {
        "" => 0,
        path => path
            .parse()
            .map_err(|_| "REDIS_URL: the path must be a database number".to_string())?,
    };
    let username = match url.username() {
        "" => None,
        user => Some(decode(user, "user name")?),
    };
    let password = url.password().map(|p| decode(p, "password")).transpose()?;
    Ok(Target {
        address: Address::Tcp {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
        },
        tls,
        username,
        password,
        db,
    })
}

fn unix(url: &url::Url) -> Result<Target, String> {
    let path = url
        .to_file_path()
        .map_err(|()| "REDIS_URL: a unix URL needs a socket path".to_string())?;
    let (mut db, mut username, mut password) = (None, None, None);
    // Like the redis crate (a map of the pairs): the last of a repeated name counts.
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "db" => db = Some(value),
            "user" => username = Some(value.into_owned()),
            "pass" => password = Some(value.into_owned()),
            _ => {}
        }
    }
    let db = match db {
        None => 0,
        Some(n) => n
            .parse()
            .map_err(|_| "REDIS_URL: db= must be a database number".to_string())?,
    };
    Ok(Target {
        address: Address::Unix(path),
        tls: None,
        username,
        password,
        db,
    })
}

fn decode(raw: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("REDIS_URL: the {what} is not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(raw: &str) -> Result<Target, String> {
        parse(raw, |host| tls::settings(host, None))
    }

    fn tcp_of(raw: &str) -> (String, u16) {
        match plain(raw).unwrap().address {
            Address::Tcp { host, port } => (host.to_string(), port),
            Address::Unix(p) => panic!("unix {p:?}"),
        }
    }

    #[test]
    fn tcp_urls() {
        assert_eq!(tcp_of("redis://localhost"), ("localhost".into(), 6379));
        assert_eq!(tcp_of("redis://10.0.0.1:7000/3"), ("10.0.0.1".into(), 7000));
        assert_eq!(tcp_of("redis://[::1]:6380"), ("::1".into(), 6380));
        let t = plain("redis://us%40er:p%3Ass@h:1/12").unwrap();
        assert_eq!(t.username(), Some("us@er"));
        assert_eq!(t.password.as_deref(), Some("p:ss"));
        assert_eq!(t.db(), 12);
        assert!(!t.is_tls());
        let t = plain("redis://:secret@h").unwrap();
        assert_eq!(
            (t.username(), t.password.as_deref()),
            (None, Some("secret"))
        );
        assert_eq!(t.db(), 0);
        let t = plain("redis://user@h/").unwrap();
        assert_eq!((t.username(), t.has_password()), (Some("user"), false));
        // Only rediss:// reads the fragment.
        assert!(!plain("redis://h#whatever").unwrap().is_tls());
    }

    #[test]
    fn tls_urls() {
        let t = plain("rediss://redis.example.com:6380").unwrap();
        assert!(t.is_tls());
        let t = plain("rediss://127.0.0.1/2").unwrap();
        assert!(t.is_tls());
        assert_eq!(t.db(), 2);
        assert_eq!(
            plain("rediss://127.0.0.1/2#insecure").unwrap_err(),
            NO_FRAGMENT
        );
        assert_eq!(plain("rediss://h#nope").unwrap_err(), NO_FRAGMENT);
    }

    #[test]
    fn unix_urls() {
        for scheme in ["unix", "redis+unix"] {
            let t = plain(&format!(
                "{scheme}:///run/redis.sock?db=4&user=u%20x&pass=a+b&pass=hunter2"
            ))
            .unwrap();
            assert_eq!(t.address, Address::Unix("/run/redis.sock".into()));
            assert_eq!(t.db(), 4);
            assert_eq!(t.username(), Some("u x"));
            assert_eq!(t.password.as_deref(), Some("hunter2"));
        }
        let t = plain("unix:///tmp/r.sock").unwrap();
        assert_eq!((t.db(), t.username(), t.has_password()), (0, None, false));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for bad in [
            "",
            "localhost:6379",
            "http://u:hunter2@h",
            "redis://",
            "redis://h/x",
            "redis://0.0.0.0",
            "redis://[::]:1",
            "unix:///s?db=x&pass=hunter2",
        ] {
            let e = plain(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.starts_with("REDIS_URL"), "{e}");
        }
        let t = plain("redis://:hunter2@h").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
