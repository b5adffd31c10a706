//! The timeline: every message published under `{p}:{i}:*` (one PSUBSCRIBE),
//! one readable line each, stamped relative to the story's start; plus the
//! claims' status changes (and a controller's claim waiting in its grant
//! queue). Nothing announces those (a transition publishes
//! only the next phase's grants), so the timeline asks Redis for keyspace
//! notifications of hash writes (`notify-keyspace-events Kh`, `notify`: restored when
//! done) and reads a claim's status when its hash was written: at that point
//! in the stream, so a change is shown after what caused it. When no message
//! comes for a few milliseconds, open claims are read again as well.
//!
//! What it saw is kept on a [`Board`], which the stories judge.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_lite::{FutureExt as _, StreamExt as _};
use redis::aio::{MultiplexedConnection, PubSubStream};
use serde_json::Value;

use sett_sim::{Artefact, Keys};

use crate::board::{Board, Claim};
use crate::ids::{short, shorten_ids};

mod notify;
mod status;

use notify::{report_unrestored, Notify};

/// How long nothing may happen before a story counts as settled.
const QUIET: Duration = Duration::from_millis(150);
/// How often open claims are read again when no message comes.
const POLL: Duration = Duration::from_millis(5);

pub struct Timeline {
    keys: Keys,
    conn: MultiplexedConnection,
    messages: PubSubStream,
    /// The notification setting it turned on, to put back.
    notify: Notify,
    start: Instant,
    last_line: Instant,
    pub board: Board,
    /// The registered agents' names, in registry order (bids are shown
    /// once all of them have bid).
    agents: Vec<String>,
    /// Bids per claim until every agent has bid: `(agent, bid)`.
    bids: HashMap<String, Vec<(String, String)>>,
    bids_shown: HashSet<String>,
}

impl Timeline {
    /// Turns on keyspace notifications for hashes and subscribes to
    /// `{p}:{i}:*` and to the claim hashes' notifications; returns once
    /// subscribed.
    pub async fn start(
        client: &redis::Client,
        keys: &Keys,
        agents: Vec<String>,
    ) -> redis::RedisResult<Timeline> {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let notify = Notify::turn_on(&mut conn).await?;
        let db = client.get_connection_info().redis_settings().db();
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(keys.channel("*")).await?;
            pubsub
                .psubscribe(format!("__keyspace@{db}__:{}", keys.claim("*")))
                .await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match subscribed.await {
            Ok(pubsub) => pubsub,
            Err(e) => {
                // The setting put back before the error goes up.
                report_unrestored(notify.put_back(&mut conn).await);
                return Err(e);
            }
        };
        Ok(Timeline {
            keys: keys.clone(),
            conn,
            messages: pubsub.into_on_message(),
            notify,
            start: Instant::now(),
            last_line: Instant::now(),
            board: Board::default(),
            agents,
            bids: HashMap::new(),
            bids_shown: HashSet::new(),
        })
    }

    /// Puts `notify-keyspace-events` back as it was.
    pub async fn finish(mut self) -> redis::RedisResult<()> {
        self.notify.put_back(&mut self.conn).await
    }

    /// Runs `play` on this timeline, then [`Timeline::finish`]es it however
    /// the play ended, a panic included (raised again after); the play's
    /// error comes first (a failed finish is then said on stderr).
    pub async fn around<T, E: From<redis::RedisError>>(
        mut self,
        play: impl AsyncFnOnce(&mut Timeline) -> Result<T, E>,
    ) -> Result<T, E> {
        let played = AssertUnwindSafe(play(&mut self)).catch_unwind().await;
        let finished = self.finish().await;
        match played {
            Err(panic) => {
                report_unrestored(finished);
                std::panic::resume_unwind(panic)
            }
            Ok(Err(e)) => {
                report_unrestored(finished);
                Err(e)
            }
            Ok(Ok(out)) => {
                finished?;
                Ok(out)
            }
        }
    }

    /// Times from now on are relative to now.
    pub fn restart_clock(&mut self) {
        self.start = Instant::now();
    }

