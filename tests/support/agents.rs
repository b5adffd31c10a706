//! Agents beside a running orchestrator, a thread each, behaving exactly as
//! the lifecycle contract says real (Go) agents do (sections 4, 5, 6, 8):
//! - on every `claim_events` message whose status is not
//!   `pending_assignment`, read the target artefact hash; if it is missing,
//!   its `version` is no integer or its `source_artefacts` no JSON, send no
//!   bid; else bid: HSET `{p}:{i}:claim:{id}:bids`, then publish
//!   `bid_submitted` on `workflow_events`;
//! - on a grant on `{p}:{i}:agent:{name}:events`, read the claim hash and
//!   accept when the name is granted in it; then write the work (an artefact
//!   sourced from the claim's artefact, produced_by_role = the role: HSET the
//!   hash with `created_at_ms`, then publish the event). No memory of grants:
//!   a grant published twice is worked twice (and counted here, so tests see it);
//! - on a `claim_events` message of a feedback claim (`pending_assignment`)
//!   whose `granted_exclusive_agent` is this agent, rework: same
//!   `logical_id`, `version` + 1, sourced from the target and the
//!   `additional_context_ids` *of the message*, same `type`, then
//!   `artefact_reworked` on `workflow_events`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

use super::lifecycle_wire::{js, now_ms};
use super::*;

/// A stored artefact as an agent reads it.
#[derive(Clone, Debug)]
pub struct Target {
    pub id: String,
    pub logical_id: String,
    pub version: i64,
    pub structural_type: String,
    pub kind: String,
    pub payload: String,
    pub role: String,
}

/// What an agent writes: structural type, domain type, payload.
#[derive(Clone, Debug)]
pub struct Work {
    pub structural_type: String,
    pub kind: String,
    pub payload: String,
}

impl Work {
    pub fn new(structural_type: &str, kind: &str, payload: &str) -> Work {
        Work {
            structural_type: structural_type.into(),
            kind: kind.into(),
            payload: payload.into(),
        }
    }
}

type BidFn = dyn Fn(&Target) -> Option<String> + Send + Sync;
type WorkFn = dyn Fn(&Target) -> Option<Work> + Send + Sync;

/// How one simulated agent behaves.
pub struct Spec {
    pub name: String,
    pub role: String,
    /// The bid for a claim on `target` (`None`: no bid at all).
    pub bid: Box<BidFn>,
    /// The artefact written when granted (`None`: never answers).
    pub work: Box<WorkFn>,
    /// The payload of a rework (`None`: never reworks).
    pub rework: Option<Box<WorkFn>>,
}

impl Spec {
    /// Bids `bid` on everything the user wrote, `ignore` on agents' work;
    /// writes `work` when granted; no rework.
    pub fn new(name: &str, bid: &'static str, work: Work) -> Spec {
        Spec {
            name: name.into(),
            role: name.into(),
            bid: Box::new(move |t: &Target| {
                Some(if t.role == "user" { bid } else { "ignore" }.to_string())
            }),
            work: Box::new(move |_| Some(work.clone())),
            rework: None,
        }
    }

    /// A reviewer that approves (`{}`) what the user wrote and ignores the rest.
    pub fn approver(name: &str) -> Spec {
        Spec::new(name, "review", Work::new("Review", "ReviewResult", "{}"))
    }

    pub fn with_role(mut self, role: &str) -> Spec {
        self.role = role.into();
        self
    }

    pub fn with_bid(
        mut self,
        f: impl Fn(&Target) -> Option<String> + Send + Sync + 'static,
    ) -> Spec {
        self.bid = Box::new(f);
        self
    }

    pub fn with_work(
        mut self,
        f: impl Fn(&Target) -> Option<Work> + Send + Sync + 'static,
    ) -> Spec {
        self.work = Box::new(f);
        self
    }

    pub fn with_rework(
        mut self,
        f: impl Fn(&Target) -> Option<Work> + Send + Sync + 'static,
    ) -> Spec {
        self.rework = Some(Box::new(f));
        self
    }
}

