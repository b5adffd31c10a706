//! Logging: one JSON object per line on stdout, nothing else on stdout.
//!
//! Lines are built by hand (no logging framework; `line`, `json`). Emitting
//! never blocks: lines go to a bounded buffer that the `log-writer` thread
//! writes out (`sink`), and per-event kinds are rate-limited (`limit`).
//!
//! - Levels (`level`): `debug` lines are neither built nor written unless
//!   [`set_level`]`(Level::Debug)`; the default is `info`.
//! - Rate limits: lines whose event is in [`PER_EVENT`], or marked
//!   [`Line::limited`], are limited to 50 a second per kind, wherever they are
//!   emitted from; `log_lines_suppressed` lines sum up the rest.
//! - Exit: [`flush`] waits (bounded) for the buffer to reach stdout.
//!
//! This file is the module's face: it ties the parts together (emitting is
//! where the limiter, the buffer and the writer meet); the parts never
//! import it.

mod json;
mod level;
mod limit;
mod line;
mod sink;

use std::sync::Once;
use std::time::{Duration, Instant};

pub use json::{json_array, push_json_array, push_json_str, truncate, write_timestamp};
pub use level::{debug_enabled, set_level, Level};
pub use limit::{allow, suppressed_total, PER_SECOND};
pub use line::{Line, Lines, MAX_TEXT_BYTES, PER_EVENT};
pub use sink::{dropped_total, CAPACITY};

/// How long a normal exit waits for buffered lines to reach stdout.
pub const EXIT_FLUSH: Duration = Duration::from_secs(2);
/// How long a forced exit (second signal) waits for them.
pub const FORCED_EXIT_FLUSH: Duration = Duration::from_millis(100);

static WRITER: Once = Once::new();

/// What the writer thread needs from the rest of the log: the limiter's timer
/// and the line that reports dropped lines.
const HOOKS: sink::Hooks = sink::Hooks {
    release_due: limit::release_due,
    pending: limit::pending,
    dropped_line,
};

fn dropped_line(count: u64) -> String {
    Line::warn("log_lines_dropped")
        .num("count", count)
        .str("reason", "stdout did not keep up; log buffer full")
        .finish()
}

/// Queues whole lines for stdout; never blocks.
fn push(text: &[u8]) {
    WRITER.call_once(|| sink::start_writer(HOOKS));
    sink::push(text);
}

/// Whether a line is to be written: at or above the level, and within its
/// kind's rate limit if it has one.
fn wanted(line: &Line) -> bool {
    line.on() && line.limit_kind().is_none_or(allow)
}

impl Line {
    /// Queues the line for stdout whole; never blocks (see `sink`).
    pub fn emit(self) {
        if wanted(&self) {
            let mut line = self.finish();
            line.push('\n');
            push(line.as_bytes());
        }
    }
}

impl Lines {
    pub fn push(&mut self, line: Line) {
        if wanted(&line) {
            if self.buf.capacity() == 0 {
                // A batch's lines (up to 32 of about 250 bytes) without regrowing.
                self.buf.reserve(8 * 1024);
            }
            self.buf.push_str(&line.finish());
            self.buf.push('\n');
        }
    }

    pub fn emit(self) {
        if !self.buf.is_empty() {
            push(self.buf.as_bytes());
        }
    }
}

/// Waits until everything queued so far is written, at most `limit`; false
/// when time ran out (stdout is stuck). Pending suppression summaries are
/// queued first.
pub fn flush(limit: Duration) -> bool {
    limit::release_all();
    sink::wait_written(Instant::now() + limit, WRITER.is_completed())
}
