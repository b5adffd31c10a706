//! The endpoints the worker launcher uses, each one call with its own answer
//! type: only the fields a launcher reads, so a newer daemon's extra fields
//! cost nothing and a missing optional one is a default, not an error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::client::{Call, Docker};
use super::error::{DockerError, Missing};
use super::framing::Sink;
use super::json::{parse, Answer};
use super::logs::{Demux, Logs, Tail, MAX_LOG_BYTES};
use super::spec::{is_docker_name, ContainerSpec};

/// Query values: everything but unreserved characters is escaped.
pub(super) const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// An image reference in a path keeps its `/`, `:` and `@` (Docker's client does too).
const IMAGE: &AsciiSet = &QUERY.remove(b'/').remove(b':').remove(b'@');

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub api_version: String,
    /// Absent (empty) before API 1.25.
    pub min_api_version: String,
    pub os: String,
    pub arch: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image's full id, `sha256:` and 64 hex digits.
    pub id: String,
    /// `name@sha256:…` for pulled images; empty for images built locally.
    pub repo_digests: Vec<String>,
}

/// `POST /containers/create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// The image's id (`sha256:…`).
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub state: ContainerState,
}

/// A container's `State`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    /// Why Docker could not run it (empty when it ran).
    pub error: String,
    pub oom_killed: bool,
    /// RFC 3339, `0001-01-01T00:00:00Z` when it never started.
    pub started_at: String,
    pub finished_at: String,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// Without Docker's leading `/`.
    pub names: Vec<String>,
    /// `created`, `running`, `exited`, …
    pub state: String,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
}

/// What `logs` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    /// The last this many lines (`None`: all of them).
    pub tail: Option<u32>,
}

impl Default for LogOptions {
    /// Both streams, the last 100 lines (a Failure payload's).
    fn default() -> LogOptions {
        LogOptions {
            stdout: true,
            stderr: true,
            tail: Some(super::logs::FAILURE_LINES as u32),
        }
    }
}

impl Docker {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, DockerError> {
        let reply = self
            .call(
                "GET",
                "/version",
                None,
                Call::new("version", Missing::Other),
            )
            .await?;
        let value = parse(&reply, "version")?;
        let v = Answer {
            value: &value,
            what: "version",
        };
        Ok(Version {
            version: v.string(&["Version"])?,
            api_version: v.string(&["ApiVersion"])?,
            min_api_version: v.opt_string(&["MinAPIVersion"])?,
            os: v.opt_string(&["Os"])?,
            arch: v.opt_string(&["Arch"])?,
        })
    }

    /// `GET /images/{name}/json`: a missing image is permanent.
    pub async fn image_inspect(&self, name: &str) -> Result<ImageInfo, DockerError> {
        if name.is_empty() {
            return Err(DockerError::permanent("inspect image: an empty image name"));
        }
        let path = format!("/images/{}/json", utf8_percent_encode(name, IMAGE));
        let reply = self
            .call(
                "GET",
                &path,
                None,
                Call::new("inspect image", Missing::Other),
            )
            .await?;
        let value = parse(&reply, "image inspect")?;
        let v = Answer {
            value: &value,
            what: "image inspect",
        };
        Ok(ImageInfo {
            id: v.string(&["Id"])?,
            repo_digests: v.strings(&["RepoDigests"])?,
        })
    }

