//! The worker image for controller agents: `sett-test-worker` (this crate's
//! static binary, `src/bin/`) alone in a `FROM scratch` image, built with
//! the `docker` CLI from a local context (no registry is needed). The one
//! builder that the end-to-end tests, the container tests, `make demo` and
//! `sett-bench` share; [`WorkerImage`] and [`Network`] hold an image and an
//! instance's network `holt-network-{i}` (whose gateway is the address
//! workers reach the host's Redis by) and remove them when dropped.

use std::path::{Path, PathBuf};

pub use crate::docker_cli::docker_cli;
use crate::docker_cli::docker_cli as docker;

/// Where cargo puts the static test worker under `workspace_root`
/// (`cargo build --release -p sett-sim --bin sett-test-worker --target
/// x86_64-unknown-linux-musl`), unless `SETT_TEST_WORKER_BIN` names it.
pub fn worker_bin(workspace_root: &Path) -> PathBuf {
    match std::env::var("SETT_TEST_WORKER_BIN") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root.join("target/x86_64-unknown-linux-musl/release/sett-test-worker"),
    }
}

/// Builds `tag` from `bin` (`/worker`, the entrypoint) with `labels`
/// (`key=value` each); returns the image's full id (`sha256:…`).
pub fn build(bin: &Path, tag: &str, labels: &[&str]) -> Result<String, String> {
    if !bin.is_file() {
        return Err(format!("no test worker at {}", bin.display()));
    }
    let dir = std::env::temp_dir().join(format!(
        "sett-worker-image-{}-{}",
        std::process::id(),
        crate::artefact::new_id()
    ));
    let built = (|| {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::copy(bin, dir.join("worker")).map_err(|e| format!("{}: {e}", bin.display()))?;
        let label_lines: String = labels.iter().map(|l| format!("LABEL {l}\n")).collect();
        let dockerfile =
            format!("FROM scratch\nCOPY worker /worker\n{label_lines}ENTRYPOINT [\"/worker\"]\n");
        std::fs::write(dir.join("Dockerfile"), dockerfile).map_err(|e| e.to_string())?;
        // No cache: every build of the same binary would otherwise share
        // the cached `COPY` layer's intermediate image, which another
        // build's `rmi` deletes with its image; a build using it then fails
        // (`failed to get digest sha256:…`, seen once in `make test` with
        // the end-to-end tests building and removing their images at once).
        docker(&[
            "build",
            "--no-cache",
            "-q",
            "-t",
            tag,
            &dir.to_string_lossy(),
        ])?;
        docker(&["image", "inspect", "-f", "{{.Id}}", tag])
    })();
    let _ = std::fs::remove_dir_all(&dir);
    built
}

/// Removes the image `tag` (whatever state it is in).
pub fn remove(tag: &str) {
    let _ = docker(&["rmi", "-f", tag]);
}

/// Removes (forcibly) every container carrying `label` (`key=value`).
pub fn remove_containers(label: &str) {
    let Ok(out) = docker(&["ps", "-aq", "--filter", &format!("label={label}")]) else {
        return;
    };
    let ids: Vec<&str> = out.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        let _ = docker(&args);
    }
}

/// A worker image built by [`build`]. Removed on drop.
pub struct WorkerImage {
    /// Its tag, e.g. `sett-test-worker:workers-1a2b3c4d`.
    pub tag: String,
    /// Its id (`sha256:…`), as the orchestrator reads it.
    pub id: String,
}

impl WorkerImage {
    /// Builds `tag` from `bin` (a static executable), labelled `label`.
    pub fn build(bin: &Path, tag: &str, label: &str) -> Result<WorkerImage, String> {
        let id = build(bin, tag, &[label])?;
        Ok(WorkerImage {
            tag: tag.to_string(),
            id,
        })
    }
}

impl Drop for WorkerImage {
    fn drop(&mut self) {
        remove(&self.tag);
    }
}

/// An instance's network `holt-network-{instance}`. Removed on drop.
pub struct Network {
    pub name: String,
    /// The host's address on it: where workers reach a Redis listening on all addresses.
    pub gateway: String,
}

impl Network {
    pub fn create(instance: &str, label: &str) -> Result<Network, String> {
        let name = format!("holt-network-{instance}");
        docker(&["network", "create", "--label", label, &name])?;
        let mut network = Network {
            name,
            gateway: String::new(),
        };
        // Dropped (removed) if its gateway cannot be read.
        network.gateway = docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            &network.name,
        ])?;
        Ok(network)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = docker(&["network", "rm", &self.name]);
    }
}
