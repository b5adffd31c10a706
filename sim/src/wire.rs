//! Every message on an instance's channels, byte for byte as the Go
//! programs publish it (lifecycle contract sections 3 to 8): what agents
//! send (artefacts, bids, reworks) and what the orchestrator sends (claims,
//! grants, verdicts, feedback claims). The simulated agents send these; the
//! tests expect them. A [`Msg`] names its channel without the instance's
//! prefix.

use std::collections::{BTreeMap, HashMap};

use crate::json::{self, string, Object};

/// One published message: the channel without `{namespace}:{instance}:`,
/// and the payload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Msg {
    pub channel: String,
    pub payload: String,
}

impl Msg {
    pub fn new(channel: impl Into<String>, payload: impl Into<String>) -> Msg {
        Msg {
            channel: channel.into(),
            payload: payload.into(),
        }
    }
}

/// `{"event":…,"data":{…}}` on `workflow_events`; `data` is a Go map, so
/// `fill` must write its fields sorted by key.
fn workflow(event: &str, fill: impl FnOnce(&mut Object)) -> Msg {
    let mut data = Object::new();
    fill(&mut data);
    let payload = Object::new()
        .string("event", event)
        .raw("data", &data.end())
        .end();
    Msg::new("workflow_events", payload)
}

/// The nine fields of an artefact, in the Go `Artefact` struct's order.
pub const ARTEFACT_FIELDS: [&str; 9] = [
    "id",
    "logical_id",
    "version",
    "structural_type",
    "type",
    "payload",
    "source_artefacts",
    "produced_by_role",
    "created_at_ms",
];

/// An artefact's fields as its hash stores them (text), by name; `""`
/// for a field it lacks.
pub trait Stored {
    fn field(&self, name: &str) -> &str;
}

impl Stored for BTreeMap<String, String> {
    fn field(&self, name: &str) -> &str {
        self.get(name).map_or("", String::as_str)
    }
}

impl Stored for HashMap<String, String> {
    fn field(&self, name: &str) -> &str {
        self.get(name).map_or("", String::as_str)
    }
}

