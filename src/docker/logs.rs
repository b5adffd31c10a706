//! Container logs: the multiplexed stream decoded, the tail kept in bounded
//! memory, and the text of a worker's Failure artefact (contract 5, 8.6).
//!
//! Without a TTY (our workers never have one: the spec cannot ask for it)
//! Docker frames each log message with an 8-byte header: the stream (0 stdin,
//! 1 stdout, 2 stderr, 3 an error of the daemon's own), three zero bytes and
//! the payload's size as a big-endian u32. Holt put these raw frames into its
//! Failure payloads; we decode them. Frames are streamed, never buffered whole,
//! and only the last [`MAX_LOG_BYTES`] of text are kept however long the logs.

use std::collections::VecDeque;

use super::error::DockerError;
use crate::log::truncate;

/// Text kept from one logs call (its end; older bytes are dropped as they come).
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// A Failure payload's logs: at most this many last lines...
pub const FAILURE_LINES: usize = 100;
/// ...and at most this many bytes, cut on a UTF-8 boundary.
pub const FAILURE_BYTES: usize = 64 * 1024;

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

/// The multiplexed-stream decoder (sans-IO: feed it any cut of the bytes).
#[derive(Debug, Default)]
pub(crate) struct Demux {
    header: [u8; 8],
    have: usize,
    /// Payload bytes left in the current frame.
    left: u32,
    /// The current frame is the daemon's error (stream 3): its text, cut.
    error: Option<Vec<u8>>,
}

impl Demux {
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<(), DockerError> {
        while !input.is_empty() {
            if self.left == 0 {
                let take = (8 - self.have).min(input.len());
                self.header[self.have..self.have + take].copy_from_slice(&input[..take]);
                self.have += take;
                input = &input[take..];
                if self.have == 8 {
                    self.start_frame()?;
                }
                continue;
            }
            let take = input.len().min(self.left as usize);
            let (payload, rest) = input.split_at(take);
            self.left -= take as u32;
            input = rest;
            match &mut self.error {
                Some(text) => {
                    let room = 200usize.saturating_sub(text.len());
                    text.extend_from_slice(&payload[..payload.len().min(room)]);
                    if self.left == 0 {
                        let msg = String::from_utf8_lossy(text).into_owned();
                        return Err(DockerError::transient(format!(
                            "Docker failed while sending the logs: {}",
                            truncate(&msg, 200)
                        )));
                    }
                }
                None => out(stream_of(self.header[0]), payload),
            }
        }
        Ok(())
    }

    fn start_frame(&mut self) -> Result<(), DockerError> {
        let h = self.header;
        if h[0] > 3 || h[1..4] != [0, 0, 0] {
            return Err(DockerError::garbage("a log frame header"));
        }
        self.have = 0;
        self.left = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        self.error = (h[0] == 3).then(Vec::new);
        if self.left == 0 && self.error.is_some() {
            return Err(DockerError::transient(
                "Docker failed while sending the logs",
            ));
        }
        Ok(())
    }

    /// The body ended: fine between frames only.
    pub(crate) fn finish(&self) -> Result<(), DockerError> {
        if self.have != 0 || self.left != 0 {
            return Err(DockerError::garbage(
                "a log stream that ends inside a frame",
            ));
        }
        Ok(())
    }
}

fn stream_of(byte: u8) -> Stream {
    match byte {
        0 => Stream::Stdin,
        1 => Stream::Stdout,
        _ => Stream::Stderr,
    }
}

/// The last `cap` bytes of everything pushed.
#[derive(Debug)]
pub(crate) struct Tail {
    bytes: VecDeque<u8>,
    cap: usize,
    dropped: bool,
}

impl Tail {
    pub(crate) fn new(cap: usize) -> Tail {
        Tail {
            bytes: VecDeque::new(),
            cap,
            dropped: false,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8]) {
        if data.len() >= self.cap {
            self.dropped |= !self.bytes.is_empty() || data.len() > self.cap;
            self.bytes.clear();
            data = &data[data.len() - self.cap..];
        }
        let over = (self.bytes.len() + data.len()).saturating_sub(self.cap);
        if over > 0 {
            self.dropped = true;
            self.bytes.drain(..over);
        }
        self.bytes.extend(data);
    }

    pub(crate) fn into_logs(self) -> Logs {
        Logs {
            text: Vec::from(self.bytes),
            truncated: self.dropped,
        }
    }
}

/// What a logs call returns: the demultiplexed text, stdout and stderr
/// interleaved as Docker sent them (at most [`MAX_LOG_BYTES`], its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logs {
    pub text: Vec<u8>,
    /// Older text was dropped to stay within [`MAX_LOG_BYTES`].
    pub truncated: bool,
}

impl Logs {
    /// The logs as a Failure payload wants them: see [`failure_text`].
    pub fn failure_text(&self) -> String {
        failure_text(&self.text)
    }
}

/// The last [`FAILURE_LINES`] lines of `logs` (a final newline ends the last
/// line, it does not start an empty one), then their last [`FAILURE_BYTES`]
/// bytes, starting on a character boundary; bytes that are not UTF-8 become
/// U+FFFD, and the result is still at most [`FAILURE_BYTES`].
pub fn failure_text(logs: &[u8]) -> String {
    let body = logs.strip_suffix(b"\n").unwrap_or(logs);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, &b)| b == b'\n')
        .nth(FAILURE_LINES - 1)
        .map_or(0, |(i, _)| i + 1);
    let mut lines = &logs[start..];
    if lines.len() > FAILURE_BYTES {
        lines = &lines[lines.len() - FAILURE_BYTES..];
        // A character has at most three continuation bytes (10xxxxxx).
        let skip = lines
            .iter()
            .take(3)
            .take_while(|&&b| b & 0xC0 == 0x80)
            .count();
        lines = &lines[skip..];
    }
    let text = String::from_utf8_lossy(lines);
    let mut from = text.len().saturating_sub(FAILURE_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..].to_string()
}
