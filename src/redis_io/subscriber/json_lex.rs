//! The lexical half of the streaming id scanner: strings (and whitespace),
//! fed in chunks of any size, with exactly the rules of the `serde_json`
//! parse that `blackboard::decode_event` was first written with. Numbers are
//! in `json_num`.
//!
//! Two strictness levels, because serde_json has two:
//! - *strict* (top-level keys, and everything inside the `id` value, which it
//!   parses into a `Value`): UTF-8 is validated, `\u` surrogates must pair,
//!   and a number must fit an `f64` (`1e400` is an error);
//! - *lenient* (every value it skips): escapes must be well formed and control
//!   characters are refused, but bytes are not checked as UTF-8, lone
//!   surrogates pass and numbers are only checked for their grammar.
//!
//! Errors carry no detail: every lexical error is "not valid JSON".

/// A lexical error (the message is not valid JSON).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Invalid;

/// The first `N` unescaped bytes of a string, and how many there were in all.
pub(super) struct Capture<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Capture<N> {
    pub(super) const fn new() -> Self {
        Capture {
            buf: [0; N],
            len: 0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
        }
        self.len = self.len.saturating_add(1);
    }

    /// Bytes that are each their own character (printable ASCII).
    fn extend(&mut self, bytes: &[u8]) {
        let room = N.saturating_sub(self.len).min(bytes.len());
        self.buf[self.len.min(N)..][..room].copy_from_slice(&bytes[..room]);
        self.len = self.len.saturating_add(bytes.len());
    }

    fn push_char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        for b in c.encode_utf8(&mut utf8).bytes() {
            self.push(b);
        }
    }

    /// The whole string, or `None` when it was longer than `N` bytes.
    pub(super) fn get(&self) -> Option<&[u8]> {
        self.buf.get(..self.len)
    }
}

#[derive(Clone, Copy)]
enum Escape {
    None,
    /// After `\`.
    Backslash,
    /// In the 4 hex digits of `\u`; `high` is the surrogate they must complete.
    Hex {
        read: u8,
        value: u16,
        high: Option<u16>,
    },
    /// (Strict) after a high surrogate: a `\` must follow …
    WantBackslash(u16),
    /// … and then a `u`.
    WantU(u16),
}

/// A string after its opening quote.
pub(super) struct StrLexer {
    strict: bool,
    escape: Escape,
    /// (Strict) continuation bytes still due, and the range the next one must be in.
    need: u8,
    lo: u8,
    hi: u8,
}

impl StrLexer {
    pub(super) fn new(strict: bool) -> StrLexer {
        StrLexer {
            strict,
            escape: Escape::None,
            need: 0,
            lo: 0x80,
            hi: 0xBF,
        }
    }