    /// `POST /containers/create?name=…`: [`DockerError::Conflict`] when the name
    /// is taken (the exactly-once guard); a missing image or network, or an
    /// invalid spec, is permanent. Messages never hold the environment's values.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<Created, DockerError> {
        spec.validate()?;
        let path = format!("/containers/create?name={}", spec.name());
        let body = spec.body();
        let secrets = spec.secrets();
        let call = Call {
            secrets: &secrets,
            ..Call::new("create container", Missing::Other)
        };
        let reply = self.call("POST", &path, Some(&body), call).await;
        drop(body);
        let value = parse(&reply?, "create")?;
        let v = Answer {
            value: &value,
            what: "create",
        };
        Ok(Created {
            id: v.string(&["Id"])?,
            warnings: v.strings(&["Warnings"])?,
        })
    }

    /// `POST /containers/{id}/start`. Already running (304) is success. Beware:
    /// starting an *exited* container runs it again.
    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        let path = format!("/containers/{}/start", container(id)?);
        self.call(
            "POST",
            &path,
            None,
            Call::new("start container", Missing::Container),
        )
        .await
        .map(drop)
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect(&self, id: &str) -> Result<ContainerInfo, DockerError> {
        let path = format!("/containers/{}/json", container(id)?);
        let reply = self
            .call(
                "GET",
                &path,
                None,
                Call::new("inspect container", Missing::Container),
            )
            .await?;
        let value = parse(&reply, "container inspect")?;
        let v = Answer {
            value: &value,
            what: "container inspect",
        };
        Ok(ContainerInfo {
            id: v.string(&["Id"])?,
            name: v.string(&["Name"])?.trim_start_matches('/').to_string(),
            image_id: v.string(&["Image"])?,
            labels: v.map(&["Config", "Labels"])?,
            tty: v.flag(&["Config", "Tty"])?,
            state: ContainerState {
                status: v.string(&["State", "Status"])?,
                running: v.flag(&["State", "Running"])?,
                exit_code: v.int(&["State", "ExitCode"])?,
                error: v.opt_string(&["State", "Error"])?,
                oom_killed: v.flag(&["State", "OOMKilled"])?,
                started_at: v.opt_string(&["State", "StartedAt"])?,
                finished_at: v.opt_string(&["State", "FinishedAt"])?,
            },
        })
    }

    /// `GET /containers/{id}/logs`: the text demultiplexed (raw when Docker says
    /// the container has a TTY), its last [`MAX_LOG_BYTES`] kept, by the call's deadline.
    pub async fn logs(&self, id: &str, opts: LogOptions) -> Result<Logs, DockerError> {
        let tail = opts
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        let path = format!(
            "/containers/{}/logs?stdout={}&stderr={}&tail={tail}",
            container(id)?,
            u8::from(opts.stdout),
            u8::from(opts.stderr)
        );
        let deadline = Instant::now() + self.timeouts.call;
        let (mut conn, mut head) = self
            .open_stream(&path, deadline, "container logs", Missing::Container)
            .await?;
        let raw = head.content_type.as_deref() == Some("application/vnd.docker.raw-stream");
        let mut text = Tail::new(MAX_LOG_BYTES);
        let mut demux = Demux::default();
        {
            let mut sink = |bytes: &[u8]| -> Result<(), DockerError> {
                if raw {
                    text.push(bytes);
                    Ok(())
                } else {
                    demux.feed(bytes, &mut |_, payload| text.push(payload))
                }
            };
            let sink: &mut Sink = &mut sink;
            conn.read_body(&mut head.framing, deadline, sink).await?;
        }
        if !raw {
            demux.finish()?;
        }
        Ok(text.into_logs())
    }

    /// `POST /containers/{id}/stop?t=…`: SIGTERM (the image's stop signal), then
    /// SIGKILL after `grace` (whole seconds); the deadline is lengthened by
    /// `grace`. Already stopped (304) is success.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let path = format!("/containers/{}/stop?t={}", container(id)?, grace.as_secs());
        let call = Call {
            extra: Duration::from_secs(grace.as_secs()),
            ..Call::new("stop container", Missing::Container)
        };
        self.call("POST", &path, None, call).await.map(drop)
    }

    /// `DELETE /containers/{id}?force=1&v=1`: removes it (killing it if it
    /// runs) with its anonymous volumes.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let path = format!("/containers/{}?force=1&v=1", container(id)?);
        self.call(
            "DELETE",
            &path,
            None,
            Call::new("remove container", Missing::Container),
        )
        .await
        .map(drop)
    }
}

/// A container id or name as a path segment (Docker's name rule; ids are hex).
fn container(id: &str) -> Result<&str, DockerError> {
    if is_docker_name(id, 1) {
        Ok(id)
    } else {
        Err(DockerError::permanent("an invalid container id or name"))
    }
}
