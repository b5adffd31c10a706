//! The one kind of container we ever ask Docker for: a worker.
//!
//! Least privilege by construction: a [`ContainerSpec`] has a name, an image,
//! a command, environment, labels, at most one named network and at most one
//! bind mount (the workspace, at [`WORKSPACE_TARGET`], read-only or
//! read-write). There is no field for privileged mode, capabilities, devices,
//! host namespaces, a TTY or any other mount, so no caller can ask for them;
//! the network cannot be `host` or another container's. The environment holds
//! `REDIS_URL` with its password: `Debug` shows only the variables' names, and
//! the create body is built only to be sent.

use std::collections::BTreeMap;
use std::fmt;

use super::error::DockerError;
use crate::log::{push_json_array, push_json_str};

/// Where the workspace is mounted inside a worker.
pub const WORKSPACE_TARGET: &str = "/workspace";

/// Read-only or read-write, as `workspace.mode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A container to create (see the module doc for what it cannot say).
#[derive(Clone)]
pub struct ContainerSpec {
    name: String,
    image: String,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    labels: BTreeMap<String, String>,
    network: Option<String>,
    /// The host path mounted at [`WORKSPACE_TARGET`].
    workspace: Option<(String, Access)>,
}

impl ContainerSpec {
    /// `cmd` is the image entrypoint's arguments (Docker's `Cmd`).
    pub fn new(name: &str, image: &str, cmd: Vec<String>) -> ContainerSpec {
        ContainerSpec {
            name: name.to_string(),
            image: image.to_string(),
            cmd,
            env: Vec::new(),
            labels: BTreeMap::new(),
            network: None,
            workspace: None,
        }
    }

    /// Adds `KEY=value` to the environment (in this order).
    pub fn env(mut self, key: &str, value: &str) -> ContainerSpec {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> ContainerSpec {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Joins the named network (Docker's `NetworkMode`); never `host`.
    pub fn network(mut self, name: &str) -> ContainerSpec {
        self.network = Some(name.to_string());
        self
    }

    /// Bind-mounts `host_path` at [`WORKSPACE_TARGET`].
    pub fn workspace(mut self, host_path: &str, access: Access) -> ContainerSpec {
        self.workspace = Some((host_path.to_string(), access));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Whether the spec can be sent; the error names what is wrong, never a value
    /// of the environment.
    pub fn validate(&self) -> Result<(), DockerError> {
        let invalid = |what: String| {
            Err(DockerError::permanent(format!(
                "invalid container spec: {what}"
            )))
        };
        if !is_docker_name(&self.name, 2) {
            return invalid(format!("container name {:?}", self.name));
        }
        if self.image.is_empty()
            || self.image.len() > 512
            || self.image.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            return invalid(format!("image {:?}", self.image));
        }
        if self.cmd.iter().any(|a| a.contains('\0')) {
            return invalid("a NUL byte in the command".to_string());
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return invalid(format!("environment variable {:?}", cut_name(key)));
            }
        }
        if self
            .labels
            .iter()
            .any(|(k, v)| k.is_empty() || k.contains('\0') || v.contains('\0'))
        {
            return invalid("a label with an empty key or a NUL byte".to_string());
        }
        if let Some(net) = &self.network {
            if !is_docker_name(net, 1) || net.eq_ignore_ascii_case("host") {
                return invalid(format!("network {net:?}"));
            }
        }
        if let Some((path, _)) = &self.workspace {
            let escapes = path.split('/').any(|part| part == "..");
            if !path.starts_with('/')
                || path.trim_end_matches('/').is_empty()
                || escapes
                || path.contains('\0')
            {
                return invalid(format!("workspace path {path:?} (absolute, not /, no ..)"));
            }
        }
        Ok(())
    }

    /// The JSON body of `POST /containers/create` (holds the environment: send,
    /// never log). Written by hand (strings escaped as the log lines' are):
    /// serde's serializer would cost the binary more than this whole function.
    pub(crate) fn body(&self) -> Vec<u8> {
        let mut b = String::with_capacity(512);
        b.push_str("{\"Image\":");
        push_json_str(&mut b, &self.image);
        b.push_str(",\"Cmd\":");
        push_json_array(&mut b, self.cmd.iter().map(String::as_str));
        b.push_str(",\"Env\":");
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        push_json_array(&mut b, env.iter().map(String::as_str));
        b.push_str(",\"Labels\":{");
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            push_json_str(&mut b, k);
            b.push(':');
            push_json_str(&mut b, v);
        }
        b.push_str("},\"HostConfig\":{");
        if let Some(network) = &self.network {
            b.push_str("\"NetworkMode\":");
            push_json_str(&mut b, network);
            b.push(',');
        }
        // `Mounts`, not `Binds`: a host path with a `:` cannot be misread as options.
        b.push_str("\"Mounts\":[");
        if let Some((path, access)) = &self.workspace {
            b.push_str("{\"Type\":\"bind\",\"Source\":");
            push_json_str(&mut b, path);
            b.push_str(",\"Target\":");
            push_json_str(&mut b, WORKSPACE_TARGET);
            let read_only = *access == Access::ReadOnly;
            b.push_str(if read_only {
                ",\"ReadOnly\":true}"
            } else {
                ",\"ReadOnly\":false}"
            });
        }
        b.push_str("]}}");
        b.into_bytes()
    }

    /// The environment's values, redacted from any message about this spec.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.env.iter().map(|(_, v)| v.as_str()).collect()
    }
}

/// Names only: the values may be secrets.
impl fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("cmd", &self.cmd)
            .field("env_names", &env)
            .field("labels", &self.labels)
            .field("network", &self.network)
            .field("workspace", &self.workspace)
            .finish()
    }
}

/// Docker's rule for container and network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn is_docker_name(s: &str, min_len: usize) -> bool {
    let mut bytes = s.bytes();
    s.len() >= min_len
        && s.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn cut_name(s: &str) -> &str {
    crate::log::truncate(s, 64)
}
