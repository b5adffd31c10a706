//! Cutting a streamed JSON body into its objects, each read whole only up
//! to a bound: the events stream (a sequence of objects) and the container
//! list (one array of objects, which runs to megabytes for an instance
//! with many workers). Braces outside strings are counted; nothing is
//! decoded here. An object over the bound is read to its end and reported,
//! not kept, so memory holds one object at most.

use super::error::DockerError;

/// Largest event object we decode (the events stream's bound).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Deepest nesting the scanner follows (an event is three deep).
const MAX_DEPTH: u32 = 256;

/// One object the scanner cut out, or why it could not keep it.
pub(crate) type Scanned<'a> = Result<&'a [u8], &'static str>;

/// Where a list's scanner is outside its objects: before its `[`, inside
/// it, after its `]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A sequence of objects (the events stream): no brackets around them.
    Sequence,
    Before,
    Inside,
    After,
}

/// Cuts a stream of JSON objects, or one JSON array of objects, into
/// objects (see the module doc).
#[derive(Debug)]
pub(crate) struct Scanner {
    buf: Vec<u8>,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// The current object is over `max`: read to its end, keep nothing.
    oversized: bool,
    max: usize,
    /// What an object over `max` is called (`out`'s `Err`).
    too_big: &'static str,
    frame: Frame,
}

impl Default for Scanner {
    /// The events stream's: objects of at most [`MAX_EVENT_BYTES`].
    fn default() -> Scanner {
        Scanner {
            buf: Vec::new(),
            depth: 0,
            in_string: false,
            escape: false,
            oversized: false,
            max: MAX_EVENT_BYTES,
            too_big: "an event over 64 KiB",
            frame: Frame::Sequence,
        }
    }
}

impl Scanner {
    /// For one JSON array of objects, each of at most `max` bytes (one
    /// larger is reported as `too_big`).
    pub(crate) fn array(max: usize, too_big: &'static str) -> Scanner {
        Scanner {
            max,
            too_big,
            frame: Frame::Before,
            ..Scanner::default()
        }
    }

    /// Each complete object goes to `out` (`Err` for one too large); other
    /// bytes between objects than whitespace (and, in an array, its
    /// brackets and commas) are garbage.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        out: &mut dyn FnMut(Scanned),
    ) -> Result<(), DockerError> {
        for &b in input {
            if self.depth == 0 {
                match (self.frame, b) {
                    (_, b' ' | b'\t' | b'\r' | b'\n') => continue,
                    (Frame::Sequence | Frame::Inside, b'{') => {}
                    (Frame::Before, b'[') => {
                        self.frame = Frame::Inside;
                        continue;
                    }
                    (Frame::Inside, b',') => continue,
                    (Frame::Inside, b']') => {
                        self.frame = Frame::After;
                        continue;
                    }
                    (Frame::Sequence, _) => {
                        return Err(DockerError::garbage(
                            "bytes between events that are not JSON objects",
                        ))
                    }
                    _ => return Err(DockerError::garbage(
                        "bytes around a JSON array's objects that are not its brackets or commas",
                    )),
                }
            }
            if !self.oversized {
                if self.buf.len() == self.max {
                    self.oversized = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.push(b);
                }
            }
            if self.in_string {
                match (self.escape, b) {
                    (true, _) => self.escape = false,
                    (false, b'\\') => self.escape = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' if self.depth >= MAX_DEPTH => {
                    return Err(DockerError::garbage(if self.frame == Frame::Sequence {
                        "JSON nested over 256 deep in the events stream"
                    } else {
                        "JSON nested over 256 deep in a Docker answer"
                    }))
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if self.oversized {
                            out(Err(self.too_big));
                        } else {
                            out(Ok(&self.buf));
                        }
                        self.buf.clear();
                        self.oversized = false;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn in_object(&self) -> bool {
        self.depth > 0
    }

    /// An array's scanner has read its closing `]`.
    pub(crate) fn array_closed(&self) -> bool {
        self.frame == Frame::After
    }
}