    /// Prints what happens until the board has settled and stayed quiet,
    /// or `deadline` passes (an error saying what is still open).
    pub async fn run_until_settled(&mut self, deadline: Instant) -> Result<(), String> {
        while Instant::now() < deadline {
            match self.next_message(POLL).await? {
                Some(msg) => self.on_message(&msg).await?,
                None => {
                    self.poll().await?;
                    if self.board.settled() && self.last_line.elapsed() >= QUIET {
                        return Ok(());
                    }
                }
            }
        }
        Err(self.still_open())
    }

    /// The next message, or `None` when none comes within `wait`.
    async fn next_message(&mut self, wait: Duration) -> Result<Option<redis::Msg>, String> {
        let next = async { Some(self.messages.next().await) }.or(async {
            smol::Timer::after(wait).await;
            None
        });
        match next.await {
            Some(Some(msg)) => Ok(Some(msg)),
            Some(None) => Err("the subscription to Redis ended".into()),
            None => Ok(None),
        }
    }

    fn line(&mut self, text: &str) {
        println!("{:+9.3}s  {text}", self.start.elapsed().as_secs_f64());
        self.last_line = Instant::now();
        self.board.lines += 1;
    }

    async fn on_message(&mut self, msg: &redis::Msg) -> Result<(), String> {
        let channel = msg.get_channel_name();
        // `__keyspace@0__:{p}:{i}:claim:{id}`: a claim hash was written.
        if channel.starts_with("__keyspace@") {
            let key = channel.split_once("__:").map_or("", |(_, key)| key);
            let id = key.strip_prefix(&self.keys.claim("")).unwrap_or_default();
            if self.board.claims.contains_key(id) {
                return self.read_status(&[id.to_string()]).await;
            }
            return Ok(());
        }
        let name = channel
            .strip_prefix(self.keys.prefix())
            .and_then(|c| c.strip_prefix(':'))
            .unwrap_or(channel);
        let v: Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap_or_default();
        match name {
            "artefact_events" => self.on_artefact(&v),
            "claim_events" => self.on_claim(&v),
            "workflow_events" => return self.on_workflow(&v).await,
            // Grants on agent channels mirror `claim_granted` (workflow_events).
            c if c.starts_with("agent:") => {}
            c => self.line(&format!("{c}: {}", shorten_ids(&v.to_string()))),
        }
        Ok(())
    }

    fn on_artefact(&mut self, v: &Value) {
        let Some(a) = Artefact::from_event(v) else {
            return self.line("artefact_events: a message without an id");
        };
        let what = match a.structural_type.as_str() {
            "Standard" => format!("{} v{}", a.kind, a.version),
            s => format!("{s} {}", a.kind),
        };
        let payload = if a.payload.starts_with(['{', '[']) {
            a.payload.clone()
        } else {
            // A worker's Failure carries its logs: the first line, and how many follow.
            let mut lines = a.payload.lines();
            let first = shorten_ids(lines.next().unwrap_or_default());
            match lines.count() {
                0 => format!("\"{first}\""),
                more => format!("\"{first}\" (+{more} lines)"),
            }
        };
        let text = format!(
            "{} writes {what} {payload} (artefact {})",
            a.role,
            short(&a.id)
        );
        self.board.artefacts.insert(a.id.clone(), a);
        self.line(&text);
    }

