//! An instance started the way `holt up` starts one (Holt's
//! `cmd/holt/commands/up.go`, `createInstance`): the bridge network
//! `holt-network-{i}`, Redis as `holt-redis-{i}` on it, and the orchestrator
//! image as `holt-orchestrator-{i}` on it with `HOLT_INSTANCE_NAME`,
//! `REDIS_URL=redis://holt-redis-{i}:6379` and `HOST_WORKSPACE_PATH`, the
//! workspace bind-mounted read-only at `/workspace` (where it reads
//! `holt.yml`), the host's Docker socket at `/var/run/docker.sock` and the
//! socket's group added (Holt's `GroupAdd`); the network and each container
//! labelled `holt.project`, `holt.instance.name`, `holt.instance.run_id`,
//! `holt.workspace.path` and (containers) `holt.component`. One difference:
//! Redis's port is published on an ephemeral host port, for the test's own
//! client, where Holt picks a fixed one.
//!
//! Everything made here goes on drop: the orchestrator, every container
//! labelled with the instance (the workers), Redis, the network, the
//! images built through [`HoltUp::worker_image`], the workspace.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sett_sim::worker_image;
use testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, ContainerRequest, GenericImage, ImageExt};

use super::{docker, generic, orchestrator_image, redis_image, uuid};

pub struct HoltUp {
    pub instance: String,
    pub network: String,
    pub run_id: String,
    /// The workspace on the host (`HOST_WORKSPACE_PATH`).
    pub workspace: PathBuf,
    pub redis: Option<Container<GenericImage>>,
    pub orchestrator: Option<Container<GenericImage>>,
    images: Vec<String>,
}

/// The host's Docker socket: `DOCKER_HOST=unix:///path`, else Holt's path.
pub fn host_socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(v) if v.starts_with("unix://") => v["unix://".len()..].to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// The static test worker, or `None` (said, as for a missing Docker; a
/// failure when `CI=true`). scripts/container-tests.sh builds it.
pub fn worker_bin_or_skip(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = worker_image::worker_bin(&root);
    if bin.is_file() {
        return Some(bin);
    }
    let why = format!(
        "no test worker at {} (cargo build --release -p sett-sim --bin sett-test-worker --target x86_64-unknown-linux-musl, or SETT_TEST_WORKER_BIN)",
        bin.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    None
}

impl HoltUp {
    /// The network, Redis on it, and a workspace holding `holt.yml` and
    /// `files` (readable by the orchestrator's user, nobody); the
    /// orchestrator is started by [`HoltUp::up`].
    pub fn new(instance: &str, holt_yml: &str, files: &[(&str, &str)]) -> HoltUp {
        let workspace = std::env::temp_dir().join(format!("sett-ct-workspace-{instance}"));
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::set_permissions(&workspace, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (name, text) in [("holt.yml", holt_yml)].iter().chain(files) {
            let path = workspace.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut up = HoltUp {
            instance: instance.to_string(),
            network: format!("holt-network-{instance}"),
            run_id: uuid(),
            workspace,
            redis: None,
            orchestrator: None,
            images: Vec::new(),
        };
        let mut create = vec!["network", "create", "--driver", "bridge"];
        let labels: Vec<String> = up
            .labels("")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for l in &labels {
            create.extend(["--label", l]);
        }
        create.push(&up.network);
        let (ok, _, err) = docker(&create);
        assert!(ok, "docker network create {}: {err}", up.network);
        let mut redis = generic(&redis_image())
            .with_exposed_port(6379.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_network(&up.network)
            .with_container_name(format!("holt-redis-{instance}"))
            .with_cmd(["--protected-mode", "no", "--save", "", "--appendonly", "no"]);
        for (k, v) in up.labels("redis") {
            redis = redis.with_label(k, v);
        }
        up.redis = Some(start(redis, &redis_image()));
        up
    }

    /// Holt's `BuildLabels(instance, run_id, workspace, component)`.
    pub fn labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = [
            ("holt.project", "true"),
            ("holt.instance.name", self.instance.as_str()),
            ("holt.instance.run_id", self.run_id.as_str()),
            ("holt.workspace.path", self.workspace.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if !component.is_empty() {
            labels.insert("holt.component".into(), component.into());
        }
        labels
    }

    /// Builds the worker image `tag` around `bin` (removed on drop); its id.
    pub fn worker_image(&mut self, bin: &Path, tag: &str) -> String {
        self.images.push(tag.to_string());
        // No labels: a container inherits its image's.
        worker_image::build(bin, tag, &[]).unwrap()
    }

    /// Starts the orchestrator image as `holt up` does; waits for its
    /// `orchestrator_startup` line.
    pub fn up(&mut self) {
        let socket = host_socket();
        let gid = std::fs::metadata(&socket)
            .unwrap_or_else(|e| panic!("{socket}: {e}"))
            .gid()
            .to_string();
        let workspace = self.workspace.to_str().unwrap().to_string();
        let mut request = generic(&orchestrator_image())
            .with_wait_for(WaitFor::message_on_stdout(
                "\"event\":\"orchestrator_startup\"",
            ))
            .with_network(&self.network)
            .with_container_name(format!("holt-orchestrator-{}", self.instance))
            .with_env_var("HOLT_INSTANCE_NAME", &self.instance)
            .with_env_var(
                "REDIS_URL",
                format!("redis://holt-redis-{}:6379", self.instance),
            )
            .with_env_var("HOST_WORKSPACE_PATH", &workspace)
            .with_mount(
                Mount::bind_mount(workspace.as_str(), "/workspace")
                    .with_access_mode(AccessMode::ReadOnly),
            )
            .with_mount(Mount::bind_mount(socket.as_str(), "/var/run/docker.sock"))
            .with_host_config_modifier(move |hc| hc.group_add = Some(vec![gid.clone()]));
        for (k, v) in self.labels("orchestrator") {
            request = request.with_label(k, v);
        }
        self.orchestrator = Some(start(request, &orchestrator_image()));
    }

    /// Redis's port on the host.
    pub fn redis_port(&self) -> u16 {
        let redis = self.redis.as_ref().expect("redis started");
        redis
            .get_host_port_ipv4(6379.tcp())
            .expect("redis host port")
    }

    /// The orchestrator's log lines (JSON) whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        let orch = self.orchestrator.as_ref().expect("orchestrator started");
        let out = orch.stdout_to_vec().unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// `docker ps -a` of the instance's containers with `component`: names.
    pub fn containers(&self, component: &str) -> Vec<String> {
        let (ok, out, err) = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=holt.instance.name={}", self.instance),
            "--filter",
            &format!("label=holt.component={component}"),
            "--format",
            "{{.Names}}",
        ]);
        assert!(ok, "docker ps: {err}");
        out.lines().map(str::to_string).collect()
    }
}

/// Starts `request` (of `image`), which must start.
fn start(request: ContainerRequest<GenericImage>, image: &str) -> Container<GenericImage> {
    request
        .start()
        .unwrap_or_else(|e| panic!("start {image} (scripts/container-tests.sh builds it): {e}"))
}

impl Drop for HoltUp {
    fn drop(&mut self) {
        self.orchestrator.take();
        self.redis.take();
        let (_, ids, _) = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=holt.instance.name={}", self.instance),
        ]);
        for id in ids.lines() {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        let _ = docker(&["network", "rm", &self.network]);
        for image in &self.images {
            worker_image::remove(image);
        }
        let _ = std::fs::remove_dir_all(&self.workspace);
    }
}
