//! The end of a lifecycle catch-up pass: a walk over our own sets
//! (`lifecycle::recheck`) for bids written while no orchestrator listened
//! and claims granted to agents the registry lost, each chunk logged and
//! counted like any decision.

use redis::aio::MultiplexedConnection;

use crate::engine::ctx::SessionCtx;
use crate::engine::outcome::{decision_error, report_decisions};
use crate::lifecycle::recheck;
use crate::log::Lines;
use crate::redis_io::ends_session;

/// Walks the sets to their end, or until the session stops. A step Redis
/// refuses is one `redis_error` line and ends the walk (the next pass walks
/// again); `Err` when the session must end.
pub(super) async fn run(ctx: &SessionCtx, conn: &mut MultiplexedConnection) -> Result<(), String> {
    let Some(lc) = &ctx.shared.lifecycle else {
        return Ok(());
    };
    for &set in recheck::sets(lc) {
        let mut cursor = 0;
        loop {
            if ctx.stopping() {
                return Ok(());
            }
            match recheck::step(conn, lc, set, cursor).await {
                Ok((next, decided)) => {
                    let since = std::iter::repeat(None);
                    let report = report_decisions(&ctx.shared, lc, "recheck", Ok(decided), since);
                    if let Some(reason) = report.end_session {
                        return Err(reason);
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
                    break;
                }
            }
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(())
}
