//! The end-to-end lifecycle tests' harness (`tests/feedback_e2e.rs`,
//! `tests/stranded.rs`, `tests/replicas_lifecycle.rs`): the whole
//! blackboard read back, what an agent writes done by hand (for what agents
//! do while no orchestrator runs, with the bytes sett-sim's agents send),
//! and assertions on the recorded messages.

use std::collections::BTreeMap;

use super::lifecycle::{artefact_reworked, bid_submitted, Art, Msg};
use super::*;

/// A hash as read back.
pub type Fields = BTreeMap<String, String>;

/// Everything the lifecycle leaves on an instance's blackboard.
#[derive(Debug, Default)]
pub struct Board {
    pub artefacts: BTreeMap<String, Fields>,
    pub claims: BTreeMap<String, Fields>,
    /// Bids hashes, by claim id.
    pub bids: BTreeMap<String, Fields>,
    /// `claim_by_artefact`: artefact id to claim id.
    pub index: BTreeMap<String, String>,
    /// The orchestrator's sets (claims collecting bids, claims in a phase).
    pub bidding: Vec<String>,
    pub active: Vec<String>,
}

impl Board {
    /// Read newest first (the orchestrator's sets, the index, claims and
    /// bids, artefacts): each is written after what it names, so whatever a
    /// set, an index entry or a claim names is in the read, however the
    /// board moves meanwhile.
    pub fn read(redis: &RedisServer, instance: &str) -> Board {
        let mut conn = redis.conn();
        let p = format!("sett:{instance}:");
        let keys = |conn: &mut redis::Connection, pattern: &str| -> Vec<String> {
            redis::cmd("KEYS")
                .arg(format!("{p}{pattern}"))
                .query(conn)
                .unwrap()
        };
        let hash = |conn: &mut redis::Connection, key: &str| -> Fields {
            redis::cmd("HGETALL").arg(key).query(conn).unwrap()
        };
        let set = |conn: &mut redis::Connection, name: &str| -> Vec<String> {
            redis::cmd("ZRANGE")
                .arg(format!("{p}orchestrator:{name}"))
                .arg(0)
                .arg(-1)
                .query(conn)
                .unwrap()
        };
        let mut board = Board {
            bidding: set(&mut conn, "bidding"),
            active: set(&mut conn, "active"),
            ..Board::default()
        };
        for key in keys(&mut conn, "claim_by_artefact:*") {
            let claim: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
            let artefact = key[p.len() + "claim_by_artefact:".len()..].to_string();
            board.index.insert(artefact, claim);
        }
        for key in keys(&mut conn, "claim:*") {
            let rest = &key[p.len() + "claim:".len()..];
            match rest.strip_suffix(":bids") {
                Some(claim) => board.bids.insert(claim.into(), hash(&mut conn, &key)),
                None => board.claims.insert(rest.into(), hash(&mut conn, &key)),
            };
        }
        for key in keys(&mut conn, "artefact:*") {
            let id = key[p.len() + "artefact:".len()..].to_string();
            board.artefacts.insert(id, hash(&mut conn, &key));
        }
        board
    }

    /// The one artefact that `pick` selects (`what` names it in the failure).
    pub fn only(&self, what: &str, pick: impl Fn(&Fields) -> bool) -> &Fields {
        let found: Vec<&Fields> = self.artefacts.values().filter(|a| pick(a)).collect();
        assert_eq!(found.len(), 1, "{what}: {found:#?}");
        found[0]
    }

    /// The claims whose `artefact_id` is `artefact`.
    pub fn claims_of(&self, artefact: &str) -> Vec<&Fields> {
        self.claims
            .values()
            .filter(|c| c["artefact_id"] == artefact)
            .collect()
    }

    /// The claim with a phase (not a feedback claim) on `artefact`.
    pub fn phased_claim(&self, artefact: &str) -> &Fields {
        let found: Vec<&Fields> = self
            .claims_of(artefact)
            .into_iter()
            .filter(|c| !c["phase_state"].is_empty())
            .collect();
        assert_eq!(found.len(), 1, "claims with a phase on {artefact}");
        found[0]
    }
}

/// An artefact as stored, as an [`Art`] (to rework it by hand).
pub fn art_of(a: &Fields) -> Art {
    Art {
        id: a["id"].clone(),
        logical_id: a["logical_id"].clone(),
        version: a["version"].clone(),
        structural_type: a["structural_type"].clone(),
        kind: a["type"].clone(),
        payload: a["payload"].clone().into_bytes(),
        sources: a["source_artefacts"].clone(),
        role: a["produced_by_role"].clone(),
        created_at_ms: a["created_at_ms"].clone(),
    }
}

