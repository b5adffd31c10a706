//! The subscription: reads events as they arrive and queues only what the
//! workers need.
//!
//! Payloads may be hundreds of MiB and a burst may be thousands of them;
//! Redis disconnects a subscriber that falls behind, and a queue of whole
//! messages costs memory in proportion to the burst. The streaming reader
//! (`subscriber`) cuts each artefact event down to its id while it arrives;
//! this task queues the id (a few dozen bytes) for the workers. In lifecycle
//! mode it also reads `workflow_events`, where a `bid_submitted` event queues
//! its claim for a bidding decision; every other workflow event is ignored.

use std::time::Instant;

use smol::channel::{Receiver, Sender};

use super::ctx::SessionCtx;
use crate::ids::{ArtefactId, ClaimId};
use crate::lifecycle::bids::{self, NotABid};
use crate::log::Line;
use crate::redis_io::subscriber::{Body, Frame, Malformed, Reader};

/// Items waiting for a worker at most; beyond that they are left to catch-up
/// (artefacts) or to the sweep (bids).
pub const MAX_QUEUED: usize = 100_000;
/// The channel index of `artefact_events` (then `workflow_events` in lifecycle mode).
pub const ARTEFACT_EVENTS: usize = 0;

/// What a worker is to decide.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    /// An artefact event: claim it (and, in lifecycle mode, count it for the
    /// claims of its sources).
    Artefact(ArtefactId),
    /// A `bid_submitted` event: is bidding on this claim complete? `to_work`:
    /// the event says review, claim or exclusive (not `ignore`): without a
    /// bid timeout, only such a bid can be late (`bids::decide_batch`).
    Bids { claim: ClaimId, to_work: bool },
}

/// An item and when its event arrived.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub item: Item,
    pub received: Instant,
}

/// What the subscription reports besides work (rare; the engine logs them).
pub enum Notice {
    Malformed(Malformed),
    /// The work queue was full; catch-up (or the sweep) will see to this one.
    Dropped(Item),
    /// The connection under the subscription is gone.
    Disconnected(String),
}

/// The ends the engine consumes.
pub struct Inbox {
    pub work: Receiver<Pending>,
    pub notices: Receiver<Notice>,
    /// One message per answer to the watchdog's PING.
    pub pongs: Receiver<PingAnswer>,
}

/// What came back on the subscription for the watchdog's PING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingAnswer {
    Pong,
    /// An error reply (BUSY during a long script, LOADING…): Redis is alive
    /// but did not run the PING; the watchdog PINGs again (its answer never
    /// comes otherwise, and a quiet channel looked dead after 10 s).
    Error,
}

/// The ends the reader task feeds.
pub struct Outbox {
    work: Sender<Pending>,
    notices: Sender<Notice>,
    pongs: Sender<PingAnswer>,
}

/// A new pair of ends for one session.
pub fn channel() -> (Outbox, Inbox) {
    let (work_tx, work) = smol::channel::unbounded();
    let (notice_tx, notices) = smol::channel::unbounded();
    let (pong_tx, pongs) = smol::channel::unbounded();
    (
        Outbox {
            work: work_tx,
            notices: notice_tx,
            pongs: pong_tx,
        },
        Inbox {
            work,
            notices,
            pongs,
        },
    )
}

/// Frames handled between two yields to the executor (a burst of small
/// events is read without ever waiting on the socket).
const FRAMES_PER_YIELD: u32 = 64;

/// Reads the subscription until the session stops or the connection fails.
pub async fn run(ctx: SessionCtx, mut reader: Reader, out: Outbox) {
    let mut frames = 0u32;
    loop {
        frames += 1;
        if frames >= FRAMES_PER_YIELD {
            frames = 0;
            futures_lite::future::yield_now().await;
        }
        // `Reader::next` is cancel-safe: stopping between frames loses nothing.
        let Some(frame) = ctx.stop.unless_triggered(reader.next()).await else {
            return;
        };
        match frame {
            Ok(frame) => on_frame(&ctx, frame, &out),
            Err(e) => {
                let _ = out.notices.try_send(Notice::Disconnected(e.to_string()));
                return;
            }
        }
    }
}

fn on_frame(ctx: &SessionCtx, frame: Frame, out: &Outbox) {
    let received = Instant::now();
    let item = match frame {
        Frame::Message {
            channel: ARTEFACT_EVENTS,
            body: Body::Event(event),
        } => match event {
            Ok(id) => Item::Artefact(id),
            Err(bad) => {
                let _ = out.notices.try_send(Notice::Malformed(bad));
                return;
            }
        },
        Frame::Message {
            body: Body::Captured(message),
            ..
        } => match bid_event(ctx, &message) {
            Some((claim, to_work)) => Item::Bids { claim, to_work },
            None => return,
        },
        Frame::Pong => {
            let _ = out.pongs.try_send(PingAnswer::Pong);
            return;
        }
        Frame::Error(text) => {
            // A stall (BUSY, LOADING) answers each PING of the watchdog,
            // four a second: its `redis_slow` line says how long it lasted
            // once it ends. Any other error is one line.
            // Only PINGs and (un)subscribes go out on this connection: a
            // stall's error answers the PING under way, if any. Any other
            // error (a PING refused by an ACL…) is one line, and the PING
            // stays unanswered: the session is rebuilt 10 s later.
            if text.starts_with("BUSY") || text.starts_with("LOADING") {
                let _ = out.pongs.try_send(PingAnswer::Error);
            } else {
                Line::warn("subscription_error").str("error", &text).emit();
            }
            return;
        }
        // Workflow messages too large to be bids, late confirmations.
        Frame::Message { .. } | Frame::Other => return,
    };
    if out.work.len() >= MAX_QUEUED || out.work.try_send(Pending { item, received }).is_err() {
        let _ = out.notices.try_send(Notice::Dropped(item));
    }
}

/// The claim of a `bid_submitted` event; other workflow events are not ours.
fn bid_event(ctx: &SessionCtx, message: &[u8]) -> Option<(ClaimId, bool)> {
    let lifecycle = ctx.shared.lifecycle.as_ref()?;
    match bids::parse(message) {
        Ok(bid) => {
            lifecycle.metrics.bid_received();
            if crate::log::debug_enabled() {
                Line::debug("bid_received")
                    .str("claim_id", bid.claim_id.as_str())
                    .str("agent_name", &bid.agent_name)
                    .str("bid_type", &bid.bid_type)
                    .emit();
            }
            Some((bid.claim_id, bid.bid_type != "ignore"))
        }
        Err(NotABid::OtherEvent) => None,
        Err(why) => {
            Line::warn("invalid_bid_event")
                .str(
                    "reason",
                    match why {
                        NotABid::BadClaimId => "bid_submitted without a usable claim_id",
                        _ => "not a JSON workflow event",
                    },
                )
                .num("bytes", message.len() as u64)
                .emit();
            None
        }
    }
}
