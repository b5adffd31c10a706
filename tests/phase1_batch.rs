//! Phase 1 decides many artefacts in one call of its claim script
//! (`phase1::PER_CALL` a call): each artefact's decision is still its own,
//! checked before it writes, answered in its own row, in order. Driven
//! through the real script on a real Redis, with the calls counted.

use std::collections::BTreeMap;
use std::time::Duration;

use sett_test_support as support;

use redis::aio::MultiplexedConnection;
use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::blackboard::{claim_json, Keys};
use sett_orchestrator::ids::{ArtefactId, ClaimId};
use sett_orchestrator::phase1::{claim_batch, claim_call, CLAIM, PER_CALL};
use sett_orchestrator::redis_io::scripts::{decide, CallError, Decided};
use support::{command_calls, uuid, RedisServer};

struct Board {
    redis: RedisServer,
    sync: redis::Connection,
    conn: MultiplexedConnection,
    keys: Keys,
    /// A port held while Redis is a replica of it (nothing else can take it).
    held: Option<std::net::TcpListener>,
}

impl Board {
    fn new() -> Board {
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

    fn cmd(&mut self, args: &[&str]) {
        redis::cmd(args[0])
            .arg(&args[1..])
            .query::<redis::Value>(&mut self.sync)
            .unwrap();
    }

    /// An artefact hash with these fields, under a fresh id.
    fn artefact(&mut self, fields: &[(&str, &str)]) -> String {
        let id = uuid();
        let key = format!("sett:pb:artefact:{id}");
        let mut args = vec!["HSET", key.as_str(), "id", id.as_str()];
        for (k, v) in fields {
            args.extend([*k, *v]);
        }
        self.cmd(&args);
        id
    }

    fn standard(&mut self) -> String {
        self.artefact(&[("structural_type", "Standard"), ("type", "Goal")])
    }

    /// Every key and its type.
    fn keys_now(&mut self) -> BTreeMap<String, String> {
        let names: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut self.sync).unwrap();
        names
            .into_iter()
            .map(|k| {
                let t: String = redis::cmd("TYPE").arg(&k).query(&mut self.sync).unwrap();
                (k, t)
            })
            .collect()
    }

    fn hash(&mut self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.sync)
            .unwrap()
    }

    fn get(&mut self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query(&mut self.sync).unwrap()
    }

    /// Runs claim_batch over `ids` with the calls counted: (outcomes, EVALSHA calls).
    fn claim(&mut self, ids: &[String]) -> (Vec<Decided>, u64) {
        let ids: Vec<ArtefactId> = ids.iter().map(|s| ArtefactId::parse(s).unwrap()).collect();
        self.cmd(&["CONFIG", "RESETSTAT"]);
        let out = smol::block_on(claim_batch(&mut self.conn, &self.keys, &ids)).unwrap();
        let calls = command_calls(&mut self.sync);
        (out, calls.get("evalsha").copied().unwrap_or(0))
    }
}

