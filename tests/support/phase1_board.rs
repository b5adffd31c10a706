//! Phase 1's claim script driven directly on a real Redis (no orchestrator):
//! a board of artefacts, claims made through `phase1::claim_batch` with the
//! calls counted, and a listener on `claim_events`. Shared by
//! `tests/phase1_batch.rs` and `tests/phase1_refused.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::blackboard::{claim_json, Keys};
use sett_orchestrator::ids::{ArtefactId, ClaimId};
use sett_orchestrator::phase1::{claim_batch, CLAIM};
use sett_orchestrator::redis_io::scripts::Decided;

use crate::{command_calls, uuid, RedisServer};

/// A private Redis with the claim script loaded, instance `pb`.
pub struct Board {
    pub redis: RedisServer,
    pub sync: redis::Connection,
    pub conn: MultiplexedConnection,
    pub keys: Keys,
    /// A port held while Redis is a replica of it (nothing else can take it).
    pub held: Option<std::net::TcpListener>,
}

impl Board {
    pub fn start() -> Board {
        let redis = RedisServer::start();
        let sync = redis.conn();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = smol::block_on(client.get_multiplexed_async_connection()).unwrap();
        smol::block_on(CLAIM.load(&mut conn)).unwrap();
        Board {
            redis,
            sync,
            conn,
            keys: Keys::new("pb"),
            held: None,
        }
    }

    pub fn cmd(&mut self, args: &[&str]) {
        redis::cmd(args[0])
            .arg(&args[1..])
            .query::<redis::Value>(&mut self.sync)
            .unwrap();
    }

    /// An artefact hash with these fields, under a fresh id.
    pub fn artefact(&mut self, fields: &[(&str, &str)]) -> String {
        let id = uuid();
        let key = format!("sett:pb:artefact:{id}");
        let mut args = vec!["HSET", key.as_str(), "id", id.as_str()];
        for (k, v) in fields {
            args.extend([*k, *v]);
        }
        self.cmd(&args);
        id
    }

    pub fn standard(&mut self) -> String {
        self.artefact(&[("structural_type", "Standard"), ("type", "Goal")])
    }

    /// Every key and its type.
    pub fn keys_now(&mut self) -> BTreeMap<String, String> {
        let names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut self.sync).unwrap();
        names
            .into_iter()
            .map(|k| {
                let t: String = redis::cmd("TYPE").arg(&k).query(&mut self.sync).unwrap();
                (k, t)
            })
            .collect()
    }

    /// Every key and its value, serialized (DUMP): a write to any key,
    /// not only a new key or another type, changes it.
    pub fn contents_now(&mut self) -> BTreeMap<String, Vec<u8>> {
        let names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut self.sync).unwrap();
        names
            .into_iter()
            .map(|k| {
                let dump: Vec<u8> = redis::cmd("DUMP").arg(&k).query(&mut self.sync).unwrap();
                (k, dump)
            })
            .collect()
    }

    pub fn hash(&mut self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.sync)
            .unwrap()
    }

    pub fn get(&mut self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query(&mut self.sync).unwrap()
    }

    /// A connection as a new ACL user `name` that may run every command but
    /// `refused` (Redis checks a script's commands against its caller's ACL).
    pub fn user_without(&mut self, name: &str, refused: &str) -> MultiplexedConnection {
        let minus = format!("-{refused}");
        self.cmd(&[
            "ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all", &minus,
        ]);
        let url = self
            .redis
            .url()
            .replacen("redis://", &format!("redis://{name}:pw@"), 1);
        let client = redis::Client::open(url).unwrap();
        smol::block_on(client.get_multiplexed_async_connection()).unwrap()
    }

    /// Runs claim_batch over `ids` with the calls counted: (outcomes, EVALSHA calls).
    pub fn claim(&mut self, ids: &[String]) -> (Vec<Decided>, u64) {
        let ids: Vec<ArtefactId> = ids.iter().map(|s| ArtefactId::parse(s).unwrap()).collect();
        self.cmd(&["CONFIG", "RESETSTAT"]);
        let out = smol::block_on(claim_batch(&mut self.conn, &self.keys, &ids)).unwrap();
        let calls = command_calls(&mut self.sync);
        (out, calls.get("evalsha").copied().unwrap_or(0))
    }
}

/// Listens on the claim_events channel (a thread of its own); `messages`
/// stops it and answers what came, in order.
pub struct Listener {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Listener {
    pub fn start(redis: &RedisServer) -> Listener {
        let mut conn = redis.conn();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut pubsub = conn.as_pubsub();
            pubsub.subscribe("sett:pb:claim_events").unwrap();
            // Short reads from here on (the subscription is confirmed).
            pubsub
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut out = Vec::new();
            loop {
                // Looked at before the read: a stop asked for before it began
                // has every message in the socket already (see `messages`).
                let stopping = stopped.load(std::sync::atomic::Ordering::SeqCst);
                match pubsub.get_message() {
                    Ok(m) => out.push(m.get_payload().unwrap()),
                    Err(e) if e.is_timeout() && stopping => return out,
                    Err(e) if e.is_timeout() => {}
                    // Redis gone (a test failing): what came is the answer.
                    Err(_) => return out,
                }
            }
        });
        ready.recv().unwrap();
        Listener { stop, thread }
    }

    /// Every message that came. Called after a later round trip than the
    /// calls' (`Board::claim` reads the command counts): Redis writes every
    /// client's pending output before it reads the next command, so each
    /// message of those calls is in the listener's socket by then; it reads
    /// until a read finds nothing.
    pub fn messages(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

pub fn created(effects: &Decided) -> ClaimId {
    match effects.as_ref().unwrap()[..] {
        [Effect::Created { claim }] => claim,
        ref other => panic!("not created: {other:?}"),
    }
}

pub fn one(effect: Effect) -> Vec<Effect> {
    vec![effect]
}

/// The claim event of `claim` on `artefact`, byte for byte.
pub fn event(claim: ClaimId, artefact: &str) -> String {
    claim_json(
        &uuid::Uuid::parse_str(claim.as_str()).unwrap(),
        &ArtefactId::parse(artefact).unwrap(),
    )
}

/// The six fields of a Phase-1 claim, as a map.
pub fn claim_fields(claim: &str, artefact: &str) -> BTreeMap<String, String> {
    crate::phase1_claim_fields(claim, artefact)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
