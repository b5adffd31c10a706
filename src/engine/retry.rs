//! Retries for events that arrive before their hash.
//!
//! The contract says producers write the hash, then publish; some publish
//! first, or write the hash in two `HSET`s. The Go original claims from the
//! event alone, so such producers worked. Here the stored hash is the truth,
//! so an event whose hash is absent ("not found") or has no `structural_type`
//! yet ("invalid") is tried again after 0.25 s, 1 s and 5 s ([`DELAYS`]);
//! only then is it given up with the usual `artefact_not_found` /
//! `artefact_invalid` line (nothing is logged for the attempts in between).
//!
//! Memory is bounded: at most [`MAX_HELD`] ids wait at once; beyond that an
//! artefact is given up at once, and the periodic catch-up (see `catchup`)
//! claims it once its hash is complete. The set outlives sessions; the task
//! that runs the retries is one per session.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use smol::channel::{Receiver, Sender};

use super::ctx::SessionCtx;
use super::outcome::{claim_and_report, Job, Source, BATCH};

/// Waits before the 2nd, 3rd and 4th try of an artefact.
pub const DELAYS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(5),
];
/// Artefacts waiting for another try at most.
pub const MAX_HELD: usize = 10_000;

/// Artefacts waiting for another try, one queue per try (each in due order).
pub struct Retries {
    queues: Mutex<[VecDeque<(Instant, Job)>; DELAYS.len()]>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Default for Retries {
    fn default() -> Self {
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        Retries {
            queues: Mutex::new(Default::default()),
            wake_tx,
            wake_rx,
        }
    }
}

impl Retries {
    fn lock(&self) -> std::sync::MutexGuard<'_, [VecDeque<(Instant, Job)>; DELAYS.len()]> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `job` for another try; false when it had its last one or the set is full.
    pub fn hold(&self, job: &Job) -> bool {
        let level = job.tries as usize;
        let Some(delay) = DELAYS.get(level) else {
            return false;
        };
        let mut queues = self.lock();
        if queues.iter().map(VecDeque::len).sum::<usize>() >= MAX_HELD {
            return false;
        }
        let next = Job {
            tries: job.tries + 1,
            ..*job
        };
        queues[level].push_back((Instant::now() + *delay, next));
        drop(queues);
        let _ = self.wake_tx.try_send(());
        true
    }

    /// How many artefacts wait.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().iter().map(VecDeque::len).sum()
    }

    /// When the next one is due.
    fn next_due(&self) -> Option<Instant> {
        self.lock()
            .iter()
            .filter_map(|q| q.front())
            .map(|e| e.0)
            .min()
    }

    /// Takes up to `max` artefacts due by `now`, earliest first.
    fn take_due(&self, now: Instant, max: usize) -> Vec<Job> {
        let mut queues = self.lock();
        let mut due = Vec::new();
        while due.len() < max {
            let earliest = queues
                .iter_mut()
                .filter(|q| q.front().is_some_and(|e| e.0 <= now))
                .min_by_key(|q| q.front().map(|e| e.0));
            match earliest.and_then(VecDeque::pop_front) {
                Some((_, job)) => due.push(job),
                None => break,
            }
        }
        due
    }
}

/// Runs the retries that fall due, a batch at a time, until the session stops.
pub async fn run(ctx: SessionCtx, retries: Arc<Retries>) {
    let mut conn = ctx.conn.clone();
    loop {
        if ctx.stopping() {
            return;
        }
        let until = retries.next_due();
        let wait = async {
            match until {
                Some(t) => {
                    smol::Timer::at(t).await;
                }
                None => futures_lite::future::pending().await,
            }
        }
        .or(async {
            // A new artefact may be due before the one we wait for.
            let _ = retries.wake_rx.recv().await;
        });
        if ctx.stop.unless_triggered(wait).await.is_none() {
            return;
        }
        let jobs = retries.take_due(Instant::now(), BATCH);
        if jobs.is_empty() {
            continue;
        }
        let mut hold = |job: &Job| retries.hold(job);
        let report =
            claim_and_report(&ctx.shared, &mut conn, &jobs, Source::Event, &mut hold).await;
        if ctx.after_batch(report) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u8, tries: u8) -> Job {
        let id = format!("00000000-0000-4000-8000-0000000000{n:02}");
        Job {
            id: crate::ids::ArtefactId::parse(&id).unwrap(),
            received: Instant::now(),
            tries,
        }
    }

    #[test]
    fn each_artefact_gets_three_more_tries_then_is_given_up() {
        let r = Retries::default();
        assert!(r.hold(&job(1, 0)));
        assert!(r.hold(&job(2, 2)));
        assert!(!r.hold(&job(3, 3)), "a fourth retry");
        assert_eq!(r.len(), 2);
        let soon = Instant::now() + Duration::from_millis(300);
        let due = r.take_due(soon, 10);
        assert_eq!(due.len(), 1, "only the 0.25 s one is due");
        assert_eq!(
            (due[0].id.as_str(), due[0].tries),
            (job(1, 0).id.as_str(), 1)
        );
        let later = Instant::now() + Duration::from_secs(6);
        let due = r.take_due(later, 10);
        assert_eq!(
            (due[0].id.as_str(), due[0].tries),
            (job(2, 0).id.as_str(), 3)
        );
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn the_set_is_capped() {
        let r = Retries::default();
        for _ in 0..MAX_HELD {
            assert!(r.hold(&job(1, 0)));
        }
        assert!(!r.hold(&job(2, 0)));
        assert!(!r.hold(&job(2, 1)));
        assert_eq!(r.len(), MAX_HELD);
        let due = r.take_due(Instant::now() + Duration::from_secs(1), 32);
        assert_eq!(due.len(), 32);
        assert!(r.hold(&job(2, 0)));
    }
}
