//! The streaming id scanner: fed an artefact event in chunks of any size, it
//! validates the JSON and finds the top-level `"id"` member, keeping only a
//! few dozen bytes and one bit per open array or object. A payload of any
//! size passes through it without being stored, so the subscription never
//! holds a whole message.
//!
//! Its verdicts are exactly those of the `serde_json` parse `decode_event`
//! was first written with (a struct with one `Option<Value>` field `id`;
//! `src/subscriber/json_id_tests.rs` keeps that parse as the oracle):
//! - the top level must be an object; any other valid JSON is `NotObject`,
//!   anything invalid (or empty) `NotJson`, trailing non-whitespace too;
//! - top-level keys are compared unescaped; a second `id` is `BadShape`;
//! - the `id` value is checked as serde_json's `Value` would be: strict
//!   strings, finite numbers, at most 126 levels of nesting (`TooDeep`);
//! - every other value is skipped with the lenient rules of serde_json's
//!   skipping (see `json_lex`), to any depth up to [`MAX_DEPTH`] (serde has
//!   no limit there; deeper is `TooDeep` here).
//!
//! The first error in the input decides, as in serde_json.

use super::json_lex::{skip_ws, Capture, Invalid, StrLexer};
use super::json_num::NumLexer;
use crate::ids::{self, ArtefactId};

/// How deep skipped values may nest (one bit of memory per level).
pub const MAX_DEPTH: usize = 1 << 20;
/// serde_json's recursion limit: in the `id` value, an array or object that
/// would be the 128th open one (counting the top-level object) is refused.
const SERDE_DEPTH_LIMIT: usize = 128;
/// Bytes of the id kept: every accepted form is shorter.
const ID_KEEP: usize = 64;

/// Finds the artefact id of one event, fed in chunks.
pub struct IdScanner {
    state: State,
    stack: BitStack,
    /// The top-level value is an object (else the verdict is `NotObject` or `NotJson`).
    event: bool,
    /// Inside the value of the top-level `id` member.
    in_id: bool,
    id: Id,
    key: Capture<2>,
    id_text: Capture<ID_KEEP>,
    failed: Option<MalformedEvent>,
}

/// What the top-level `id` member held.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Id {
    Absent,
    /// The key was read; the value comes next.
    Pending,
    Null,
    Text,
    Other,
}

/// What a string is, for what happens when it ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StrRole {
    /// A key of the top-level object (compared with `id`).
    TopKey,
    Key,
    /// The value of the `id` member.
    IdText,
    Value,
}

enum State {
    /// Expecting a value.
    Value,
    /// After `[`: a value or `]`.
    ArrayFirst,
    /// After `{`: a key or `}`.
    ObjectFirst,
    /// After `,` in an object: a key.
    Key,
    Colon,
    /// After a value: `,` or the end of its container (or of the message).
    After,
    /// After the top-level value: only whitespace.
    End,
    Str(StrLexer, StrRole),
    Num(NumLexer),
    /// The rest of `true`, `false` or `null`.
    Literal(&'static [u8]),
}

impl Default for IdScanner {
    fn default() -> Self {
        IdScanner::new()
    }
}

impl IdScanner {
    pub fn new() -> IdScanner {
        IdScanner {
            state: State::Value,
            stack: BitStack::default(),
            event: false,
            in_id: false,
            id: Id::Absent,
            key: Capture::new(),
            id_text: Capture::new(),
            failed: None,
        }
    }

    /// The next bytes of the message. After an error the rest is ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let mut i = 0;
        while i < chunk.len() {
            match self.step(chunk, i) {
                Ok(next) => i = next,
                Err(why) => {
                    self.failed = Some(why);
                    return;
                }
            }
        }
    }

    /// The message has ended: its artefact id, or why there is none.
    pub fn finish(mut self) -> Result<ArtefactId, MalformedEvent> {
        if let Some(why) = self.failed {
            return Err(why);
        }
        if let State::Num(num) = &self.state {
            num.finish().map_err(not_json)?;
            self.state = State::After;
        }
        match self.state {
            State::End => {}
            State::After if self.stack.is_empty() => {}
            _ => return Err(MalformedEvent::NotJson),
        }
        if !self.event {
            return Err(MalformedEvent::NotObject);
        }
        match self.id {
            Id::Absent | Id::Null => Err(MalformedEvent::MissingId),
            Id::Other => Err(MalformedEvent::IdNotString),
            Id::Text => self
                .id_text
                .get()
                .and_then(ids::parse_bytes)
                .ok_or(MalformedEvent::IdNotUuid),
            Id::Pending => Err(MalformedEvent::NotJson),
        }
    }

