//! Where the bytes of one message go as they arrive, by its channel's
//! [`Decode`]: the id scanner (artefact events), a buffer bounded by the
//! channel's `max` (captures), or nowhere. The message length is known from
//! its RESP header before the first byte, so an oversized capture is never
//! started.

use super::event::{safe_sample, SAMPLE_BYTES};
use super::frame::{Body, Decode, Malformed};
use super::json_id::IdScanner;

pub(super) enum Sink {
    Event(Box<EventSink>),
    Capture(Vec<u8>),
    TooLarge(usize),
}

/// An artefact event on its way through the scanner.
pub(super) struct EventSink {
    scanner: IdScanner,
    /// The first bytes, for the log sample of a malformed event.
    head: Vec<u8>,
    bytes: usize,
}

impl Sink {
    /// The sink of a `len`-byte message read as `decode` says.
    pub(super) fn new(decode: Decode, len: usize) -> Sink {
        match decode {
            Decode::ArtefactEvent => Sink::Event(Box::new(EventSink {
                scanner: IdScanner::new(),
                head: Vec::with_capacity(len.min(SAMPLE_BYTES)),
                bytes: 0,
            })),
            Decode::Capture { max } if len > max => Sink::TooLarge(len),
            Decode::Capture { .. } => Sink::Capture(Vec::with_capacity(len)),
        }
    }

    pub(super) fn feed(&mut self, chunk: &[u8]) {
        match self {
            Sink::Event(event) => {
                let room = SAMPLE_BYTES - event.head.len();
                event
                    .head
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
                event.bytes += chunk.len();
                event.scanner.feed(chunk);
            }
            Sink::Capture(kept) => kept.extend_from_slice(chunk),
            Sink::TooLarge(_) => {}
        }
    }

    /// The message has ended.
    pub(super) fn finish(self) -> Body {
        match self {
            Sink::Event(event) => {
                let EventSink {
                    scanner,
                    head,
                    bytes,
                } = *event;
                Body::Event(scanner.finish().map_err(|why| Malformed {
                    reason: why.reason(),
                    bytes,
                    sample: safe_sample(&head),
                }))
            }
            Sink::Capture(kept) => Body::Captured(kept),
            Sink::TooLarge(bytes) => Body::TooLarge { bytes },
        }
    }
}