/// Does by hand what agents do, on `sett:{instance}:` (e.g. while no
/// orchestrator runs): each write the hash first, then the announcement.
pub struct Hand {
    instance: String,
    conn: redis::Connection,
}

impl Hand {
    pub fn new(redis: &RedisServer, instance: &str) -> Hand {
        Hand {
            instance: instance.into(),
            conn: redis.conn(),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("sett:{}:{rest}", self.instance)
    }

    /// HSET the bid, then `bid_submitted`; returns how many heard it.
    pub fn bid(&mut self, claim: &str, name: &str, bid: &str) -> i64 {
        let mut pipe = redis::pipe();
        self.pipe_bid(&mut pipe, claim, name, bid);
        let (heard,): (i64,) = pipe.query(&mut self.conn).unwrap();
        heard
    }

    pub fn pipe_bid(&self, pipe: &mut redis::Pipeline, claim: &str, name: &str, bid: &str) {
        pipe.hset(self.key(&format!("claim:{claim}:bids")), name, bid)
            .ignore();
        pipe.publish(
            self.key("workflow_events"),
            bid_submitted(claim, name, bid).payload,
        );
    }

    /// HSET the artefact, ZADD its thread, then its event; returns how many heard it.
    pub fn write(&mut self, art: &Art) -> i64 {
        let mut pipe = redis::pipe();
        self.pipe_write(&mut pipe, art);
        let (heard,): (i64,) = pipe.query(&mut self.conn).unwrap();
        heard
    }

    pub fn pipe_write(&self, pipe: &mut redis::Pipeline, art: &Art) {
        let mut hset = redis::cmd("HSET");
        hset.arg(self.key(&format!("artefact:{}", art.id)));
        for (field, value) in art.hash_fields() {
            hset.arg(field).arg(value);
        }
        pipe.add_command(hset).ignore();
        pipe.zadd(
            self.key(&format!("thread:{}", art.logical_id)),
            &art.id,
            &art.version,
        )
        .ignore();
        pipe.publish(self.key("artefact_events"), art.event_json());
    }

    /// A rework's `artefact_reworked` announcement.
    pub fn reworked(&mut self, new: &Art, previous: &Art) {
        let msg = artefact_reworked(&new.hash_text(), &previous.id);
        redis::cmd("PUBLISH")
            .arg(self.key("workflow_events"))
            .arg(msg.payload)
            .query::<i64>(&mut self.conn)
            .unwrap();
    }
}

/// `ms` (decimal text) as a number, checked to lie in `window`.
pub fn within(ms: &str, window: (u64, u64)) -> u64 {
    let n: u64 = ms.parse().unwrap_or_else(|_| panic!("not ms: {ms:?}"));
    assert!(
        window.0 <= n && n <= window.1,
        "{n} outside {window:?} (test start, end)"
    );
    n
}

/// `start_time_ms` of a stored `phase_state`.
pub fn start_time(phase_state: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(phase_state)
        .unwrap_or_else(|e| panic!("phase_state {phase_state:?}: {e}"));
    v["start_time_ms"]
        .as_u64()
        .expect("start_time_ms")
        .to_string()
}

/// `recorded` holds exactly `expected`, each as often (order aside); the
/// failure lists what is missing and what is extra.
pub fn assert_same_messages(recorded: &[Msg], expected: &[Msg]) {
    let mut count: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for m in expected {
        *count.entry((&m.channel, &m.payload)).or_default() += 1;
    }
    for m in recorded {
        *count.entry((&m.channel, &m.payload)).or_default() -= 1;
    }
    let missing: Vec<_> = count.iter().filter(|(_, n)| **n > 0).collect();
    let extra: Vec<_> = count.iter().filter(|(_, n)| **n < 0).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} recorded, {} expected\nmissing (count): {missing:#?}\nextra (-count): {extra:#?}",
        recorded.len(),
        expected.len()
    );
}

/// `group` (messages one script publishes) appears in `recorded` in order,
/// with nothing in between.
pub fn assert_contiguous(recorded: &[Msg], group: &[Msg]) {
    let at = recorded
        .iter()
        .position(|m| *m == group[0])
        .unwrap_or_else(|| panic!("{:?} never published", group[0]));
    assert_eq!(
        recorded.get(at..at + group.len()),
        Some(group),
        "not published together, in this order"
    );
}
