//! Launching one claim's worker, and recording one worker's end. Each step
//! that changes Redis is a worker decision script; Docker's answers decide
//! which: created (`created.lua`), could not be (`ended.lua` with the
//! reason), or try again on the next pass (a transient error).

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use uuid::Uuid;

use crate::blackboard::effects::Effect;
use crate::config::registry::{Agent, Controller};
use crate::docker::{ContainerInfo, DockerError, LogOptions};
use crate::engine::decisions::report_effects;
use crate::engine::shared::Shared;
use crate::engine::workers_shared::Workers;
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::redis_io::scripts::{decide, Call};
use crate::workers::scripts::Ending;
use crate::workers::spec::worker_spec;

/// Runs one worker decision and reports it; its effects, or `Err` when the
/// session must end (the error is logged).
pub async fn run_call(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    call: Call<'static>,
) -> Result<Vec<Effect>, String> {
    let Some(lc) = &shared.lifecycle else {
        return Ok(Vec::new());
    };
    let mut lines = Lines::default();
    let result = match decide(conn, &[call]).await {
        Ok(mut all) => match all.pop() {
            Some(Ok(effects)) => {
                report_effects(shared, lc, "worker", &effects, None, &mut lines);
                Ok(effects)
            }
            Some(Err(e)) => {
                let end = e.ends_session();
                lines.push(crate::engine::decisions::decision_error(
                    shared,
                    "workers",
                    &e.to_string(),
                ));
                if end {
                    Err(format!("workers: {e}"))
                } else {
                    Ok(Vec::new())
                }
            }
            None => Ok(Vec::new()),
        },
        Err(e) => {
            lines.push(crate::engine::decisions::decision_error(
                shared,
                "workers",
                &e.to_string(),
            ));
            if crate::redis_io::ends_session(&e) {
                Err(format!("workers: {e}"))
            } else {
                Ok(Vec::new())
            }
        }
    };
    lines.emit();
    result
}

/// Did `ended.lua` record the end (`worker_ended`), or find it recorded
/// before (`worker_gone`: the claim holds no slot)? Not when Redis refused
/// it (no rows: [`run_call`] logged the error), nor when a key it would
/// write had another type (`key_conflict`, or `invalid` for a worker key of
/// ours: logged): it wrote nothing, and the container is kept for a later
/// pass to record.
fn end_recorded(effects: &[Effect]) -> bool {
    effects
        .iter()
        .any(|e| matches!(e, Effect::WorkerEnded { .. } | Effect::WorkerGone { .. }))
}

/// Records a launch that cannot succeed: the claim is terminated with
/// `reason`. True when recorded ([`end_recorded`]).
async fn launch_failed(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    claim: &str,
    role: &str,
    reason: &str,
) -> Result<bool, String> {
    let ending = Ending::LaunchFailed {
        reason: reason.to_string(),
    };
    run_call(shared, conn, w.calls.ended(claim, role, &ending))
        .await
        .map(|effects| end_recorded(&effects))
}

