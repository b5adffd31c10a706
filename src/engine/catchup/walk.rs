//! One pass's walk over `sett:{i}:artefact:*`, a SCAN batch at a time: the
//! batch's index entries read (one pipelined EXISTS, or a bounded GETRANGE
//! in a pass that adopts), then the claim decision for the artefacts that have none.
//!
//! In a pass that adopts, the claim ids the index reads give go to two
//! adopters (`adopting`) through a channel of one batch: while the walk
//! reads the next batch, one adopter waits for Redis and the other handles
//! its answer, so Redis always has the next command (with the steps in
//! lockstep the pass took 1.4-1.6 times Redis's CPU time, Redis waiting for
//! the orchestrator between them; see docs/performance.md, "Issue 15:
//! adopting Phase-1 claims"). Memory stays flat: at most four batches of
//! claim ids are held. The adopters finish every batch handed to them
//! before the walk returns, a stopping walk included, so a pass's counts
//! still cover each batch whole.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Instant;

use futures_lite::future::zip;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use smol::channel::{bounded, Sender};

use super::adopting::adopt_all;
use super::state::Pass;
use crate::blackboard::Indexed;
use crate::engine::ctx::SessionCtx;
use crate::engine::outcome::{claim_and_report, Job, Source};
use crate::ids::{ArtefactId, ClaimId};
use crate::lifecycle::adopt::Prefilter;
use crate::lifecycle::catchup;
use crate::metrics::inc;
use crate::redis_io::ends_session;

/// Keys asked for per SCAN step.
const SCAN_COUNT: usize = 1000;
/// Claim scripts the catch-up keeps in flight (live events have their own pool).
const CLAIMS_IN_FLIGHT: usize = 32;

/// How a walk stopped.
pub(super) enum Walk {
    Complete,
    /// The session is stopping: the pass is kept, to be resumed.
    Stopped,
    /// Redis refused a SCAN or EXISTS: the pass is retried later.
    Failed(String),
    /// The session must end (connection lost, READONLY…): the pass is kept.
    Lost(String),
}

/// Walks on from the pass's cursor to its end, or until the session stops.
/// A pass whose walk reached the end already (resumed after its last adopt
/// batch or its recheck was cut) is complete: what that batch left undone is
/// the next pass's, as for any batch a session's end cuts.
pub(super) async fn walk(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    pass: &mut Pass,
) -> Walk {
    if pass.walked {
        return Walk::Complete;
    }
    if !pass.adopting || ctx.shared.lifecycle.is_none() {
        return scan(ctx, conn, pass, None).await;
    }
    let (batches, received) = bounded(1);
    let prefilter = Mutex::new(Prefilter::default());
    let replaying = pass.replaying.is_some();
    let adopters = zip(
        adopt_all(ctx, conn.clone(), received.clone(), &prefilter, replaying),
        adopt_all(ctx, conn.clone(), received, &prefilter, replaying),
    );
    // The walk's sender goes when it returns: the adopters finish the
    // batches sent, then stop.
    let (walked, ((a, a_lost), (b, b_lost))) =
        zip(scan(ctx, conn, pass, Some(batches)), adopters).await;
    // Both adopters' counts first: what they did stands even when the
    // session ends.
    pass.tally(a);
    pass.tally(b);
    match a_lost.or(b_lost) {
        Some(reason) => Walk::Lost(reason),
        None => walked,
    }
}

fn classify(e: RedisError) -> Walk {
    if ends_session(&e) {
        Walk::Lost(e.to_string())
    } else {
        Walk::Failed(e.to_string())
    }
}

