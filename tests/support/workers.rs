//! Controller agents' workers on the machine's real Docker engine: a
//! [`WorkerLab`] is one instance (`workers-<8 hex>`) with its Redis (reachable
//! from containers through the gateway of the instance's network
//! `holt-network-{i}`), a `FROM scratch` image holding `sett-test-worker`
//! (sim/src/bin; `SETT_TEST_WORKER_BIN`, built by `make test-unit`; the
//! image by `sett_sim::worker_image`), and a
//! registry whose `{IMAGE}` is that image. Everything it makes carries the
//! instance's name (containers: the orchestrator's `holt.instance.name`
//! label; network, image: `sett.test.run`) and goes when it drops.
//!
//! Without Docker, or without the test worker binary, the test records a
//! `SKIPPED:` line and returns (with `CI=true` it fails instead).

use sett_sim::worker_image::{docker_cli, Network, WorkerImage};
use sett_sim::{worker_image, SimAgent, Spec, Work};

use super::e2e::{lines_for, Stack};
use super::fake_docker::FakeDocker;
use super::*;

pub struct WorkerLab {
    /// The controller's bids (see [`bidder`]); dropped before the stack.
    _coder: SimAgent,
    pub stack: Stack,
    /// The worker image's tag and its id (`sha256:…`).
    pub image: String,
    pub image_id: String,
    /// `SETT_WORKER_REDIS_URL` for the orchestrators.
    pub worker_redis_url: String,
    // Dropped after the containers (see `Drop`), the image last.
    network: Option<Network>,
    worker_image: Option<WorkerImage>,
}

impl WorkerLab {
    /// A lab whose registry is `yaml` with `{IMAGE}` replaced, its `Coder`
    /// bidding, or `None` (skipped, said once per test).
    pub fn new(test: &str, yaml: &str) -> Option<WorkerLab> {
        if let Err(e) = docker_cli(&["version", "--format", "{{.Server.Version}}"]) {
            skip(test, &format!("no Docker engine: {e}"));
            return None;
        }
        let bin = worker_image::worker_bin(super::repo_root());
        if !bin.is_file() {
            skip(
                test,
                &format!(
                    "no test worker at {} (cargo build --release -p sett-sim --bin sett-test-worker --target x86_64-unknown-linux-musl, or SETT_TEST_WORKER_BIN)",
                    bin.display()
                ),
            );
            return None;
        }
        let instance = format!("workers-{}", &uuid()[..8]);
        let run_label = format!("sett.test.run={instance}");
        let network = Network::create(&instance, &run_label).unwrap();
        let tag = format!("sett-test-worker:{instance}");
        let worker_image = WorkerImage::build(&bin, &tag, &run_label).unwrap();
        let redis = RedisServer::start_with(&["--bind", "0.0.0.0", "--protected-mode", "no"]);
        let worker_redis_url = format!("redis://{}:{}", network.gateway, redis.port);
        let stack = Stack::on("holt", &instance, &yaml.replace("{IMAGE}", &tag), redis);
        Some(WorkerLab {
            _coder: bidder(&stack),
            stack,
            image: tag,
            image_id: worker_image.id.clone(),
            worker_redis_url,
            network: Some(network),
            worker_image: Some(worker_image),
        })
    }

    /// An orchestrator for this lab with `extra` variables.
    pub fn orchestrator(&self, extra: &[(&str, &str)]) -> Orchestrator {
        let mut env = vec![("SETT_WORKER_REDIS_URL", self.worker_redis_url.as_str())];
        env.extend_from_slice(extra);
        self.stack.orchestrator(&env)
    }

    /// One goal's worker launched, the orchestrator killed (-9), the worker
    /// exited while none runs (Docker says `exited`): the goal's claim.
    pub fn worker_exits_while_down(&mut self) -> String {
        let mut first = self.orchestrator(&[]);
        let claim = self.stack.goal();
        wait_one_line(&first, "worker_launched", &claim);
        first.kill9();
        assert!(
            wait_until(PATIENCE, || self
                .containers()
                .iter()
                .any(|(_, s)| s == "exited")),
            "{:?}",
            self.containers()
        );
        claim
    }

    /// `claim`'s worker container as the orchestrator names and labels it
    /// (role `Coder`), created by hand and never started: its name.
    pub fn create_unstarted(&self, claim: &str) -> String {
        let name = self.worker_name(claim);
        let labels = [
            format!("holt.instance.name={}", self.stack.instance),
            "holt.component=worker".to_string(),
            format!("holt.claim.id={claim}"),
            "holt.agent.role=Coder".to_string(),
        ];
        let mut args = vec!["create", "--name", name.as_str()];
        for label in &labels {
            args.extend(["--label", label.as_str()]);
        }
        args.push(self.image.as_str());
        docker_cli(&args).unwrap();
        name
    }

