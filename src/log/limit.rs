//! Rate limiting per kind of line: at most [`PER_SECOND`] lines of one kind
//! (event name) in a one-second window; the rest are counted, and one
//! `log_lines_suppressed` line (`kind`, `count`) per kind sums them up once the
//! window has ended: from the next line of that kind, or from the writer
//! thread's timer (within [`WINDOW`] plus its tick of the burst's end).
//!
//! One table for the whole process, so every task shares the budget of a kind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::line::Line;
use super::sink;

/// Lines of one kind per window at most.
pub const PER_SECOND: u32 = 50;
/// The window a kind's budget covers.
pub const WINDOW: Duration = Duration::from_secs(1);

struct Kind {
    name: String,
    window: Instant,
    used: u32,
    suppressed: u64,
}

static KINDS: Mutex<Vec<Kind>> = Mutex::new(Vec::new());
/// Some kind has suppressed lines not yet summed up (changed only under `KINDS`).
static PENDING: AtomicBool = AtomicBool::new(false);
static SUPPRESSED_TOTAL: AtomicU64 = AtomicU64::new(0);

fn kinds() -> MutexGuard<'static, Vec<Kind>> {
    KINDS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lines suppressed by the limiter, since start.
pub fn suppressed_total() -> u64 {
    SUPPRESSED_TOTAL.load(Relaxed)
}

/// Whether a line of `kind` may be written now; `false` counts it as suppressed.
///
/// `Line::emit` and `Lines::push` call this for lines of the kinds in
/// [`super::line::PER_EVENT`] and for lines marked [`Line::limited`]; call it
/// yourself only to skip building a line you will then emit unmarked.
pub fn allow(kind: &str) -> bool {
    let now = Instant::now();
    let mut kinds = kinds();
    let at = match kinds.iter().position(|k| k.name == kind) {
        Some(at) => at,
        None => {
            kinds.push(Kind {
                name: kind.to_string(),
                window: now,
                used: 0,
                suppressed: 0,
            });
            kinds.len() - 1
        }
    };
    let k = &mut kinds[at];
    if now.duration_since(k.window) >= WINDOW {
        // The summary of the last window goes out before this window's first line.
        summarise(k);
        k.window = now;
        k.used = 0;
    }
    if k.used < PER_SECOND {
        k.used += 1;
        return true;
    }
    k.suppressed += 1;
    SUPPRESSED_TOTAL.fetch_add(1, Relaxed);
    if !PENDING.swap(true, Relaxed) {
        sink::wake();
    }
    false
}

/// Some summary is still to come: the writer keeps its timer running.
pub fn pending() -> bool {
    PENDING.load(Relaxed)
}

/// Queues the summaries of windows that have ended (the writer's timer).
pub fn release_due(now: Instant) {
    if pending() {
        release(|k| now.duration_since(k.window) >= WINDOW);
    }
}

/// Queues every pending summary now (before the final flush).
pub fn release_all() {
    if pending() {
        release(|_| true);
    }
}

fn release(due: impl Fn(&Kind) -> bool) {
    let mut kinds = kinds();
    for k in kinds.iter_mut().filter(|k| due(k)) {
        summarise(k);
    }
    PENDING.store(kinds.iter().any(|k| k.suppressed > 0), Relaxed);
}

fn summarise(k: &mut Kind) {
    if k.suppressed == 0 {
        return;
    }
    let count = std::mem::take(&mut k.suppressed);
    let mut line = Line::warn("log_lines_suppressed")
        .str("kind", &k.name)
        .num("count", count)
        .finish();
    line.push('\n');
    sink::push(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_budget_and_suppressed_lines_are_counted() {
        let before = suppressed_total();
        let allowed = (0..120).filter(|_| allow("test_kind_a")).count();
        assert_eq!(allowed, PER_SECOND as usize);
        assert!(allow("test_kind_b"), "another kind has its own budget");
        assert!(suppressed_total() - before >= 70);
        assert!(pending());
        let a = kinds()
            .iter()
            .find(|k| k.name == "test_kind_a")
            .map(|k| k.suppressed);
        assert_eq!(a, Some(70));
    }
}