/// Creates and starts `claim`'s worker, if `launch.lua` lets this process.
pub async fn launch(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    agent: &Agent,
    controller: &Controller,
    claim: &Uuid,
) -> Result<(), String> {
    let claim_text = claim.hyphenated().to_string();
    let Some(_launching) = w.granted.begin(&claim_text) else {
        // The launcher's or the pass's launch of it runs now: it decides.
        return Ok(());
    };
    let role = agent.role.as_str();
    let effects = run_call(shared, conn, w.calls.launch(&claim_text, role)).await?;
    let spec = worker_spec(&w.settings, agent, controller, claim);
    let name = spec.name().to_string();
    match effects.first() {
        Some(Effect::WorkerLaunch { .. }) => {}
        Some(Effect::WorkerLaunched { state, .. }) if state == "created" => {
            // Created, yet not listed: gone (removed by hand), or made by
            // another replica since our list. Docker tells which.
            return match w.docker.inspect(&name).await {
                Ok(_) => Ok(()),
                Err(DockerError::NotFound(_)) => launch_failed(
                    shared,
                    w,
                    conn,
                    &claim_text,
                    role,
                    "worker container disappeared",
                )
                .await
                .map(drop),
                Err(e) => {
                    w.docker_failed("inspect container", &e);
                    Ok(())
                }
            };
        }
        _ => return Ok(()),
    }
    Line::info("worker_launching")
        .str("claim_id", &claim_text)
        .str("role", role)
        .str("container_name", &name)
        .str("image", spec.image())
        .emit();
    let create_began = Instant::now();
    let id = match w.docker.create(&spec).await {
        Ok(created) => created.id,
        // The name is taken: made before (an earlier try whose answer was
        // lost, or another replica), or being made by another replica right
        // now, whose create may still fail. Only a container Docker shows is
        // recorded as created; otherwise the record stays `launching` and a
        // later pass tries again (never "disappeared" for a container that
        // was never there).
        Err(DockerError::Conflict(_)) => {
            return match w.docker.inspect(&name).await {
                Ok(_) => {
                    w.docker_ok();
                    run_call(shared, conn, w.calls.created(&claim_text, role))
                        .await
                        .map(drop)
                }
                Err(DockerError::NotFound(_)) => {
                    w.docker_ok();
                    Line::info("worker_name_taken")
                        .str("claim_id", &claim_text)
                        .str("role", role)
                        .str("container_name", &name)
                        .emit();
                    Ok(())
                }
                Err(e) => {
                    w.docker_failed("inspect container", &e);
                    Ok(())
                }
            };
        }
        Err(e) if e.is_transient() => {
            w.docker_failed("create container", &e);
            return Ok(());
        }
        Err(e) => {
            w.docker_ok();
            return launch_failed(shared, w, conn, &claim_text, role, e.message())
                .await
                .map(drop);
        }
    };
    let timing = Timing {
        granted: w.granted.take(&claim_text),
        create: create_began.elapsed(),
    };
    w.docker_ok();
    let worker = Worker {
        id: &id,
        name: &name,
        claim: &claim_text,
        role,
    };
    if created_recorded(shared, w, conn, worker).await? {
        start(shared, w, conn, worker, Some(timing)).await?;
    }
    Ok(())
}

/// One worker container and the claim it works for: what the launch, start
/// and removal steps name in their log lines.
#[derive(Clone, Copy)]
pub struct Worker<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub claim: &'a str,
    pub role: &'a str,
}

impl Worker<'_> {
    /// A line naming the claim, its role and the container.
    fn line(&self, line: Line) -> Line {
        line.str("claim_id", self.claim)
            .str("role", self.role)
            .str("container_name", self.name)
            .str("container_id", self.id)
    }
}

/// Records that `claim`'s container exists (`created.lua`), before it is
/// started: only a recorded container may run, so no later launch makes a
/// second one (the launch record says `created`). True when recorded. A
/// claim that no longer holds its slot (`worker_gone`: it ended meanwhile)
/// gets its never-started container removed; an answer Redis refused, or a
/// wrong-typed worker key, leaves it created, unstarted, for a later pass.
pub async fn created_recorded(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    worker: Worker<'_>,
) -> Result<bool, String> {
    let effects = run_call(shared, conn, w.calls.created(worker.claim, worker.role)).await?;
    match effects.first() {
        Some(Effect::WorkerLaunched { state, .. }) => Ok(state == "created"),
        Some(Effect::WorkerGone { .. }) => {
            remove(w, worker).await;
            Ok(false)
        }
        _ => Ok(false),
    }
}

/// How a launch of this process went before its start call: when its slot
/// was granted here (if it was) and how long Docker's create call took.
pub struct Timing {
    granted: Option<Instant>,
    create: Duration,
}

