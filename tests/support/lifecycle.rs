//! The lifecycle's decision scripts, driven directly: a [`Lab`] holds a real
//! Redis, the calls the orchestrator would make (`Context`, `run_batch`), a
//! recorder of every message published on the instance's channels, and
//! agents simulated exactly as the lifecycle contract says real ones behave.
//!
//! Every decision runs through `scripts::run_batch` on an async
//! `MultiplexedConnection` (driven with `smol::block_on`), and its reply is
//! decoded with `decode::decode`, as the engine does.
//! A script error fails the test: no junk may ever raise one.

// The re-exports below are unused in test binaries that never drive the lifecycle.
#![allow(unused_imports)]

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;
use sett_orchestrator::blackboard::decode;
use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::blackboard::Keys;
use sett_orchestrator::config::registry::{Agent, Registry};
use sett_orchestrator::ids::ArtefactId;
use sett_orchestrator::lifecycle::scripts::{Context, Set};
use sett_orchestrator::redis_io::scripts::{self, Call};
use sett_sim::Recorder;

pub use super::lifecycle_flow::*;
pub use super::lifecycle_wire::*;
use super::*;

/// The instance every lifecycle test uses, and its key prefix.
pub const INSTANCE: &str = "lc";
pub const P: &str = "sett:lc:";

/// A Redis with the lifecycle scripts, a registry, and a recorder.
pub struct Lab {
    pub keys: Keys,
    pub ctx: Context,
    pub conn: MultiplexedConnection,
    /// A plain connection for the test's own reads and the agents' writes.
    pub sync: redis::Connection,
    recorder: Recorder,
    /// Server time (ms) just before and just after the last decision.
    pub window: (u64, u64),
    pub redis: RedisServer,
}

pub fn registry(agents: &[(&str, &str)], max_review_iterations: u32) -> Registry {
    let agents = agents
        .iter()
        .map(|(name, role)| Agent {
            name: name.to_string(),
            role: role.to_string(),
            controller: None,
        })
        .collect();
    Registry::from_agents(agents, max_review_iterations)
}

impl Lab {
    /// `agents` are (name, role) pairs.
    pub fn new(agents: &[(&str, &str)], max_review_iterations: u32) -> Lab {
        let redis = RedisServer::start();
        let keys = Keys::new(INSTANCE);
        let ctx = Context::new(&keys, &registry(agents, max_review_iterations));
        let conn = Lab::connect(&redis);
        Lab {
            keys,
            ctx,
            conn,
            sync: redis.conn(),
            recorder: Recorder::start(&redis, P),
            window: (0, 0),
            redis,
        }
    }

    /// Another async connection (a second replica's).
    pub fn connect(redis: &RedisServer) -> MultiplexedConnection {
        let client = redis::Client::open(redis.url()).unwrap();
        smol::block_on(client.get_multiplexed_async_connection()).unwrap()
    }

    /// The context of another registry (the same Redis).
    pub fn set_registry(&mut self, agents: &[(&str, &str)], max_review_iterations: u32) {
        self.ctx = Context::new(&self.keys, &registry(agents, max_review_iterations));
    }

    /// The context of a checked registry (controllers included).
    pub fn use_registry(&mut self, registry: &Registry) {
        self.ctx = Context::new(&self.keys, registry);
    }

