//! The HTTP/1.1 responder for probes and metrics: `/healthz`, `/readyz`,
//! `/livez`, `/metrics`.
//!
//! Deliberately small: one request per connection (`Connection: close`), heads
//! of at most 8 KiB parsed by `httparse`, 1 s to send the head, a cap on open
//! connections taken *before* accept (a flood waits in the kernel's backlog
//! instead of in our memory), and a cap per peer address, so one client holding
//! idle connections cannot take the slots the probes need. It runs as its own
//! task, so a probe never waits behind claim work. JSON bodies end with `\n`,
//! as the Go original's do (its JSON encoder adds one).

mod peers;

use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};

use crate::deadline::within;
use crate::engine::Shared;
use crate::log::{push_json_str, Line};
use crate::shutdown::Shutdown;

/// Largest request head we read.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Open connections at most (idle ones included).
pub const MAX_CONNECTIONS: usize = 2048;
pub use peers::MAX_PER_PEER;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_HEADERS: usize = 64;
/// After answering, how long and how much we read and discard before closing.
const LINGER_TIMEOUT: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

/// A parsed request head: what routing needs.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
}

/// Why a head could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not HTTP/1.x, or malformed: 400.
    Malformed,
    /// Over [`MAX_HEAD_BYTES`] or too many headers: 431.
    TooLarge,
}

/// Parses a request head from the bytes read so far; `Ok(None)` means "need more".
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Malformed);
    };
    Ok(Some(RequestHead {
        method: method.to_string(),
        path: route_path(target).ok_or(HeadError::Malformed)?,
    }))
}

/// The path of an origin-form (`/x?q`) or absolute-form (`http://h/x`) target.
fn route_path(target: &str) -> Option<String> {
    let path = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        return None;
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(path[..end].to_string())
}

/// A response: status, reason and JSON or text body.
pub struct Response {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    pub allow: bool,
}

impl Response {
    /// A JSON response; the body gets its final newline here.
    fn json(status: u16, mut body: String) -> Response {
        body.push('\n');
        Response {
            status,
            body,
            content_type: "application/json",
            allow: false,
        }
    }

    /// The bytes on the wire; HEAD gets the same head without the body.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        if !head_only {
            out.push_str(&self.body);
        }
        out.into_bytes()
    }
}

fn error_response(status: u16, message: &str) -> Response {
    let mut body = String::from("{\"error\":");
    push_json_str(&mut body, message);
    body.push('}');
    Response::json(status, body)
}

fn unhealthy(redis_state: &str, error: &str) -> Response {
    let mut body = format!("{{\"status\":\"unhealthy\",\"redis\":\"{redis_state}\",\"error\":");
    push_json_str(
        &mut body,
        crate::log::truncate(error, crate::log::MAX_TEXT_BYTES),
    );
    body.push('}');
    Response::json(503, body)
}

/// Answers one parsed request.
pub async fn respond(shared: &Shared, head: &RequestHead) -> Response {
    let known = ["/healthz", "/readyz", "/livez", "/metrics"];
    if !known.contains(&head.path.as_str()) {
        return error_response(404, "not found");
    }
    if head.method != "GET" && head.method != "HEAD" {
        let mut r = error_response(405, "method not allowed");
        r.allow = true;
        return r;
    }
    match head.path.as_str() {
        "/livez" => Response::json(200, "{\"status\":\"alive\"}".into()),
        "/metrics" => Response {
            status: 200,
            body: shared.metrics_text(),
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            allow: false,
        },
        path => {
            if path == "/readyz" && shared.shutdown.is_triggered() {
                return unhealthy(
                    if shared.health.is_up() {
                        "connected"
                    } else {
                        "disconnected"
                    },
                    "shutting down",
                );
            }
            if path == "/readyz" {
                if let Some(error) = shared.workers.as_ref().and_then(|w| w.docker_down()) {
                    let mut body = String::from(
                        "{\"status\":\"unhealthy\",\"redis\":\"connected\",\"docker\":\"unreachable\",\"error\":",
                    );
                    push_json_str(
                        &mut body,
                        crate::log::truncate(&error, crate::log::MAX_TEXT_BYTES),
                    );
                    body.push('}');
                    return Response::json(503, body);
                }
            }
            match shared.health.check().await {
                Ok(()) => Response::json(
                    200,
                    "{\"status\":\"healthy\",\"redis\":\"connected\"}".into(),
                ),
                Err(e) => unhealthy(e.redis, &e.error),
            }
        }
    }
}