/// The walk proper; `adopt`: where the claim ids of indexed artefacts go.
async fn scan(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    pass: &mut Pass,
    adopt: Option<Sender<Vec<Indexed>>>,
) -> Walk {
    let shared = &ctx.shared;
    let pattern = shared.keys.artefact_pattern();
    loop {
        if ctx.stopping() {
            return Walk::Stopped;
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = match redis::cmd("SCAN")
            .arg(pass.cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await
        {
            Ok(step) => step,
            Err(e) => return classify(e),
        };
        let ids: Vec<ArtefactId> = keys
            .iter()
            .filter_map(|k| shared.keys.artefact_id_of(k))
            .collect();
        let (unclaimed, claims) = match unclaimed(ctx, conn, &ids, adopt.is_some()).await {
            Ok(found) => found,
            Err(e) => return classify(e),
        };
        if let (Some(adopt), false) = (&adopt, claims.is_empty()) {
            if adopt.send(claims).await.is_err() {
                // The adopters stopped: the session ends (their reason is the walk's).
                return Walk::Lost("adoption stopped".into());
            }
        }
        let n_unclaimed = unclaimed.len() as u64;
        let todo = match &shared.lifecycle {
            None => unclaimed,
            Some(_) => match catchup::select(conn, &shared.keys, &unclaimed, &pass.active).await {
                Ok(todo) => todo,
                Err(e) => return classify(e),
            },
        };
        // One pipeline per chunk: at most CLAIMS_IN_FLIGHT scripts in flight.
        for chunk in todo.chunks(CLAIMS_IN_FLIGHT) {
            let now = Instant::now();
            let jobs: Vec<Job> = chunk.iter().map(|id| Job::new(*id, now)).collect();
            let report =
                claim_and_report(shared, conn, &jobs, Source::Reconcile, &mut |_| false).await;
            pass.totals.claimed += report.created;
            pass.totals.failed += report.failed;
            if let Some(reason) = report.end_session {
                return Walk::Lost(reason);
            }
        }
        // The batch is done (its claim ids handed to the adopters, which
        // finish before the walk returns): count it, move the cursor past it.
        pass.totals.scanned += ids.len() as u64;
        pass.totals.unclaimed += n_unclaimed;
        shared
            .metrics
            .reconcile_scanned
            .fetch_add(ids.len() as u64, Relaxed);
        pass.cursor = next;
        if next == 0 {
            pass.walked = true;
            inc(&shared.metrics.reconcile_runs);
            return Walk::Complete;
        }
    }
}

/// The longest index value the catch-up reads (`GETRANGE 0 ..`): a claim
/// id is at most 45 bytes, so a longer value is junk whatever follows, and a
/// junk string of megabytes is not read whole on every pass.
const INDEX_READ: usize = 64;

/// The ids among `ids` that have no index entry (one pipelined EXISTS). In
/// a pass that adopts one pipelined `GETRANGE` of the first [`INDEX_READ`]
/// bytes instead, which also gives the claim ids of the others (with their
/// artefact ids), for adoption; the few that read empty (no key, or an
/// empty value) are told apart by an EXISTS. An index key of another type
/// counts as claimed, as with EXISTS, and gives no claim id.
async fn unclaimed(
    ctx: &SessionCtx,
    conn: &mut MultiplexedConnection,
    ids: &[ArtefactId],
    adopting: bool,
) -> Result<(Vec<ArtefactId>, Vec<Indexed>), RedisError> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let keys = &ctx.shared.keys;
    let exists = |ids: &[ArtefactId]| {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.exists(keys.claim_by_artefact(id));
        }
        pipe
    };
    if !adopting {
        let claimed: Vec<bool> = exists(ids).query_async(conn).await?;
        let unclaimed = ids.iter().zip(claimed).filter(|(_, c)| !c);
        return Ok((unclaimed.map(|(id, _)| *id).collect(), Vec::new()));
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("GETRANGE")
            .arg(keys.claim_by_artefact(id))
            .arg(0)
            .arg(INDEX_READ - 1);
    }
    let entries: Vec<redis::RedisResult<Vec<u8>>> = pipe.ignore_errors().query_async(conn).await?;
    let (mut empty, mut claims) = (Vec::new(), Vec::new());
    for (id, entry) in ids.iter().zip(entries) {
        match entry {
            Ok(value) if value.is_empty() => empty.push(*id),
            Ok(claim) => claims.extend(ClaimId::parse_bytes(&claim).map(|claim| Indexed {
                artefact: *id,
                claim,
            })),
            Err(_) => {}
        }
    }
    if empty.is_empty() {
        return Ok((Vec::new(), claims));
    }
    let claimed: Vec<bool> = exists(&empty).query_async(conn).await?;
    let unclaimed = empty.iter().zip(claimed).filter(|(_, c)| !c);
    Ok((unclaimed.map(|(id, _)| *id).collect(), claims))
}
