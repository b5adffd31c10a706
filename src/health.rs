//! Health: is Redis answering and is our subscription live?
//!
//! The engine reports its session going up and down here, and the watchdog
//! (see `watchdog`) when it sends a PING and when the answer comes back.
//! `/healthz` asks [`Health::check`], which reads that state and never waits on
//! Redis itself: red while there is no session (`disconnected`), and red while
//! a PING has been unanswered for more than [`PING_TIMEOUT`] (`stalled`: the
//! connections are open and the session is kept; see `watchdog` for when slow
//! becomes dead). Each state has its own word, so the answer never says
//! "disconnected" about a connection that is open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A PING unanswered for longer than this is late: Redis counts as slow.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The two connections of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Commands,
    Subscription,
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Commands => "command connection",
            Link::Subscription => "subscription",
        }
    }
}

/// Why `/healthz` is red: the word for `"redis"`, and the error text.
#[derive(Debug, PartialEq, Eq)]
pub struct Unhealthy {
    /// `disconnected` (no session) or `stalled` (connected; no answer for a while).
    pub redis: &'static str,
    pub error: String,
}

pub struct Health {
    subscribed: AtomicBool,
    last_error: Mutex<String>,
    /// Per link, since when a PING has waited for its answer.
    waiting: Mutex<[Option<Instant>; 2]>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            subscribed: AtomicBool::new(false),
            last_error: Mutex::new("not connected yet".into()),
            waiting: Mutex::new([None, None]),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Health {
    /// A session is connected and subscribed.
    pub fn session_up(&self) {
        *lock(&self.waiting) = [None, None];
        self.subscribed.store(true, Ordering::SeqCst);
    }

    /// The session is gone; `error` says why (shown by `/healthz`).
    pub fn session_down(&self, error: &str) {
        self.subscribed.store(false, Ordering::SeqCst);
        *lock(&self.last_error) = error.to_string();
    }

    pub fn is_up(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }

    /// A PING went out on `link` at `at` (an earlier one still waiting keeps its time).
    pub fn ping_sent(&self, link: Link, at: Instant) {
        lock(&self.waiting)[link as usize].get_or_insert(at);
    }

    /// `link` answered; returns how long it had kept us waiting.
    pub fn answered(&self, link: Link) -> Duration {
        lock(&self.waiting)[link as usize]
            .take()
            .map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// How long the oldest unanswered PING has waited, if any is waiting.
    pub fn unanswered_for(&self) -> Option<Duration> {
        let waiting = lock(&self.waiting);
        waiting.iter().flatten().min().map(Instant::elapsed)
    }

    /// Ok when subscribed and no PING has waited longer than [`PING_TIMEOUT`].
    pub async fn check(&self) -> Result<(), Unhealthy> {
        if !self.is_up() {
            return Err(Unhealthy {
                redis: "disconnected",
                error: lock(&self.last_error).clone(),
            });
        }
        match self.unanswered_for() {
            Some(d) if d > PING_TIMEOUT => Err(Unhealthy {
                redis: "stalled",
                error: format!(
                    "connected, but Redis has not answered a PING for {:.1}s",
                    d.as_secs_f64()
                ),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_ping_turns_the_check_red_until_answered() {
        let h = Health::default();
        let check = |h: &Health| smol::block_on(h.check());
        let down = |error: &str| {
            Err(Unhealthy {
                redis: "disconnected",
                error: error.into(),
            })
        };
        assert_eq!(check(&h), down("not connected yet"));
        h.session_up();
        assert_eq!(check(&h), Ok(()));
        let long_ago = Instant::now() - Duration::from_secs(3);
        h.ping_sent(Link::Subscription, long_ago);
        h.ping_sent(Link::Commands, Instant::now());
        let err = check(&h).unwrap_err();
        assert_eq!(err.redis, "stalled");
        assert!(
            err.error
                .starts_with("connected, but Redis has not answered a PING for 3."),
            "{err:?}"
        );
        // A second PING on a link still waiting does not reset its time.
        h.ping_sent(Link::Subscription, Instant::now());
        assert!(h.answered(Link::Subscription) >= Duration::from_secs(3));
        assert_eq!(check(&h), Ok(()));
        h.session_down("gone");
        assert_eq!(check(&h), down("gone"));
    }
}