    fn on_claim(&mut self, v: &Value) {
        let (Some(id), Some(artefact)) = (v["id"].as_str(), v["artefact_id"].as_str()) else {
            return self.line("claim_events: a message without ids");
        };
        let status = v["status"].as_str().unwrap_or_default().to_string();
        let assignee = (status == "pending_assignment").then(|| {
            v["granted_exclusive_agent"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        let mut text = format!(
            "claim {} created for {} ({status}",
            short(id),
            self.board.name(artefact)
        );
        if let Some(agent) = &assignee {
            let context: Vec<String> = v["additional_context_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_str().map(short))
                .collect();
            text += &format!(": feedback for {agent}, with review {}", context.join(" "));
        }
        text.push(')');
        self.board.add_claim(
            id,
            Claim {
                artefact: artefact.to_string(),
                status,
                assignee,
                ..Claim::default()
            },
        );
        self.line(&text);
    }

    async fn on_workflow(&mut self, v: &Value) -> Result<(), String> {
        let d = &v["data"];
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        let text = match v["event"].as_str().unwrap_or_default() {
            "bid_submitted" => {
                self.on_bid(&s("claim_id"), s("agent_name"), s("bid_type"));
                return Ok(());
            }
            "claim_granted" => {
                let (claim, kind) = (s("claim_id"), s("grant_type"));
                // The orchestrator reads the bids hash, which can be complete
                // before the last `bid_submitted` arrives: show the bids first.
                self.show_bids_from_hash(&claim).await?;
                let line = self.board.lines + 1;
                if let Some(c) = self.board.claims.get_mut(&claim) {
                    c.grants.push((kind.clone(), s("agent_name")));
                    c.granted_at.get_or_insert(line);
                }
                format!(
                    "granted {kind} to {} (claim {})",
                    s("agent_name"),
                    short(&claim)
                )
            }
            "review_approved" => format!(
                "{} approves {}",
                s("reviewer_role"),
                self.board.name(&s("original_artefact_id"))
            ),
            "review_rejected" => format!(
                "{} rejects {}: {}",
                s("reviewer_role"),
                self.board.name(&s("original_artefact_id")),
                s("feedback")
            ),
            "feedback_claim_created" => format!(
                "feedback claim {} for {}, iteration {} (after claim {})",
                short(&s("feedback_claim_id")),
                s("target_agent_role"),
                d["iteration"],
                short(&s("original_claim_id"))
            ),
            "artefact_reworked" => format!(
                "{} announces its rework: {} -> v{}",
                s("produced_by_role"),
                self.board.name(&s("previous_version_id")),
                d["new_version"]
            ),
            other => format!("workflow event {other}"),
        };
        self.line(&text);
        Ok(())
    }

    /// Bids are shown in one line per claim, once every agent has bid.
    fn on_bid(&mut self, claim: &str, agent: String, bid: String) {
        if self.bids_shown.contains(claim) {
            return;
        }
        let bids = self.bids.entry(claim.to_string()).or_default();
        bids.retain(|(a, _)| *a != agent);
        bids.push((agent, bid));
        if bids.len() == self.agents.len() {
            let bids = self.bids.remove(claim).unwrap_or_default();
            self.show_bids(claim, &bids);
        }
    }

    async fn show_bids_from_hash(&mut self, claim: &str) -> Result<(), String> {
        if self.bids_shown.contains(claim) {
            return Ok(());
        }
        let bids: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.keys.bids(claim))
            .query_async(&mut self.conn)
            .await
            .map_err(|e| format!("reading bids: {e}"))?;
        self.show_bids(claim, &bids);
        Ok(())
    }

    fn show_bids(&mut self, claim: &str, bids: &[(String, String)]) {
        self.bids.remove(claim);
        self.bids_shown.insert(claim.to_string());
        let wanted: Vec<String> = (self.agents.iter())
            .filter_map(|a| bids.iter().find(|(n, _)| n == a))
            .filter(|(_, b)| b != "ignore")
            .map(|(n, b)| format!("{n} bids {b}"))
            .collect();
        let text = match wanted.len() {
            0 => {
                if let Some(c) = self.board.claims.get_mut(claim) {
                    c.dormant = true;
                }
                format!("everyone bids ignore: claim {} stays dormant", short(claim))
            }
            n if n == self.agents.len() => {
                format!("{} (claim {})", wanted.join("; "), short(claim))
            }
            _ => format!(
                "{}; the others ignore (claim {})",
                wanted.join("; "),
                short(claim)
            ),
        };
        self.line(&text);
    }

    fn still_open(&self) -> String {
        let open: Vec<String> = (self.board.open_claims().iter())
            .map(|id| format!("claim {} {}", short(id), self.board.claims[id].status))
            .collect();
        format!(
            "did not settle in time: open: [{}]; artefacts without a claim: {} \
             (is the orchestrator running, with the demo's registry?)",
            open.join(", "),
            self.board.unclaimed()
        )
    }
}
