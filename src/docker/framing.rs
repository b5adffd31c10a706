//! Where a response body ends: after `Content-Length` bytes, after the last
//! chunk of a `chunked` body, or at end of file.
//!
//! Sans-IO, so the tests can cut a body at every byte: bytes read from the
//! socket go in with [`Framing::feed`], the body's own bytes come out through a
//! sink as borrowed slices of the input (nothing is buffered here; the sink
//! decides how much it keeps). Docker (Go's net/http) sends `chunked` for
//! streams (logs, events) and large JSON, `Content-Length` otherwise.

use super::error::DockerError;

/// Receives body bytes; an error (say, a size limit) stops the feed.
pub(crate) type Sink<'a> = dyn FnMut(&[u8]) -> Result<(), DockerError> + Send + 'a;

/// Longest chunk-size line (hex digits, extensions) and trailer section we accept.
const MAX_CONTROL_BYTES: usize = 4096;

#[derive(Debug)]
pub(crate) enum Framing {
    /// This many body bytes still to come.
    Length(u64),
    Chunked(Chunked),
    /// No length and not chunked: the body ends when the connection does.
    UntilClose,
    /// The body is complete; anything after it is ignored.
    Done,
}

impl Framing {
    /// Feeds bytes read from the connection; body bytes go to `sink`.
    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut Sink) -> Result<(), DockerError> {
        match self {
            Framing::Length(left) => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= take as u64;
                if *left == 0 {
                    *self = Framing::Done;
                }
                if take > 0 {
                    sink(&input[..take])?;
                }
                Ok(())
            }
            Framing::Chunked(c) => {
                c.feed(input, sink)?;
                if c.state == State::Done {
                    *self = Framing::Done;
                }
                Ok(())
            }
            Framing::UntilClose => sink(input),
            Framing::Done => Ok(()),
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Framing::Done)
    }

    /// The connection ended: fine only if the body was complete (or ends at close).
    pub(crate) fn at_eof(&self) -> Result<(), DockerError> {
        match self {
            Framing::Done | Framing::UntilClose => Ok(()),
            Framing::Length(_) | Framing::Chunked(_) => Err(DockerError::transient(
                "Docker closed the connection in the middle of a response body",
            )),
        }
    }
}

/// The `Transfer-Encoding: chunked` decoder (RFC 9112 7.1), strict about CRLF.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: State,
    /// Bytes of the current size line or trailer section.
    control: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `digits` read so far.
    #[default]
    Start,
    Size {
        value: u64,
        digits: u8,
    },
    /// After `;` (or blanks): skipping extensions to the CR.
    Ext {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// A trailer line; `empty` while nothing but its CR has been seen.
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

impl Chunked {
    pub(crate) fn feed(&mut self, input: &[u8], sink: &mut Sink) -> Result<(), DockerError> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data(left) = self.state {
                let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                self.state = if left == take as u64 {
                    State::DataCr
                } else {
                    State::Data(left - take as u64)
                };
                sink(&input[i..i + take])?;
                i += take;
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(())
    }

    /// One byte of a size line, of the CRLF after data, or of the trailer.
    fn step(&mut self, b: u8) -> Result<(), DockerError> {
        if !matches!(self.state, State::DataCr | State::DataLf | State::Done) {
            self.control += 1;
            if self.control > MAX_CONTROL_BYTES {
                return Err(DockerError::garbage(
                    "a chunk-size line or trailer over 4 KiB",
                ));
            }
        }
        self.state = match (self.state, b) {
            (State::Start, _) => match hex(b) {
                Some(d) => State::Size {
                    value: u64::from(d),
                    digits: 1,
                },
                None => return Err(bad("a chunk size that is not hex")),
            },
            (State::Size { value, digits }, _) if hex(b).is_some() => {
                if digits >= 15 {
                    return Err(bad("a chunk size over 15 hex digits"));
                }
                State::Size {
                    value: value << 4 | u64::from(hex(b).unwrap_or(0)),
                    digits: digits + 1,
                }
            }
            (State::Size { value, .. }, b';' | b' ' | b'\t') => State::Ext { value },
            (State::Size { value, .. } | State::Ext { value }, b'\r') => State::SizeLf { value },
            (State::Ext { value }, _) => State::Ext { value },
            (State::SizeLf { value: 0 }, b'\n') => State::Trailer { empty: true },
            (State::SizeLf { value }, b'\n') => {
                self.control = 0;
                State::Data(value)
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.control = 0;
                State::Start
            }
            (State::Trailer { empty }, b'\r') => State::TrailerLf { empty },
            (State::Trailer { .. }, _) => State::Trailer { empty: false },
            (State::TrailerLf { empty: true }, b'\n') => State::Done,
            (State::TrailerLf { empty: false }, b'\n') => State::Trailer { empty: true },
            (State::Done, _) => State::Done,
            _ => return Err(bad("a chunk not framed by CRLF")),
        };
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn bad(what: &str) -> DockerError {
    DockerError::garbage(what)
}
