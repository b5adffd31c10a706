//! The controller workers' bench bench-top: a redis-server of its own that
//! containers reach (all addresses, no protected mode: the tests' lab does
//! the same), the worker image and networks (sett-sim's `worker_image`,
//! as the tests build them), orchestrators started with a controller
//! registry and logging to a file, the controller's bids (a sett-sim
//! agent), and what the engine and the blackboard say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sett_orchestrator::docker::Docker;
use sett_sim::worker_image::{remove_containers, Network};
use sett_sim::{Artefact, Keys, Spec, Swarm, Watch, Work};

use crate::startup::healthy;

/// The longest a step waits (200 claims at about one launch a second fit).
pub const PATIENCE: Duration = Duration::from_secs(300);

/// A redis-server on a free port, listening on every address; stopped on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Redis {
    pub fn start(dir: &Path) -> Result<Redis, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "0.0.0.0"])
            .args(["--protected-mode", "no", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        let redis = Redis { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while connect(&redis.url()).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not answer".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn connect(url: &str) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    smol::block_on(client.get_multiplexed_async_connection()).map_err(|e| e.to_string())
}

/// One instance: its network, its orchestrator (logging to `log`), the
/// controller's bids. The instance's containers and network go on drop.
pub struct Instance {
    pub name: String,
    pub keys: Keys,
    pub pid: i32,
    pub log: PathBuf,
    child: Child,
    bidder: Option<Swarm>,
    _network: Network,
}

struct Quiet;
impl Watch for Quiet {}

/// A registry with one controller `Coder`: its worker runs `image` with `command` words.
pub fn registry(image: &str, command: &str, max_concurrent: u32) -> String {
    format!(
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    image: coder:latest\n    \
         bidding_strategy: exclusive\n    worker:\n      image: '{image}'\n      command: [{command}]\n      \
         max_concurrent: {max_concurrent}\n"
    )
}

impl Instance {
    /// Starts `bin` on instance `name` with `registry` (a file written in `dir`).
    pub fn start(
        bin: &Path,
        dir: &Path,
        redis: &Redis,
        name: &str,
        registry: &str,
        label: &str,
    ) -> Result<Instance, String> {
        let network = Network::create(name, label)?;
        let file = dir.join(format!("{name}.yml"));
        std::fs::write(&file, registry).map_err(|e| e.to_string())?;
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("SETT_INSTANCE_NAME", name)
            .env("REDIS_URL", redis.url())
            .env(
                "SETT_WORKER_REDIS_URL",
                format!("redis://{}:{}", network.gateway, redis.port),
            )
            .env("SETT_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SETT_CONFIG_FILE", &file)
            .env("SETT_BID_TIMEOUT", "0");
        if let Ok(host) = std::env::var("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", host);
        }
        let child = cmd
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut instance = Instance {
            name: name.to_string(),
            keys: Keys::new(&format!("sett:{name}")),
            pid: child.id() as i32,
            log,
            child,
            bidder: None,
            _network: network,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !healthy(port) {
            if Instant::now() > deadline || instance.child.try_wait().ok().flatten().is_some() {
                let text = std::fs::read_to_string(&instance.log).unwrap_or_default();
                return Err(format!("the orchestrator did not become healthy: {text}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let coder = Spec::new("Coder", "exclusive", Work::new("Standard", "Never", ""));
        instance.bidder = Some(Swarm::start(
            &redis.url(),
            instance.keys.prefix(),
            vec![coder],
            Arc::new(Quiet),
        )?);
        Ok(instance)
    }

    /// Writes and announces `n` goals (the user's work) in one pipeline,
    /// in order; their ids.
    pub fn goals(&self, conn: &mut MultiplexedConnection, n: usize) -> Result<Vec<String>, String> {
        let mut pipe = redis::pipe();
        let ids = (0..n)
            .map(|_| {
                let a = Artefact::new("Standard", "Goal", "bench goal", "user");
                a.write(&self.keys, &mut pipe);
                a.id
            })
            .collect();
        smol::block_on(pipe.query_async::<()>(conn)).map_err(|e| format!("goals: {e}"))?;
        Ok(ids)
    }

    /// The status of the claim of each artefact that has one.
    pub fn statuses(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> Result<BTreeMap<String, String>, String> {
        smol::block_on(async {
            let pattern = format!("{}:claim:*", self.keys.prefix());
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(conn)
                .await
                .map_err(|e| e.to_string())?;
            let keys: Vec<&String> = keys.iter().filter(|k| !k.ends_with(":bids")).collect();
            if keys.is_empty() {
                // No claim yet (an empty pipeline is an error to redis-rs).
                return Ok(BTreeMap::new());
            }
            let mut pipe = redis::pipe();
            for key in keys {
                pipe.cmd("HMGET").arg(key).arg("artefact_id").arg("status");
            }
            let rows: Vec<(Option<String>, Option<String>)> =
                pipe.query_async(conn).await.map_err(|e| e.to_string())?;
            Ok(rows
                .into_iter()
                .filter_map(|(a, s)| Some((a?, s?)))
                .collect())
        })
    }

    /// Waits until every one of `goals` has a `complete` claim.
    pub fn wait_complete(
        &self,
        conn: &mut MultiplexedConnection,
        goals: &[String],
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = self.statuses(conn)?;
            let done = goals
                .iter()
                .filter(|g| s.get(*g).map(String::as_str) == Some("complete"))
                .count();
            if done == goals.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: {done} of {} claims complete after {PATIENCE:?}",
                    self.name,
                    goals.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log's lines (JSON objects) whose `event` is `event`, in order.
    pub fn lines(&self, event: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tag = format!("\"event\":\"{event}\"");
        text.lines()
            .filter(|l| l.contains(&tag))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGTERM, then the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        if let Some(b) = self.bidder.take() {
            b.stop();
        }
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let bidder = self.bidder.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_containers(&format!("holt.instance.name={}", self.name));
        // Last: its agents' panic, if any, is raised here (none while
        // unwinding already), after the process and containers are gone.
        if let Some(b) = bidder {
            b.stop();
        }
    }
}

/// This instance's worker containers that are alive (created, running,
/// restarting), as the engine lists them.
pub fn alive(docker: &Docker, instance: &str) -> Result<usize, String> {
    let label = format!("holt.instance.name={instance}");
    let list = smol::block_on(docker.list(true, &[&label])).map_err(|e| e.message().to_string())?;
    Ok(list
        .iter()
        .filter(|c| matches!(c.state.as_str(), "created" | "running" | "restarting"))
        .count())
}

/// How many of this instance's containers exist at all.
pub fn containers(docker: &Docker, instance: &str) -> Result<usize, String> {
    let label = format!("holt.instance.name={instance}");
    smol::block_on(docker.list(true, &[&label]))
        .map(|l| l.len())
        .map_err(|e| e.message().to_string())
}
