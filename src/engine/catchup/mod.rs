//! Catch-up: after every subscribe, and every few minutes, claim what Pub/Sub
//! never delivered.
//!
//! Pub/Sub is at-most-once: whatever was published while we were down,
//! reconnecting, or dropped by Redis is gone from the channel, but not from
//! the blackboard. Subscribing first and then walking `sett:{i}:artefact:*`
//! leaves no window uncovered. The walk streams SCAN batches (memory stays
//! flat), skips artefacts that already have an index entry (one pipelined
//! EXISTS per batch), and runs the same atomic claim script for the rest, a
//! pipelined batch at a time, so Terminal artefacts stay unclaimed and racing
//! replicas still make one claim. A slow periodic pass (every
//! `SETT_CATCHUP_INTERVAL`, default 5 minutes) claims what arrived
//! incomplete and was given up by the retries (see `retry`).
//!
//! A pass outlives its session: the [`CatchUp`] state, cursor included, is
//! handed back when the session stops (always between two SCAN batches, never
//! inside one) and the next session resumes the pass from its cursor, since a
//! SCAN cursor stays valid across connections to the same server (same
//! `run_id`; on another server the pass starts over). Counts are committed per
//! completed batch, so a resumed pass counts every key once. The resumed pass
//! is followed by a full one, for what was written during the outage.
//!
//! In lifecycle mode the same walk also replays what agents delivered while
//! no orchestrator listened (see `lifecycle::catchup`): the artefact ids of
//! the claims that can still progress are loaded when a pass starts or
//! resumes, and unindexed artefacts sourced from them go through the
//! artefact decision too. Bids are replayed by the lifecycle's sweep.
//! Every pass in lifecycle mode also reads each indexed artefact's claim id to
//! adopt claims someone else made (`lifecycle::adopt`), and ends with a walk
//! over our sets (`recheck`: late bids written while nobody listened,
//! claims granted to agents the registry lost); the others are Phase 1's.

use std::time::Instant;

use futures_lite::FutureExt as _;
use redis::aio::MultiplexedConnection;
use smol::channel::Receiver;

use super::ctx::SessionCtx;
use crate::engine::sweep::WALK_HOLD;
use crate::lifecycle::{adopt, catchup};
use crate::log::Line;
use crate::metrics::inc;
use crate::redis_io::ends_session;

mod adopting;
mod recheck;
mod state;
mod walk;
pub use state::CatchUp;
use state::{Pass, Totals};
use walk::{walk, Walk};

/// Runs passes for one session: asked for (one per subscribe, more when the
/// queue overflowed or a claim failed; requests during a pass coalesce into
/// one), periodic, or retried after failures (5 s, 10 s… at most 5 min).
/// Returns the state when the session stops.
pub async fn run(ctx: SessionCtx, mut state: CatchUp, requests: Receiver<()>) -> CatchUp {
    let mut conn = ctx.conn.clone();
    // Did the pass under way start in this session, and how many such passes
    // completed with nothing failed (see `SessionCtx::caught_up`)?
    let mut started_here = false;
    let mut clean_here = 0u32;
    if let Some(pass) = &mut state.pass {
        let here = server_id(&mut conn).await;
        if here.is_some() && here == pass.server {
            pass.resumed += 1;
            Line::info("reconcile_resumed")
                .num("scanned", pass.totals.scanned)
                .emit();
        } else {
            state.pass = None;
            state.wanted = true;
        }
    }
    loop {
        if state.pass.is_none() {
            if !wait_until_due(&ctx, &mut state, &requests).await {
                return state;
            }
            // Lifecycle mode: every pass adopts (issue 15: at start-up and
            // by every periodic pass after it).
            let adopting = ctx.shared.lifecycle.is_some();
            let replaying = match &ctx.shared.lifecycle {
                Some(lc) => adopt::replay_from(&mut conn, lc).await,
                None => None,
            };
            state.wanted = false;
            state.retry = false;
            state.pass = Some(Pass {
                cursor: 0,
                walked: false,
                server: server_id(&mut conn).await,
                totals: Totals::default(),
                started: Instant::now(),
                resumed: 0,
                active: catchup::Active::Artefacts(Default::default()),
                replay: false,
                replaying,
                adopting,
            });
            Line::info("reconcile_started").emit();
            started_here = true;
        }
        let Some(pass) = state.pass.as_mut() else {
            continue;
        };
        if let Some(lc) = &ctx.shared.lifecycle {
            pass.active = match catchup::active_artefacts(&mut conn, lc).await {
                Ok(active) => active,
                Err(e) if ends_session(&e) => {
                    scan_error(&ctx, &e.to_string());
                    ctx.end(format!("catch-up scan: {e}"));
                    return state;
                }
                Err(e) => {
                    scan_error(&ctx, &e.to_string());
                    pass_ended(&ctx, &mut state, true);
                    continue;
                }
            };
        }
        let mut walked = walk(&ctx, &mut conn, pass).await;
        let mut rechecked = true;
        if let (Walk::Complete, true) = (&walked, pass.adopting) {
            // Lifecycle mode: late bids and stranded claims in our sets.
            match recheck::run(&ctx, &mut conn).await {
                Ok(complete) => rechecked = complete,
                Err(reason) => walked = Walk::Lost(reason),
            }
        }
        match walked {
            Walk::Complete => {
                let failed = pass.totals.failed > 0 || !rechecked;
                let replay = pass.replay;
                if let (Some(from), Some(lc), false) =
                    (pass.replaying, &ctx.shared.lifecycle, failed)
                {
                    // Before the pass's line, which says it is done.
                    // Refused: the next pass replays for them again.
                    if let Err(e) = adopt::replayed(&mut conn, lc, from).await {
                        scan_error(&ctx, &e.to_string());
                    }
                }
                report(pass, true, ctx.shared.lifecycle.is_some());
                pass_ended(&ctx, &mut state, failed);
                // Claims adopted into a phase: what was delivered for them
                // while nobody listened is replayed by the next pass (the
                // artefacts of claims someone else finished included).
                state.wanted |= replay;
                clean_here += u32::from(started_here && !failed);
                // A replay asked for is the next pass's: caught up after it
                // (two at most, however many claims each pass adopts).
                if clean_here >= 2 || (clean_here == 1 && !replay) {
                    ctx.mark_caught_up();
                } else if !ctx.caught_up() && !failed {
                    // Resumed from an earlier session: it may have walked
                    // past what was written in the gap. One more, now.
                    state.wanted = true;
                }
            }
            Walk::Stopped if ctx.shared.shutdown.is_triggered() => {
                report(pass, false, ctx.shared.lifecycle.is_some());
                state.pass = None;
                return state;
            }
            Walk::Stopped => return state,
            Walk::Failed(reason) => {
                scan_error(&ctx, &reason);
                pass_ended(&ctx, &mut state, true);
            }
            Walk::Lost(reason) => {
                scan_error(&ctx, &reason);
                ctx.end(format!("catch-up scan: {reason}"));
                return state;
            }
        }
    }
}

