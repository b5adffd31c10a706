//! What controller agents need from the environment: `DOCKER_HOST`, the
//! socket the Docker Engine answers on, and `HOST_WORKSPACE_PATH` for a
//! worker that mounts the workspace. Configuration values like any other, so
//! a bad or missing one is refused before anything starts (one stderr line,
//! nothing on stdout), but only when the registry has controllers: no one
//! else talks to Docker, and a `DOCKER_HOST` set for other tools (a `tcp://`
//! daemon, say) must not stop an orchestrator that never uses it. Here, in
//! the leaves, because both the configuration and the Docker client read
//! `DOCKER_HOST`.

use std::path::PathBuf;

use super::error::{invalid, ConfigError};
use super::registry::Registry;

/// The socket when `DOCKER_HOST` is unset.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The socket `DOCKER_HOST` names (`None` or empty: [`DEFAULT_SOCKET`]).
/// Only `unix:///absolute/path` is supported; the error says what is wrong
/// and names the scheme, never the rest of the value (it may hold a password).
pub fn socket_from_docker_host(value: Option<&str>) -> Result<PathBuf, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(PathBuf::from(DEFAULT_SOCKET));
    };
    match value.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') && path.len() > 1 => Ok(PathBuf::from(path)),
        Some(_) => Err("must be unix:///absolute/path/to/docker.sock".to_string()),
        None => {
            let scheme = value.split_once("://").map_or("(none)", |(s, _)| s);
            let scheme = crate::log::truncate(scheme, 16);
            Err(format!(
                "only unix:///path sockets are supported (scheme {scheme:?})"
            ))
        }
    }
}

/// The Docker socket the registry's controllers need, checked with what
/// they need besides (`None`: the registry has no controllers). `file`: the
/// registry's path as printed, for the agent that needs a variable.
pub(super) fn check(
    registry: &Registry,
    file: &str,
    docker_host: Option<&str>,
    host_workspace: &str,
) -> Result<Option<PathBuf>, ConfigError> {
    if registry.controllers().next().is_none() {
        return Ok(None);
    }
    let socket = socket_from_docker_host(docker_host).map_err(|why| {
        invalid(
            "DOCKER_HOST",
            format!(
                "{why}; the registry's controller agents need the Docker Engine's unix socket: \
                 set DOCKER_HOST=unix:///path/to/docker.sock, or unset it for {DEFAULT_SOCKET}"
            ),
        )
    })?;
    let mounting = registry
        .controllers()
        .find(|(_, c)| c.worker.workspace.is_some());
    if let (Some((agent, _)), true) = (mounting, host_workspace.is_empty()) {
        return Err(ConfigError::Needed {
            var: "HOST_WORKSPACE_PATH",
            by: format!(
                "agent '{}' in {file} has worker.workspace: set it to the workspace's path on \
                 the Docker host (mounted at /workspace in that agent's workers), or remove worker.workspace",
                agent.name
            ),
        });
    }
    Ok(Some(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_names_a_unix_socket_or_is_refused() {
        assert_eq!(
            socket_from_docker_host(None).unwrap().to_str(),
            Some(DEFAULT_SOCKET)
        );
        assert_eq!(
            socket_from_docker_host(Some("")).unwrap().to_str(),
            Some(DEFAULT_SOCKET)
        );
        assert_eq!(
            socket_from_docker_host(Some("unix:///run/user/1000/docker.sock"))
                .unwrap()
                .to_str(),
            Some("/run/user/1000/docker.sock")
        );
        for bad in ["unix://relative.sock", "unix://", "unix:///"] {
            let e = socket_from_docker_host(Some(bad)).unwrap_err();
            assert_eq!(e, "must be unix:///absolute/path/to/docker.sock");
        }
        let e = socket_from_docker_host(Some("tcp://admin:s3cret@10.0.0.1:2376")).unwrap_err();
        assert_eq!(
            e,
            "only unix:///path sockets are supported (scheme \"tcp\")"
        );
        let e = socket_from_docker_host(Some("/var/run/docker.sock")).unwrap_err();
        assert_eq!(
            e,
            "only unix:///path sockets are supported (scheme \"(none)\")"
        );
    }
}
