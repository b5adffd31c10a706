//! What the lifecycle tests write (artefacts as agents write them) and the
//! exact bytes they expect back, spelled out from the lifecycle contract
//! rather than computed by the code under test.

use std::collections::BTreeMap;

use super::lifecycle::Msg;
use super::uuid;

/// A JSON string as `serde_json` writes it: only for texts without `<>&`,
/// U+2028/9 or invalid UTF-8 (where Go's encoder would differ).
pub fn js(s: &str) -> String {
    assert!(
        !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']),
        "js() cannot spell {s:?} as Go does"
    );
    serde_json::to_string(s).unwrap()
}

fn js_list(items: &[&str]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| js(s)).collect::<Vec<_>>().join(",")
    )
}

fn js_map(pairs: &[(&str, &str)]) -> String {
    let sorted: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", js(k), js(v)))
        .collect();
    format!("{{{}}}", body.join(","))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

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

    /// The `artefact_events` message (the test's own: the scripts read only
    /// the hash, so junk fields are sent as the nearest valid JSON).
    pub fn event_json(&self) -> String {
        let version: u64 = self.version.parse().unwrap_or(0);
        let sources: serde_json::Value =
            serde_json::from_str(&self.sources).unwrap_or(serde_json::Value::Null);
        format!(
            r#"{{"id":{},"logical_id":{},"version":{version},"structural_type":{},"type":{},"payload":{},"source_artefacts":{sources},"produced_by_role":{},"created_at_ms":{}}}"#,
            serde_json::to_string(&self.id).unwrap(),
            serde_json::to_string(&self.logical_id).unwrap(),
            serde_json::to_string(&self.structural_type).unwrap(),
            serde_json::to_string(&self.kind).unwrap(),
            serde_json::to_string(&String::from_utf8_lossy(&self.payload)).unwrap(),
            serde_json::to_string(&self.role).unwrap(),
            self.created_at_ms,
        )
    }
}

/// The Phase-1 `claim_events` message of a new claim.
pub fn claim_event(claim: &str, artefact: &str) -> Msg {
    Msg::new(
        "claim_events",
        format!(
            r#"{{"id":{},"artefact_id":{},"status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#,
            js(claim),
            js(artefact)
        ),
    )
}

/// The `claim_events` message of a feedback claim.
pub fn feedback_claim_event(claim: &str, artefact: &str, agent: &str, reviews: &[&str]) -> Msg {
    Msg::new(
        "claim_events",
        format!(
            r#"{{"id":{},"artefact_id":{},"status":"pending_assignment","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":{},"additional_context_ids":{}}}"#,
            js(claim),
            js(artefact),
            js(agent),
            js_list(reviews)
        ),
    )
}

/// The 14 fields of a claim as created (contract section 3).
pub fn new_claim_fields(claim: &str, artefact: &str) -> BTreeMap<String, String> {
    fields(&[
        ("id", claim),
        ("artefact_id", artefact),
        ("status", "pending_review"),
        ("granted_review_agents", "[]"),
        ("granted_parallel_agents", "[]"),
        ("granted_exclusive_agent", ""),
        ("additional_context_ids", "[]"),
        ("termination_reason", ""),
        ("phase_state", ""),
        ("grant_queue", ""),
        ("last_grant_agent", ""),
        ("last_grant_time", "0"),
        ("artefact_expected", "0"),
        ("granted_agent_image_id", ""),
    ])
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

/// `phase_state` as Go writes its struct: current, granted_agents, received,
/// all_bids, start_time_ms; map keys sorted.
pub fn phase_state(
    current: &str,
    granted: &[&str],
    received: &[(&str, &str)],
    all_bids: &[(&str, &str)],
    start_time_ms: u64,
) -> String {
    format!(
        r#"{{"current":{},"granted_agents":{},"received":{},"all_bids":{},"start_time_ms":{start_time_ms}}}"#,
        js(current),
        js_list(granted),
        js_map(received),
        js_map(all_bids)
    )
}

/// Per granted agent, in order: its agent-channel grant, then `claim_granted`.
/// `images`: (name, image id) pairs written by the CLI; others get `""`.
pub fn grants(claim: &str, claim_type: &str, names: &[&str], images: &[(&str, &str)]) -> Vec<Msg> {
    let mut out = Vec::new();
    for name in names {
        let image = images
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, i)| *i);
        out.push(Msg::new(
            format!("agent:{name}:events"),
            format!(
                r#"{{"claim_id":{},"claim_type":"{claim_type}","event_type":"grant"}}"#,
                js(claim)
            ),
        ));
        out.push(Msg::new(
            "workflow_events",
            format!(
                r#"{{"event":"claim_granted","data":{{"agent_image_id":{},"agent_name":{},"claim_id":{},"grant_type":"{claim_type}"}}}}"#,
                js(image),
                js(name),
                js(claim)
            ),
        ));
    }
    out
}

pub fn approved(original: &str, role: &str) -> Msg {
    Msg::new(
        "workflow_events",
        format!(
            r#"{{"event":"review_approved","data":{{"original_artefact_id":{},"reviewer_role":{}}}}}"#,
            js(original),
            js(role)
        ),
    )
}

/// `feedback_json` is the JSON string literal, quotes included, as Go writes it.
pub fn rejected(feedback_json: &str, original: &str, role: &str) -> Msg {
    Msg::new(
        "workflow_events",
        format!(
            r#"{{"event":"review_rejected","data":{{"feedback":{feedback_json},"original_artefact_id":{},"reviewer_role":{}}}}}"#,
            js(original),
            js(role)
        ),
    )
}

pub fn feedback_created(feedback_claim: &str, iteration: u64, original: &str, role: &str) -> Msg {
    Msg::new(
        "workflow_events",
        format!(
            r#"{{"event":"feedback_claim_created","data":{{"feedback_claim_id":{},"iteration":{iteration},"original_claim_id":{},"target_agent_role":{}}}}}"#,
            js(feedback_claim),
            js(original),
            js(role)
        ),
    )
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
