//! Pieces the end-to-end lifecycle tests share: a [`Stack`] (a Redis, a
//! registry file, orchestrators, sett-sim's agents and its recorder for one
//! instance, in either namespace), [`Gate`]s that hold an agent's bids or
//! work until the test has looked at the claim, and the user's writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};

use sett_sim::{Recorder, SimAgent, Spec, Target, Work};

use super::lifecycle::{bid_submitted, Art};
use super::*;

/// One instance of the blackboard: its Redis, registry and namespace.
pub struct Stack {
    /// `sett` or `holt`.
    pub namespace: &'static str,
    pub instance: String,
    /// `{namespace}:{instance}` (no trailing colon), as `SimAgent::start` wants it.
    pub prefix: String,
    /// `SETT_CONFIG_FILE`.
    pub registry: String,
    pub conn: redis::Connection,
    _dir: TempDir,
    pub redis: RedisServer,
}

impl Stack {
    /// A fresh Redis and a registry file with `yaml`.
    pub fn new(namespace: &'static str, instance: &str, yaml: &str) -> Stack {
        Stack::on(namespace, instance, yaml, RedisServer::start())
    }

    /// As [`Stack::new`], on `redis`.
    pub fn on(namespace: &'static str, instance: &str, yaml: &str, redis: RedisServer) -> Stack {
        let dir = TempDir::new();
        let registry = dir.file(&format!("{namespace}.yml"), yaml);
        Stack {
            namespace,
            instance: instance.to_string(),
            prefix: format!("{namespace}:{instance}"),
            registry,
            conn: redis.conn(),
            _dir: dir,
            redis,
        }
    }

    /// An orchestrator in lifecycle mode with `extra` variables, once started.
    pub fn orchestrator(&self, extra: &[(&str, &str)]) -> Orchestrator {
        let var = match self.namespace {
            "holt" => "HOLT_INSTANCE_NAME",
            _ => "SETT_INSTANCE_NAME",
        };
        let url = self.redis.url();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = vec![
            (var, self.instance.as_str()),
            ("REDIS_URL", url.as_str()),
            ("SETT_HTTP_ADDR", addr.as_str()),
            ("SETT_CONFIG_FILE", self.registry.as_str()),
        ];
        env.extend_from_slice(extra);
        let orch = Orchestrator::spawn(&env);
        let line = orch.wait_for_event("orchestrator_startup");
        assert_eq!(line["mode"], "lifecycle", "{line}");
        assert_eq!(line["namespace"], self.namespace, "{line}");
        orch
    }

    pub fn agent(&self, spec: Spec) -> SimAgent {
        SimAgent::start(&self.redis, &self.prefix, spec)
    }

    /// Records every message on the instance's channels.
    pub fn wiretap(&self) -> Recorder {
        Recorder::start(&self.redis, &self.prefix)
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// A Phase-1 claim on `artefact`, written by hand as another program
    /// would (the hash, then the index); its id.
    pub fn phase1_claim(&mut self, artefact: &str) -> String {
        let claim = uuid();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key(&format!("claim:{claim}")));
        for (f, v) in phase1_claim_fields(&claim, artefact) {
            cmd.arg(f).arg(v);
        }
        cmd.query::<()>(&mut self.conn).unwrap();
        redis::cmd("SET")
            .arg(self.key(&format!("claim_by_artefact:{artefact}")))
            .arg(&claim)
            .query::<()>(&mut self.conn)
            .unwrap();
        claim
    }

    /// A goal claimed by an orchestrator that then stops (its first pass
    /// done, SIGTERM, its exit waited for): the claim's id, collecting
    /// bids with nobody listening.
    pub fn claim_left_bidding(&mut self) -> String {
        let mut first = self.orchestrator(&[]);
        let goal = Art::goal();
        self.write(&goal);
        let claim = self.claim_of(&goal.id);
        first.wait_for_event("reconcile_complete");
        first.signal(libc::SIGTERM);
        assert!(first.wait_exit(PATIENCE).is_some());
        claim
    }

    /// A bid as an agent makes it: the bids hash, then `bid_submitted`.
    pub fn bid(&mut self, claim: &str, agent: &str, value: &str) {
        self.bid_unannounced(claim, agent, value);
        self.announce_bid(claim, agent, value);
    }

    /// The `bid_submitted` event alone (its bid written before).
    pub fn announce_bid(&mut self, claim: &str, agent: &str, value: &str) {
        let event = bid_submitted(claim, agent, value);
        redis::cmd("PUBLISH")
            .arg(self.key(&event.channel))
            .arg(event.payload)
            .query::<i64>(&mut self.conn)
            .unwrap();
    }

    /// A bid whose `bid_submitted` never came (lost: nobody listened): the
    /// bids hash only.
    pub fn bid_unannounced(&mut self, claim: &str, agent: &str, value: &str) {
        self.hset(&format!("claim:{claim}:bids"), agent, value);
    }

    /// `HSET` of one field of the instance's key `rest` (`claim:<id>`, …).
    pub fn hset(&mut self, rest: &str, field: &str, value: &str) {
        redis::cmd("HSET")
            .arg(self.key(rest))
            .arg(field)
            .arg(value)
            .query::<()>(&mut self.conn)
            .unwrap();
    }

