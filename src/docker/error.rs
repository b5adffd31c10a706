//! What can go wrong talking to Docker, in the four kinds a caller acts on
//! differently: retry later (`Transient`), give up on this request
//! (`Permanent`), someone else already did it (`Conflict`, the exactly-once
//! guard of a deterministic container name) and it is gone (`NotFound`).
//!
//! Messages are short (at most [`MAX_MESSAGE_BYTES`], cut on a character
//! boundary) and are built from our own words plus the daemon's `message`
//! field, never from a request body: a container spec carries `REDIS_URL`.

use std::fmt;

use crate::log::truncate;

/// How far a message (ours plus the daemon's) is cut.
pub const MAX_MESSAGE_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerError {
    /// Docker could not be asked or did not answer properly: socket missing or
    /// refused, an I/O error, a time-out, a 5xx, garbage, a connection closed
    /// mid-body. Retrying later may work; nothing is known to have failed.
    Transient(String),
    /// The request itself cannot succeed as asked: an image that does not
    /// exist, an invalid spec (400), a bind source that does not exist.
    Permanent(String),
    /// 409: the container name is taken (or the container is being removed).
    Conflict(String),
    /// 404 on a container: there is no such container.
    NotFound(String),
}

/// The kind alone, for matching and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Transient,
    Permanent,
    Conflict,
    NotFound,
}

impl DockerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DockerError::Transient(_) => ErrorKind::Transient,
            DockerError::Permanent(_) => ErrorKind::Permanent,
            DockerError::Conflict(_) => ErrorKind::Conflict,
            DockerError::NotFound(_) => ErrorKind::NotFound,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }

    pub fn message(&self) -> &str {
        match self {
            DockerError::Transient(m)
            | DockerError::Permanent(m)
            | DockerError::Conflict(m)
            | DockerError::NotFound(m) => m,
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> DockerError {
        DockerError::Transient(bounded(message.into()))
    }

    pub(crate) fn permanent(message: impl Into<String>) -> DockerError {
        DockerError::Permanent(bounded(message.into()))
    }

    /// A `what` that answered bytes no HTTP/1.1 or JSON reader accepts.
    pub(crate) fn garbage(what: &str) -> DockerError {
        DockerError::transient(format!("garbage from Docker: {what}"))
    }
}

impl fmt::Display for DockerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind() {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotFound => "not found",
        };
        write!(f, "docker ({kind}): {}", self.message())
    }
}

impl std::error::Error for DockerError {}

/// What a 404 on a path means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// A container endpoint: "No such container" is [`DockerError::NotFound`];
    /// any other 404 (a network that does not exist, on start) is permanent.
    Container,
    /// Anything else (an image): permanent.
    Other,
}

/// The error for a non-success status, with the daemon's `message` (already
/// cut). `what` names the call ("create container"), never its arguments.
pub(crate) fn from_status(status: u16, what: &str, message: &str, missing: Missing) -> DockerError {
    let text = format!("{what}: {status} {message}");
    match status {
        404 if missing == Missing::Container && message.contains("No such container") => {
            DockerError::NotFound(bounded(text))
        }
        404 => DockerError::permanent(text),
        409 => DockerError::Conflict(bounded(text)),
        // A daemon upgraded under us refuses the negotiated version: asking
        // again (after renegotiating) will work, so it is not the request's fault.
        400 if is_version_refusal(message) => DockerError::transient(text),
        400..=499 => DockerError::permanent(text),
        _ => DockerError::transient(text),
    }
}

/// Docker's answer to an API version it does not serve
/// ("client version 1.41 is too old. Minimum supported API version is 1.44").
pub(crate) fn is_version_refusal(message: &str) -> bool {
    message.contains("client version") && message.contains("API version")
}

/// The daemon's `{"message": "..."}` (whole: a caller may redact it before
/// [`from_status`] cuts it); the body's first bytes (lossy) when it is not that JSON.
pub(crate) fn daemon_message(body: &[u8]) -> String {
    let value = serde_json::from_slice::<serde_json::Value>(body);
    match value.as_ref().ok().and_then(|v| v.get("message")?.as_str()) {
        Some(message) => message.to_string(),
        None => {
            let head = &body[..body.len().min(MAX_MESSAGE_BYTES)];
            String::from_utf8_lossy(head).trim().to_string()
        }
    }
}

fn bounded(mut message: String) -> String {
    let keep = truncate(&message, MAX_MESSAGE_BYTES).len();
    message.truncate(keep);
    message
}

/// `message` with every occurrence of each secret replaced by `<redacted>`
/// (secrets shorter than 4 bytes are left: they would redact ordinary words).
pub(crate) fn redact(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, "<redacted>");
        }
    }
    out
}