    /// Server time in ms.
    pub fn now_ms(&mut self) -> u64 {
        let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut self.sync).unwrap();
        s * 1000 + us / 1000
    }

    /// Runs `calls` as one pipeline on `conn`; every call must succeed.
    pub fn run_on(
        &mut self,
        conn: Option<&mut MultiplexedConnection>,
        calls: &[Call],
    ) -> Vec<Value> {
        let start = self.now_ms();
        let conn = conn.unwrap_or(&mut self.conn);
        let replies = smol::block_on(scripts::run_batch(conn, calls)).expect("pipeline");
        self.window = (start, self.now_ms());
        replies
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("script error: {e}")))
            .collect()
    }

    /// Runs one lifecycle decision and decodes its effects.
    pub fn decide(&mut self, call: Call) -> Vec<Effect> {
        let reply = self.run_on(None, &[call]).remove(0);
        effects(&reply)
    }

    /// The artefact decision for `id` (with a fresh claim id), as a live
    /// event makes it.
    pub fn on_artefact(&mut self, id: &str) -> Vec<Effect> {
        let call = self.artefact_call(id);
        self.decide(call)
    }

    /// The same, as a catch-up pass makes it (replaying).
    pub fn on_artefact_replayed(&mut self, id: &str) -> Vec<Effect> {
        let id = ArtefactId::parse(id).unwrap_or_else(|| panic!("bad test id {id}"));
        let call = self
            .ctx
            .artefact(&self.keys, &id, &uuid::Uuid::new_v4(), true);
        self.decide(call)
    }

    pub fn artefact_call(&self, id: &str) -> Call<'static> {
        let id = ArtefactId::parse(id).unwrap_or_else(|| panic!("bad test id {id}"));
        self.ctx
            .artefact(&self.keys, &id, &uuid::Uuid::new_v4(), false)
    }

    /// The bids decision for `claim` (`None`: wait for ever).
    pub fn on_bids(&mut self, claim: &str, timeout: Option<Duration>) -> Vec<Effect> {
        let call = self.ctx.bids(&cid(claim), timeout);
        self.decide(call)
    }

    pub fn on_timeout(&mut self, claim: &str, limit: Duration, shown: &str) -> Vec<Effect> {
        let call = self.ctx.timeout(&cid(claim), limit, shown);
        self.decide(call)
    }

    /// `claim`'s bidding decided once a 1 ms timeout has passed (server clock).
    pub fn time_out(&mut self, claim: &str) -> Vec<Effect> {
        let created = self.now_ms();
        assert!(wait_until(PATIENCE, || self.now_ms() > created + 1));
        self.on_bids(claim, Some(Duration::from_millis(1)))
    }

    /// The late-bid decision on `claims` in one call (`look_late`: bids after
    /// their bidding was decided too, not only agents no longer registered).
    pub fn on_late_bids(&mut self, claims: &[&str]) -> Vec<Effect> {
        let ids: Vec<_> = claims.iter().map(cid).collect();
        let call = self.ctx.late_bids(&ids);
        self.decide(call)
    }

    /// The `due` script's answer: claim ids.
    pub fn due(&mut self, set: Set, age: Duration, limit: usize) -> Vec<String> {
        let call = self.ctx.due(set, age, limit);
        let reply = self.run_on(None, &[call]).remove(0);
        redis::from_redis_value(reply).unwrap()
    }

    /// Writes `art` as the Go producer does (hash with `created_at_ms`, then
    /// the event), and checks that its event is all that was published.
    pub fn write(&mut self, art: &Art) {
        self.store(art);
        let event = art.event_json();
        self.publish("artefact_events", &event);
        assert_eq!(self.published(), vec![Msg::new("artefact_events", event)]);
    }

    /// The hash only (for junk, or artefacts written while nobody listened).
    pub fn store(&mut self, art: &Art) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(format!("{P}artefact:{}", art.id));
        for (field, value) in art.hash_fields() {
            cmd.arg(field).arg(value);
        }
        cmd.query::<()>(&mut self.sync).unwrap();
    }

    /// An agent bids: HSET on the bids hash, then `bid_submitted`.
    pub fn bid(&mut self, claim: &str, name: &str, value: &str) {
        self.hset(&format!("{P}claim:{claim}:bids"), name, value);
        let event = bid_submitted(claim, name, value);
        self.publish(&event.channel, &event.payload);
        assert_eq!(self.published(), vec![event]);
    }

    /// A bid, then the bids decision (as the orchestrator runs it per bid event).
    pub fn bid_and_decide(&mut self, claim: &str, name: &str, value: &str) -> Vec<Effect> {
        self.bid(claim, name, value);
        self.on_bids(claim, None)
    }

    pub fn publish(&mut self, channel: &str, payload: &str) {
        redis::cmd("PUBLISH")
            .arg(format!("{P}{channel}"))
            .arg(payload)
            .query::<i64>(&mut self.sync)
            .unwrap();
    }

    pub fn hset(&mut self, key: &str, field: &str, value: impl redis::ToRedisArgs) {
        redis::cmd("HSET")
            .arg(key)
            .arg(field)
            .arg(value)
            .query::<()>(&mut self.sync)
            .unwrap();
    }

    /// Makes `key` a list (a key of the wrong type for every key the
    /// decisions write: junk another program left).
    pub fn junk_list(&mut self, key: &str) {
        redis::cmd("RPUSH")
            .arg(key)
            .arg("junk")
            .query::<()>(&mut self.sync)
            .unwrap();
    }

    /// Makes `key` a string (the same, for the sets and hashes).
    pub fn junk_string(&mut self, key: &str) {
        redis::cmd("SET")
            .arg(key)
            .arg("junk")
            .query::<()>(&mut self.sync)
            .unwrap();
    }

    pub fn hgetall(&mut self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.sync)
            .unwrap()
    }

    pub fn claim(&mut self, id: &str) -> BTreeMap<String, String> {
        self.hgetall(&format!("{P}claim:{id}"))
    }

    pub fn artefact(&mut self, id: &str) -> BTreeMap<String, String> {
        self.hgetall(&format!("{P}artefact:{id}"))
    }

    /// `claim_by_artefact:{id}`.
    pub fn index(&mut self, artefact: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!("{P}claim_by_artefact:{artefact}"))
            .query(&mut self.sync)
            .unwrap()
    }

    /// Members of an orchestrator set.
    pub fn set_members(&mut self, set: Set) -> Vec<String> {
        redis::cmd("ZRANGE")
            .arg(self.ctx.set_key(set))
            .arg(0)
            .arg(-1)
            .query(&mut self.sync)
            .unwrap()
    }

    /// Every message published since the last call, in order.
    pub fn published(&mut self) -> Vec<Msg> {
        self.recorder.since_last()
    }

    /// Every key of the instance with its type and content, for "nothing changed".
    pub fn snapshot(&mut self) -> BTreeMap<String, String> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{P}*"))
            .query(&mut self.sync)
            .unwrap();
        let mut out = BTreeMap::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut self.sync).unwrap();
            let content = match kind.as_str() {
                "hash" => format!("{:?}", self.hgetall(&key)),
                "string" => redis::cmd("GET").arg(&key).query(&mut self.sync).unwrap(),
                "zset" => {
                    let v: Vec<(String, String)> = redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query(&mut self.sync)
                        .unwrap();
                    format!("{v:?}")
                }
                "set" => {
                    let mut v: Vec<String> = redis::cmd("SMEMBERS")
                        .arg(&key)
                        .query(&mut self.sync)
                        .unwrap();
                    v.sort();
                    format!("{v:?}")
                }
                "list" => {
                    let v: Vec<String> = redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query(&mut self.sync)
                        .unwrap();
                    format!("{v:?}")
                }
                other => panic!("unexpected {other} at {key}"),
            };
            out.insert(key, format!("{kind}: {content}"));
        }
        out
    }

    /// Runs `replay` (calls that repeat a decision already made) and asserts
    /// that it changed no key and published nothing.
    pub fn assert_noop(&mut self, what: &str, replay: impl FnOnce(&mut Lab)) {
        assert_eq!(self.published(), vec![], "pending messages before {what}");
        let before = self.snapshot();
        replay(self);
        assert_eq!(self.published(), vec![], "{what} published");
        assert_eq!(self.snapshot(), before, "{what} changed the blackboard");
    }

    /// The stored integer after `"field":` in `json` (e.g. `start_time_ms`),
    /// checked to lie within the last decision's server-time window.
    pub fn stamped(&self, json: &str, field: &str) -> u64 {
        let at = json
            .find(&format!("\"{field}\":"))
            .unwrap_or_else(|| panic!("no {field} in {json}"))
            + field.len()
            + 3;
        let digits: String = json[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        self.in_window(&digits)
    }

    /// `ms` (decimal text) as a number, checked to lie within the last
    /// decision's server-time window.
    pub fn in_window(&self, ms: &str) -> u64 {
        let ms: u64 = ms.parse().unwrap_or_else(|_| panic!("not ms: {ms:?}"));
        let (lo, hi) = self.window;
        assert!(lo <= ms && ms <= hi, "{ms} outside [{lo}, {hi}]");
        ms
    }
}

/// A script's reply as effects (a reply that does not decode fails the test).
pub fn effects(reply: &Value) -> Vec<Effect> {
    decode::decode(reply).unwrap_or_else(|_| panic!("unexpected rows {reply:?}"))
}

/// The effect of a late bid honoured: `agent`'s `bid` on `claim` starts `phase`.
pub fn honoured(
    claim: &str,
    agent: &str,
    bid: &str,
    phase: sett_orchestrator::blackboard::effects::Phase,
) -> Effect {
    Effect::LateBidHonoured {
        claim: cid(claim),
        agent: agent.into(),
        bid: bid.into(),
        phase,
    }
}
