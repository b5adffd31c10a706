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
//! - `frame`: what is read: a channel's [`Decode`], the [`Frame`]s and [`Body`]s;
//! - `sink`: where a message's bytes go, by its channel's [`Decode`];
//! - `json_id`, `json_lex` and `json_num`: the streaming id scanner, also behind
//!   `event::decode_event`.
//!
//! The connection speaks RESP2 (no HELLO): in subscribed mode Redis answers
//! PING with `*2 pong ""`, which the reader reports as [`Frame::Pong`].

mod connect;
pub mod event;
mod frame;
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
pub use frame::{Body, Decode, Frame, Malformed};
pub use json_lex::next_special;
pub use reader::{ReadError, Reader};
pub use target::{target, Address, Host, Target};
