//! Running controllers' workers (`workers-contract.md`): the Docker side of
//! the `workers` decider. The launcher task (`launcher`) starts the
//! workers of the slots this process grants as soon as it grants them,
//! beside the reconciliation; one task per session reconciles (`reconcile`):
//! it lists this instance's worker containers, launches the claims holding
//! a slot that have none (`launch`), records the ones that exited, stops
//! the ones whose claim was terminated (phase timeout) and removes what is
//! recorded. One Docker events stream (`events`) wakes it when a worker
//! dies, so exits are seen at once without a connection per worker; the
//! periodic pass catches what the stream missed (restarts, Docker lost).
//!
//! Docker errors: a transient one (socket gone, time-out, 5xx) marks Docker
//! down (`/readyz`, `docker_up`) and is retried on the next pass; it never
//! ends a claim. Only a permanent one about a launch (no such image, an
//! invalid spec) terminates the claim, with Docker's reason.

mod events;
pub(super) mod granted;
mod launch;
mod launcher;
mod reconcile;

use std::time::{Duration, Instant};

pub(super) use reconcile::run as run_reconcile;

use crate::blackboard::Keys;
use crate::config::registry::Registry;
use crate::config::{Config, Namespace};
use crate::docker::Docker;
use crate::engine::workers_shared::Workers;
use crate::log::Line;
use crate::workers::scripts::Calls;
use crate::workers::spec::Settings;

/// How long start-up waits for Docker to answer.
pub const STARTUP_DOCKER_BUDGET: Duration = Duration::from_secs(4);

/// At start-up, with a controller in the registry: Docker must answer (one
/// line otherwise), and each worker image's id is read into `registry`. An
/// image that is not there is a warning: its claims' launches fail with
/// Docker's reason.
pub async fn startup(
    config: &Config,
    keys: &Keys,
    registry: &mut Registry,
) -> Result<Option<Workers>, String> {
    if registry.controllers().next().is_none() {
        return Ok(None);
    }
    let docker = Docker::new(&config.docker_socket, crate::docker::Timeouts::default());
    let socket = docker.socket().display().to_string();
    let deadline = Instant::now() + STARTUP_DOCKER_BUDGET;
    let ping = loop {
        match docker.ping().await {
            Ok(p) => break p,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                smol::Timer::after(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(format!(
                    "the registry has controller agents, which need Docker, but Docker at {socket} does not answer: {}",
                    e.message()
                ))
            }
        }
    };
    let host_workspace = config.host_workspace.clone();
    let names: Vec<(String, String)> = registry
        .controllers()
        .map(|(a, c)| (a.name.clone(), c.worker.image.clone()))
        .collect();
    for (name, image) in names {
        match docker.image_inspect(&image).await {
            Ok(info) => registry.set_image_id(&name, &info.id),
            Err(e) if e.is_transient() => {
                return Err(format!("Docker at {socket}: {}", e.message()));
            }
            Err(e) => Line::warn("worker_image_missing")
                .str("agent", &name)
                .str("image", &image)
                .str("error", e.message())
                .emit(),
        }
    }
    let redis_url = config.worker_redis_url().to_string();
    let settings = Settings {
        instance: config.instance.clone(),
        run_id: crate::ids::new_v4().hyphenated().to_string(),
        redis_url,
        host_workspace,
        sett_namespace: config.namespace == Namespace::Sett,
    };
    Line::info("docker_connected")
        .str("socket", &socket)
        .display("api_version", ping.api)
        .emit();
    Ok(Some(Workers::new(
        docker,
        settings,
        Calls::new(keys, registry),
        registry.clone(),
    )))
}
