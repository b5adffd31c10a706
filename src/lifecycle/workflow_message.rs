//! Reading a `workflow_events` message's fields without serde_json: every
//! message on the channel is read (agents' bids, and the grants and verdicts
//! the orchestrator publishes itself, several per claim), and serde_json's
//! two passes cost about a tenth of a lifecycle claim's instructions
//! (docs/performance.md, "Issue 15 §6").
//!
//! [`scan`] reads the usual shape only: a top-level object whose keys are
//! plain (no escape, no control byte, valid UTF-8), `event` a plain string,
//! `data` `null` or an object whose `claim_id`, `agent_name` and `bid_type`
//! are plain strings or `null`, each of those keys at most once, every other
//! value skipped with serde_json's lenient rules (escapes must be well
//! formed, control bytes are refused, bytes are not checked as UTF-8,
//! numbers only for their grammar), up to [`MAX_SKIP_DEPTH`] levels, and
//! nothing but whitespace after the object. For such a message serde_json's
//! parse (`bids::parse_with_serde`) reads the same fields. Anything else
//! (escaped text, a duplicate key, an array, an error anywhere) is `None`,
//! and serde_json decides: the verdicts stay serde_json's, and a test holds
//! them to it (`bids_tests.rs`).

/// How deep a skipped value may nest before serde_json is asked instead.
pub const MAX_SKIP_DEPTH: usize = 32;

/// The fields of a message of the usual shape, borrowed from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scanned<'a> {
    pub event: &'a str,
    /// `None` when `data` is absent or `null`.
    pub data: Option<ScannedData<'a>>,
}

/// The fields of `data` that a bid has; `None` when absent or `null`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScannedData<'a> {
    pub claim_id: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub bid_type: Option<&'a str>,
}

/// The message's fields, or `None` when it is not of the usual shape.
pub fn scan(message: &[u8]) -> Option<Scanned<'_>> {
    let mut c = Cursor { b: message, i: 0 };
    let mut event = None;
    let mut data = None;
    c.object(|c, key| match key {
        "event" => once(&mut event, c.plain_str()?),
        "data" => once(&mut data, c.nullable(Cursor::data)?),
        _ => c.skip_value(0),
    })?;
    c.ws();
    if c.i != message.len() {
        return None;
    }
    Some(Scanned {
        event: event?,
        data: data.flatten(),
    })
}

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
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
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

    /// The `data` object.
    fn data(&mut self) -> Option<ScannedData<'a>> {
        let mut claim_id = None;
        let mut agent_name = None;
        let mut bid_type = None;
        self.object(|c, key| {
            let slot = match key {
                "claim_id" => &mut claim_id,
                "agent_name" => &mut agent_name,
                "bid_type" => &mut bid_type,
                _ => return c.skip_value(1),
            };
            once(slot, c.nullable(Cursor::plain_str)?)
        })?;
        Some(ScannedData {
            claim_id: claim_id.flatten(),
            agent_name: agent_name.flatten(),
            bid_type: bid_type.flatten(),
        })
    }

    /// A string without escapes or control bytes, valid UTF-8 (as serde_json
    /// reads a key or a `str` field, when it has no escapes).
    fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let len = self.b[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let end = start + len;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        std::str::from_utf8(&self.b[start..end]).ok()
    }

    /// A string skipped as serde_json skips one (the cursor at its quote).
    fn skip_str(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            let at = self.b[self.i..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
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
        assert_eq!(
            m,
            Some(Scanned {
                event: "bid_submitted",
                data: Some(ScannedData {
                    claim_id: Some("c"),
                    agent_name: Some("Coder"),
                    bid_type: Some("exclusive"),
                }),
            })
        );
        let m = scan(br#"{"data":null,"x":[1,-0.5e+3,{"a\n":"\u00e9\"",  "b":[]},true,false,null],"event":"e"}"#);
        assert_eq!(
            m,
            Some(Scanned {
                event: "e",
                data: None,
            })
        );
        let m = scan(br#"{"event":"e","data":{"claim_id":null,"feedback":"a\"b","n":{}}}"#);
        assert_eq!(m.and_then(|m| m.data), Some(ScannedData::default()));
    }

    #[test]
    fn other_shapes_are_left_to_serde_json() {
        for msg in [
            &br#"{"event":"e","event":"e"}"#[..],
            br#"{"data":{}}"#,
            br#"{"event":"bid_\u0073ubmitted"}"#,
            br#"{"\u0065vent":"e"}"#,
            br#"["e"]"#,
            br#"{"event":"e","data":[]}"#,
            br#"{"event":"e","data":{"claim_id":5}}"#,
            br#"{"event":"e","data":{"claim_id":"a","claim_id":"a"}}"#,
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
