//! One log line under construction, and lines gathered to go out together.
//! Built by hand so every field is escaped, every line is valid JSON, and
//! building a line allocates only the line.

use std::fmt::Write as _;
use std::ops::Range;
use std::time::SystemTime;

use super::json::{push_json_str, push_u64, truncate, write_timestamp};
use super::level::{enabled, Level};

/// How far free-form text (error messages, artefact types) is cut in a log line.
pub const MAX_TEXT_BYTES: usize = 200;

/// Per-event warnings: one line per event or artefact, so a flood of events is
/// a flood of lines. Each kind is limited to [`PER_SECOND`](super::limit::PER_SECOND) lines a second.
/// A new per-event kind goes here, or its lines are marked [`Line::limited`].
pub const PER_EVENT: [&str; 10] = [
    "malformed_event",
    "event_dropped",
    "duplicate_artefact",
    "artefact_not_found",
    "artefact_invalid",
    "index_conflict",
    "key_conflict",
    // Lifecycle: one per claim, so a misbehaving agent makes one per artefact.
    "unknown_bidder",
    "invalid_bid",
    "invalid_bid_event",
];

/// One log line under construction: `Line::info("claim_created").str("k", v).emit()`.
/// A line below the level is inert: its fields are not formatted.
#[must_use = "a log line does nothing until emitted"]
pub struct Line {
    buf: String,
    /// Where the event name (as written, escaped) is in `buf`: the rate-limit kind.
    event: Range<usize>,
    on: bool,
    limited: bool,
}

impl Line {
    pub fn new(level: Level, event: &str) -> Line {
        if !enabled(level) {
            return Line {
                buf: String::new(),
                event: 0..0,
                on: false,
                limited: false,
            };
        }
        // Room for the usual line (a `claim_created` is about 240 bytes) without growing.
        let mut buf = String::with_capacity(256);
        buf.push_str("{\"ts\":\"");
        write_timestamp(&mut buf, SystemTime::now());
        buf.push_str("\",\"level\":\"");
        buf.push_str(level.as_str());
        buf.push_str("\",\"event\":");
        let at = buf.len() + 1;
        push_json_str(&mut buf, event);
        Line {
            event: at..buf.len() - 1,
            buf,
            on: true,
            limited: PER_EVENT.contains(&event),
        }
    }

    pub fn debug(event: &str) -> Line {
        Line::new(Level::Debug, event)
    }

    pub fn info(event: &str) -> Line {
        Line::new(Level::Info, event)
    }

    pub fn warn(event: &str) -> Line {
        Line::new(Level::Warn, event)
    }

    pub fn error(event: &str) -> Line {
        Line::new(Level::Error, event)
    }

    /// Rate-limits this line by its event name, like the kinds in [`PER_EVENT`].
    pub fn limited(mut self) -> Line {
        self.limited = true;
        self
    }

    fn key(&mut self, key: &str) {
        self.buf.push(',');
        push_json_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string field, escaped and cut to [`MAX_TEXT_BYTES`].
    pub fn str(mut self, key: &str, value: &str) -> Line {
        if self.on {
            self.key(key);
            push_json_str(&mut self.buf, truncate(value, MAX_TEXT_BYTES));
        }
        self
    }

    /// A UUID field in canonical form.
    pub fn uuid(mut self, key: &str, id: &uuid::Uuid) -> Line {
        if self.on {
            self.key(key);
            self.buf.push('"');
            crate::ids::push_uuid(&mut self.buf, id);
            self.buf.push('"');
        }
        self
    }

    pub fn display(self, key: &str, value: impl std::fmt::Display) -> Line {
        if !self.on {
            return self;
        }
        let text = value.to_string();
        self.str(key, &text)
    }

    pub fn num(mut self, key: &str, value: u64) -> Line {
        if self.on {
            self.key(key);
            push_u64(&mut self.buf, value);
        }
        self
    }

    /// Milliseconds with microsecond resolution, e.g. `0.412`.
    pub fn millis(mut self, key: &str, d: std::time::Duration) -> Line {
        if self.on {
            self.key(key);
            let _ = write!(self.buf, "{:.3}", d.as_secs_f64() * 1000.0);
        }
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Line {
        if self.on {
            self.key(key);
            self.buf.push_str(if value { "true" } else { "false" });
        }
        self
    }

    /// Whether the line is at or above the level.
    pub(super) fn on(&self) -> bool {
        self.on
    }

    /// Whether it is rate-limited, and its kind (the event name as written).
    pub(super) fn limit_kind(&self) -> Option<&str> {
        self.limited.then(|| &self.buf[self.event.clone()])
    }

    /// The finished line, without the newline (for tests); empty below the level.
    pub fn finish(mut self) -> String {
        if self.on {
            self.buf.push('}');
        }
        self.buf
    }

    /// A field whose value is already encoded JSON (an object, an array);
    /// the caller guarantees it is valid and bounded.
    pub fn raw_json(mut self, key: &str, json: &str) -> Line {
        self.key(key);
        self.buf.push_str(json);
        self
    }
}

/// Lines gathered to be queued together: a claim batch logs up to 32 lines
/// with one push instead of 32. Each line stays whole.
#[derive(Default)]
pub struct Lines {
    pub(super) buf: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_are_json_and_escaped() {
        let line = Line::warn("malformed_event")
            .str("sample", "a\"b\\c\n\u{1}é")
            .num("n", 7)
            .millis("latency_ms", Duration::from_micros(412))
            .bool("ok", true)
            .finish();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["event"], "malformed_event");
        assert_eq!(v["sample"], "a\"b\\c\n\u{1}é");
        assert_eq!(v["n"], 7);
        assert_eq!(v["latency_ms"], 0.412);
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn debug_lines_are_inert_unless_enabled() {
        // The default level is info (no test in this binary changes it).
        assert!(!super::super::level::debug_enabled());
        let line = Line::debug("detail").str("k", "v").num("n", 1);
        assert!(!line.on());
        assert_eq!(line.finish(), "");
        let v: serde_json::Value = serde_json::from_str(&Line::info("x").finish()).unwrap();
        assert_eq!(v["level"], "info");
    }

    #[test]
    fn per_event_kinds_are_limited_by_their_escaped_name() {
        let line = Line::warn("duplicate_artefact").str("k", "v");
        assert_eq!(line.limit_kind(), Some("duplicate_artefact"));
        assert_eq!(Line::info("claim_created").limit_kind(), None);
        assert_eq!(Line::info("x").limited().limit_kind(), Some("x"));
    }
}
