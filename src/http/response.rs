//! The answers: what each path says (health, readiness, liveness, metrics)
//! and the bytes of a response on the wire. Apart from the connection handling
//! because it only reads the shared state and writes no socket.

use crate::engine::Shared;
use crate::log::push_json_str;

use super::head::RequestHead;

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

pub(super) fn error_response(status: u16, message: &str) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

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
