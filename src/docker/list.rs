//! `GET /containers/json`: the container list, read as it streams. An
//! instance's list (its workers, exited ones included) takes 1.5-2 KB an
//! entry, megabytes for thousands of workers: read whole it would need a
//! body bound that large (it had one of 1 MiB, about 500 entries, past which
//! every reconciliation failed). Each entry is cut out of the body by the
//! scanner (`scanner`, at most [`MAX_ENTRY_BYTES`]) and decoded on its own,
//! keeping only the fields read; at most [`MAX_ENTRIES`] entries. An entry
//! over its bound, more entries, or anything else malformed fails the whole
//! list (garbage, transient): a list with an entry left out would make a
//! running worker look gone.

use std::collections::BTreeMap;
use std::time::Instant;

use percent_encoding::utf8_percent_encode;
use serde::Deserialize;

use super::api::{ContainerSummary, QUERY};
use super::client::Docker;
use super::error::{DockerError, Missing};
use super::framing::Sink;
use super::json::parse;
use super::scanner::Scanner;
use crate::log::push_json_array;

/// Largest list entry decoded (Docker's are 1.5-2 KB).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// Most entries a list may hold: twice the registry's limit on one
/// controller's concurrent workers (10,000; docs/workers.md says what an
/// instance of several controllers must keep under it).
pub const MAX_ENTRIES: usize = 20_000;

/// The fields of an entry we read.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Raw {
    id: String,
    names: Option<Vec<String>>,
    #[serde(default)]
    state: String,
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    created: i64,
}

impl From<Raw> for ContainerSummary {
    fn from(r: Raw) -> ContainerSummary {
        ContainerSummary {
            id: r.id,
            names: r
                .names
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.trim_start_matches('/').to_string())
                .collect(),
            state: r.state,
            labels: r.labels.unwrap_or_default(),
            created: r.created,
        }
    }
}

/// The entries of a list body as it streams in (see the module doc).
pub(crate) struct ListReader {
    scanner: Scanner,
    pub(crate) entries: Vec<ContainerSummary>,
}

impl Default for ListReader {
    fn default() -> ListReader {
        ListReader {
            scanner: Scanner::array(MAX_ENTRY_BYTES, "a container list entry over 64 KiB"),
            entries: Vec::new(),
        }
    }
}

impl ListReader {
    /// The next bytes of the body.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<(), DockerError> {
        let mut failed = None;
        let entries = &mut self.entries;
        self.scanner.feed(bytes, &mut |item| {
            if failed.is_some() {
                return;
            }
            let decoded = item
                .map_err(DockerError::garbage)
                .and_then(|text| parse::<Raw>(text, "container list entry"));
            match decoded {
                Ok(_) if entries.len() == MAX_ENTRIES => {
                    failed = Some(DockerError::garbage(
                        "a container list of more than 20,000 entries",
                    ))
                }
                Ok(raw) => entries.push(raw.into()),
                Err(e) => failed = Some(e),
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// The entries, once the body has ended: its array must be closed.
    pub(crate) fn finish(self) -> Result<Vec<ContainerSummary>, DockerError> {
        if !self.scanner.array_closed() || self.scanner.in_object() {
            return Err(DockerError::garbage(
                "container list JSON (not one array of objects)",
            ));
        }
        Ok(self.entries)
    }
}

impl Docker {
    /// `GET /containers/json?all=…&filters={"label":[…]}`: each of `labels` is
    /// `key` (has the label) or `key=value`.
    pub async fn list(
        &self,
        all: bool,
        labels: &[&str],
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let mut filters = String::from("{\"label\":");
        push_json_array(&mut filters, labels.iter().copied());
        filters.push('}');
        let path = format!(
            "/containers/json?all={}&filters={}",
            u8::from(all),
            utf8_percent_encode(&filters, QUERY)
        );
        let deadline = Instant::now() + self.timeouts.call;
        let (mut conn, mut head) = self
            .open_stream(&path, deadline, "list containers", Missing::Other)
            .await?;
        let mut reader = ListReader::default();
        {
            let mut sink = |bytes: &[u8]| reader.feed(bytes);
            let sink: &mut Sink = &mut sink;
            conn.read_body(&mut head.framing, deadline, sink).await?;
        }
        reader.finish()
    }
}
