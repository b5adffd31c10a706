//! Launching workers soon and side by side. The launcher task starts the
//! workers of the slots this process grants as soon as the grant's answer
//! is in (woken by [`Workers::granted`]), beside a reconciliation pass that
//! may be running (listing containers, waiting for a stop or a start), not
//! after it: a fresh grant never waits behind a pass. A pass's launches run
//! concurrently too. `launch.lua` decides each launch, and one launch of a
//! claim at a time runs in this process (`Granted::begin`), so the pass and
//! the launcher never launch a claim's worker twice.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::launch::launch;
use crate::config::registry::{Agent, Controller};
use crate::engine::ctx::SessionCtx;
use crate::engine::shared::Shared;
use crate::engine::workers_shared::Workers;
use crate::workers::spec::claim_uuid;

/// Launches run concurrently in groups of this many (per task: the pass
/// leaves the launcher's claims alone, `Granted::noted`).
pub const LAUNCHES_AT_ONCE: usize = 16;

/// The launcher task of a session.
pub async fn run(ctx: SessionCtx) {
    let Some(w) = ctx.shared.workers.as_ref() else {
        return;
    };
    let conn = ctx.conn.clone();
    loop {
        let busy = w.launcher_busy.lock().await;
        let launched = launch_granted(&ctx.shared, w, &conn).await;
        drop(busy);
        if let Err(reason) = launched {
            ctx.end(reason);
            return;
        }
        if ctx.stop.unless_triggered(w.grants()).await.is_none() {
            return;
        }
    }
}

/// Launches the slots this process granted since it last looked, without
/// any list: a fresh grant's worker starts after `launch.lua` and Docker's
/// create and start.
async fn launch_granted(
    shared: &Shared,
    w: &Workers,
    conn: &MultiplexedConnection,
) -> Result<(), String> {
    let batch = w.granted.fresh();
    let launches = batch
        .claims
        .iter()
        .filter_map(|(claim, role)| {
            let (agent, controller) = w.registry.controllers().find(|(a, _)| &a.role == role)?;
            Some((agent, controller, claim_uuid(claim)?))
        })
        .collect();
    launch_all(shared, w, &mut conn.clone(), launches).await
}

/// Launches `launches` concurrently, [`LAUNCHES_AT_ONCE`] at a time (Docker
/// takes most of a second to start a container here, and starts several at
/// once about as fast); the first error that ends the session, if any.
pub async fn launch_all(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    launches: Vec<(&Agent, &Controller, Uuid)>,
) -> Result<(), String> {
    for group in launches.chunks(LAUNCHES_AT_ONCE) {
        let tasks = group.iter().map(|(agent, controller, id)| {
            let mut conn = conn.clone();
            async move { launch(shared, w, &mut conn, agent, controller, id).await }
        });
        join_all(tasks.collect())
            .await
            .into_iter()
            .collect::<Result<(), String>>()?;
    }
    Ok(())
}

/// Runs `futures` concurrently on this task; their outputs, in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
