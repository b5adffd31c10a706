//! A pass's adoption steps: the claim ids of a SCAN batch's indexed
//! artefacts are narrowed to the live ones (`lifecycle::adopt::live`), then
//! go to `lifecycle::adopt`, which adopts those someone else made; what it
//! did is logged, counted, and tallied in the pass. The walk runs the steps
//! of successive batches at once (`super::walk`): one batch's index reads,
//! the previous batch's status reads and the batch before's scripts, so
//! Redis always has the next command.

use redis::aio::MultiplexedConnection;

use super::state::{Adopted, Pass};
use crate::engine::ctx::SessionCtx;
use crate::engine::outcome::report_decisions;
use crate::lifecycle::adopt::{self, Indexed, Prefilter};

/// Lifecycle mode: the claims among `claims` the script must see. A read
/// Redis refuses is one `redis_error` line and counts as failed (the pass
/// is retried); `Err` when the session must end.
pub(super) async fn live_batch(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    prefilter: &mut Prefilter,
    claims: Vec<Indexed>,
) -> Result<(Vec<Indexed>, u64), String> {
    let Some(lc) = &ctx.shared.lifecycle else {
        return Ok((Vec::new(), 0));
    };
    match adopt::live(conn, lc, prefilter, claims).await {
        Ok(live) => Ok((live, 0)),
        Err(e) => {
            let since = std::iter::repeat(None);
            let report = report_decisions(&ctx.shared, lc, "adopt", Err(e), since);
            report.end_session.map_or(Ok((Vec::new(), 1)), Err)
        }
    }
}

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

/// The claims still in the steps when the walk ends or stops: `to_filter`
/// (index read, statuses not yet) and `to_adopt` (for the script), both of
/// batches the pass has counted. Their status reads and the scripts run at
/// once, then the scripts for the first; all is tallied in the pass.
pub(super) async fn drain(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    pass: &mut Pass,
    prefilter: &mut Prefilter,
    to_filter: Vec<Indexed>,
    to_adopt: &[Indexed],
) -> Result<(), String> {
    let mut filter_conn = conn.clone();
    let (filtered, adopted) = futures_lite::future::zip(
        live_batch(ctx, &mut filter_conn, prefilter, to_filter),
        adopt_batch(ctx, conn, to_adopt),
    )
    .await;
    pass.tally(adopted)?;
    let (live, failed) = filtered?;
    pass.totals.failed += failed;
    pass.tally(adopt_batch(ctx, conn, &live).await)
}