    /// The user writes `art`: the hash (with `created_at_ms`), then the event.
    pub fn write(&mut self, art: &Art) {
        self.store(art);
        redis::cmd("PUBLISH")
            .arg(self.key("artefact_events"))
            .arg(art.event_json())
            .query::<i64>(&mut self.conn)
            .unwrap();
    }

    /// The hash only (no event).
    pub fn store(&mut self, art: &Art) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key(&format!("artefact:{}", art.id)));
        for (field, value) in art.hash_fields() {
            cmd.arg(field).arg(value);
        }
        cmd.query::<()>(&mut self.conn).unwrap();
    }

    pub fn hgetall(&mut self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.conn)
            .unwrap()
    }

    pub fn claim(&mut self, id: &str) -> BTreeMap<String, String> {
        let key = self.key(&format!("claim:{id}"));
        self.hgetall(&key)
    }

    /// `claim_by_artefact:{artefact}`, waited for (bounded).
    pub fn claim_of(&mut self, artefact: &str) -> String {
        let key = self.key(&format!("claim_by_artefact:{artefact}"));
        let mut found = None;
        let conn = &mut self.conn;
        wait_until(PATIENCE, || {
            found = redis::cmd("GET").arg(&key).query(conn).unwrap();
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no claim for {artefact}"))
    }

    /// The user writes a goal; the id of its claim (waited for).
    pub fn goal(&mut self) -> String {
        self.goals(1).remove(0)
    }

    /// The user writes `n` goals; their claims' ids, in the order written.
    pub fn goals(&mut self, n: usize) -> Vec<String> {
        let goals: Vec<Art> = (0..n).map(|_| Art::goal()).collect();
        for g in &goals {
            self.write(g);
        }
        goals.iter().map(|g| self.claim_of(&g.id)).collect()
    }

    /// Every key matching `pattern` (a glob), sorted.
    pub fn keys(&mut self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.conn)
            .unwrap();
        keys.sort();
        keys
    }

    /// Redis server time in ms (the clock the scripts stamp with).
    pub fn server_ms(&mut self) -> u64 {
        let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut self.conn).unwrap();
        s * 1000 + us / 1000
    }
}

/// The integer after `"start_time_ms":` in a stored `phase_state`, checked to
/// lie in `[lo, hi]` (server ms).
pub fn start_time(phase_state: &str, lo: u64, hi: u64) -> u64 {
    let at = phase_state
        .find("\"start_time_ms\":")
        .unwrap_or_else(|| panic!("no start_time_ms in {phase_state:?}"));
    let digits: String = phase_state[at + 16..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let ms: u64 = digits.parse().unwrap();
    assert!(
        lo <= ms && ms <= hi,
        "start_time_ms {ms} outside [{lo}, {hi}]"
    );
    ms
}

/// Opens once; everything waiting goes on. A wait gives up (and opens the
/// gate for good) after [`PATIENCE`], so a failed test never hangs an agent.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    pub fn wait(&self) {
        let (open, cond) = &*self.0;
        let guard = open.lock().unwrap();
        let (mut guard, _) = cond
            .wait_timeout_while(guard, PATIENCE, |open| !*open)
            .unwrap();
        *guard = true;
    }
}

/// An agent `name` that bids `ignore` on every claim (so never works).
pub fn ignorer(name: &str) -> Spec {
    Spec::new(name, "ignore", Work::new("Review", "ReviewResult", "{}"))
}

/// `spec`, whose every bid waits for `gate` first.
pub fn bids_after(mut spec: Spec, gate: &Gate) -> Spec {
    let inner = std::mem::replace(&mut spec.bid, Box::new(|_| None));
    let gate = gate.clone();
    spec.bid = Box::new(move |t: &Target| {
        gate.wait();
        inner(t)
    });
    spec
}

/// `spec`, whose every piece of work waits for `gate` first (after the
/// agent has received and accepted the grant).
pub fn work_after(mut spec: Spec, gate: &Gate) -> Spec {
    let inner = std::mem::replace(&mut spec.work, Box::new(|_| None));
    let gate = gate.clone();
    spec.work = Box::new(move |t: &Target| {
        gate.wait();
        inner(t)
    });
    spec
}

/// The value of `sett_orchestrator_{series}` (labels included) on `/metrics`.
pub fn metric(orch: &Orchestrator, series: &str) -> u64 {
    metric_value(&orch.get("/metrics").1, series)
}

/// Where `orch`'s first stdout line of `event` is among its lines.
pub fn line_index(orch: &Orchestrator, event: &str) -> usize {
    let needle = format!("\"event\":\"{event}\"");
    orch.stdout()
        .iter()
        .position(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no {event} line"))
}

/// Log lines `event` about `claim` (`claim_id` field).
pub fn lines_for(orch: &Orchestrator, event: &str, claim: &str) -> Vec<serde_json::Value> {
    orch.events(event)
        .into_iter()
        .filter(|l| l["claim_id"] == claim)
        .collect()
}
