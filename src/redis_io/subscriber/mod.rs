//! A hand-written streaming Pub/Sub subscriber.
//!
//! Why not the `redis` crate for this connection: it reads each message whole
//! into memory (about three times its size) before our code sees it, and
//! artefact events carry the whole payload, which may be hundreds of MiB.
//! This connection instead reads the socket through one fixed buffer and
//! feeds each message to its channel's sink chunk by chunk as it arrives:
//! for artefact events, a JSON scanner that keeps only the id (which may come
//! after the payload) and the first bytes for a log sample. Memory stays flat
//! whatever the message size.
//!
//! The pieces, one concept each:
//! - `target`: where to connect, from `REDIS_URL` (as the redis crate reads it);
//! - `tls`: the rustls client configuration (web PKI roots or a CA file);
//! - `connect`: TCP/unix/TLS, AUTH, SELECT, SUBSCRIBE, each step under its
//!   own timeout; the [`Writer`] half (PING);
//! - `resp`: the push parser of RESP2 replies (bounded, never buffers a payload);
//! - `reader`: the [`Reader`] half (one fixed buffer, cancel-safe);
//! - `sink`: where a message's bytes go, by its channel's [`Decode`];
//! - `json_id`, `json_lex` and `json_num`: the streaming id scanner, also behind
//!   `event::decode_event`.
//!
//! The connection speaks RESP2 (no HELLO): in subscribed mode Redis answers
//! PING with `*2 pong ""`, which the reader reports as [`Frame::Pong`].

mod connect;
pub mod event;
pub mod json_id;
mod json_lex;
mod json_num;
mod reader;
mod resp;
mod sink;
mod stream;
mod target;
mod tls;

#[cfg(test)]
mod json_id_tests;
#[cfg(test)]
mod resp_tests;

pub use connect::{connect, ConnectError, Writer};
pub use reader::{ReadError, Reader};
pub use target::{target, Address, Host, Target};

use crate::ids::ArtefactId;

/// How the messages of one subscribed channel are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// Artefact events: only the id is kept (see `json_id`).
    ArtefactEvent,
    /// The whole message if it is at most `max` bytes; else it is discarded as it arrives.
    Capture { max: usize },
}

/// One thing read from the subscription connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A published message; `channel` is the index into the `channels` given to [`connect`].
    Message { channel: usize, body: Body },
    /// The answer to [`Writer::ping`].
    Pong,
    /// An error reply, at most 200 bytes of its text.
    Error(String),
    /// Anything else (e.g. a late subscribe confirmation).
    Other,
}

/// A message, as its channel's [`Decode`] reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// [`Decode::ArtefactEvent`].
    Event(Result<ArtefactId, Malformed>),
    /// [`Decode::Capture`], the message was at most `max` bytes.
    Captured(Vec<u8>),
    /// [`Decode::Capture`], the message was larger than `max` (and discarded).
    TooLarge { bytes: usize },
}

/// An artefact event without a usable id, as a log line shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// A fixed text ([`event::MalformedEvent::reason`]), never message content.
    pub reason: &'static str,
    /// The message's length.
    pub bytes: usize,
    /// [`event::safe_sample`] of the message's first bytes.
    pub sample: String,
}
