//! Simulated agents for the lifecycle scenarios: asynchronous, on a thread of
//! their own, any number of claims at once. Each behaves on the wire as the
//! lifecycle contract says agents do (sections 4, 5, 8):
//!
//! - it subscribes to `claim_events` and its own `agent:{name}:events`;
//! - on a claim event whose status is not `pending_assignment`, it reads the
//!   target artefact (`version`, `source_artefacts`, `produced_by_role`; no
//!   bid when those are unusable, as the Go runner), then bids: HSET
//!   `claim:{id}:bids`, then PUBLISH `bid_submitted` on `workflow_events`;
//! - on a grant it reads the claim, accepts only when its name is granted,
//!   and writes its work: an artefact sourced from the claim's artefact,
//!   `produced_by_role` = its role (HSET, then PUBLISH on `artefact_events`).
//!
//! What they saw and when goes to a shared [`Tracker`] (the run's clock), so
//! the scenario can time artefact -> complete and last bid -> grant.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt as _;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use sett_orchestrator::blackboard::Keys;
use uuid::Uuid;

pub use crate::track::{Track, Tracker};

/// How an agent bids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `exclusive` on work nobody of the registry wrote, `ignore` on agents' work.
    Exclusive,
    /// `ignore` on everything.
    Ignore,
    /// Never bids (claims wait for ever with `SETT_BID_TIMEOUT=0`).
    Silent,
}

/// One agent of the registry and how it behaves.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub name: String,
    pub role: String,
    pub behaviour: Behaviour,
}

#[derive(Deserialize)]
struct ClaimEvent {
    id: String,
    artefact_id: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct Grant {
    claim_id: String,
}

/// What every agent task shares.
struct Ctx {
    keys: Keys,
    conn: MultiplexedConnection,
    tracker: Arc<Tracker>,
    /// Every role of the registry: work of these roles is agents' work.
    roles: Vec<String>,
    /// The payload agents write.
    payload: String,
}

/// The running agents; [`Agents::stop`] ends them.
pub struct Agents {
    stop: smol::channel::Sender<()>,
    thread: JoinHandle<()>,
}

impl Agents {
    /// Starts `specs` on `url` for `keys`; returns once every agent is subscribed.
    /// The first agent also records claim events (the observer).
    pub fn start(
        url: &str,
        keys: &Keys,
        specs: Vec<AgentSpec>,
        tracker: Arc<Tracker>,
        conn: MultiplexedConnection,
    ) -> Result<Agents, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let keys = keys.clone();
        let thread = std::thread::spawn(move || {
            let ctx = Rc::new(Ctx {
                keys,
                conn,
                tracker,
                roles: specs.iter().map(|s| s.role.clone()).collect(),
                payload: "bench agent work".into(),
            });
            let ex = Rc::new(smol::LocalExecutor::new());
            smol::block_on(ex.run(async {
                let mut streams = Vec::new();
                for spec in &specs {
                    match subscribe(&client, &ctx.keys, &spec.name).await {
                        Ok(s) => streams.push(s),
                        Err(e) => return drop(ready_tx.send(Err(e))),
                    }
                }
                let _ = ready_tx.send(Ok(()));
                let readers: Vec<_> = specs
                    .into_iter()
                    .zip(streams)
                    .enumerate()
                    .map(|(n, (spec, stream))| {
                        ex.spawn(read(ex.clone(), ctx.clone(), Rc::new(spec), n == 0, stream))
                    })
                    .collect();
                let _ = stopped.recv().await;
                drop(readers);
            }))
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Agents { stop, thread }),
            Ok(Err(e)) => Err(format!("agents: subscribe: {e}")),
            Err(_) => Err("the agents' thread died".into()),
        }
    }

    /// Stops every agent (work in progress is dropped).
    pub fn stop(self) {
        let _ = self.stop.try_send(());
        let _ = self.thread.join();
    }
}

type Messages = std::pin::Pin<Box<dyn futures_lite::Stream<Item = redis::Msg>>>;

async fn subscribe(client: &redis::Client, keys: &Keys, name: &str) -> Result<Messages, String> {
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
    for channel in [
        keys.claim_events(),
        format!("{}agent:{name}:events", keys.prefix()),
    ] {
        pubsub
            .subscribe(&channel)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Box::pin(pubsub.into_on_message()))
}

/// One agent's subscription: every message is handled by a task of its own.
async fn read(
    ex: Rc<smol::LocalExecutor<'static>>,
    ctx: Rc<Ctx>,
    spec: Rc<AgentSpec>,
    observer: bool,
    mut messages: Messages,
) {
    let claims = ctx.keys.claim_events();
    while let Some(msg) = messages.next().await {
        let at = ctx.tracker.now();
        let payload = msg.get_payload_bytes();
        if msg.get_channel_name() == claims {
            let Ok(event) = serde_json::from_slice::<ClaimEvent>(payload) else {
                continue;
            };
            if observer {
                ctx.tracker.claim_seen(&event.id, &event.artefact_id, at);
            }
            if spec.behaviour != Behaviour::Silent && event.status != "pending_assignment" {
                ex.spawn(bid(ctx.clone(), spec.clone(), event)).detach();
            }
        } else if let Ok(grant) = serde_json::from_slice::<Grant>(payload) {
            ex.spawn(work(ctx.clone(), spec.clone(), grant.claim_id, at))
                .detach();
        }
    }
}

