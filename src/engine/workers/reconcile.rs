//! The reconciliation pass, run when woken (a grant, a worker's `die`
//! event) and every [`PERIOD`]: what Redis says (the claims holding a slot
//! of each role) meets what Docker says (this instance's worker containers,
//! found by label):
//! - an exited worker holding a slot: its end is recorded, then it is removed;
//! - an exited worker whose end is recorded: removed (clean-up after a
//!   restart); one whose end is not, holding no slot of a registry role
//!   (its role left the registry) and whose claim is final or gone: its
//!   end is recorded under its label's role (the slot is freed), then it
//!   is removed;
//! - a running worker whose claim was terminated (phase timeout): stopped;
//! - a worker created but never started (we stopped in between): started;
//! - a slot with no container: launched (`launch.lua` says whether);
//! - then free slots go to queued claims (`resume.lua`).
//!
//! A restarted orchestrator, or another replica, does exactly the same, so
//! workers are adopted and ones that exited while none ran are recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use super::launch::{launch, record_exit, remove, run_call, start};
use crate::config::registry::{Agent, Controller};
use crate::docker::{ContainerSummary, DockerError};
use crate::engine::ctx::SessionCtx;
use crate::engine::shared::Shared;
use crate::engine::workers_shared::Workers;
use crate::log::Line;
use crate::workers::spec::{claim_uuid, LABEL_CLAIM, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_ROLE};

/// The longest a pass waits for a wake-up (up to 4 times that while Docker
/// keeps failing: a back-off; a wake-up still runs a pass at once).
pub const PERIOD: Duration = Duration::from_secs(2);
/// Launches run concurrently in groups of this many.
const LAUNCHES_AT_ONCE: usize = 16;
/// A worker stopped for its terminated claim gets this long to exit.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// A container created this long ago and never started was left by a stop
/// between create and start (a live launcher starts it within a call).
const START_LEFT_AFTER_SECS: i64 = 30;

pub async fn run(ctx: SessionCtx) {
    let Some(w) = ctx.shared.workers.as_ref() else {
        return;
    };
    let mut conn = ctx.conn.clone();
    let events = smol::spawn({
        let shared = ctx.shared.clone();
        let stop = ctx.stop.clone();
        async move {
            if let Some(w) = shared.workers.as_ref() {
                super::events::run(w, stop).await;
            }
        }
    });
    loop {
        if ctx.stopping() {
            break;
        }
        if let Err(reason) = launch_granted(&ctx.shared, w, &conn).await {
            ctx.end(reason);
            break;
        }
        match pass(&ctx.shared, w, &mut conn).await {
            Ok(again) if again => continue,
            Ok(_) => {}
            Err(reason) => {
                ctx.end(reason);
                break;
            }
        }
        if ctx
            .stop
            .unless_triggered(w.woken(w.period(PERIOD)))
            .await
            .is_none()
        {
            break;
        }
    }
    events.await;
}

/// One pass; `Ok(true)` when queued claims got slots (run again at once).
async fn pass(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
) -> Result<bool, String> {
    let instance = format!("{LABEL_INSTANCE}={}", w.settings.instance);
    let component = format!("{LABEL_COMPONENT}=worker");
    let containers = match w.docker.list(true, &[&instance, &component]).await {
        Ok(c) => {
            w.docker_ok();
            c
        }
        Err(e) => {
            w.docker_failed("list containers", &e);
            return Ok(false);
        }
    };
    let mut by_claim: BTreeMap<String, ContainerSummary> = BTreeMap::new();
    for c in containers {
        if let Some(claim) = c
            .labels
            .get(LABEL_CLAIM)
            .filter(|id| claim_uuid(id).is_some())
        {
            by_claim.insert(claim.clone(), c);
        }
    }
    let mut resumed = false;
    for (agent, controller) in w.registry.controllers() {
        let role = agent.role.as_str();
        let slots = match members(conn, &w.calls.slots_key(role)).await {
            Ok(s) => s,
            Err(e) => return redis_failed(shared, e),
        };
        let queued: u64 = redis::cmd("ZCARD")
            .arg(w.calls.queue_key(role))
            .query_async(conn)
            .await
            .unwrap_or(0);
        w.metrics.set_role(role, slots.len() as u64, queued);
        let mut held_here = Vec::new();
        let mut launches = Vec::new();
        for claim in &slots {
            let Some(id) = claim_uuid(claim) else {
                continue;
            };
            match by_claim.remove(claim) {
                None => launches.push((agent, controller, id)),
                Some(c) => held_here.push((c, claim)),
            }
        }
        launch_all(shared, w, conn, launches).await?;
        for (c, claim) in held_here {
            held(shared, w, conn, &c, claim, role).await?;
        }
        if queued > 0 {
            let effects = run_call(shared, conn, w.calls.resume(role)).await?;
            resumed |= !effects.is_empty();
        }
    }
    // Containers whose claim holds no slot: ended already, or left over.
    for (claim, c) in by_claim {
        let role = c.labels.get(LABEL_ROLE).cloned().unwrap_or_default();
        if c.state == "running" || c.state == "created" || c.state == "restarting" {
            if claim_final(conn, w, &claim).await {
                stop(w, &c, &claim, &role).await;
            }
            continue;
        }
        if c.state == "exited" || c.state == "dead" {
            if record_state(conn, w, &claim).await.as_deref() == Some("ended") {
                remove(w, &c.id, name(&c), &claim, &role).await;
            } else if claim_ended(conn, w, &claim).await {
                // Its end never recorded: a worker of a role the registry
                // no longer has (its claim terminated at the restart, or
                // completed by what it delivered). Recorded under its
                // label's role, which frees that role's slot (a later
                // registry with the role again is not held back), then
                // removed; the claim, final, is left as it is.
                held(shared, w, conn, &c, &claim, &role).await?;
            }
        }
    }
    Ok(resumed)
}

