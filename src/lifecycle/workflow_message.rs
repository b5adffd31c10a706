//! Reading a `workflow_events` message's fields without serde_json: every
//! message on the channel is read (agents' bids, and the grants and verdicts
//! the orchestrator publishes itself, several per claim), and serde_json's
//! two passes cost about a tenth of a lifecycle claim's instructions
//! (docs/performance.md, "Issue 15 §6").
//!
//! [`scan`] reads the usual shape only: a top-level object whose keys are
//! plain (no escape, no control byte, valid UTF-8), with `event` (a plain
//! string) and `data` at most once each; for a bid, `data` `null` or an
//! object whose `claim_id`, `agent_name` and `bid_type` are plain strings or
//! `null`, at most once each. Every other value (and another event's `data`,
//! once its event is known: serde_json's verdict on such a message depends
//! on its event alone) is skipped with serde_json's lenient rules (escapes
//! must be well formed, control bytes are refused, bytes are not checked as
//! UTF-8, numbers only for their grammar), up to [`MAX_SKIP_DEPTH`] levels;
//! only whitespace may follow the object. For such a message serde_json's
//! parse (`bids::parse_with_serde`) reads the same fields. Anything else
//! (escaped text, a duplicate key, an array, an error anywhere) is `None`,
//! and serde_json decides: the verdicts stay serde_json's, and a test holds
//! them to it (`bids_tests.rs`).

use crate::redis_io::subscriber::next_special;

/// How deep a skipped value may nest before serde_json is asked instead.
pub const MAX_SKIP_DEPTH: usize = 32;

/// What a message of the usual shape is.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned<'a> {
    /// A `bid_submitted` event, with its data (`None`: absent or `null`).
    Bid(Option<BidData<'a>>),
    /// Another event.
    Other,
}

/// The fields of a bid's `data`, borrowed from the message; `None` when
/// absent or `null`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BidData<'a> {
    pub claim_id: Option<&'a [u8]>,
    pub agent_name: Option<&'a str>,
    pub bid_type: Option<&'a str>,
}

/// What the message is, or `None` when it is not of the usual shape.
pub fn scan(message: &[u8]) -> Option<Scanned<'_>> {
    let mut c = Cursor { b: message, i: 0 };
    let mut event: Option<&[u8]> = None;
    let mut data = None;
    c.object(|c, key| match key {
        b"event" => once(&mut event, c.plain()?),
        // Another event's data only has to be JSON (serde_json reads no
        // more of it than its event when the data does not fit a bid's).
        b"data" if event.is_some_and(|e| e != BID) => {
            once(&mut data, None)?;
            c.skip_value(1)
        }
        b"data" => once(&mut data, c.nullable(Cursor::data)?),
        _ => c.skip_value(1),
    })?;
    c.ws();
    if c.i != message.len() {
        return None;
    }
    Some(match event? {
        BID => Scanned::Bid(data.flatten()),
        _ => Scanned::Other,
    })
}

const BID: &[u8] = b"bid_submitted";