impl Stored for [(&str, String)] {
    fn field(&self, name: &str) -> &str {
        self.iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// `artefact_events`: the nine [`ARTEFACT_FIELDS`] of `a`; `version` and
/// `created_at_ms` go out as the numbers they hold, `source_artefacts` as
/// the JSON it holds, the rest as strings.
pub fn artefact_event(a: &(impl Stored + ?Sized)) -> Msg {
    let text: usize = ARTEFACT_FIELDS.iter().map(|k| a.field(k).len()).sum();
    let mut o = Object::with_capacity(text + 200);
    for k in ARTEFACT_FIELDS {
        match k {
            "version" | "source_artefacts" | "created_at_ms" => o.raw(k, a.field(k)),
            _ => o.string(k, a.field(k)),
        };
    }
    Msg::new("artefact_events", o.end())
}

/// The Phase-1 `claim_events` message of a new claim.
pub fn claim_event(claim: &str, artefact: &str) -> Msg {
    Msg::new(
        "claim_events",
        format!(
            r#"{{"id":{},"artefact_id":{},"status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#,
            string(claim),
            string(artefact)
        ),
    )
}

/// The `claim_events` message of a feedback claim (with the reviews).
pub fn feedback_claim_event(claim: &str, artefact: &str, agent: &str, reviews: &[&str]) -> Msg {
    Msg::new(
        "claim_events",
        format!(
            r#"{{"id":{},"artefact_id":{},"status":"pending_assignment","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":{},"additional_context_ids":{}}}"#,
            string(claim),
            string(artefact),
            string(agent),
            json::list(reviews)
        ),
    )
}

/// An agent's bid announcement, after its HSET on the bids hash.
pub fn bid_submitted(claim: &str, agent: &str, bid: &str) -> Msg {
    workflow("bid_submitted", |d| {
        d.string("agent_name", agent)
            .string("bid_type", bid)
            .string("claim_id", claim);
    })
}

/// The grant on the agent's own channel (`claim_type`: `review`, `claim`
/// or `exclusive`).
pub fn grant(claim: &str, claim_type: &str, agent: &str) -> Msg {
    Msg::new(
        format!("agent:{agent}:events"),
        format!(
            r#"{{"claim_id":{},"claim_type":{},"event_type":"grant"}}"#,
            string(claim),
            string(claim_type)
        ),
    )
}

/// `claim_granted` (`image`: the CLI's `agent_images` entry, `""` if none).
pub fn claim_granted(claim: &str, grant_type: &str, agent: &str, image: &str) -> Msg {
    workflow("claim_granted", |d| {
        d.string("agent_image_id", image)
            .string("agent_name", agent)
            .string("claim_id", claim)
            .string("grant_type", grant_type);
    })
}

/// Per granted agent, in order: its [`grant`], then [`claim_granted`].
/// `images`: (name, image id) pairs written by the CLI; others get `""`.
pub fn grants(claim: &str, claim_type: &str, names: &[&str], images: &[(&str, &str)]) -> Vec<Msg> {
    let image = |name: &str| images.iter().find(|(n, _)| *n == name).map_or("", |p| p.1);
    names
        .iter()
        .flat_map(|name| {
            [
                grant(claim, claim_type, name),
                claim_granted(claim, claim_type, name, image(name)),
            ]
        })
        .collect()
}

/// `review_approved`.
pub fn approved(original: &str, role: &str) -> Msg {
    workflow("review_approved", |d| {
        d.string("original_artefact_id", original)
            .string("reviewer_role", role);
    })
}

/// `review_rejected`; `feedback_json` is the JSON string literal, quotes
/// included, as Go writes it (the payload cut to 200 bytes, `...` added).
pub fn rejected(feedback_json: &str, original: &str, role: &str) -> Msg {
    workflow("review_rejected", |d| {
        d.raw("feedback", feedback_json)
            .string("original_artefact_id", original)
            .string("reviewer_role", role);
    })
}

/// `feedback_claim_created` (`iteration`: the target's version).
pub fn feedback_created(feedback_claim: &str, iteration: u64, original: &str, role: &str) -> Msg {
    workflow("feedback_claim_created", |d| {
        d.string("feedback_claim_id", feedback_claim)
            .raw("iteration", &iteration.to_string())
            .string("original_claim_id", original)
            .string("target_agent_role", role);
    })
}

/// `artefact_reworked`: `new` is the rework (as stored), `previous` the
/// id of the version it reworked.
pub fn artefact_reworked(new: &(impl Stored + ?Sized), previous: &str) -> Msg {
    workflow("artefact_reworked", |d| {
        d.string("artefact_type", new.field("type"))
            .string("logical_id", new.field("logical_id"))
            .string("new_artefact_id", new.field("id"))
            .raw("new_version", new.field("version"))
            .string("previous_version_id", previous)
            .string("produced_by_role", new.field("produced_by_role"));
    })
}

/// A claim's `phase_state` as Go writes its struct: current,
/// granted_agents, received, all_bids, start_time_ms (maps' keys sorted).
pub fn phase_state(
    current: &str,
    granted: &[&str],
    received: &[(&str, &str)],
    all_bids: &[(&str, &str)],
    start_time_ms: u64,
) -> String {
    format!(
        r#"{{"current":{},"granted_agents":{},"received":{},"all_bids":{},"start_time_ms":{start_time_ms}}}"#,
        string(current),
        json::list(granted),
        json::map(received),
        json::map(all_bids)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_examples() {
        assert_eq!(
            bid_submitted("c", "Coder", "exclusive").payload,
            r#"{"event":"bid_submitted","data":{"agent_name":"Coder","bid_type":"exclusive","claim_id":"c"}}"#
        );
        assert_eq!(
            grants("c", "review", &["A"], &[("A", "sha256:1")]),
            [
                Msg::new(
                    "agent:A:events",
                    r#"{"claim_id":"c","claim_type":"review","event_type":"grant"}"#
                ),
                Msg::new(
                    "workflow_events",
                    r#"{"event":"claim_granted","data":{"agent_image_id":"sha256:1","agent_name":"A","claim_id":"c","grant_type":"review"}}"#
                )
            ]
        );
        assert_eq!(
            phase_state(
                "review",
                &["A", "B"],
                &[],
                &[("B", "review"), ("A", "review")],
                7
            ),
            r#"{"current":"review","granted_agents":["A","B"],"received":{},"all_bids":{"A":"review","B":"review"},"start_time_ms":7}"#
        );
        assert_eq!(
            feedback_created("f", 2, "c", "writer").payload,
            r#"{"event":"feedback_claim_created","data":{"feedback_claim_id":"f","iteration":2,"original_claim_id":"c","target_agent_role":"writer"}}"#
        );
    }

    #[test]
    fn an_artefact_event_keeps_the_go_field_order() {
        // Every field holds its own name, but these.
        let mut hash: BTreeMap<String, String> = ARTEFACT_FIELDS
            .iter()
            .map(|k| (k.to_string(), k.to_string()))
            .collect();
        for (k, v) in [
            ("version", "2"),
            ("source_artefacts", r#"["s"]"#),
            ("created_at_ms", "17"),
            ("payload", "<p>"),
        ] {
            hash.insert(k.into(), v.into());
        }
        assert_eq!(
            artefact_event(&hash).payload,
            r#"{"id":"id","logical_id":"logical_id","version":2,"structural_type":"structural_type","type":"type","payload":"\u003cp\u003e","source_artefacts":["s"],"produced_by_role":"produced_by_role","created_at_ms":17}"#
        );
        assert_eq!(
            artefact_reworked(&hash, "p").payload,
            r#"{"event":"artefact_reworked","data":{"artefact_type":"type","logical_id":"logical_id","new_artefact_id":"id","new_version":2,"previous_version_id":"p","produced_by_role":"produced_by_role"}}"#
        );
    }
}
