//! The reading half of a subscription connection: one fixed buffer between
//! the socket and the RESP parser, whatever the size of the messages.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use futures_lite::io::ReadHalf;
use futures_lite::AsyncReadExt as _;

use super::frame::{Decode, Frame};
use super::resp::{Parser, Reply};
use super::stream::Stream;

/// The read buffer: each read of the socket fills at most this much.
const BUFFER: usize = 32 * 1024;
/// Reads between two yields to the executor (1 MiB): a socket that always
/// has data (a burst, a 256 MiB event) must not keep the one executor thread
/// from the workers, the probes and the watchdog.
const READS_PER_YIELD: u32 = 32;

/// Reads frames from a subscription connection (see [`super::connect`]).
pub struct Reader {
    io: ReadHalf<Stream>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    parser: Parser,
    failed: bool,
    /// Bytes read since the connection was made (see [`Reader::received`]).
    received: Arc<AtomicU64>,
    reads: u32,
}

/// Why the connection cannot be read any more: reconnect.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Redis closed the connection (e.g. `CLIENT KILL`, or it fell behind
    /// its output buffer limit).
    Closed,
    /// Redis sent something a subscription does not expect.
    Protocol(&'static str),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Closed => f.write_str("connection closed by Redis"),
            ReadError::Protocol(what) => write!(f, "protocol error: {what}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl Reader {
    pub(super) fn new(io: ReadHalf<Stream>, channels: &[(String, Decode)]) -> Reader {
        Reader {
            io,
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            parser: Parser::new(channels),
            failed: false,
            received: Arc::new(AtomicU64::new(0)),
            reads: 0,
        }
    }

    /// A counter of the bytes read so far, for the watchdog: a subscription
    /// busy streaming a big message is alive even while its PONG waits
    /// behind that message.
    pub fn received(&self) -> Arc<AtomicU64> {
        self.received.clone()
    }

    /// The next frame. Cancel-safe: dropping the future loses nothing (all
    /// progress is kept in the reader). After an error, every call fails.
    pub async fn next(&mut self) -> Result<Frame, ReadError> {
        Ok(match self.reply().await? {
            Reply::Message { channel, body } => Frame::Message { channel, body },
            Reply::Pong => Frame::Pong,
            Reply::Error(text) => Frame::Error(text),
            Reply::Simple(_) | Reply::Subscribed(_) | Reply::Other => Frame::Other,
        })
    }

    /// The next reply, as the connection's set-up needs it.
    pub(super) async fn reply(&mut self) -> Result<Reply, ReadError> {
        if self.failed {
            return Err(ReadError::Protocol("the connection already failed"));
        }
        let result = self.read_reply().await;
        self.failed = result.is_err();
        result
    }

    async fn read_reply(&mut self) -> Result<Reply, ReadError> {
        loop {
            if self.start < self.end {
                let (used, reply) = self
                    .parser
                    .feed(&self.buf[self.start..self.end])
                    .map_err(ReadError::Protocol)?;
                self.start += used;
                if let Some(reply) = reply {
                    return Ok(reply);
                }
            }
            self.reads += 1;
            if self.reads >= READS_PER_YIELD {
                self.reads = 0;
                futures_lite::future::yield_now().await;
            }
            let n = self.io.read(&mut self.buf).await.map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            self.received.fetch_add(n as u64, Relaxed);
            (self.start, self.end) = (0, n);
        }
    }
}
