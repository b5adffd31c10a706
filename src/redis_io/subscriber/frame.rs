//! What the subscription connection reads: a channel's [`Decode`] (how its
//! messages are read), and the [`Frame`]s and message [`Body`]s that come out.
//! Apart from the module's face because every piece (`connect`, `reader`,
//! `resp`, `sink`) speaks these types.

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
    /// A published message; `channel` is the index into the `channels` given to [`super::connect`].
    Message { channel: usize, body: Body },
    /// The answer to [`super::Writer::ping`].
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
    /// A fixed text ([`super::event::MalformedEvent::reason`]), never message content.
    pub reason: &'static str,
    /// The message's length.
    pub bytes: usize,
    /// [`super::event::safe_sample`] of the message's first bytes.
    pub sample: String,
}