/// Sets `slot` to `value` unless it was set already (a duplicate key).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace (not taken).
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Takes `word` (a literal) where the cursor is.
    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// An object: `field` reads each member's value after its (plain) key.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.plain()?;
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            field(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null` (as `None`) or what `read` reads.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.word(b"null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A bid's `data` object.
    fn data(&mut self) -> Option<BidData<'a>> {
        let mut claim_id = None;
        let mut agent_name = None;
        let mut bid_type = None;
        self.object(|c, key| match key {
            b"claim_id" => once(&mut claim_id, c.nullable(Cursor::plain)?),
            b"agent_name" => once(&mut agent_name, c.nullable(Cursor::plain_str)?),
            b"bid_type" => once(&mut bid_type, c.nullable(Cursor::plain_str)?),
            _ => c.skip_value(2),
        })?;
        Some(BidData {
            claim_id: claim_id.flatten(),
            agent_name: agent_name.flatten(),
            bid_type: bid_type.flatten(),
        })
    }

    /// A string without escapes or control bytes, valid UTF-8 (as serde_json
    /// reads a key or a `str` field, when it has no escapes), as bytes.
    fn plain(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = start + next_special(&self.b[start..])?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        let text = &self.b[start..end];
        (text.is_ascii() || std::str::from_utf8(text).is_ok()).then_some(text)
    }

    /// [`Self::plain`] as text.
    fn plain_str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.plain()?).ok()
    }

    /// A string skipped as serde_json skips one (the cursor at its quote).
    fn skip_str(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            let at = next_special(&self.b[self.i..])?;
            self.i += at + 1;
            match self.b[self.i - 1] {
                b'"' => return Some(()),
                b'\\' => match *self.b.get(self.i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                    b'u' => {
                        let hex = self.b.get(self.i + 1..self.i + 5)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.i += 5;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// Digits from the cursor; how many.
    fn digits(&mut self) -> usize {
        let n = self.b[self.i..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.b.len() - self.i);
        self.i += n;
        n
    }

    /// A number, checked for its grammar only (as serde_json skips one).
    fn skip_number(&mut self) -> Option<()> {
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => {
                self.i += 1;
                if self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Any value, skipped as serde_json skips a field it does not read.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'n' => self.word(b"null"),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            b'{' if depth < MAX_SKIP_DEPTH => {
                // Keys of a skipped object are skipped as strings too.
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.skip_str()?;
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.skip_value(depth + 1)?;
                    if self.after_member(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' if depth < MAX_SKIP_DEPTH => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if self.after_member(b']')? {
                        return Some(());
                    }
                }
            }
            _ => None,
        }
    }

    /// After a member of a container closed by `close`: `,` (false) or `close` (true).
    fn after_member(&mut self, close: u8) -> Option<bool> {
        let b = self.peek()?;
        self.i += 1;
        match b {
            b',' => Some(false),
            _ if b == close => Some(true),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_shapes_are_read() {
        let m = scan(br#" {"event":"bid_submitted","data":{"agent_name":"Coder","bid_type":"exclusive","claim_id":"c"}} "#);
        let data = BidData {
            claim_id: Some(b"c"),
            agent_name: Some("Coder"),
            bid_type: Some("exclusive"),
        };
        assert_eq!(m, Some(Scanned::Bid(Some(data))));
        let m = scan(br#"{"data":null,"x":[1,-0.5e+3,{"a\n":"\u00e9\"",  "b":[]},true,false,null],"event":"e"}"#);
        assert_eq!(m, Some(Scanned::Other));
        let m =
            scan(br#"{"event":"bid_submitted","data":{"claim_id":null,"feedback":"a\"b","n":{}}}"#);
        assert_eq!(m, Some(Scanned::Bid(Some(BidData::default()))));
        let m = scan(br#"{"event":"bid_submitted","data":null}"#);
        assert_eq!(m, Some(Scanned::Bid(None)));
        // Another event's data is only skipped.
        let m = scan(b"{\"event\":\"e\",\"data\":{\"claim_id\":5,\"\xff\":[]}}");
        assert_eq!(m, Some(Scanned::Other));
    }

    #[test]
    fn other_shapes_are_left_to_serde_json() {
        for msg in [
            &br#"{"event":"e","event":"e"}"#[..],
            br#"{"data":{}}"#,
            br#"{"event":"bid_\u0073ubmitted"}"#,
            br#"{"\u0065vent":"e"}"#,
            br#"["e"]"#,
            br#"{"event":"bid_submitted","data":[]}"#,
            br#"{"data":{"claim_id":5},"event":"e"}"#,
            br#"{"event":"bid_submitted","data":{"claim_id":"a","claim_id":"a"}}"#,
            br#"{"event":"e","data":{},"data":{}}"#,
            br#"{"event":"e",}"#,
            br#"{"event":"e"} x"#,
            br#"{"event":"e","x":01}"#,
            br#"{"event":"e","x":"\x"}"#,
            b"{\"event\":\"e\",\"x\":\"\x01\"}",
            b"{\"event\":\"\xff\"}",
            br#"{"event":"e","x":[1,]}"#,
        ] {
            assert_eq!(scan(msg), None, "{}", String::from_utf8_lossy(msg));
        }
        let deep = format!(
            r#"{{"event":"e","x":{}{}}}"#,
            "[".repeat(MAX_SKIP_DEPTH + 1),
            "]".repeat(MAX_SKIP_DEPTH + 1)
        );
        assert_eq!(scan(deep.as_bytes()), None);
    }
}
