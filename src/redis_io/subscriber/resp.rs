//! The RESP2 push parser of the subscription connection: fed whatever bytes
//! the socket gave, it returns each reply as soon as its last byte is in.
//!
//! Nothing it keeps grows with what it is sent: header lines and every
//! element that is not a message payload are cut to a fixed size (the rest
//! is counted and dropped), and a payload goes chunk by chunk to its
//! channel's sink. All its state lives in the struct, between calls, so the
//! reader using it can be cancelled at any await point without losing place.
//!
//! What a subscribed RESP2 connection receives: arrays (`*`, and `>` in case
//! a server pushes) of bulk strings and integers, simple strings, errors.
//! Nested arrays and RESP3 types are protocol errors.

use super::frame::{Body, Decode};
use super::sink::Sink;

/// Bytes kept of a header line (an error's text is cut to [`ERROR_TEXT`]).
const LINE_KEEP: usize = 256;
/// Bytes kept of an array element that is not a payload (the kind, the channel).
const ELEMENT_KEEP: usize = 256;
/// Bytes of an error reply's text passed on.
pub(super) const ERROR_TEXT: usize = 200;

/// A complete reply.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    Message {
        channel: usize,
        body: Body,
    },
    /// `*2 pong …` (subscribed) or `+PONG`.
    Pong,
    Error(String),
    /// A simple string, such as `OK` (cut to [`LINE_KEEP`] bytes).
    Simple(String),
    /// A subscribe confirmation, and its channel's index.
    Subscribed(Option<usize>),
    Other,
}

/// Why the stream cannot be read any further.
pub(super) type ProtocolError = &'static str;

pub(super) struct Parser {
    channels: Vec<(Vec<u8>, Decode)>,
    state: State,
    line: Bounded,
    /// The last byte of the line so far was `\r`.
    line_cr: bool,
    array: Option<Array>,
    /// The last array's kind and channel buffers, reused by the next array
    /// (two allocations per message otherwise).
    spare: Option<(Bounded, Bounded)>,
}

enum State {
    /// The next byte is a type byte.
    Type,
    /// In the header line after this type byte.
    Line(u8),
    /// In a bulk string's bytes.
    Bulk { left: usize, dest: Dest },
    /// After a bulk string's bytes: `\r\n` (how many of the two were seen).
    BulkEnd { seen: u8, dest: Dest },
}

/// Where a bulk string's bytes go.
enum Dest {
    /// Into the array's kind or channel element.
    Keep,
    Payload(Sink),
    Discard,
}

struct Array {
    len: usize,
    index: usize,
    kind: Bounded,
    channel: Bounded,
    /// The subscribed channel a message came on, and its body.
    message: Option<(usize, Option<Body>)>,
}

/// The first bytes of something, and its full length.
struct Bounded {
    kept: Vec<u8>,
    len: usize,
    max: usize,
}

impl Bounded {
    fn new(max: usize) -> Bounded {
        Bounded {
            kept: Vec::new(),
            len: 0,
            max,
        }
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.len = 0;
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.len += bytes.len();
    }

    fn is(&self, whole: &[u8]) -> bool {
        self.len == whole.len() && self.kept == whole
    }
}

/// One complete element of an array (or a whole reply outside one).
enum Element {
    Simple,
    Error,
    Integer,
    Null,
    Bulk(Dest),
}

impl Parser {
    pub(super) fn new(channels: &[(String, Decode)]) -> Parser {
        let longest = channels.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        let channels = channels
            .iter()
            .map(|(name, decode)| (name.as_bytes().to_vec(), *decode))
            .collect();
        Parser {
            channels,
            state: State::Type,
            line: Bounded::new(LINE_KEEP.max(longest)),
            line_cr: false,
            array: None,
            spare: None,
        }
    }

    fn channel(&self, name: &Bounded) -> Option<usize> {
        self.channels.iter().position(|(c, _)| name.is(c))
    }

