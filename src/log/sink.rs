//! Where finished lines go: a bounded buffer in memory, drained to stdout by
//! one `log-writer` thread that does the blocking writes.
//!
//! Emitting never blocks the executor: a reader of stdout that is slow or gone
//! (`orchestrator | sleep 600`) stalls only the writer thread. When the buffer
//! is full, whole lines are dropped and counted; once a write succeeds again the
//! writer adds one `log_lines_dropped` line with the count. The writer also runs
//! the rate limiter's timer ([`Hooks`], given by the log's face), so
//! suppression summaries come out even when no further line arrives.
//!
//! Wake-ups cost two system calls and a context switch each, so there are few:
//! a push wakes the writer only when it is waiting for lines, and after each
//! write the writer naps [`NAP`] before it looks again, so that a burst's
//! batches go out together (lines reach stdout at most [`NAP`] later; their
//! order never changes). A flush cuts the nap short.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What the writer calls besides writing.
pub struct Hooks {
    /// Queues the rate limiter's summaries that are due.
    pub release_due: fn(Instant),
    /// Whether some summary is still to come (the writer keeps ticking).
    pub pending: fn() -> bool,
    /// The `log_lines_dropped` line for a count, without its newline.
    pub dropped_line: fn(u64) -> String,
}

/// Bytes waiting for stdout at most (lines being written included).
pub const CAPACITY: usize = 1024 * 1024;
/// How often the writer looks for due suppression summaries while some are pending.
const TICK: Duration = Duration::from_millis(200);
/// The writer's spare buffer is cut back to this after a large write.
const KEEP_BYTES: usize = 64 * 1024;
/// How long the writer waits after a write before the next one, gathering lines.
const NAP: Duration = Duration::from_millis(5);

struct State {
    buf: Vec<u8>,
    /// Bytes the writer has taken and not finished writing; they count against [`CAPACITY`].
    writing: usize,
    /// Lines dropped since the last `log_lines_dropped` line.
    unreported: u64,
    /// The writer waits for lines (not napping, not writing): a push wakes it.
    writer_waiting: bool,
    /// Callers of [`wait_written`] waiting now: the writer wakes them when done.
    flushers: usize,
}

struct Sink {
    state: Mutex<State>,
    /// Wakes the writer: lines arrived, a suppression summary became pending,
    /// or a flush cuts its nap short.
    wake: Condvar,
    /// Wakes `flush`: the writer found nothing left to write.
    idle: Condvar,
}

static SINK: Sink = Sink {
    state: Mutex::new(State {
        buf: Vec::new(),
        writing: 0,
        unreported: 0,
        writer_waiting: false,
        flushers: 0,
    }),
    wake: Condvar::new(),
    idle: Condvar::new(),
};
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

fn lock() -> MutexGuard<'static, State> {
    SINK.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lines dropped because the buffer was full (or stdout failed), since start.
pub fn dropped_total() -> u64 {
    DROPPED_TOTAL.load(Relaxed)
}

/// Queues `text`, whole lines each ending in `\n`. What does not fit is
/// dropped line by line (the lines that fit go out), and counted.
pub fn push(text: &[u8]) {
    let mut st = lock();
    let fits = whole_lines_within(text, CAPACITY.saturating_sub(st.buf.len() + st.writing));
    let dropped = count_lines(&text[fits..]);
    if dropped > 0 {
        st.unreported += dropped;
        DROPPED_TOTAL.fetch_add(dropped, Relaxed);
    }
    if fits == 0 {
        return;
    }
    st.buf.extend_from_slice(&text[..fits]);
    let wake = std::mem::take(&mut st.writer_waiting);
    drop(st);
    if wake {
        SINK.wake.notify_one();
    }
}

/// Wakes the writer so it starts its timer (a suppression summary is pending).
/// Taking the lock first means the writer is either about to look at the
/// pending flag or already waiting: the wake-up cannot be lost.
pub fn wake() {
    let st = lock();
    if st.writer_waiting {
        SINK.wake.notify_one();
    }
    drop(st);
}

/// Waits until everything queued so far is written, until `deadline`; false
/// when time ran out (stdout is stuck). Without a writer, nothing is written.
pub fn wait_written(deadline: Instant, writer_started: bool) -> bool {
    let mut st = lock();
    if !writer_started {
        return st.buf.is_empty();
    }
    st.flushers += 1;
    // A napping writer starts writing now.
    SINK.wake.notify_one();
    let mut written = true;
    while !st.buf.is_empty() || st.writing > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            written = false;
            break;
        }
        st = SINK
            .idle
            .wait_timeout(st, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    st.flushers -= 1;
    written
}

/// Starts the `log-writer` thread (once: the caller sees to that).
pub fn start_writer(hooks: Hooks) {
    // Without the thread nothing is written; lines then fill the buffer and are
    // dropped and counted, which is the best that can be done.
    let _ = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || writer(hooks));
}

fn writer(hooks: Hooks) {
    let mut chunk = Vec::new();
    loop {
        (hooks.release_due)(Instant::now());
        let mut st = lock();
        st.writing = 0;
        if st.buf.is_empty() {
            if st.flushers > 0 {
                SINK.idle.notify_all();
            }
            // Idle costs nothing unless a summary is due later.
            let wait = if (hooks.pending)() {
                TICK
            } else {
                Duration::from_secs(3600)
            };
            st.writer_waiting = true;
            let mut st = SINK
                .wake
                .wait_timeout(st, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            st.writer_waiting = false;
            continue;
        }
        std::mem::swap(&mut st.buf, &mut chunk);
        st.writing = chunk.len();
        drop(st);

        if write_out(&chunk).is_err() {
            // stdout is closed or broken: these lines are lost; count them.
            let lost = count_lines(&chunk);
            DROPPED_TOTAL.fetch_add(lost, Relaxed);
            lock().unreported += lost;
        }
        chunk.clear();
        chunk.shrink_to(KEEP_BYTES);
        let unreported = std::mem::take(&mut lock().unreported);
        if unreported > 0 {
            let mut line = (hooks.dropped_line)(unreported);
            line.push('\n');
            if write_out(line.as_bytes()).is_err() {
                lock().unreported += unreported;
            }
        }
        nap();
    }
}

/// Waits [`NAP`] after a write (pushes meanwhile do not wake the writer),
/// unless a flush is waiting or begins meanwhile.
fn nap() {
    let st = lock();
    if st.flushers == 0 {
        drop(SINK.wake.wait_timeout(st, NAP));
    }
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// The length of the longest prefix of `text` made of whole lines that fits in `room`.
fn whole_lines_within(text: &[u8], room: usize) -> usize {
    if text.len() <= room {
        return text.len();
    }
    text[..room]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

fn count_lines(text: &[u8]) -> u64 {
    text.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_go_in_and_the_rest_is_counted() {
        let text = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        assert_eq!(whole_lines_within(text, 100), text.len());
        assert_eq!(whole_lines_within(text, 20), 16);
        assert_eq!(count_lines(&text[16..]), 1);
        assert_eq!(whole_lines_within(text, 7), 0);
        assert_eq!(whole_lines_within(text, 0), 0);
        assert_eq!(count_lines(text), 3);
    }
}
