//! The controller workers' image and network on the machine's Docker
//! engine, for the tests and `sett-bench` alike: a `FROM scratch` image
//! holding the static `sett-test-worker` (`src/bin`) as its entrypoint,
//! and the instance's network `holt-network-{i}`, whose gateway is the
//! address workers reach the host's Redis by. Both carry a label of the
//! caller's (`key=value`) and go when dropped. Through the `docker` CLI:
//! like the Go programs it plays, nothing here uses the orchestrator's code.

use std::path::Path;
use std::process::Command;

/// `docker` with `args`; its trimmed stdout, or why it failed.
pub fn docker_cli(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("the docker CLI: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes (forcibly) every container carrying `label` (`key=value`).
pub fn remove_containers(label: &str) {
    let Ok(out) = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={label}")])
        .output()
    else {
        return;
    };
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .arg("rm")
            .arg("-f")
            .args(&ids)
            .output();
    }
}

/// A worker image: `bin` as `/worker`, its entrypoint. Removed on drop.
pub struct WorkerImage {
    /// Its tag, e.g. `sett-test-worker:workers-1a2b3c4d`.
    pub tag: String,
    /// Its id (`sha256:…`), as the orchestrator reads it.
    pub id: String,
}

impl WorkerImage {
    /// Builds `tag` from `bin` (a static executable), labelled `label`.
    pub fn build(bin: &Path, tag: &str, label: &str) -> Result<WorkerImage, String> {
        let dir = std::env::temp_dir().join(format!(
            "sett-worker-image-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let built = (|| {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::copy(bin, dir.join("worker"))
                .map_err(|e| format!("the worker binary {}: {e}", bin.display()))?;
            std::fs::write(
                dir.join("Dockerfile"),
                format!(
                    "FROM scratch\nCOPY worker /worker\nLABEL {label}\nENTRYPOINT [\"/worker\"]\n"
                ),
            )
            .map_err(|e| e.to_string())?;
            docker_cli(&["build", "-q", "-t", tag, &dir.to_string_lossy()])
        })();
        let _ = std::fs::remove_dir_all(&dir);
        built?;
        let mut image = WorkerImage {
            tag: tag.to_string(),
            id: String::new(),
        };
        image.id = docker_cli(&["image", "inspect", "-f", "{{.Id}}", tag])?;
        Ok(image)
    }
}

impl Drop for WorkerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.tag])
            .output();
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
        docker_cli(&["network", "create", "--label", label, &name])?;
        let mut network = Network {
            name,
            gateway: String::new(),
        };
        network.gateway = docker_cli(&[
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
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}
