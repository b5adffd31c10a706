//! What the lifecycle tests write (artefacts as agents write them) and the
//! exact bytes they expect back, spelled out from the lifecycle contract
//! rather than computed by the code under test.

use std::collections::BTreeMap;

pub use sett_sim::artefact::now_ms;
pub use sett_sim::json;
pub use sett_sim::wire::{
    approved, artefact_event, artefact_reworked, bid_submitted, claim_event, feedback_claim_event,
    feedback_created, grants, phase_state, rejected, Msg,
};

use super::uuid;

/// An artefact as an agent (or the CLI) writes it: the eight fields of
/// Phase 1 plus `created_at_ms`. Every field is kept as text, so tests can
/// store junk (a `version` that is no integer, `source_artefacts` that is no
/// JSON array).
#[derive(Clone, Debug)]
pub struct Art {
    pub id: String,
    pub logical_id: String,
    pub version: String,
    pub structural_type: String,
    pub kind: String,
    pub payload: Vec<u8>,
    /// `source_artefacts` as stored (JSON text).
    pub sources: String,
    pub role: String,
    pub created_at_ms: String,
}

impl Art {
    fn new(structural_type: &str, kind: &str, role: &str, sources: &[&str], payload: &[u8]) -> Art {
        let id = uuid();
        Art {
            logical_id: id.clone(),
            id,
            version: "1".into(),
            structural_type: structural_type.into(),
            kind: kind.into(),
            payload: payload.to_vec(),
            sources: serde_json::to_string(sources).unwrap(),
            role: role.into(),
            created_at_ms: now_ms().to_string(),
        }
    }

    /// The user's goal (the CLI's first artefact).
    pub fn goal() -> Art {
        Art::new("Standard", "GoalDefined", "user", &[], b"hello world")
    }

    /// Any artefact with no sources (e.g. `Terminal`, `Question`).
    pub fn of_type(structural_type: &str) -> Art {
        Art::new(structural_type, "Thing", "user", &[], b"x")
    }

    /// An agent's work for the claim on `source`: sourced from it, its role.
    pub fn work(role: &str, source: &str) -> Art {
        Art::new("Standard", "CodeCommit", role, &[source], b"done")
    }

    /// A reviewer's verdict on `source` (`{}` approves).
    pub fn review(role: &str, source: &str, payload: &[u8]) -> Art {
        Art::new("Review", "ReviewResult", role, &[source], payload)
    }

    /// What an agent whose tool failed writes (contract section 9).
    pub fn failure(role: &str, source: &str) -> Art {
        Art::new(
            "Failure",
            "ToolExecutionFailure",
            role,
            &[source],
            b"exit 1",
        )
    }

    /// The author's answer to a feedback claim: same logical id and type,
    /// next version, sourced from the target and the reviews.
    pub fn rework(target: &Art, role: &str, reviews: &[&str]) -> Art {
        let mut sources = vec![target.id.as_str()];
        sources.extend_from_slice(reviews);
        let mut art = Art::new("Standard", &target.kind, role, &sources, b"reworked");
        art.logical_id = target.logical_id.clone();
        art.version = (target.version.parse::<u64>().unwrap() + 1).to_string();
        art
    }

    pub fn with_id(mut self, id: &str) -> Art {
        self.id = id.into();
        self.logical_id = id.into();
        self
    }

    pub fn with_version(mut self, version: &str) -> Art {
        self.version = version.into();
        self
    }

    pub fn with_sources_text(mut self, sources: &str) -> Art {
        self.sources = sources.into();
        self
    }

    /// The hash fields, in the Go producer's order.
    pub fn hash_fields(&self) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("id", self.id.clone().into_bytes()),
            ("logical_id", self.logical_id.clone().into_bytes()),
            ("version", self.version.clone().into_bytes()),
            ("structural_type", self.structural_type.clone().into_bytes()),
            ("type", self.kind.clone().into_bytes()),
            ("payload", self.payload.clone()),
            ("source_artefacts", self.sources.clone().into_bytes()),
            ("produced_by_role", self.role.clone().into_bytes()),
            ("created_at_ms", self.created_at_ms.clone().into_bytes()),
        ]
    }

    /// The hash fields as text (the payload read as UTF-8, lossily).
    pub fn hash_text(&self) -> BTreeMap<String, String> {
        self.hash_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    /// The `artefact_events` message (the test's own: the scripts read only
    /// the hash, so junk fields are sent as the nearest valid JSON).
    pub fn event_json(&self) -> String {
        let mut h = self.hash_text();
        let version: u64 = self.version.parse().unwrap_or(0);
        let sources: serde_json::Value =
            serde_json::from_str(&self.sources).unwrap_or(serde_json::Value::Null);
        h.insert("version".into(), version.to_string());
        h.insert("source_artefacts".into(), sources.to_string());
        artefact_event(&h).payload
    }
}

/// The 14 fields of a claim as created (contract section 3).
pub fn new_claim_fields(claim: &str, artefact: &str) -> BTreeMap<String, String> {
    let mut all = fields(&super::phase1_claim_fields(claim, artefact));
    all.extend(fields(&[
        ("additional_context_ids", "[]"),
        ("termination_reason", ""),
        ("phase_state", ""),
        ("grant_queue", ""),
        ("last_grant_agent", ""),
        ("last_grant_time", "0"),
        ("artefact_expected", "0"),
        ("granted_agent_image_id", ""),
    ]));
    all
}

pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sets `pairs` in `map` (what a grant or transition writes).
pub fn with(mut map: BTreeMap<String, String>, pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    map.extend(fields(pairs));
    map
}

/// The termination reason of a rejection (review ids sorted by the caller).
pub fn rejection_reason(reviews: &[&str]) -> String {
    format!(
        "Terminated due to negative review feedback. See artefacts: [{}]",
        reviews.join(" ")
    )
}

/// Is `s` a canonical lower-case v4 UUID?
pub fn is_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| {
        u.get_version_num() == 4
            && u.get_variant() == uuid::Variant::RFC4122
            && u.hyphenated().to_string() == s
    })
}
