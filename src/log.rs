//! Logging: one JSON object per line on stdout, nothing else on stdout.
//!
//! Lines are built by hand (no logging framework) so every field is escaped,
//! every line is valid JSON, and building a line allocates only the line.
//! Emitting never blocks: lines go to a bounded buffer that the `log-writer`
//! thread writes out (`sink`), and per-event kinds are rate-limited (`limit`).
//!
//! - Levels: `debug` lines are neither built nor written unless
//!   [`set_level`]`(Level::Debug)`; the default is `info`.
//! - Rate limits: lines whose event is in [`PER_EVENT`], or marked
//!   [`Line::limited`], are limited to 50 a second per kind, wherever they are
//!   emitted from; `log_lines_suppressed` lines sum up the rest.
//! - Exit: [`flush`] waits (bounded) for the buffer to reach stdout.

mod limit;
mod sink;

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use limit::{allow, suppressed_total, PER_SECOND};
pub use sink::{dropped_total, flush, CAPACITY};

/// How far free-form text (error messages, artefact types) is cut in a log line.
pub const MAX_TEXT_BYTES: usize = 200;
/// How long a normal exit waits for buffered lines to reach stdout.
pub const EXIT_FLUSH: Duration = Duration::from_secs(2);
/// How long a forced exit (second signal) waits for them.
pub const FORCED_EXIT_FLUSH: Duration = Duration::from_millis(100);

/// Per-event warnings: one line per event or artefact, so a flood of events is
/// a flood of lines. Each kind is limited to [`PER_SECOND`] lines a second.
/// A new per-event kind goes here, or its lines are marked [`Line::limited`].
pub const PER_EVENT: [&str; 8] = [
    "malformed_event",
    "event_dropped",
    "duplicate_artefact",
    "artefact_not_found",
    "artefact_invalid",
    // Lifecycle: one per claim, so a misbehaving agent makes one per artefact.
    "unknown_bidder",
    "invalid_bid",
    "invalid_bid_event",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Lines below `level` are neither built nor written from now on.
pub fn set_level(level: Level) {
    MIN_LEVEL.store(level as u8, Relaxed);
}

/// Whether `debug` lines are written (for work done only to log at debug).
pub fn debug_enabled() -> bool {
    MIN_LEVEL.load(Relaxed) <= Level::Debug as u8
}

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
        if (level as u8) < MIN_LEVEL.load(Relaxed) {
            return Line {
                buf: String::new(),
                event: 0..0,
                on: false,
                limited: false,
            };
        }
        let mut buf = String::with_capacity(160);
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
            crate::blackboard::push_uuid(&mut self.buf, id);
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
            let _ = write!(self.buf, "{value}");
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

    /// The finished line, without the newline (for tests); empty below the level.
    pub fn finish(mut self) -> String {
        if self.on {
            self.buf.push('}');
        }
        self.buf
    }

    /// Whether the line is to be written: at or above the level, and within
    /// its kind's rate limit if it has one.
    fn wanted(&self) -> bool {
        self.on && (!self.limited || allow(&self.buf[self.event.clone()]))
    }

    /// Queues the line for stdout whole; never blocks (see `sink`).
    pub fn emit(self) {
        if self.wanted() {
            let mut line = self.finish();
            line.push('\n');
            sink::push(line.as_bytes());
        }
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
    buf: String,
}

impl Lines {
    pub fn push(&mut self, line: Line) {
        if line.wanted() {
            self.buf.push_str(&line.finish());
            self.buf.push('\n');
        }
    }

    pub fn emit(self) {
        if !self.buf.is_empty() {
            sink::push(self.buf.as_bytes());
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    // Fast path: most values (ids, event names) need no escaping.
    if !s
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f)
    {
        buf.push_str(s);
        buf.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// RFC 3339 UTC with milliseconds: `2026-11-27T03:25:54.123Z`.
pub fn write_timestamp(buf: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let _ = write!(
        buf,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    );
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let mut s = String::new();
        write_timestamp(
            &mut s,
            UNIX_EPOCH + Duration::from_millis(1_795_750_554_123),
        );
        assert_eq!(s, "2026-11-27T03:35:54.123Z");
        s.clear();
        write_timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400)); // leap day
        assert_eq!(s, "2000-02-29T00:00:00.000Z");
    }

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
        assert!(!debug_enabled());
        let line = Line::debug("detail").str("k", "v").num("n", 1);
        assert!(!line.wanted());
        assert_eq!(line.finish(), "");
        let v: serde_json::Value = serde_json::from_str(&Line::info("x").finish()).unwrap();
        assert_eq!(v["level"], "info");
    }

    #[test]
    fn per_event_kinds_are_limited_by_their_escaped_name() {
        let line = Line::warn("duplicate_artefact").str("k", "v");
        assert!(line.limited);
        assert_eq!(&line.buf[line.event.clone()], "duplicate_artefact");
        assert!(!Line::info("claim_created").limited);
        assert!(Line::info("x").limited().limited);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        let line = Line::info("x").str("t", &long).finish();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["t"].as_str().unwrap().len(), 200);
        assert_eq!(truncate("abc", 2), "ab");
    }
}