/// Reads the target as the Go runner does, then HSET the bid and PUBLISH `bid_submitted`.
async fn bid(ctx: Rc<Ctx>, spec: Rc<AgentSpec>, event: ClaimEvent) {
    let mut conn = ctx.conn.clone();
    let fields: Result<(Option<String>, Option<String>, Option<String>), _> = redis::cmd("HMGET")
        .arg(ctx.keys.artefact(event.artefact_id.as_str()))
        .arg("version")
        .arg("source_artefacts")
        .arg("produced_by_role")
        .query_async(&mut conn)
        .await;
    let (version, sources, role) = match fields {
        Ok(f) => f,
        Err(_) => return ctx.tracker.error(),
    };
    let usable = version.is_some_and(|v| v.parse::<i64>().is_ok())
        && sources.is_some_and(|s| serde_json::from_str::<serde_json::Value>(&s).is_ok());
    if !usable {
        return;
    }
    let role = role.unwrap_or_default();
    let bid = match spec.behaviour {
        Behaviour::Exclusive if !ctx.roles.contains(&role) => "exclusive",
        _ => "ignore",
    };
    let message = format!(
        r#"{{"event":"bid_submitted","data":{{"agent_name":"{}","bid_type":"{bid}","claim_id":"{}"}}}}"#,
        spec.name, event.id
    );
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(format!("{}claim:{}:bids", ctx.keys.prefix(), event.id))
        .arg(&spec.name)
        .arg(bid)
        .ignore()
        .cmd("PUBLISH")
        .arg(format!("{}workflow_events", ctx.keys.prefix()))
        .arg(message)
        .ignore();
    let sent = ctx.tracker.now();
    if let Some(i) = ctx.tracker.original(&event.artefact_id) {
        let mut t = ctx.tracker.track.lock().unwrap();
        t.last_bid_ns[i as usize] = t.last_bid_ns[i as usize].max(sent);
        t.bids_sent += 1;
    } else {
        ctx.tracker.track.lock().unwrap().bids_sent += 1;
    }
    if pipe.query_async::<()>(&mut conn).await.is_err() {
        ctx.tracker.error();
    }
}

/// A grant: read the claim, accept it when our name is granted, write the work.
async fn work(ctx: Rc<Ctx>, spec: Rc<AgentSpec>, claim_id: String, at: u64) {
    {
        let mut t = ctx.tracker.track.lock().unwrap();
        if let Some(&i) = t.claim_index.get(&claim_id) {
            t.grants[i as usize] += 1;
            if t.granted_ns[i as usize] == 0 {
                t.granted_ns[i as usize] = at;
            }
        }
    }
    let mut conn = ctx.conn.clone();
    let claim: HashMap<String, String> = match redis::cmd("HGETALL")
        .arg(ctx.keys.claim(claim_id.as_str()))
        .query_async(&mut conn)
        .await
    {
        Ok(c) => c,
        Err(_) => return ctx.tracker.error(),
    };
    let listed = |field: &str| {
        claim
            .get(field)
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
            .is_some_and(|names| names.contains(&spec.name))
    };
    let accepted = listed("granted_review_agents")
        || listed("granted_parallel_agents")
        || claim.get("granted_exclusive_agent") == Some(&spec.name);
    let Some(source) = claim.get("artefact_id").filter(|_| accepted) else {
        return;
    };
    let id = Uuid::new_v4().hyphenated().to_string();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .to_string();
    let sources = format!(r#"["{source}"]"#);
    let event = format!(
        r#"{{"id":"{id}","logical_id":"{id}","version":1,"structural_type":"Standard","type":"BenchWork","payload":"{}","source_artefacts":{sources},"produced_by_role":"{}","created_at_ms":{created}}}"#,
        ctx.payload, spec.role
    );
    {
        let mut t = ctx.tracker.track.lock().unwrap();
        if let Some(i) = t.claim_index.get(&claim_id).copied() {
            t.deliverable_index.insert(id.clone(), i);
            t.written[i as usize] += 1;
        }
    }
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(ctx.keys.artefact(id.as_str()))
        .arg(&[
            ("id", id.as_str()),
            ("logical_id", id.as_str()),
            ("version", "1"),
            ("structural_type", "Standard"),
            ("type", "BenchWork"),
            ("payload", ctx.payload.as_str()),
            ("source_artefacts", sources.as_str()),
            ("produced_by_role", spec.role.as_str()),
            ("created_at_ms", created.as_str()),
        ])
        .ignore()
        .cmd("PUBLISH")
        .arg(ctx.keys.artefact_events())
        .arg(event)
        .ignore();
    if pipe.query_async::<()>(&mut conn).await.is_err() {
        ctx.tracker.error();
    }
}
