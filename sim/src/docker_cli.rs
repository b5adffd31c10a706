//! The `docker` CLI, run for its trimmed stdout: what the tests, the
//! container tests and `make demo` use to build and clean up around the
//! Docker engine (the orchestrator itself talks to the Engine API).

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