    /// Reads up to and including the closing quote. Returns the bytes used
    /// and whether the string ended. Unescaped bytes go to `out` (strict only).
    pub(super) fn feed<const N: usize>(
        &mut self,
        input: &[u8],
        out: &mut Capture<N>,
    ) -> Result<(usize, bool), Invalid> {
        let mut i = 0;
        while i < input.len() {
            if !self.strict && matches!(self.escape, Escape::None) {
                // Hot path (payloads): jump to the next byte that matters.
                match next_special(&input[i..]) {
                    Some(at) => i += at,
                    None => return Ok((input.len(), false)),
                }
            } else if self.strict && self.need == 0 && matches!(self.escape, Escape::None) {
                // Keys and the id: a run of printable ASCII is valid UTF-8
                // and kept as it is, byte for byte.
                let run = input[i..]
                    .iter()
                    .position(|&b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
                    .unwrap_or(input.len() - i);
                out.extend(&input[i..i + run]);
                i += run;
                if i == input.len() {
                    return Ok((i, false));
                }
            }
            let b = input[i];
            i += 1;
            if self.byte(b, out)? {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }

    /// One byte; `true` at the closing quote.
    fn byte<const N: usize>(&mut self, b: u8, out: &mut Capture<N>) -> Result<bool, Invalid> {
        match self.escape {
            Escape::None => match b {
                b'"' | b'\\' if self.need > 0 => return Err(Invalid),
                b'"' => return Ok(true),
                b'\\' => self.escape = Escape::Backslash,
                0..=0x1F => return Err(Invalid),
                _ if self.strict => {
                    self.utf8(b)?;
                    out.push(b);
                }
                _ => {}
            },
            Escape::Backslash => {
                let unescaped = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.escape = Escape::Hex {
                            read: 0,
                            value: 0,
                            high: None,
                        };
                        return Ok(false);
                    }
                    _ => return Err(Invalid),
                };
                if self.strict {
                    out.push(unescaped);
                }
                self.escape = Escape::None;
            }
            Escape::Hex { read, value, high } => {
                let digit = (b as char).to_digit(16).ok_or(Invalid)? as u16;
                let value = value << 4 | digit;
                if read < 3 {
                    self.escape = Escape::Hex {
                        read: read + 1,
                        value,
                        high,
                    };
                } else {
                    self.escape = Escape::None;
                    if self.strict {
                        self.code_unit(value, high, out)?;
                    }
                }
            }
            Escape::WantBackslash(high) if b == b'\\' => self.escape = Escape::WantU(high),
            Escape::WantU(high) if b == b'u' => {
                self.escape = Escape::Hex {
                    read: 0,
                    value: 0,
                    high: Some(high),
                }
            }
            Escape::WantBackslash(_) | Escape::WantU(_) => return Err(Invalid),
        }
        Ok(false)
    }

    /// (Strict) a `\uXXXX` value: surrogates must come as a high-low pair.
    fn code_unit<const N: usize>(
        &mut self,
        unit: u16,
        high: Option<u16>,
        out: &mut Capture<N>,
    ) -> Result<(), Invalid> {
        let low = (0xDC00..=0xDFFF).contains(&unit);
        let code = match high {
            Some(h) if low => {
                0x1_0000 + (((u32::from(h) - 0xD800) << 10) | (u32::from(unit) - 0xDC00))
            }
            Some(_) => return Err(Invalid),
            None if low => return Err(Invalid),
            None if (0xD800..=0xDBFF).contains(&unit) => {
                self.escape = Escape::WantBackslash(unit);
                return Ok(());
            }
            None => u32::from(unit),
        };
        out.push_char(char::from_u32(code).ok_or(Invalid)?);
        Ok(())
    }

    /// (Strict) one raw byte of UTF-8, as `str::from_utf8` judges it.
    fn utf8(&mut self, b: u8) -> Result<(), Invalid> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(Invalid);
            }
            self.need -= 1;
            (self.lo, self.hi) = (0x80, 0xBF);
            return Ok(());
        }
        (self.need, self.lo, self.hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(Invalid),
        };
        Ok(())
    }
}

/// Where the next `"`, `\\` or control byte is: eight bytes at a time (a
/// payload is mostly bytes that need no look). Also what the lifecycle's
/// `workflow_message` scanner looks for in strings.
pub fn next_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
        // A byte below 0x20, or equal to `"` or `\`, anywhere in the word.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        if control
            || zero_in(x ^ (ONES * u64::from(b'"')))
            || zero_in(x ^ (ONES * u64::from(b'\\')))
        {
            if let Some(i) = word.iter().position(|&b| special(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| special(b))
        .map(|i| at + i)
}

/// Skips JSON whitespace from `i`; returns the index of the next other byte (or the end).
pub(super) fn skip_ws(input: &[u8], i: usize) -> usize {
    input[i..]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(input.len(), |at| i + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_exactly_the_first_special_byte() {
        // Neighbours of the special bytes must not be taken for them.
        let plain = [
            0x20,
            0x21,
            0x23,
            0x5b,
            0x5d,
            0x7f,
            0x80,
            0xff,
            0x5c ^ 0x80,
            0xa2,
        ];
        for len in 0..40 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
                    let want = (at < len).then(|| {
                        bytes[at] = special;
                        at
                    });
                    assert_eq!(next_special(&bytes), want, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn strict_runs_are_captured_whole_and_counted_past_the_capture() {
        let mut out = Capture::<4>::new();
        let mut lex = StrLexer::new(true);
        assert_eq!(lex.feed(b"ab", &mut out), Ok((2, false)));
        assert_eq!(lex.feed(b"cdef\"rest", &mut out), Ok((5, true)));
        assert_eq!(out.get(), None);
        let mut out = Capture::<8>::new();
        let mut lex = StrLexer::new(true);
        assert_eq!(
            lex.feed("i\u{e9}d\\n\"".as_bytes(), &mut out),
            Ok((7, true))
        );
        assert_eq!(out.get(), Some("i\u{e9}d\n".as_bytes()));
    }
}