/// Launches the slots this process granted since it last looked, before
/// any list: a fresh grant's worker starts after `launch.lua` and Docker's
/// create and start (`launch.lua` decides, as in the pass).
async fn launch_granted(
    shared: &Shared,
    w: &Workers,
    conn: &MultiplexedConnection,
) -> Result<(), String> {
    let launches = w
        .granted
        .fresh()
        .into_iter()
        .filter_map(|(claim, role)| {
            let (agent, controller) = w.registry.controllers().find(|(a, _)| a.role == role)?;
            Some((agent, controller, claim_uuid(&claim)?))
        })
        .collect();
    launch_all(shared, w, &mut conn.clone(), launches).await
}

/// Launches `launches` concurrently, [`LAUNCHES_AT_ONCE`] at a time (Docker
/// takes most of a second to start a container here, and starts several at
/// once about as fast); the first error that ends the session, if any.
async fn launch_all(
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

/// A worker whose claim holds a slot.
async fn held(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    c: &ContainerSummary,
    claim: &str,
    role: &str,
) -> Result<(), String> {
    match c.state.as_str() {
        "exited" | "dead" => match w.docker.inspect(&c.id).await {
            Ok(info) => record_exit(shared, w, conn, &info, claim, role).await,
            Err(DockerError::NotFound(_)) => Ok(()),
            Err(e) => {
                w.docker_failed("inspect container", &e);
                Ok(())
            }
        },
        "created" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if now - c.created >= START_LEFT_AFTER_SECS {
                start(shared, w, conn, &c.id, name(c), claim, role, None).await?;
            }
            Ok(())
        }
        _ => {
            if claim_final(conn, w, claim).await {
                stop(w, c, claim, role).await;
            }
            Ok(())
        }
    }
}

fn name(c: &ContainerSummary) -> &str {
    c.names.first().map_or("", String::as_str)
}

/// Stops a worker whose claim was terminated (a phase timeout); its exit is
/// recorded by a later pass.
async fn stop(w: &Workers, c: &ContainerSummary, claim: &str, role: &str) {
    Line::info("worker_stopping")
        .str("claim_id", claim)
        .str("role", role)
        .str("container_name", name(c))
        .str("container_id", &c.id)
        .str("reason", "claim terminated")
        .emit();
    match w.docker.stop(&c.id, STOP_GRACE).await {
        Ok(()) | Err(DockerError::NotFound(_)) => w.wake(),
        Err(e) if e.is_transient() => w.docker_failed("stop container", &e),
        Err(e) => Line::warn("worker_error")
            .str("claim_id", claim)
            .str("role", role)
            .str("error", e.message())
            .emit(),
    }
}

/// Is the claim terminated (or gone)? A complete claim's worker is left to
/// exit by itself: it may still be finishing its writes.
async fn claim_final(conn: &mut MultiplexedConnection, w: &Workers, claim: &str) -> bool {
    matches!(
        claim_status(conn, w, claim).await.as_deref(),
        Some("" | "terminated")
    )
}

/// Is the claim terminated, complete or gone?
async fn claim_ended(conn: &mut MultiplexedConnection, w: &Workers, claim: &str) -> bool {
    matches!(
        claim_status(conn, w, claim).await.as_deref(),
        Some("" | "terminated" | "complete")
    )
}

/// The claim's status, `""` when it is gone; `None` when Redis did not answer.
async fn claim_status(
    conn: &mut MultiplexedConnection,
    w: &Workers,
    claim: &str,
) -> Option<String> {
    let status: Result<Option<String>, _> = redis::cmd("HGET")
        .arg(w.calls.claim_key(claim))
        .arg("status")
        .query_async(conn)
        .await;
    status.ok().map(Option::unwrap_or_default)
}

async fn record_state(
    conn: &mut MultiplexedConnection,
    w: &Workers,
    claim: &str,
) -> Option<String> {
    redis::cmd("GET")
        .arg(w.calls.record_key(claim))
        .query_async(conn)
        .await
        .ok()
        .flatten()
}

async fn members(
    conn: &mut MultiplexedConnection,
    key: &str,
) -> Result<BTreeSet<String>, redis::RedisError> {
    redis::cmd("SMEMBERS").arg(key).query_async(conn).await
}

/// A Redis read failed: logged; the session ends only when the error says so.
fn redis_failed(shared: &Shared, e: redis::RedisError) -> Result<bool, String> {
    crate::engine::outcome::decision_error(shared, "workers", &e.to_string()).emit();
    if crate::redis_io::ends_session(&e) {
        Err(format!("workers: {e}"))
    } else {
        Ok(false)
    }
}
