//! A pass's adopters (`walk`): each takes the claim ids of a SCAN batch's
//! indexed artefacts, narrows them to the live ones
//! (`lifecycle::adopt::live`), and hands those to `lifecycle::adopt`, which
//! adopts the ones someone else made; what it did is logged and counted, and
//! summed up for the pass.

use std::sync::Mutex;

use redis::aio::MultiplexedConnection;
use smol::channel::Receiver;

use super::state::Adopted;
use crate::blackboard::Indexed;
use crate::engine::ctx::SessionCtx;
use crate::engine::decisions::report_decisions;
use crate::lifecycle::adopt::{self, Prefilter};

/// Adopts the batches received until the walk stops sending and every batch
/// sent is done. A step Redis refuses is one `redis_error` line and counts
/// as failed (the pass is retried). What the batches did is always
/// returned, the batch that ended the session included, with the reason
/// when the session must end (the channel is then closed: the walk stops
/// too), so the pass's counts stay exact when it is resumed. `replaying`:
/// the pass replays (`adopt::live`).
pub(super) async fn adopt_all(
    ctx: &SessionCtx,
    mut conn: MultiplexedConnection,
    batches: Receiver<Vec<Indexed>>,
    prefilter: &Mutex<Prefilter>,
    replaying: bool,
) -> (Adopted, Option<String>) {
    let mut total = Adopted::default();
    let Some(lc) = &ctx.shared.lifecycle else {
        return (total, None);
    };
    while let Ok(claims) = batches.recv().await {
        let live = adopt::live(&mut conn, lc, prefilter, claims, replaying).await;
        let (one, lost) = match live {
            Ok(live) => decide(ctx, &mut conn, &live, replaying).await,
            Err(e) => {
                let since = std::iter::repeat(None);
                let report = report_decisions(&ctx.shared, lc, "adopt", Err(e), since);
                let failed = Adopted {
                    failed: 1,
                    ..Adopted::default()
                };
                (failed, report.end_session)
            }
        };
        total.add(one);
        if lost.is_some() {
            batches.close();
            return (total, lost);
        }
    }
    (total, None)
}

/// The adoption decision over `claims`, logged and counted; with the reason
/// when the session must end.
async fn decide(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    claims: &[Indexed],
    replaying: bool,
) -> (Adopted, Option<String>) {
    let mut out = Adopted::default();
    let Some(lc) = &ctx.shared.lifecycle else {
        return (out, None);
    };
    if claims.is_empty() {
        return (out, None);
    }
    let decided = adopt::batch(conn, lc, claims, replaying).await;
    match &decided {
        Ok(all) => {
            (out.adopted, out.replay) = adopt::adopted(all);
            out.failed = all.iter().filter(|d| d.is_err()).count() as u64;
        }
        Err(_) => out.failed = 1,
    }
    let since = std::iter::repeat(None);
    let report = report_decisions(&ctx.shared, lc, "adopt", decided, since);
    (out, report.end_session)
}
