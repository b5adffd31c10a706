//! A small Docker Engine API client of our own, for running worker containers.
//!
//! Why our own: the Rust Docker crates are tied to tokio, and the appliance
//! runs one single-threaded smol executor. This is HTTP/1.1 with JSON over the
//! daemon's unix socket (`/var/run/docker.sock`, or `DOCKER_HOST=unix:///path`),
//! for exactly the endpoints the worker launcher uses (`api`, `list`, `events`).
//!
//! - **API version**: the daemon's `Api-Version` (from `/_ping`) capped at
//!   [`NEWEST_API`]; a daemon older than [`OLDEST_API`] (Docker 20.10) is
//!   refused. Docker 20.10 speaks 1.41; Docker 25 and later refuse nothing
//!   older than 1.24, but Docker 29.0 refuses anything below 1.44, so a fixed
//!   `/v1.41` would not do. Every field we send or read is the same from 1.41
//!   to 1.44. A call refused for its version (an upgrade under us) makes the
//!   next call negotiate again.
//! - **Time-outs**: every call runs against one deadline ([`Timeouts::call`],
//!   plus a stop's own grace period), its connect also against
//!   [`Timeouts::connect`]; the events stream has its own policy (`events`).
//! - **Sizes**: heads at most 16 KiB, JSON bodies at most [`MAX_JSON_BYTES`],
//!   logs kept to their last [`MAX_LOG_BYTES`], events at most 64 KiB each;
//!   the container list read entry by entry (`list`: 64 KiB each, 20,000).
//! - **Errors**: [`DockerError`]: transient, permanent, conflict, not found.
//!   A call that timed out (or was dropped) after its request was sent may
//!   still have taken effect: a create retried after a time-out can answer
//!   409 for the container the first attempt made. Calls are `Send` futures.
//! - **Secrets**: a [`ContainerSpec`]'s environment is never logged or put in
//!   an error; the daemon's messages about a create are scrubbed of its values.
//!
//! Only this module talks to the socket, and the spec type is the only way to
//! ask for a container: the socket's power stays here.

mod api;
mod client;
mod error;
mod events;
mod framing;
mod json;
mod list;
mod logs;
mod scanner;
mod spec;
#[cfg(test)]
mod tests;
mod wire;

pub use crate::config::{socket_from_docker_host, DEFAULT_SOCKET};
pub use api::{
    ContainerInfo, ContainerState, ContainerSummary, Created, ImageInfo, LogOptions, Version,
};
pub use client::{ApiVersion, Docker, Ping, Timeouts, MAX_JSON_BYTES, NEWEST_API, OLDEST_API};
pub use error::{DockerError, ErrorKind, MAX_MESSAGE_BYTES};
pub use events::{Event, EventFilter, Events};
pub use logs::{failure_text, Logs, Stream, FAILURE_BYTES, FAILURE_LINES, MAX_LOG_BYTES};
pub use scanner::MAX_EVENT_BYTES;
pub use spec::{Access, ContainerSpec, WORKSPACE_TARGET};
pub use wire::MAX_HEAD_BYTES;
