//! A pass's adoption step: the claim ids of a SCAN batch's indexed
//! artefacts go to `lifecycle::adopt`, which adopts those someone else
//! made; what it did is logged, counted, and tallied in the pass.

use redis::aio::MultiplexedConnection;

use super::state::{Adopted, Pass};
use crate::engine::ctx::SessionCtx;
use crate::engine::outcome::report_decisions;
use crate::lifecycle::adopt::{self, Indexed};

/// Lifecycle mode: claims someone else made join ours (`lifecycle::adopt`),
/// logged and counted. `Err` when the session must end.
pub(super) async fn adopt_batch(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    claims: &[Indexed],
) -> Result<Adopted, String> {
    let mut out = Adopted::default();
    let Some(lc) = &ctx.shared.lifecycle else {
        return Ok(out);
    };
    if claims.is_empty() {
        return Ok(out);
    }
    let decided = adopt::batch(conn, lc, claims).await;
    match &decided {
        Ok(all) => {
            (out.adopted, out.replay) = adopt::adopted(all);
            out.failed = all.iter().filter(|d| d.is_err()).count() as u64;
        }
        Err(_) => out.failed = 1,
    }
    let since = std::iter::repeat(None);
    let report = report_decisions(&ctx.shared, lc, "adopt", decided, since);
    report.end_session.map_or(Ok(out), Err)
}

/// Adopts `claims` now and counts it in the pass.
pub(super) async fn adopt(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    pass: &mut Pass,
    claims: &[Indexed],
) -> Result<(), String> {
    pass.tally(adopt_batch(ctx, conn, claims).await)
}
