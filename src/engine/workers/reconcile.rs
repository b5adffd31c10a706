//! The reconciliation pass, run when woken (a worker's `die` event) and
//! every [`PERIOD`]: what Redis says (the claims holding a slot of each
//! role) meets what Docker says (this instance's worker containers, found
//! by label). Fresh grants are not its job (the launcher's, `launcher`),
//! though it launches any slot still without a container:
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
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::launch::{
    created_recorded, record_exit, remove, run_call, start, started_unanswered, Worker,
};
use super::launcher::launch_all;
use crate::docker::{ContainerSummary, DockerError};
use crate::engine::ctx::SessionCtx;
use crate::engine::shared::Shared;
use crate::engine::workers_shared::Workers;
use crate::log::Line;
use crate::workers::spec::{claim_uuid, LABEL_CLAIM, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_ROLE};

/// The longest a pass waits for a wake-up (up to 4 times that while Docker
/// keeps failing: a back-off; a wake-up still runs a pass at once).
pub const PERIOD: Duration = Duration::from_secs(2);
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
    let launcher = smol::spawn(super::launcher::run(ctx.clone()));
    loop {
        if ctx.stopping() {
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
    launcher.await;
}

/// One pass; `Ok(true)` when queued claims got slots (run again at once).
async fn pass(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
) -> Result<bool, String> {
    // After the launcher's batch, if one runs (it never waits for a pass).
    drop(w.launcher_busy.lock().await);
    let instance = format!("{LABEL_INSTANCE}={}", w.settings.instance);
    let component = format!("{LABEL_COMPONENT}=worker");
    let died = w.take_died();
    let containers = match w.docker.list(true, &[&instance, &component]).await {
        Ok(mut c) => {
            w.docker_ok();
            seen_dead(&mut c, &died);
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
            // Started, though its start call got no answer here: counted now.
            if c.state != "created" && w.take_unanswered(&c.id) {
                let role = c.labels.get(LABEL_ROLE).map_or("", String::as_str);
                started_unanswered(w, worker(&c, claim, role));
            }
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
                // The launcher's (granted here, its batch not done yet).
                None if w.granted.noted(claim) => {}
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
        if c.state == "created" {
            // Never started (its start refused, or its launcher stopped
            // between create and start): nothing ran, nothing to record or
            // keep. Docker answers a stop of it 304 and leaves it created
            // (stopping it woke the next pass at once, for ever); removed
            // once its claim has ended, complete included (no worker of it
            // is finishing its writes).
            if claim_ended(conn, w, &claim).await {
                remove(w, worker(&c, &claim, &role)).await;
            }
            continue;
        }
        if c.state == "running" || c.state == "restarting" {
            if claim_final(conn, w, &claim).await {
                stop(w, &c, &claim, &role).await;
            }
            continue;
        }
        if c.state == "exited" || c.state == "dead" {
            if record_state(conn, w, &claim).await.as_deref() == Some("ended") {
                remove(w, worker(&c, &claim, &role)).await;
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
            // Listed as ended (seen_dead) but not yet: a later pass.
            Ok(info) if info.state.running => Ok(()),
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
            if now - c.created >= START_LEFT_AFTER_SECS
                && created_recorded(shared, w, conn, worker(c, claim, role)).await?
            {
                start(shared, w, conn, worker(c, claim, role), None).await?;
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

/// A container whose `die` event came is ended, whatever the list says:
/// Docker lists it `running` for a while after the event (its exit is then
/// recorded at once, not by the pass after, `PERIOD` later). Inspected before
/// its end is recorded (`held`), which tells its exit code.
fn seen_dead(containers: &mut [ContainerSummary], died: &[String]) {
    for c in containers {
        if c.state == "running" && died.contains(&c.id) {
            c.state = "exited".to_string();
        }
    }
}

fn name(c: &ContainerSummary) -> &str {
    c.names.first().map_or("", String::as_str)
}

/// Container `c`, the worker of `claim` (role `role`).
fn worker<'a>(c: &'a ContainerSummary, claim: &'a str, role: &'a str) -> Worker<'a> {
    Worker {
        id: &c.id,
        name: name(c),
        claim,
        role,
    }
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
    crate::engine::decisions::decision_error(shared, "workers", &e.to_string()).emit();
    if crate::redis_io::ends_session(&e) {
        Err(format!("workers: {e}"))
    } else {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, state: &str) -> ContainerSummary {
        ContainerSummary {
            id: id.into(),
            names: vec![format!("worker-{id}")],
            state: state.into(),
            labels: BTreeMap::new(),
            created: 0,
        }
    }

    #[test]
    fn a_container_whose_die_event_came_is_taken_as_ended() {
        let mut list = vec![
            listed("a", "running"),
            listed("b", "running"),
            listed("c", "created"),
            listed("d", "exited"),
        ];
        seen_dead(&mut list, &["a".into(), "c".into(), "gone".into()]);
        let states: Vec<&str> = list.iter().map(|c| c.state.as_str()).collect();
        // Only a running one that died: a created one never ran.
        assert_eq!(states, ["exited", "running", "created", "exited"]);
    }
}
