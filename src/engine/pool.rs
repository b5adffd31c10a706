//! The pool of decision tasks: each takes queued items a batch at a time and
//! sends the batch as one pipeline of decision scripts, then reports what
//! became of each item. Each task has at most one batch in flight.

use std::sync::Arc;

use smol::channel::Receiver;

use super::ctx::SessionCtx;
use super::outcome::{bids_and_report, claim_and_report, BidJob, Job, Source, BATCH};
use super::retry::Retries;
use super::subscription::{Item, Pending};

/// Tasks in the pool: TASKS x BATCH = 256 decisions in flight at most.
pub const TASKS: usize = 8;

/// Decides queued items a batch at a time until the session stops: claims
/// for artefacts, and in lifecycle mode bidding decisions.
pub(super) async fn run(ctx: SessionCtx, queue: Receiver<Pending>, retries: Arc<Retries>) {
    let mut conn = ctx.conn.clone();
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
    let mut bids: Vec<BidJob> = Vec::new();
    let mut hold = |job: &Job| retries.hold(job);
    loop {
        if ctx.stopping() {
            return;
        }
        let Some(Ok(first)) = ctx.stop.unless_triggered(queue.recv()).await else {
            return;
        };
        let mut take = |p: Pending| match p.item {
            Item::Artefact(id) => jobs.push(Job::new(id, p.received)),
            Item::Bids { claim, to_work } => bids.push(BidJob {
                claim,
                to_work,
                received: p.received,
            }),
        };
        take(first);
        for _ in 1..BATCH {
            match queue.try_recv() {
                Ok(p) => take(p),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            let report =
                claim_and_report(&ctx.shared, &mut conn, &jobs, Source::Event, &mut hold).await;
            jobs.clear();
            if ctx.after_batch(report) {
                return;
            }
        }
        if let (false, Some(lc)) = (bids.is_empty(), &ctx.shared.lifecycle) {
            let report = bids_and_report(&ctx.shared, lc, &mut conn, &bids).await;
            bids.clear();
            if ctx.after_batch(report) {
                return;
            }
        }
    }
}
