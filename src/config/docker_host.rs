//! `DOCKER_HOST`: which socket the Docker Engine answers on. A configuration
//! value like any other, so a bad one is refused before anything starts (one
//! stderr line, nothing on stdout), but only when the registry has controller
//! agents: no one else talks to Docker, and a `DOCKER_HOST` set for other
//! tools (a `tcp://` daemon, say) must not stop an orchestrator that never
//! uses it. Here, in the leaves, because both the configuration and the
//! Docker client read it.

use std::path::PathBuf;

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
