//! The worker image for controller agents: `sett-test-worker` (this crate's
//! static binary, `src/bin/`) alone in a `FROM scratch` image, built with
//! the `docker` CLI from a local context (no registry is needed). The one
//! builder that the end-to-end tests, the container tests and `make demo`
//! share.

use std::path::{Path, PathBuf};

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
        docker(&["build", "-q", "-t", tag, &dir.to_string_lossy()])?;
        docker(&["image", "inspect", "-f", "{{.Id}}", tag])
    })();
    let _ = std::fs::remove_dir_all(&dir);
    built
}

/// Removes the image `tag` (whatever state it is in).
pub fn remove(tag: &str) {
    let _ = docker(&["rmi", "-f", tag]);
}