    /// Reads from `input` until a reply is complete or the input is used up;
    /// returns the bytes used and the reply.
    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>), ProtocolError> {
        let mut i = 0;
        while i < input.len() {
            let done = match &mut self.state {
                State::Type => {
                    self.line.clear();
                    self.line_cr = false;
                    self.state = State::Line(input[i]);
                    i += 1;
                    None
                }
                State::Line(kind) => {
                    let kind = *kind;
                    let rest = &input[i..];
                    let Some(at) = rest.iter().position(|&b| b == b'\n') else {
                        self.take_line(rest);
                        return Ok((input.len(), None));
                    };
                    self.take_line(&rest[..at]);
                    i += at + 1;
                    if !self.line_cr {
                        return Err("a line did not end with CRLF");
                    }
                    self.line.len -= 1;
                    if self.line.kept.len() > self.line.len {
                        self.line.kept.pop();
                    }
                    self.line_done(kind)?
                }
                State::Bulk { left, dest } => {
                    let n = (*left).min(input.len() - i);
                    let chunk = &input[i..i + n];
                    match dest {
                        Dest::Keep => self.line.push(chunk),
                        Dest::Payload(sink) => sink.feed(chunk),
                        Dest::Discard => {}
                    }
                    *left -= n;
                    i += n;
                    if *left == 0 {
                        let dest = std::mem::replace(dest, Dest::Discard);
                        self.state = State::BulkEnd { seen: 0, dest };
                    }
                    None
                }
                State::BulkEnd { seen, dest } => {
                    if input[i] != b"\r\n"[usize::from(*seen)] {
                        return Err("a bulk string was longer than its header said");
                    }
                    i += 1;
                    *seen += 1;
                    if *seen < 2 {
                        None
                    } else {
                        let dest = std::mem::replace(dest, Dest::Discard);
                        self.state = State::Type;
                        Some(Element::Bulk(dest))
                    }
                }
            };
            if let Some(element) = done {
                if let Some(reply) = self.element(element)? {
                    return Ok((i, Some(reply)));
                }
            }
        }
        Ok((i, None))
    }

    fn take_line(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.line_cr = last == b'\r';
        }
        self.line.push(bytes);
    }

    /// A header line is complete: an element, or the start of a bulk string or array.
    fn line_done(&mut self, kind: u8) -> Result<Option<Element>, ProtocolError> {
        self.state = State::Type;
        Ok(Some(match kind {
            b'+' => Element::Simple,
            b'-' => Element::Error,
            b':' => {
                self.number()?;
                Element::Integer
            }
            b'$' => match self.number()? {
                -1 => Element::Null,
                n if n < 0 => return Err("a bulk string had a negative length"),
                n => {
                    let len = usize::try_from(n).map_err(|_| "a bulk string is too long")?;
                    let dest = self.bulk_dest(len)?;
                    self.state = if len == 0 {
                        State::BulkEnd { seen: 0, dest }
                    } else {
                        State::Bulk { left: len, dest }
                    };
                    return Ok(None);
                }
            },
            b'*' | b'>' => {
                if self.array.is_some() {
                    return Err("nested arrays are not expected on a subscription");
                }
                match self.number()? {
                    n if n <= 0 => return Ok(Some(Element::Null)),
                    n => {
                        let len = usize::try_from(n).map_err(|_| "an array is too long")?;
                        let (mut kind, mut channel) = self.spare.take().unwrap_or_else(|| {
                            (Bounded::new(ELEMENT_KEEP), Bounded::new(self.line.max))
                        });
                        kind.clear();
                        channel.clear();
                        self.array = Some(Array {
                            len,
                            index: 0,
                            kind,
                            channel,
                            message: None,
                        });
                        return Ok(None);
                    }
                }
            }
            _ => return Err("an unexpected RESP type byte"),
        }))
    }

    /// The header line as a number.
    fn number(&self) -> Result<i64, ProtocolError> {
        std::str::from_utf8(&self.line.kept)
            .ok()
            .filter(|_| self.line.len <= 20)
            .and_then(|s| s.parse().ok())
            .ok_or("a RESP length or integer was not a number")
    }

    /// Where a bulk string of `len` bytes at the current position goes.
    fn bulk_dest(&mut self, len: usize) -> Result<Dest, ProtocolError> {
        self.line.clear();
        let Some(array) = &mut self.array else {
            return Ok(Dest::Discard);
        };
        if array.index < 2 {
            return Ok(Dest::Keep);
        }
        if !(array.index == 2 && array.len == 3 && array.kind.is(b"message")) {
            return Ok(Dest::Discard);
        }
        let channel = self.channels.iter().position(|(c, _)| array.channel.is(c));
        Ok(match channel {
            Some(at) => {
                array.message = Some((at, None));
                Dest::Payload(Sink::new(self.channels[at].1, len))
            }
            None => Dest::Discard,
        })
    }

    /// An element is complete; the reply, if it was the last one.
    fn element(&mut self, element: Element) -> Result<Option<Reply>, ProtocolError> {
        let Some(array) = &mut self.array else {
            return Ok(Some(match element {
                Element::Simple if self.line.is(b"PONG") => Reply::Pong,
                Element::Simple => Reply::Simple(text(&self.line.kept, LINE_KEEP)),
                Element::Error => Reply::Error(text(&self.line.kept, ERROR_TEXT)),
                Element::Integer | Element::Null | Element::Bulk(_) => Reply::Other,
            }));
        };
        let payload = array.index == 2 && array.len == 3 && array.kind.is(b"message");
        match element {
            Element::Bulk(Dest::Payload(sink)) => {
                if let Some((_, body)) = &mut array.message {
                    *body = Some(sink.finish());
                }
            }
            // A message on a channel we did not subscribe to: discarded.
            Element::Bulk(_) if payload => {}
            _ if payload => return Err("a message payload was not a bulk string"),
            Element::Bulk(Dest::Keep) | Element::Simple if array.index < 2 => {
                let target = if array.index == 0 {
                    &mut array.kind
                } else {
                    &mut array.channel
                };
                target.clear();
                target.push(&self.line.kept);
                target.len = self.line.len;
            }
            _ => {}
        }
        array.index += 1;
        if array.index < array.len {
            return Ok(None);
        }
        let Some(array) = self.array.take() else {
            return Ok(None);
        };
        let reply = if array.kind.is(b"message") {
            match array.message {
                Some((channel, Some(body))) => Reply::Message { channel, body },
                _ => Reply::Other,
            }
        } else if array.kind.is(b"pong") {
            Reply::Pong
        } else if array.kind.is(b"subscribe") {
            Reply::Subscribed(self.channel(&array.channel))
        } else {
            Reply::Other
        };
        self.spare = Some((array.kind, array.channel));
        Ok(Some(reply))
    }
}

/// At most `max` bytes of `bytes` as text (invalid UTF-8 replaced).
pub(super) fn text(bytes: &[u8], max: usize) -> String {
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}
