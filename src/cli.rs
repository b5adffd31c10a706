//! The command line: run (default), `healthcheck`, `--version`, `--help`.
//!
//! `healthcheck` exists because a `FROM scratch` image has no curl: Docker's
//! HEALTHCHECK runs the binary itself against its own `/healthz`.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::{parse_http_addr, DEFAULT_HTTP_ADDR, VARIABLES, VERSION};

/// What the arguments ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run,
    Healthcheck,
    Help,
    Version,
    Unknown(String),
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Command {
    let args: Vec<String> = args.into_iter().collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["run"] => Command::Run,
        ["healthcheck"] => Command::Healthcheck,
        ["-h"] | ["--help"] | ["help"] => Command::Help,
        ["-V"] | ["--version"] | ["version"] => Command::Version,
        other => Command::Unknown(other.join(" ")),
    }
}

pub fn help() -> String {
    let mut text = format!(
        "sett-orchestrator {VERSION}\n\
         Watches a Sett blackboard in Redis and gives every non-Terminal artefact exactly one\n\
         claim (status pending_review), announced once on sett:<instance>:claim_events\n\
         (holt:<instance>:... with HOLT_INSTANCE_NAME). With an agent registry (SETT_CONFIG_FILE,\n\
         default /workspace/sett.yml or holt.yml) the claim lifecycle runs instead of Phase 1.\n\n\
         USAGE:\n  sett-orchestrator               run (configured by the environment)\n  \
         sett-orchestrator healthcheck   GET /healthz on SETT_HTTP_ADDR; exit 0 if 200, else 1\n  \
         sett-orchestrator --version | --help\n\nENVIRONMENT:\n"
    );
    for (name, what) in VARIABLES {
        text.push_str(&format!("  {name:<26}{what}\n"));
    }
    text.push_str(
        "\nHTTP ENDPOINTS:\n  \
         /healthz  200 when Redis answers a PING within 2s and the subscription is live, else 503\n  \
         /readyz   as /healthz, and 503 once shutdown has begun\n  \
         /livez    200 while the process serves\n  \
         /metrics  Prometheus text format\n\n\
         Logs are JSON lines on stdout. SIGTERM/SIGINT: graceful shutdown (a second signal exits at once).\n",
    );
    text
}

/// Where `healthcheck` connects: `SETT_HTTP_ADDR`, with an unspecified address
/// (`0.0.0.0`, `[::]`) meaning loopback.
pub fn probe_addr(http_addr: Option<&str>) -> Result<SocketAddr, String> {
    let mut addr = match http_addr {
        None => DEFAULT_HTTP_ADDR,
        Some(raw) => parse_http_addr(raw).map_err(|e| format!("SETT_HTTP_ADDR is invalid: {e}"))?,
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// GETs `/healthz` with a 2 s budget; Ok when the answer is 200.
pub fn healthcheck(http_addr: Option<&str>) -> Result<(), String> {
    let timeout = Duration::from_secs(2);
    let addr = probe_addr(http_addr)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut answer = Vec::with_capacity(512);
    stream
        .take(16 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or("");
    if status_line.starts_with("HTTP/1.1 200") {
        return Ok(());
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    Err(format!("{status_line} {}", crate::log::truncate(body, 200))
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands() {
        assert_eq!(parse(args(&[])), Command::Run);
        assert_eq!(parse(args(&["healthcheck"])), Command::Healthcheck);
        assert_eq!(parse(args(&["--help"])), Command::Help);
        assert_eq!(parse(args(&["--version"])), Command::Version);
        assert_eq!(
            parse(args(&["--bogus"])),
            Command::Unknown("--bogus".into())
        );
        for (name, _) in VARIABLES {
            assert!(help().contains(name));
        }
    }

    #[test]
    fn probe_addresses() {
        assert_eq!(probe_addr(None).unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(
            probe_addr(Some("[::]:9000")).unwrap().to_string(),
            "[::1]:9000"
        );
        assert_eq!(
            probe_addr(Some("10.1.2.3:81")).unwrap().to_string(),
            "10.1.2.3:81"
        );
        assert!(probe_addr(Some("nope")).is_err());
    }
}