/// What an agent saw and did, for the test's exactly-once checks.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// Grants received, per claim id (`claim_type` each time).
    pub grants: BTreeMap<String, Vec<String>>,
    /// Bids sent: (claim id, bid).
    pub bids: Vec<(String, String)>,
    /// Artefacts written (work and reworks), in order.
    pub written: Vec<String>,
    /// Feedback claims reworked.
    pub reworked: Vec<String>,
}

/// A running simulated agent; stops when dropped.
pub struct SimAgent {
    pub name: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SimAgent {
    /// Starts `spec` for instance `prefix` (e.g. `sett:lc`) on `redis`; returns
    /// once it is subscribed.
    pub fn start(redis: &RedisServer, prefix: &str, spec: Spec) -> SimAgent {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ctx = Ctx {
            prefix: prefix.to_string(),
            spec,
            writer: redis.conn(),
            seen: seen.clone(),
        };
        let name = ctx.spec.name.clone();
        let mut conn = redis.conn();
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut ctx = ctx;
            conn.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut pubsub = conn.as_pubsub();
            let claims = format!("{}:claim_events", ctx.prefix);
            let grants = format!("{}:agent:{}:events", ctx.prefix, ctx.spec.name);
            pubsub.subscribe(&[&claims, &grants]).unwrap();
            ready_tx.send(()).unwrap();
            while !flag.load(Ordering::SeqCst) {
                let Ok(msg) = pubsub.get_message() else {
                    continue;
                };
                let payload: String = msg.get_payload().unwrap_or_default();
                let Ok(v) = serde_json::from_str::<Value>(&payload) else {
                    continue;
                };
                if msg.get_channel_name() == claims {
                    ctx.on_claim(&v);
                } else {
                    ctx.on_grant(&v);
                }
            }
        });
        ready_rx.recv().unwrap();
        SimAgent {
            name,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Grants received for `claim`, counted.
    pub fn grants_for(&self, claim: &str) -> usize {
        self.seen().grants.get(claim).map_or(0, Vec::len)
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Ctx {
    prefix: String,
    spec: Spec,
    writer: redis::Connection,
    seen: Arc<Mutex<Seen>>,
}

impl Ctx {
    fn hgetall(&mut self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.writer)
            .unwrap_or_default()
    }

    /// The target artefact as the Go agent decodes it; `None` when it would give up.
    fn target(&mut self, id: &str) -> Option<Target> {
        let h = self.hgetall(&format!("{}:artefact:{id}", self.prefix));
        let version = h.get("version")?.parse().ok()?;
        serde_json::from_str::<Value>(h.get("source_artefacts")?).ok()?;
        let field = |k: &str| h.get(k).cloned().unwrap_or_default();
        Some(Target {
            id: field("id"),
            logical_id: field("logical_id"),
            version,
            structural_type: field("structural_type"),
            kind: field("type"),
            payload: field("payload"),
            role: field("produced_by_role"),
        })
    }

    fn on_claim(&mut self, claim: &Value) {
        let (Some(id), Some(artefact)) = (claim["id"].as_str(), claim["artefact_id"].as_str())
        else {
            return;
        };
        let Some(target) = self.target(artefact) else {
            return;
        };
        if claim["status"] == "pending_assignment" {
            if claim["granted_exclusive_agent"] == self.spec.name.as_str() {
                let context: Vec<String> = claim["additional_context_ids"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                self.rework(id, &target, &context);
            }
            return;
        }
        let Some(bid) = (self.spec.bid)(&target) else {
            return;
        };
        let bids = format!("{}:claim:{id}:bids", self.prefix);
        redis::cmd("HSET")
            .arg(&bids)
            .arg(&self.spec.name)
            .arg(&bid)
            .query::<()>(&mut self.writer)
            .unwrap();
        // Go: a struct {event, data}; data a map, keys sorted.
        let event = format!(
            r#"{{"event":"bid_submitted","data":{{"agent_name":{},"bid_type":{},"claim_id":{}}}}}"#,
            js(&self.spec.name),
            js(&bid),
            js(id)
        );
        self.publish("workflow_events", &event);
        self.seen.lock().unwrap().bids.push((id.to_string(), bid));
    }

    fn on_grant(&mut self, grant: &Value) {
        let (Some(claim_id), Some(kind)) =
            (grant["claim_id"].as_str(), grant["claim_type"].as_str())
        else {
            return;
        };
        self.seen
            .lock()
            .unwrap()
            .grants
            .entry(claim_id.to_string())
            .or_default()
            .push(kind.to_string());
        let claim = self.hgetall(&format!("{}:claim:{claim_id}", self.prefix));
        let listed = |field: &str| {
            claim
                .get(field)
                .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
                .is_some_and(|names| names.contains(&self.spec.name))
        };
        let accepted = listed("granted_review_agents")
            || listed("granted_parallel_agents")
            || claim.get("granted_exclusive_agent") == Some(&self.spec.name);
        let Some(artefact) = claim.get("artefact_id").cloned() else {
            return;
        };
        let Some(target) = self.target(&artefact).filter(|_| accepted) else {
            return;
        };
        if let Some(work) = (self.spec.work)(&target) {
            let id = uuid();
            self.write(&id, &id, 1, &work, &[artefact]);
        }
    }

    fn rework(&mut self, claim_id: &str, target: &Target, context: &[String]) {
        let Some(work) = self.spec.rework.as_ref().and_then(|f| f(target)) else {
            return;
        };
        let work = Work {
            kind: target.kind.clone(),
            ..work
        };
        let mut sources = vec![target.id.clone()];
        sources.extend_from_slice(context);
        let id = uuid();
        let version = target.version + 1;
        self.write(&id, &target.logical_id.clone(), version, &work, &sources);
        let event = format!(
            r#"{{"event":"artefact_reworked","data":{{"artefact_type":{},"logical_id":{},"new_artefact_id":{},"new_version":{version},"previous_version_id":{},"produced_by_role":{}}}}}"#,
            js(&target.kind),
            js(&target.logical_id),
            js(&id),
            js(&target.id),
            js(&self.spec.role)
        );
        self.publish("workflow_events", &event);
        self.seen
            .lock()
            .unwrap()
            .reworked
            .push(claim_id.to_string());
    }

    /// HSET the artefact (with `created_at_ms`), ZADD its thread, then publish it.
    fn write(&mut self, id: &str, logical: &str, version: i64, work: &Work, sources: &[String]) {
        let created = now_ms();
        let sources_json = serde_json::to_string(sources).unwrap();
        redis::cmd("HSET")
            .arg(format!("{}:artefact:{id}", self.prefix))
            .arg(&[
                ("id", id),
                ("logical_id", logical),
                ("version", &version.to_string()),
                ("structural_type", &work.structural_type),
                ("type", &work.kind),
                ("payload", &work.payload),
                ("source_artefacts", &sources_json),
                ("produced_by_role", &self.spec.role),
                ("created_at_ms", &created.to_string()),
            ])
            .query::<()>(&mut self.writer)
            .unwrap();
        redis::cmd("ZADD")
            .arg(format!("{}:thread:{logical}", self.prefix))
            .arg(version)
            .arg(id)
            .query::<()>(&mut self.writer)
            .unwrap();
        // Go: the Artefact struct, fields in its order.
        let event = format!(
            r#"{{"id":{},"logical_id":{},"version":{version},"structural_type":{},"type":{},"payload":{},"source_artefacts":{sources_json},"produced_by_role":{},"created_at_ms":{created}}}"#,
            js(id),
            js(logical),
            js(&work.structural_type),
            js(&work.kind),
            js(&work.payload),
            js(&self.spec.role)
        );
        self.publish("artefact_events", &event);
        self.seen.lock().unwrap().written.push(id.to_string());
    }

    fn publish(&mut self, channel: &str, message: &str) {
        redis::cmd("PUBLISH")
            .arg(format!("{}:{channel}", self.prefix))
            .arg(message)
            .query::<i64>(&mut self.writer)
            .unwrap();
    }
}