/// A pass ended, completed or failed: the state's schedule, and the
/// session's latch for the sweep's first walk.
fn pass_ended(ctx: &SessionCtx, state: &mut CatchUp, failed: bool) {
    state.pass_ended(failed);
    ctx.mark_pass_ended();
}

fn scan_error(ctx: &SessionCtx, reason: &str) {
    inc(&ctx.shared.metrics.redis_errors);
    Line::error("redis_error")
        .str("operation", "reconcile")
        .str("error", reason)
        .emit();
}

fn report(pass: &Pass, complete: bool, lifecycle: bool) {
    let t = &pass.totals;
    let line = Line::info("reconcile_complete")
        .num("scanned", t.scanned)
        .num("unclaimed", t.unclaimed)
        .num("claimed", t.claimed)
        .num("failed", t.failed)
        .num("duration_ms", pass.started.elapsed().as_millis() as u64)
        .num("resumed", pass.resumed)
        .bool("interrupted", !complete);
    // Lifecycle mode: claims someone else made that joined ours, and
    // whether this pass looked for them.
    let line = match lifecycle {
        true => line
            .num("adopted", t.adopted)
            .bool("adopting", pass.adopting),
        false => line,
    };
    line.emit();
}

/// Waits until a pass is due; false when the session stops first.
async fn wait_until_due(ctx: &SessionCtx, state: &mut CatchUp, requests: &Receiver<()>) -> bool {
    loop {
        while requests.try_recv().is_ok() {
            state.wanted = true;
        }
        let wake_at = match state.due(Instant::now()) {
            Ok(()) => return true,
            Err(at) => at,
        };
        // No pass for WALK_HOLD or longer (a long back-off, the next
        // periodic pass): nothing for the sweep's first walk to wait for.
        // A pass due sooner (a short back-off, PASS_SPACING after the last
        // one) is waited for, within the walk's own bound.
        let now = Instant::now();
        if wake_at.is_none_or(|t| t.saturating_duration_since(now) >= WALK_HOLD) {
            ctx.mark_pass_ended();
        }
        let timer = async {
            match wake_at {
                Some(t) => {
                    smol::Timer::at(t).await;
                }
                None => futures_lite::future::pending().await,
            }
        };
        let asked = async {
            let _ = requests.recv().await;
            state.wanted = true;
        };
        if ctx.stop.unless_triggered(timer.or(asked)).await.is_none() {
            return false;
        }
    }
}

/// The `run_id` of the server behind `conn`, if it tells.
async fn server_id(conn: &mut MultiplexedConnection) -> Option<String> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(|id| id.trim().to_string())
}