/// Starts a created worker; a start Docker refuses for good (say the command
/// does not exist in the image) is a launch failure and the container goes.
/// `timing`: the launch that just created it, for `worker_launched`'s
/// `docker_create_ms`, `docker_start_ms` (the two Docker calls) and
/// `since_grant_ms` (from this process's grant to the start answered).
pub async fn start(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    worker: Worker<'_>,
    timing: Option<Timing>,
) -> Result<(), String> {
    let start_began = Instant::now();
    match w.docker.start(worker.id).await {
        Ok(()) => {
            let started = start_began.elapsed();
            w.docker_ok();
            let mut line = worker.line(Line::info("worker_launched"));
            if let Some(t) = timing {
                line = line
                    .millis("docker_create_ms", t.create)
                    .millis("docker_start_ms", started);
                if let Some(granted) = t.granted {
                    line = line.millis("since_grant_ms", granted.elapsed());
                }
            }
            // Not counted again by a pass, if an earlier start of it got
            // no answer.
            w.take_unanswered(worker.id);
            launched(w, line);
            Ok(())
        }
        Err(e) if e.is_transient() => {
            // Docker may have started it before the answer was lost: a
            // pass that finds it started counts it (`started_unanswered`).
            w.start_unanswered(worker.id);
            w.docker_failed("start container", &e);
            Ok(())
        }
        Err(e) => {
            w.docker_ok();
            if launch_failed(shared, w, conn, worker.claim, worker.role, e.message()).await? {
                remove(w, worker).await;
            }
            Ok(())
        }
    }
}

/// A worker started: counted in `workers_launched_total`, its line written.
fn launched(w: &Workers, line: Line) {
    inc(&w.metrics.launched);
    line.emit();
}

/// A worker whose start call got no answer (Docker went away while it was
/// asked), found started by a pass: counted and logged then, once, without
/// the timings only the answer gives.
pub fn started_unanswered(w: &Workers, worker: Worker<'_>) {
    launched(w, worker.line(Line::info("worker_launched")));
}

/// Records an exited worker (its code; its logs when it failed), then removes it
/// (kept when the end could not be recorded: [`end_recorded`]).
pub async fn record_exit(
    shared: &Shared,
    w: &Workers,
    conn: &mut MultiplexedConnection,
    info: &ContainerInfo,
    claim: &str,
    role: &str,
) -> Result<(), String> {
    let code = info.state.exit_code;
    let ending = if !info.state.error.is_empty() && info.state.started_at.starts_with("0001-") {
        Ending::LaunchFailed {
            reason: info.state.error.clone(),
        }
    } else if code == 0 {
        Ending::Exit {
            code,
            logs: String::new(),
        }
    } else {
        match w.docker.logs(&info.id, LogOptions::default()).await {
            Ok(logs) => Ending::Exit {
                code,
                logs: logs.failure_text(),
            },
            Err(e) if e.is_transient() => {
                w.docker_failed("container logs", &e);
                return Ok(());
            }
            Err(e) => Ending::Exit {
                code,
                logs: format!("(logs unavailable: {})", e.message()),
            },
        }
    };
    let effects = run_call(shared, conn, w.calls.ended(claim, role, &ending)).await?;
    if end_recorded(&effects) {
        let worker = Worker {
            id: &info.id,
            name: &info.name,
            claim,
            role,
        };
        remove(w, worker).await;
    }
    Ok(())
}

/// Removes a recorded worker (`worker_cleanup`); a failure is retried on a later pass.
pub async fn remove(w: &Workers, worker: Worker<'_>) {
    match w.docker.remove(worker.id).await {
        Ok(()) | Err(DockerError::NotFound(_)) => {
            // Gone: a start of it whose answer was lost is no longer looked for.
            w.take_unanswered(worker.id);
            worker.line(Line::info("worker_cleanup")).emit();
        }
        Err(e) if e.is_transient() => w.docker_failed("remove container", &e),
        Err(e) => Line::warn("worker_error")
            .str("claim_id", worker.claim)
            .str("role", worker.role)
            .str("container_name", worker.name)
            .str("error", e.message())
            .emit(),
    }
}
