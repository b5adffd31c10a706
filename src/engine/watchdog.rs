//! The watchdog: tells a slow Redis from a dead one.
//!
//! A busy script, a fork or a slow command stalls Redis for seconds while its
//! connections stay open; tearing the session down for that cancels work for
//! nothing, and a reconnect cannot be faster than the stall. So each of the
//! session's two connections is PINGed every [`PERIOD`] (the next PING waits
//! for the previous answer), and:
//!
//! - **answered** (PONG): healthy. If the answer took longer than
//!   [`PING_TIMEOUT`] (2 s), Redis was **slow**: one `redis_slow` line says
//!   for how long (`waited_ms`), and `redis_stalls_total` counts it.
//! - **an error reply** (BUSY, LOADING…): Redis answers but cannot serve; the
//!   stall goes on (it is not dead: the connection is open and answering),
//!   and the next PING follows. On the subscription the reader hands the
//!   error over like a PONG (`PingAnswer::Error`): its PING is answered.
//! - **unanswered for more than 2 s**: slow; `/healthz` turns 503 ("Redis has
//!   not answered for N s") while the session stays up and every claim in
//!   flight keeps waiting for its answer.
//! - **dead**: the connection is closed or fails (an I/O error), or a PING is
//!   unanswered for [`DEAD_AFTER`] (10 s, the command response timeout, after
//!   which claims in flight fail anyway). Only then does the session end.
//!
//! The subscription's PONG queues behind whatever Redis is sending it: while
//! bytes keep arriving (a 256 MiB event over a slow link), the subscription
//! counts as answering, for `/healthz` and for the dead bound alike.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use redis::Value;
use smol::channel::Receiver;

use super::ctx::SessionCtx;
use super::subscription::PingAnswer;
use crate::deadline::within;
use crate::health::{Link, PING_TIMEOUT};
use crate::log::Line;
use crate::metrics::inc;
use crate::redis_io::connect::RESPONSE_TIMEOUT;
use crate::redis_io::is_connection_lost;
use crate::redis_io::subscriber::Writer;

/// Pause between an answer and the next PING: short, so a stall is seen
/// within 2.25 s of its start.
pub const PERIOD: Duration = Duration::from_millis(250);
/// A PING unanswered this long means Redis is dead (on the subscription: this
/// long without its PONG *and* without any byte arriving).
pub const DEAD_AFTER: Duration = RESPONSE_TIMEOUT;
/// How often a subscription waiting for its PONG looks at the bytes arriving.
const PROGRESS_CHECK: Duration = Duration::from_millis(500);

/// Watches both connections until the session stops, or ends it when one
/// dies. The subscription's PONGs come back through its reader (`pongs`);
/// `received` counts the bytes it reads.
pub async fn run(
    ctx: SessionCtx,
    writer: Writer,
    pongs: Receiver<PingAnswer>,
    received: Arc<AtomicU64>,
) {
    let commands = watch(&ctx, Pinger::Commands(ctx.conn.clone()), Link::Commands);
    let pinger = Pinger::Subscription {
        writer,
        pongs,
        received,
    };
    let subscription = watch(&ctx, pinger, Link::Subscription);
    if let Some(reason) = commands.or(subscription).await {
        ctx.end(reason);
    }
}

/// How each connection is PINGed.
enum Pinger {
    Commands(MultiplexedConnection),
    Subscription {
        writer: Writer,
        pongs: Receiver<PingAnswer>,
        received: Arc<AtomicU64>,
    },
}

/// What became of one PING.
enum Probe {
    Pong,
    /// An error reply: Redis is alive but busy (BUSY, LOADING…).
    Busy,
    Lost(String),
    NoAnswer,
}

impl Pinger {
    /// One PING; `alive` is called whenever the link shows life without
    /// having answered yet (bytes arriving on the subscription).
    async fn ping(&mut self, alive: &(dyn Fn() + Sync)) -> Probe {
        match self {
            Pinger::Commands(conn) => {
                let ping = redis::cmd("PING");
                match within(DEAD_AFTER, ping.query_async::<Value>(conn)).await {
                    // Our bound, or the client's response timeout (the same 10 s).
                    None => Probe::NoAnswer,
                    Some(Err(e)) if e.is_timeout() => Probe::NoAnswer,
                    Some(Err(e)) if is_connection_lost(&e) => Probe::Lost(e.to_string()),
                    Some(Err(_)) => Probe::Busy,
                    Some(Ok(_)) => Probe::Pong,
                }
            }
            Pinger::Subscription {
                writer,
                pongs,
                received,
            } => {
                // A PONG of an earlier PING that we stopped waiting for is stale.
                while pongs.try_recv().is_ok() {}
                if let Err(e) = writer.ping().await {
                    return Probe::Lost(e.to_string());
                }
                // The PONG queues behind what Redis is sending: while bytes
                // keep arriving (a big event), the link is alive, not silent.
                let mut last = received.load(Relaxed);
                let mut silent_since = Instant::now();
                loop {
                    match within(PROGRESS_CHECK, pongs.recv()).await {
                        Some(Ok(PingAnswer::Pong)) => return Probe::Pong,
                        Some(Ok(PingAnswer::Error)) => return Probe::Busy,
                        Some(Err(_)) => return Probe::Lost("subscription reader stopped".into()),
                        None => {}
                    }
                    let now = received.load(Relaxed);
                    if now != last {
                        (last, silent_since) = (now, Instant::now());
                        alive();
                    } else if silent_since.elapsed() >= DEAD_AFTER {
                        return Probe::NoAnswer;
                    }
                }
            }
        }
    }
}

/// PINGs until stopped (`None`) or dead (`Some(why)`).
async fn watch(ctx: &SessionCtx, mut pinger: Pinger, link: Link) -> Option<String> {
    let health = &ctx.shared.health;
    loop {
        ctx.stop
            .unless_triggered(smol::Timer::after(PERIOD))
            .await?;
        let sent = Instant::now();
        health.ping_sent(link, sent);
        // Bytes still arriving count as an answer for `/healthz` too.
        let alive = || {
            health.answered(link);
            health.ping_sent(link, Instant::now());
        };
        match ctx.stop.unless_triggered(pinger.ping(&alive)).await? {
            Probe::NoAnswer => return Some(no_answer(link)),
            Probe::Lost(e) => return Some(format!("{}: {e}", link.as_str())),
            // An error reply is an answer: Redis is alive but busy; still waiting.
            Probe::Busy => continue,
            Probe::Pong => {
                let waited = health.answered(link);
                if waited > PING_TIMEOUT {
                    inc(&ctx.shared.metrics.redis_stalls);
                    Line::warn("redis_slow")
                        .str("connection", link.as_str())
                        .num("waited_ms", waited.as_millis() as u64)
                        .emit();
                }
            }
        }
    }
}

fn no_answer(link: Link) -> String {
    let secs = DEAD_AFTER.as_secs();
    format!("{}: no answer to PING for {secs}s", link.as_str())
}