    /// The instance's worker containers, as `docker ps -a` lists them: name and state.
    pub fn containers(&self) -> Vec<(String, String)> {
        let filter = format!("label=holt.instance.name={}", self.stack.instance);
        let out = docker_cli(&[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.State}}",
        ])
        .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }

    /// The names of the instance's containers Docker created since unix time
    /// `since` (its `create` events, one per container ever made).
    pub fn created_since(&self, since: u64) -> Vec<String> {
        let filter = format!("label=holt.instance.name={}", self.stack.instance);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1;
        let out = docker_cli(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &now.to_string(),
            "--filter",
            &filter,
            "--filter",
            "event=create",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .unwrap();
        out.lines().map(str::to_string).collect()
    }

    /// How many of the instance's workers run now.
    pub fn running(&self) -> usize {
        self.containers()
            .iter()
            .filter(|(_, s)| s == "running")
            .count()
    }

    /// Waits until the claim's status is `status`; the claim hash.
    pub fn wait_status(
        &mut self,
        claim: &str,
        status: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let mut last = Default::default();
        let ok = wait_until(PATIENCE * 2, || {
            last = self.stack.claim(claim);
            last.get("status").map(String::as_str) == Some(status)
        });
        assert!(ok, "claim {claim} never {status}: {last:?}");
        last
    }

    /// Waits (3 × PATIENCE) until every one of `claims` is complete, polling
    /// the engine meanwhile; the most workers seen running at once.
    pub fn wait_all_complete(&mut self, claims: &[String]) -> usize {
        let mut most = 0;
        let done = wait_until(PATIENCE * 3, || {
            most = most.max(self.running());
            claims
                .iter()
                .all(|c| self.stack.claim(c).get("status").map(String::as_str) == Some("complete"))
        });
        assert!(done, "not all complete");
        most
    }

    /// The name the orchestrator gives the worker container of `claim`.
    pub fn worker_name(&self, claim: &str) -> String {
        format!("holt-{}-Coder-worker-{}", self.stack.instance, &claim[..8])
    }

    /// Every artefact hash whose `produced_by_role` is `role`.
    pub fn artefacts_by(&mut self, role: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let pattern = self.stack.key("artefact:*");
        let keys = self.stack.keys(&pattern);
        keys.iter()
            .map(|k| self.stack.hgetall(k))
            .filter(|a| a.get("produced_by_role").map(String::as_str) == Some(role))
            .collect()
    }
}

impl Drop for WorkerLab {
    fn drop(&mut self) {
        super::docker::remove_containers(&format!("holt.instance.name={}", self.stack.instance));
        self.network.take();
        self.worker_image.take();
    }
}

/// A controller `Coder` whose worker's command is `words` (the test worker's
/// instructions), at most `max` at once.
pub fn controller(words: &str, max: u32) -> String {
    format!(
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    image: coder:latest\n    \
         bidding_strategy: exclusive\n    worker:\n      image: '{{IMAGE}}'\n      command: [{words}]\n      \
         max_concurrent: {max}\n"
    )
}

/// The controller's bids: `exclusive` on what the user wrote (it never works itself).
pub fn bidder(stack: &Stack) -> SimAgent {
    stack.agent(Spec::new(
        "Coder",
        "exclusive",
        Work::new("Standard", "Never", ""),
    ))
}

/// Waits until `orch` has logged `event` about `claim` once (and not more).
pub fn wait_one_line(orch: &Orchestrator, event: &str, claim: &str) {
    assert!(
        wait_until(PATIENCE, || lines_for(orch, event, claim).len() == 1),
        "{event} for {claim}: {:?}",
        lines_for(orch, event, claim)
    );
}

pub fn no_containers_left(lab: &WorkerLab) {
    assert!(
        wait_until(PATIENCE, || lab.containers().is_empty()),
        "left: {:?}",
        lab.containers()
    );
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The Docker socket the machine's engine answers on.
pub fn docker_socket() -> String {
    sett_orchestrator::docker::socket_from_docker_host(std::env::var("DOCKER_HOST").ok().as_deref())
        .unwrap()
        .display()
        .to_string()
}

/// A holt stack whose one controller agent (Coder, one worker at most)
/// bids, an orchestrator on `fake` as its Docker, and a goal written: the
/// stack, the orchestrator, the goal's claim and the bidder (keep it).
pub fn fake_stack(fake: &FakeDocker) -> (Stack, Orchestrator, String, SimAgent) {
    let instance = format!("workers-{}", &uuid()[..8]);
    let mut stack = Stack::new(
        "holt",
        &instance,
        &controller("'x'", 1).replace("{IMAGE}", "w"),
    );
    let coder = bidder(&stack);
    let host = format!("unix://{}", fake.socket.display());
    let orch = stack.orchestrator(&[("DOCKER_HOST", host.as_str())]);
    let claim = stack.goal();
    (stack, orch, claim, coder)
}