/// Listens on the claim_events channel (a thread of its own); `messages`
/// stops it and answers what came, in order.
struct Listener {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Listener {
    fn start(redis: &RedisServer) -> Listener {
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
    fn messages(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn created(effects: &Decided) -> ClaimId {
    match effects.as_ref().unwrap()[..] {
        [Effect::Created { claim }] => claim,
        ref other => panic!("not created: {other:?}"),
    }
}

fn one(effect: Effect) -> Vec<Effect> {
    vec![effect]
}

/// The claim event of `claim` on `artefact`, byte for byte.
fn event(claim: ClaimId, artefact: &str) -> String {
    claim_json(
        &uuid::Uuid::parse_str(claim.as_str()).unwrap(),
        &ArtefactId::parse(artefact).unwrap(),
    )
}

/// The six fields of a Phase-1 claim, as a map.
fn claim_fields(claim: &str, artefact: &str) -> BTreeMap<String, String> {
    support::phase1_claim_fields(claim, artefact)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn one_call_decides_every_artefact_on_its_own_in_order() {
    let mut b = Board::new();
    let listener = Listener::start(&b.redis);
    let fresh = b.standard();
    let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
    let missing = uuid();
    let listed = uuid();
    b.cmd(&["RPUSH", &format!("sett:pb:artefact:{listed}"), "junk"]);
    let untyped = b.artefact(&[("type", "Goal")]);
    let empty_type = b.artefact(&[("structural_type", ""), ("type", "Goal")]);
    let bad_index = b.standard();
    b.cmd(&[
        "SADD",
        &format!("sett:pb:claim_by_artefact:{bad_index}"),
        "x",
    ]);
    let claimed = b.standard();
    b.cmd(&[
        "SET",
        &format!("sett:pb:claim_by_artefact:{claimed}"),
        "someone",
    ]);
    let second = b.standard();
    let before = b.keys_now();

    let ids = [
        &fresh,
        &terminal,
        &missing,
        &listed,
        &untyped,
        &empty_type,
        &bad_index,
        &claimed,
        &second,
        &fresh,
    ]
    .map(String::clone);
    let (out, calls) = b.claim(&ids);
    assert_eq!(calls, 1, "ten artefacts, one call");
    assert_eq!(out.len(), 10);
    let (first_claim, second_claim) = (created(&out[0]), created(&out[8]));
    let rest: Vec<Vec<Effect>> = out[1..8]
        .iter()
        .chain(&out[9..])
        .map(|d| d.as_ref().unwrap().clone())
        .collect();
    let invalid = |reason: &str| {
        one(Effect::Invalid {
            reason: reason.into(),
        })
    };
    assert_eq!(
        rest,
        vec![
            one(Effect::Skipped {
                structural_type: "Terminal".into(),
                artefact_type: "Done".into()
            }),
            one(Effect::NotFound),
            invalid("artefact key is a list, not a hash"),
            invalid("artefact hash has no structural_type"),
            invalid("artefact hash has no structural_type"),
            one(Effect::IndexConflict {
                key_type: "set".into()
            }),
            one(Effect::Duplicate {
                existing: "someone".into()
            }),
            one(Effect::Duplicate {
                existing: first_claim.as_str().to_string()
            }),
        ]
    );

    // Exactly two claims, two index entries and two events: nothing else written.
    let mut expected = before;
    for (artefact, claim) in [(&fresh, first_claim), (&second, second_claim)] {
        let claim_key = format!("sett:pb:claim:{}", claim.as_str());
        expected.insert(claim_key.clone(), "hash".into());
        expected.insert(
            format!("sett:pb:claim_by_artefact:{artefact}"),
            "string".into(),
        );
        let fields: BTreeMap<String, String> = claim_fields(claim.as_str(), artefact);
        assert_eq!(b.hash(&claim_key), fields);
        assert_eq!(
            b.get(&format!("sett:pb:claim_by_artefact:{artefact}"))
                .as_deref(),
            Some(claim.as_str())
        );
    }
    assert_eq!(b.keys_now(), expected);
    assert_eq!(
        listener.messages(),
        vec![event(first_claim, &fresh), event(second_claim, &second)]
    );
}

#[test]
fn more_artefacts_than_a_call_holds_go_in_several_calls_each_answered_in_order() {
    let mut b = Board::new();
    let n = 2 * PER_CALL + 3;
    let ids: Vec<String> = (0..n).map(|_| b.standard()).collect();
    let (out, calls) = b.claim(&ids);
    assert_eq!(calls, 3, "{n} artefacts at {PER_CALL} a call");
    assert_eq!(out.len(), n);
    for (id, outcome) in ids.iter().zip(&out) {
        let claim = created(outcome);
        assert_eq!(
            b.get(&format!("sett:pb:claim_by_artefact:{id}")).as_deref(),
            Some(claim.as_str()),
            "each row is its own artefact's"
        );
    }
    // Claimed again: every one a duplicate of its own claim, nothing new.
    let (again, _) = b.claim(&ids);
    for (first, second) in out.iter().zip(&again) {
        assert_eq!(
            second.as_ref().unwrap(),
            &one(Effect::Duplicate {
                existing: created(first).as_str().to_string()
            })
        );
    }
}

#[test]
fn a_wrong_typed_claim_key_costs_its_own_artefact_alone() {
    let mut b = Board::new();
    let listener = Listener::start(&b.redis);
    let (blocked, next) = (b.standard(), b.standard());
    let (blocked_claim, next_claim) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let blocked_key = format!("sett:pb:claim:{blocked_claim}");
    b.cmd(&["RPUSH", &blocked_key, "junk"]);
    let before = b.keys_now();
    let (blocked_id, next_id) = (
        ArtefactId::parse(&blocked).unwrap(),
        ArtefactId::parse(&next).unwrap(),
    );
    let call = claim_call(
        &b.keys,
        &[(blocked_id, blocked_claim), (next_id, next_claim)],
    );
    let out = smol::block_on(decide(&mut b.conn, &[call])).unwrap();
    b.cmd(&["PING"]);
    assert_eq!(
        out.into_iter().next().unwrap().unwrap(),
        vec![
            Effect::KeyConflict {
                key: blocked_key,
                key_type: "list".into()
            },
            Effect::Created {
                claim: ClaimId::parse(&next_claim.to_string()).unwrap()
            },
        ]
    );
    // The next artefact's claim, index and event; nothing of the blocked one's.
    let next_key = format!("sett:pb:claim:{next_claim}");
    let mut expected = before;
    expected.insert(next_key.clone(), "hash".into());
    expected.insert(format!("sett:pb:claim_by_artefact:{next}"), "string".into());
    assert_eq!(b.keys_now(), expected);
    let fields: BTreeMap<String, String> = claim_fields(&next_claim.to_string(), &next);
    assert_eq!(b.hash(&next_key), fields);
    assert_eq!(
        b.get(&format!("sett:pb:claim_by_artefact:{next}")),
        Some(next_claim.to_string())
    );
    assert_eq!(listener.messages(), vec![claim_json(&next_claim, &next_id)]);
}

/// How a refusal is made and undone, and the code Redis answers with.
struct Refusal {
    code: &'static str,
    on: fn(&mut Board),
    off: fn(&mut Board),
}

const REFUSALS: [Refusal; 3] = [
    Refusal {
        code: "OOM",
        on: |b| {
            b.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
            b.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
        },
        off: |b| b.cmd(&["CONFIG", "SET", "maxmemory", "0"]),
    },
    Refusal {
        code: "NOREPLICAS",
        on: |b| support::refuse_writes(&mut b.sync, true),
        off: |b| support::refuse_writes(&mut b.sync, false),
    },
    // A replica of a primary that never answers (a port held here, which
    // accepts and says nothing): read-only.
    Refusal {
        code: "READONLY",
        on: |b| {
            let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = held.local_addr().unwrap().port().to_string();
            b.held = Some(held);
            b.cmd(&["REPLICAOF", "127.0.0.1", &port]);
        },
        off: |b| {
            b.cmd(&["REPLICAOF", "NO", "ONE"]);
            b.held = None;
        },
    },
];

/// Redis refusing writes refuses each artefact that would write, with its
/// error, and writes nothing; the artefacts that need no write get their
/// own outcomes in the same call, before and after a refused one.
#[test]
fn a_refused_write_is_its_artefacts_alone_and_writes_nothing() {
    let mut b = Board::new();
    for refusal in &REFUSALS {
        let listener = Listener::start(&b.redis);
        let claimed = b.standard();
        b.cmd(&[
            "SET",
            &format!("sett:pb:claim_by_artefact:{claimed}"),
            "earlier",
        ]);
        let bare = uuid();
        b.cmd(&["HSET", &format!("sett:pb:artefact:{bare}"), "id", &bare]);
        let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
        let ids: Vec<String> = vec![claimed, b.standard(), bare, terminal, b.standard()];
        let before = b.keys_now();
        (refusal.on)(&mut b);
        let (out, calls) = b.claim(&ids);
        (refusal.off)(&mut b);
        assert_eq!(calls, 1);
        assert_eq!(out.len(), 5);
        let refused = |d: &Decided| match d {
            Err(CallError::Redis(e)) => e.code().map(str::to_string),
            other => panic!("{}: not refused: {other:?}", refusal.code),
        };
        assert_eq!(
            out[0].as_ref().unwrap(),
            &one(Effect::Duplicate {
                existing: "earlier".into()
            })
        );
        assert_eq!(refused(&out[1]).as_deref(), Some(refusal.code));
        assert_eq!(
            out[2].as_ref().unwrap(),
            &one(Effect::Invalid {
                reason: "artefact hash has no structural_type".into()
            }),
            "a hash with neither field is not absent"
        );
        assert_eq!(
            out[3].as_ref().unwrap(),
            &one(Effect::Skipped {
                structural_type: "Terminal".into(),
                artefact_type: "Done".into()
            })
        );
        assert_eq!(refused(&out[4]).as_deref(), Some(refusal.code));
        assert_eq!(b.keys_now(), before, "{}: nothing written", refusal.code);
        // Writes back: the refused artefacts are claimed as usual.
        let (again, _) = b.claim(&[ids[1].clone(), ids[4].clone()]);
        let claims = [created(&again[0]), created(&again[1])];
        assert_eq!(
            listener.messages(),
            vec![event(claims[0], &ids[1]), event(claims[1], &ids[4])],
            "{}: announced once, when claimed",
            refusal.code
        );
    }
}

/// A user whose ACL refuses PUBLISH: each artefact's claim is written as a
/// script of its own would leave it (hash and index, not announced) and
/// answered as refused, each on its own; nothing is published.
#[test]
fn a_write_refused_after_the_first_is_its_artefacts_alone() {
    let mut b = Board::new();
    b.cmd(&[
        "ACL", "SETUSER", "mute", "on", ">pw", "~*", "&*", "+@all", "-publish",
    ]);
    let url = b.redis.url().replacen("redis://", "redis://mute:pw@", 1);
    let client = redis::Client::open(url).unwrap();
    let mut mute = smol::block_on(client.get_multiplexed_async_connection()).unwrap();
    let listener = Listener::start(&b.redis);
    let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
    let ids = [b.standard(), terminal, b.standard()];
    let artefacts: Vec<ArtefactId> = ids.iter().map(|s| ArtefactId::parse(s).unwrap()).collect();
    let out = smol::block_on(claim_batch(&mut mute, &b.keys, &artefacts)).unwrap();
    b.cmd(&["PING"]);
    assert_eq!(out.len(), 3);
    for i in [0, 2] {
        match &out[i] {
            // (Redis 7.0's words for an ACL's refusal inside a script.)
            Err(CallError::Redis(e)) => assert!(
                e.code() == Some("ERR") && e.to_string().contains("can't run this command"),
                "{e}"
            ),
            other => panic!("not refused: {other:?}"),
        }
        let claim = b.get(&format!("sett:pb:claim_by_artefact:{}", ids[i]));
        let claim = claim.expect("the claim's index, written before the refusal");
        assert_eq!(
            b.hash(&format!("sett:pb:claim:{claim}")),
            claim_fields(&claim, &ids[i])
        );
    }
    assert_eq!(
        out[1].as_ref().unwrap(),
        &one(Effect::Skipped {
            structural_type: "Terminal".into(),
            artefact_type: "Done".into()
        })
    );
    assert_eq!(listener.messages(), Vec::<String>::new());
}