/// Accepts connections until `stop`, then drops the listener.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let peers = Arc::new(peers::Peers::default());
    loop {
        // The slot is taken before accept: at the cap we stop accepting.
        let Some(slot) = stop.unless_triggered(slots.acquire_arc()).await else {
            break;
        };
        let Some(accepted) = stop.unless_triggered(listener.accept()).await else {
            break;
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(place) = peers.enter(peer.ip()) else {
                    // Closed at once: this peer already holds its share.
                    drop(stream);
                    crate::metrics::inc(&shared.metrics.http_connections_refused);
                    Line::warn("http_connection_refused")
                        .display("peer", peer.ip())
                        .num("open_limit", MAX_PER_PEER as u64)
                        .limited()
                        .emit();
                    continue;
                };
                let shared = shared.clone();
                smol::spawn(async move {
                    handle_connection(stream, &shared).await;
                    drop(place);
                    drop(slot);
                })
                .detach();
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                Line::warn("http_accept_error").display("error", e).emit();
                smol::Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let mut head_only = false;
    let response = match read_head(&mut stream).or(head_timeout()).await {
        ReadOutcome::Head(head) => {
            head_only = head.method == "HEAD";
            respond(shared, &head).await
        }
        ReadOutcome::Bad(HeadError::Malformed) => error_response(400, "bad request"),
        ReadOutcome::Bad(HeadError::TooLarge) => error_response(431, "request head too large"),
        ReadOutcome::TimedOut => error_response(408, "request head not received within 1s"),
        ReadOutcome::Closed => return,
    };
    let bytes = response.to_bytes(head_only);
    let write = async {
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
    };
    let _ = within(WRITE_TIMEOUT, write).await;
    // Closing with unread bytes (a body, a pipelined request) makes the kernel
    // send a reset that can destroy the response in flight: half-close, then
    // read and discard what the client still sends, briefly and boundedly.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = within(LINGER_TIMEOUT, drain).await;
}

enum ReadOutcome {
    Head(RequestHead),
    Bad(HeadError),
    TimedOut,
    Closed,
}

async fn head_timeout() -> ReadOutcome {
    smol::Timer::after(HEAD_TIMEOUT).await;
    ReadOutcome::TimedOut
}

async fn read_head(stream: &mut TcpStream) -> ReadOutcome {
    // Grows only as bytes arrive: an idle connection costs no buffer.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return ReadOutcome::Closed,
            Ok(n) => n,
        };
        let room = MAX_HEAD_BYTES - buf.len();
        buf.extend_from_slice(&chunk[..n.min(room)]);
        match parse_head(&buf) {
            Ok(Some(head)) => return ReadOutcome::Head(head),
            Ok(None) => continue,
            Err(e) => return ReadOutcome::Bad(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, path: &str) -> Result<Option<RequestHead>, HeadError> {
        Ok(Some(RequestHead {
            method: method.into(),
            path: path.into(),
        }))
    }

    #[test]
    fn parses_heads() {
        assert_eq!(
            parse_head(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            head("GET", "/healthz")
        );
        assert_eq!(
            parse_head(b"HEAD /readyz?x=1 HTTP/1.0\r\n\r\n"),
            head("HEAD", "/readyz")
        );
        assert_eq!(
            parse_head(b"GET http://h:8080/livez HTTP/1.1\r\n\r\n"),
            head("GET", "/livez")
        );
        assert_eq!(
            parse_head(b"GET http://h HTTP/1.1\r\n\r\n"),
            head("GET", "/")
        );
        assert_eq!(
            parse_head(b"get /healthz HTTP/1.1\r\n\r\n"),
            head("get", "/healthz")
        );
        // A body or a second (pipelined) request after the head is ignored.
        assert_eq!(
            parse_head(b"GET /livez HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
            head("GET", "/livez")
        );
    }

    #[test]
    fn partial_and_bad_heads() {
        assert_eq!(parse_head(b""), Ok(None));
        assert_eq!(parse_head(b"GET /healthz HTTP/1.1\r\nHost:"), Ok(None));
        assert_eq!(
            parse_head(b"\x16\x03\x01\x02\x00"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET /x HTTP/2.0\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET * HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET /a b HTTP/1.1\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_head(&huge), Err(HeadError::TooLarge));
        let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
        assert_eq!(
            parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(HeadError::TooLarge)
        );
    }

    #[test]
    fn responses() {
        let r = error_response(405, "method not allowed");
        let text = String::from_utf8(Response { allow: true, ..r }.to_bytes(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"error\":\"method not allowed\"}\n"));
        let head =
            String::from_utf8(unhealthy("disconnected", "a \"quoted\" error").to_bytes(true))
                .unwrap();
        assert!(head.contains("Content-Length: 75\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"));
        let body = unhealthy("disconnected", "a \"quoted\" error").body;
        assert!(body.ends_with("}\n"), "{body:?}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "a \"quoted\" error");
    }
}
