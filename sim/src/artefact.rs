//! An artefact as agents see it: read from its hash and decoded with the
//! Go agent's rules (contract section 8: no `version` integer or no JSON in
//! `source_artefacts`, and the agent gives up), or from its event; and
//! written as agents and producers write it: HSET the hash (with
//! `created_at_ms`), ZADD its thread, then publish its event.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::commands::{self, command};
use crate::json;
use crate::keys::Keys;
use crate::wire;

/// One artefact, with the fields agents look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artefact {
    pub id: String,
    pub logical_id: String,
    pub version: i64,
    pub structural_type: String,
    /// The domain `type` (`GoalDefined`, `CodeCommit`, …).
    pub kind: String,
    pub payload: String,
    pub sources: Vec<String>,
    pub role: String,
}

/// A fresh v4 UUID, lower-case and hyphenated, as the Go programs make them.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Unix time in ms (the agents' clock, for `created_at_ms`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Artefact {
    /// New work: a fresh id that is also its logical id, version 1, no sources.
    pub fn new(structural_type: &str, kind: &str, payload: &str, role: &str) -> Artefact {
        let id = new_id();
        Artefact {
            logical_id: id.clone(),
            id,
            version: 1,
            structural_type: structural_type.into(),
            kind: kind.into(),
            payload: payload.into(),
            sources: Vec::new(),
            role: role.into(),
        }
    }

    /// `HMGET` of the fields an agent reads, for [`Artefact::from_fields`]
    /// (the eight of [`wire::ARTEFACT_FIELDS`] before `created_at_ms`).
    pub fn read(keys: &Keys, id: &str) -> redis::Cmd {
        commands::hmget(&keys.artefact(id), &wire::ARTEFACT_FIELDS[..8])
    }

    /// The reply to [`Artefact::read`] as the Go agent decodes it: `None`
    /// (it gives up) when the hash is missing, `version` is no integer or
    /// `source_artefacts` is no JSON. Sources that are JSON but not a list
    /// of strings read as none.
    pub fn from_fields(values: Vec<Option<String>>) -> Option<Artefact> {
        let Ok([id, logical_id, version, structural_type, kind, payload, sources, role]) =
            <[Option<String>; 8]>::try_from(values)
        else {
            return None;
        };
        let version = version?.parse().ok()?;
        let sources: Value = serde_json::from_str(&sources?).ok()?;
        Some(Artefact {
            id: id.unwrap_or_default(),
            logical_id: logical_id.unwrap_or_default(),
            version,
            structural_type: structural_type.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            payload: payload.unwrap_or_default(),
            sources: serde_json::from_value(sources).unwrap_or_default(),
            role: role.unwrap_or_default(),
        })
    }

    /// An `artefact_events` message (`None` without an id).
    pub fn from_event(v: &Value) -> Option<Artefact> {
        let text = |k: &str| v[k].as_str().map(String::from);
        Some(Artefact {
            id: text("id")?,
            logical_id: text("logical_id").unwrap_or_default(),
            version: v["version"].as_i64().unwrap_or(0),
            structural_type: text("structural_type").unwrap_or_default(),
            kind: text("type").unwrap_or_default(),
            payload: text("payload").unwrap_or_default(),
            sources: serde_json::from_value(v["source_artefacts"].clone()).unwrap_or_default(),
            role: text("produced_by_role").unwrap_or_default(),
        })
    }

    /// The hash fields, in the Go struct's order, stamped `created_at_ms`.
    pub fn hash(&self, created_at_ms: u64) -> Vec<(&'static str, String)> {
        let values = [
            self.id.clone(),
            self.logical_id.clone(),
            self.version.to_string(),
            self.structural_type.clone(),
            self.kind.clone(),
            self.payload.clone(),
            json::list(&self.sources),
            self.role.clone(),
            created_at_ms.to_string(),
        ];
        wire::ARTEFACT_FIELDS.into_iter().zip(values).collect()
    }

    /// Adds the writes to `pipe`: HSET the hash stamped now, ZADD the
    /// thread, then publish the event. Returns the hash written.
    pub fn write(&self, keys: &Keys, pipe: &mut redis::Pipeline) -> Vec<(&'static str, String)> {
        let hash = self.hash(now_ms());
        let key = keys.artefact(&self.id);
        let mut hset = vec![key.as_bytes()];
        for (field, value) in &hash {
            hset.extend([field.as_bytes(), value.as_bytes()]);
        }
        pipe.add_command(command("HSET", &hset)).ignore();
        let thread = keys.thread(&self.logical_id);
        let score = self.version.to_string();
        let zadd = [thread.as_bytes(), score.as_bytes(), self.id.as_bytes()];
        pipe.add_command(command("ZADD", &zadd)).ignore();
        let event = wire::artefact_event(&hash[..]);
        pipe.add_command(commands::publish(keys, &event)).ignore();
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reply to [`Artefact::read`] for a hash holding `pairs`.
    fn read(pairs: &[(&str, &str)]) -> Vec<Option<String>> {
        let value = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string());
        wire::ARTEFACT_FIELDS[..8]
            .iter()
            .map(|k| value(k))
            .collect()
    }

    #[test]
    fn a_hash_the_go_agent_cannot_decode_is_none() {
        let mut h = vec![
            ("id", "a"),
            ("version", "2"),
            ("source_artefacts", "null"),
            ("type", "Patch"),
        ];
        let a = Artefact::from_fields(read(&h)).unwrap();
        assert_eq!(
            (a.id.as_str(), a.version, a.sources.len(), a.kind.as_str()),
            ("a", 2, 0, "Patch")
        );
        h[2].1 = r#"["x","y"]"#;
        assert_eq!(Artefact::from_fields(read(&h)).unwrap().sources, ["x", "y"]);
        h[2].1 = "{}";
        assert_eq!(Artefact::from_fields(read(&h)).unwrap().sources, [""; 0]);
        h[1].1 = "two";
        assert_eq!(Artefact::from_fields(read(&h)), None);
        h[1].1 = "2";
        h[2].1 = "[";
        assert_eq!(Artefact::from_fields(read(&h)), None);
        assert_eq!(Artefact::from_fields(read(&[])), None);
        assert_eq!(Artefact::from_fields(vec![]), None);
    }

    #[test]
    fn the_hash_and_the_event_agree() {
        let mut a = Artefact::new("Standard", "Code", "x & y", "coder");
        a.sources = vec!["s".into()];
        let h = a.hash(5);
        assert_eq!(h[0], ("id", a.id.clone()));
        assert_eq!(h[6], ("source_artefacts", r#"["s"]"#.to_string()));
        assert_eq!(h[8], ("created_at_ms", "5".to_string()));
        let event = wire::artefact_event(&h[..]);
        let v: Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(Artefact::from_event(&v), Some(a));
        assert!(event.payload.contains(r#""payload":"x \u0026 y""#));
    }
}