    /// Handles the input from `i` in the current state; returns where it stopped.
    fn step(&mut self, input: &[u8], i: usize) -> Result<usize, MalformedEvent> {
        let IdScanner {
            state,
            key,
            id_text,
            ..
        } = self;
        match state {
            State::Str(lex, role) => {
                let role = *role;
                // Only strict strings write to their capture: top-level keys,
                // and strings in the id value (`id_text` is read only when
                // that value is itself a string).
                let (used, done) = match role {
                    StrRole::TopKey => lex.feed(&input[i..], key),
                    _ => lex.feed(&input[i..], id_text),
                }
                .map_err(not_json)?;
                if done {
                    self.string_done(role)?;
                }
                return Ok(i + used);
            }
            State::Num(num) => {
                let (used, done) = num.feed(&input[i..]).map_err(not_json)?;
                if done {
                    num.finish().map_err(not_json)?;
                    self.state = State::After;
                }
                return Ok(i + used);
            }
            State::Literal(rest) => {
                if input[i] != rest[0] {
                    return Err(MalformedEvent::NotJson);
                }
                *rest = &rest[1..];
                if rest.is_empty() {
                    self.state = State::After;
                }
                return Ok(i + 1);
            }
            _ => {}
        }
        let i = skip_ws(input, i);
        let Some(&b) = input.get(i) else {
            return Ok(i);
        };
        match self.state {
            State::Value => self.value(b)?,
            State::ArrayFirst if b == b']' => self.close(),
            State::ArrayFirst => return self.value(b).map(|()| i + 1),
            State::ObjectFirst if b == b'}' => self.close(),
            State::ObjectFirst | State::Key if b == b'"' => self.key_start(),
            State::Colon if b == b':' => self.state = State::Value,
            State::After if self.stack.is_empty() => {
                self.state = State::End;
                return Ok(i);
            }
            State::After => self.after(b)?,
            _ => return Err(MalformedEvent::NotJson),
        }
        Ok(i + 1)
    }

    /// The first byte `b` of a value.
    fn value(&mut self, b: u8) -> Result<(), MalformedEvent> {
        let depth = self.stack.len();
        let is_id = self.in_id && depth == 1;
        if depth == 0 && b == b'{' {
            self.event = true;
        }
        self.state = match b {
            b'{' | b'[' => {
                let too_deep = if self.in_id {
                    depth + 1 >= SERDE_DEPTH_LIMIT
                } else {
                    depth + 1 > MAX_DEPTH
                };
                if too_deep {
                    return Err(MalformedEvent::TooDeep);
                }
                self.stack.push(b == b'{');
                if b == b'{' {
                    State::ObjectFirst
                } else {
                    State::ArrayFirst
                }
            }
            b'"' if is_id => {
                self.id_text.clear();
                State::Str(StrLexer::new(true), StrRole::IdText)
            }
            b'"' => State::Str(StrLexer::new(self.in_id), StrRole::Value),
            b'-' | b'0'..=b'9' => State::Num(NumLexer::new(b, self.in_id)),
            b't' => State::Literal(b"rue"),
            b'f' => State::Literal(b"alse"),
            b'n' => State::Literal(b"ull"),
            _ => return Err(MalformedEvent::NotJson),
        };
        if is_id {
            self.id = match b {
                b'"' => Id::Text,
                b'n' => Id::Null,
                _ => Id::Other,
            };
        }
        Ok(())
    }

    fn key_start(&mut self) {
        let top = self.event && self.stack.len() == 1;
        let role = if top {
            self.key.clear();
            StrRole::TopKey
        } else {
            StrRole::Key
        };
        self.state = State::Str(StrLexer::new(top || self.in_id), role);
    }

    fn string_done(&mut self, role: StrRole) -> Result<(), MalformedEvent> {
        self.state = match role {
            StrRole::TopKey if self.key.get() == Some(b"id") => {
                if self.id != Id::Absent {
                    return Err(MalformedEvent::BadShape);
                }
                self.id = Id::Pending;
                self.in_id = true;
                State::Colon
            }
            StrRole::TopKey | StrRole::Key => State::Colon,
            StrRole::IdText | StrRole::Value => State::After,
        };
        Ok(())
    }

    /// `b` follows a value inside a container.
    fn after(&mut self, b: u8) -> Result<(), MalformedEvent> {
        let object = self.stack.top_is_object();
        match b {
            b',' => {
                if self.stack.len() == 1 {
                    self.in_id = false;
                }
                self.state = if object { State::Key } else { State::Value };
            }
            b'}' if object => self.close(),
            b']' if !object => self.close(),
            _ => return Err(MalformedEvent::NotJson),
        }
        Ok(())
    }

    /// The innermost container ends.
    fn close(&mut self) {
        self.stack.pop();
        if self.stack.len() < 2 {
            self.in_id = false;
        }
        self.state = State::After;
    }
}

fn not_json(_: Invalid) -> MalformedEvent {
    MalformedEvent::NotJson
}

/// One bit per open container (1: object, 0: array); grows only as deep as the input goes.
#[derive(Default)]
struct BitStack {
    words: Vec<u64>,
    len: usize,
}

impl BitStack {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, object: bool) {
        let (word, bit) = (self.len / 64, self.len % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        let mask = 1u64 << bit;
        if object {
            self.words[word] |= mask;
        } else {
            self.words[word] &= !mask;
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    fn top_is_object(&self) -> bool {
        match self.len.checked_sub(1) {
            Some(at) => self.words[at / 64] >> (at % 64) & 1 == 1,
            None => false,
        }
    }
}

/// Why an artefact event was rejected. Reasons are fixed texts: they never
/// echo message content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedEvent {
    NotJson,
    TooDeep,
    NotObject,
    MissingId,
    IdNotString,
    IdNotUuid,
    BadShape,
}

impl MalformedEvent {
    pub fn reason(self) -> &'static str {
        match self {
            MalformedEvent::NotJson => "not valid JSON (or not UTF-8)",
            MalformedEvent::TooDeep => "JSON nested too deeply",
            MalformedEvent::NotObject => "not a JSON object",
            MalformedEvent::MissingId => "no id field",
            MalformedEvent::IdNotString => "id is not a string",
            MalformedEvent::IdNotUuid => "id is not a UUID in a form the Go client accepts",
            MalformedEvent::BadShape => "unexpected JSON shape (e.g. a repeated field)",
        }
    }
}
