//! Logging: one JSON object per line on stdout, nothing else on stdout.
//!
//! Lines are built by hand (no logging framework) so every field is escaped,
//! every line is valid JSON, and a write never allocates more than the line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How far free-form text (error messages, artefact types) is cut in a log line.
pub const MAX_TEXT_BYTES: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One log line under construction: `Line::info("claim_created").str("k", v).emit()`.
#[must_use = "a log line does nothing until emitted"]
pub struct Line {
    buf: String,
}

impl Line {
    pub fn new(level: Level, event: &str) -> Line {
        let mut buf = String::with_capacity(160);
        buf.push_str("{\"ts\":\"");
        write_timestamp(&mut buf, SystemTime::now());
        buf.push_str("\",\"level\":\"");
        buf.push_str(level.as_str());
        buf.push_str("\",\"event\":");
        push_json_str(&mut buf, event);
        Line { buf }
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

    fn key(&mut self, key: &str) {
        self.buf.push(',');
        push_json_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string field, escaped and cut to [`MAX_TEXT_BYTES`].
    pub fn str(mut self, key: &str, value: &str) -> Line {
        self.key(key);
        push_json_str(&mut self.buf, truncate(value, MAX_TEXT_BYTES));
        self
    }

    /// A UUID field in canonical form.
    pub fn uuid(mut self, key: &str, id: &uuid::Uuid) -> Line {
        self.key(key);
        self.buf.push('"');
        crate::blackboard::push_uuid(&mut self.buf, id);
        self.buf.push('"');
        self
    }

    pub fn display(self, key: &str, value: impl std::fmt::Display) -> Line {
        let text = value.to_string();
        self.str(key, &text)
    }

    pub fn num(mut self, key: &str, value: u64) -> Line {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// Milliseconds with microsecond resolution, e.g. `0.412`.
    pub fn millis(mut self, key: &str, d: std::time::Duration) -> Line {
        self.key(key);
        let _ = write!(self.buf, "{:.3}", d.as_secs_f64() * 1000.0);
        self
    }

    /// TEMPORARY (the hardening branch adds it).
    pub fn debug(event: &str) -> Line {
        Line::new(Level::Info, event)
    }

    pub fn bool(mut self, key: &str, value: bool) -> Line {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// The finished line, without the newline (for tests).
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }

    /// Writes the line to stdout in one `write_all`, so lines never interleave.
    pub fn emit(self) {
        let mut line = self.finish();
        line.push('\n');
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    /// A field whose value is already encoded JSON (an object, an array);
    /// the caller guarantees it is valid and bounded.
    pub fn raw_json(mut self, key: &str, json: &str) -> Line {
        self.key(key);
        self.buf.push_str(json);
        self
    }
}

/// TEMPORARY (the hardening branch adds it).
pub fn debug_enabled() -> bool {
    false
}

/// Lines gathered to be written together: a claim batch logs up to 32 lines
/// with one `write` instead of 32. Each line stays whole.
#[derive(Default)]
pub struct Lines {
    buf: String,
}

impl Lines {
    pub fn push(&mut self, line: Line) {
        self.buf.push_str(&line.finish());
        self.buf.push('\n');
    }

    pub fn emit(self) {
        if !self.buf.is_empty() {
            let _ = std::io::stdout().lock().write_all(self.buf.as_bytes());
        }
    }
}

/// At most [`RateLimit::PER_SECOND`] lines a second; then one
/// `log_lines_suppressed` line with the count when the next second allows more.
#[derive(Default)]
pub struct RateLimit {
    window: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    pub const PER_SECOND: u32 = 50;

    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
        {
            self.window = Some(now);
            self.used = 0;
            if self.suppressed > 0 {
                Line::warn("log_lines_suppressed")
                    .num("count", self.suppressed)
                    .str(
                        "reason",
                        "more than 50 malformed_event/event_dropped lines in a second",
                    )
                    .emit();
                self.suppressed = 0;
            }
        }
        if self.used < Self::PER_SECOND {
            self.used += 1;
            return true;
        }
        self.suppressed += 1;
        false
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
    fn long_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        let line = Line::info("x").str("t", &long).finish();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["t"].as_str().unwrap().len(), 200);
        assert_eq!(truncate("abc", 2), "ab");
    }
}
