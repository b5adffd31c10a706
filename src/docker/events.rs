//! The events stream: one long-lived `GET /events` that tells us when
//! workers start, die (with their exit code) and are destroyed, instead of
//! one waiting connection per worker.
//!
//! **Keep-alive policy.** Docker sends nothing on an idle stream, so silence
//! cannot tell a quiet daemon from a hung one. Each stream therefore asks
//! Docker to end it: `until` = open time + [`Timeouts::events_window`]
//! (default 60 s). Docker then ends the chunked body cleanly and [`Events::next`]
//! returns `Ok(None)`; the caller opens the next one with `since` =
//! [`Events::resume_from`], so no event falls between two streams (Docker
//! replays its recent events from `since`; an event at exactly that time may
//! come twice: handle events idempotently). A stream still open
//! [`Timeouts::events_grace`] after its window is a dead daemon: a transient
//! error. Any read error, or a close without the final chunk, is transient
//! too. A stream is always opened with a `since` (the open time when the
//! caller has none): Docker sends the response head before it subscribes,
//! and `since` covers that gap. Events the stream missed while no stream was
//! open for longer than Docker remembers are for the caller's reconciliation
//! list to catch.
//!
//! **Bounded memory.** Objects are cut out of the body by a streaming scanner
//! (braces outside strings), each at most [`MAX_EVENT_BYTES`](super::MAX_EVENT_BYTES); a longer one,
//! or one that is not an event, is skipped with one log line (the caller's
//! list finds what it said). Bytes between objects that are not whitespace
//! are garbage: a transient error.
//!
//! `next` is cancel-safe: dropping it loses nothing already read.
//!
//! [`Timeouts::events_window`]: super::Timeouts::events_window
//! [`Timeouts::events_grace`]: super::Timeouts::events_grace

use std::collections::{BTreeMap, VecDeque};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::client::Docker;
use super::error::{DockerError, Missing};
use super::framing::Framing;
use super::json::{parse, Answer};
use super::scanner::Scanner;
use super::wire::{by, Conn};
use crate::log::push_json_array;
use crate::log::Line;

/// Which container events to receive (`type=container` always).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Each `key` or `key=value`; an event must match all of them.
    pub labels: Vec<String>,
    /// `die`, `start`, `destroy`, …; empty: every action.
    pub actions: Vec<String>,
}

/// One container event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `create`, `start`, `die`, `destroy`, …
    pub action: String,
    /// The container's id.
    pub id: String,
    /// The container's labels, plus `name`, `image` and (on `die`) `exitCode`.
    pub attributes: BTreeMap<String, String>,
    /// When, in nanoseconds since the epoch (Docker's `timeNano`).
    pub time_nano: i64,
}

impl Event {
    /// The exit code a `die` event carries.
    pub fn exit_code(&self) -> Option<i64> {
        self.attributes.get("exitCode")?.parse().ok()
    }

    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// An open events stream (see the module doc).
pub struct Events {
    conn: Conn,
    framing: Framing,
    scanner: Scanner,
    ready: VecDeque<Event>,
    deadline: Instant,
    resume_from: i64,
    done: bool,
    /// The stream broke: this error comes after the events read before it.
    failed: Option<DockerError>,
    skipped: u64,
}

impl Docker {
    /// Opens an events stream from `since_nano` (the open time when `None`),
    /// which Docker ends after the window (see the module doc).
    pub async fn events(
        &self,
        filter: &EventFilter,
        since_nano: Option<i64>,
    ) -> Result<Events, DockerError> {
        let opened = Instant::now();
        let now = unix_nanos();
        let since = since_nano.unwrap_or(now);
        let until = now.saturating_add(
            i64::try_from(self.timeouts.events_window.as_nanos()).unwrap_or(i64::MAX),
        );
        let mut filters = String::from("{\"type\":[\"container\"],\"label\":");
        push_json_array(&mut filters, filter.labels.iter().map(String::as_str));
        filters.push_str(",\"event\":");
        push_json_array(&mut filters, filter.actions.iter().map(String::as_str));
        filters.push('}');
        let path = format!(
            "/events?since={}&until={}&filters={}",
            seconds(since),
            seconds(until),
            utf8_percent_encode(&filters, NON_ALPHANUMERIC)
        );
        let head_by = opened + self.timeouts.call;
        let (conn, head) = self
            .open_stream(&path, head_by, "events", Missing::Other)
            .await?;
        Ok(Events {
            conn,
            framing: head.framing,
            scanner: Scanner::default(),
            ready: VecDeque::new(),
            deadline: opened + self.timeouts.events_window + self.timeouts.events_grace,
            resume_from: since,
            done: false,
            failed: None,
            skipped: 0,
        })
    }
}

impl Events {
    /// The next event; `Ok(None)` when Docker ended the stream at its window.
    /// Once the stream broke, the events read before the break come first,
    /// then the error, again on every later call.
    pub async fn next(&mut self) -> Result<Option<Event>, DockerError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                self.resume_from = self.resume_from.max(event.time_nano);
                return Ok(Some(event));
            }
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            if self.done {
                return Ok(None);
            }
            let Events {
                conn,
                framing,
                scanner,
                ready,
                skipped,
                ..
            } = self;
            let mut sink = |bytes: &[u8]| {
                scanner.feed(bytes, &mut |item| match item.and_then(decode) {
                    Ok(event) => ready.push_back(event),
                    Err(reason) => {
                        *skipped += 1;
                        Line::warn("docker_event_skipped")
                            .str("reason", reason)
                            .limited()
                            .emit();
                    }
                })
            };
            match by(
                self.deadline,
                "events stream past its window",
                conn.feed_next(framing, &mut sink),
            )
            .await
            {
                Ok(true) => {}
                Ok(false) if self.scanner.in_object() => {
                    self.failed = Some(DockerError::garbage(
                        "an events stream that ends inside an event",
                    ));
                }
                Ok(false) => self.done = true,
                Err(e) => self.failed = Some(e),
            }
        }
    }

    /// Where the next stream should start (`since`): the last event's time, or
    /// this stream's own `since` when it has had none.
    pub fn resume_from(&self) -> i64 {
        self.resume_from
    }

    /// Objects skipped so far (too large, or not events).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

pub(super) fn decode(object: &[u8]) -> Result<Event, &'static str> {
    let fields = || -> Result<Event, DockerError> {
        let value = parse(object, "event")?;
        let v = Answer {
            value: &value,
            what: "event",
        };
        Ok(Event {
            action: v.string(&["Action"])?,
            id: v.string(&["Actor", "ID"])?,
            attributes: v.map(&["Actor", "Attributes"])?,
            time_nano: v.int(&["timeNano"])?,
        })
    };
    fields().map_err(|_| "an object that is not a container event")
}

fn unix_nanos() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Docker's `seconds.nanoseconds` timestamp form.
pub(super) fn seconds(nanos: i64) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}
