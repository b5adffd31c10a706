//! The end of a lifecycle catch-up pass: a walk over our own sets
//! (`lifecycle::recheck`) for bids written while no orchestrator listened
//! and claims granted to agents the registry lost, each chunk logged and
//! counted like any decision.

use redis::aio::MultiplexedConnection;

use crate::engine::ctx::SessionCtx;
use crate::engine::decisions::{decision_error, report_decisions};
use crate::lifecycle::{recheck, Lifecycle};
use crate::log::Lines;
use crate::redis_io::ends_session;

/// Walks the sets to their end, or until the session stops: `Ok(true)`.
/// A step Redis refuses (or a chunk's decision it refused) is one
/// `redis_error` line and ends the walk: `Ok(false)`, the pass counts as
/// failed and is retried with its back-off (a late bid is not left to the
/// next periodic pass). `Err` when the session must end.
pub(super) async fn run(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
) -> Result<bool, String> {
    let Some(lc) = &ctx.shared.lifecycle else {
        return Ok(true);
    };
    let walked = walk(ctx, conn, lc).await;
    if !matches!(walked, Ok(true)) || ctx.stopping() {
        // Not to its end: the next pass walks the dormant set again.
        lc.walk_dormant_set();
    }
    walked
}

async fn walk(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
) -> Result<bool, String> {
    for &set in recheck::sets(lc) {
        let mut cursor = 0;
        loop {
            if ctx.stopping() {
                return Ok(true);
            }
            match recheck::step(conn, lc, set, cursor).await {
                Ok((next, decided)) => {
                    let since = std::iter::repeat(None);
                    let report = report_decisions(&ctx.shared, lc, "recheck", Ok(decided), since);
                    if let Some(reason) = report.end_session {
                        return Err(reason);
                    }
                    if report.refused > 0 {
                        return Ok(false);
                    }
                    cursor = next;
                }
                Err(e) => {
                    let mut lines = Lines::default();
                    lines.push(decision_error(&ctx.shared, "recheck", &e.to_string()));
                    lines.emit();
                    if ends_session(&e) {
                        return Err(format!("catch-up recheck: {e}"));
                    }
                    return Ok(false);
                }
            }
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(true)
}
