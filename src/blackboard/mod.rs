//! The blackboard schema: key and channel names, and the wire types we read
//! (artefact events) and write (claims), byte for byte as in the contract.
//!
//! Keys are only ever built from ids that passed [`ArtefactId::parse`] (or
//! that we generated), so a hostile event cannot make us touch
//! `sett:i:artefact:../x` or `a*:b`.

pub mod decode;
pub mod effects;

use uuid::Uuid;

use crate::config::Namespace;
use crate::ids::{push_uuid, ArtefactId, ClaimId, IdText};

/// Status of every claim this phase creates.
pub const PENDING_REVIEW: &str = "pending_review";
/// Structural type that never gets a claim.
pub const TERMINAL: &str = "Terminal";

/// An index entry (`claim_by_artefact:<artefact>`) read: the artefact's id
/// and the claim id it names, both checked (so a decision given both need
/// not check a claim's `artefact_id` again when it is this one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indexed {
    pub artefact: ArtefactId,
    pub claim: ClaimId,
}

/// Key and channel names of one instance: `sett:{i}:…` or `holt:{i}:…`.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The `sett` namespace (the benchmark's shortcut). `instance` must
    /// already satisfy the instance-name rule (see `config`).
    pub fn new(instance: &str) -> Keys {
        Keys::with_namespace(Namespace::Sett, instance)
    }

    /// Keys under `{namespace}:{instance}:`.
    pub fn with_namespace(namespace: Namespace, instance: &str) -> Keys {
        Keys {
            prefix: format!("{}:{instance}:", namespace.as_str()),
        }
    }

    /// `sett:{i}:` or `holt:{i}:`, colon included.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, id: &(impl IdText + ?Sized)) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 45);
        key.push_str(&self.prefix);
        key.push_str(kind);
        id.push_to(&mut key);
        key
    }

    pub fn artefact(&self, id: &(impl IdText + ?Sized)) -> String {
        self.key("artefact:", id)
    }

    pub fn claim(&self, id: &(impl IdText + ?Sized)) -> String {
        self.key("claim:", id)
    }

    pub fn claim_by_artefact(&self, artefact_id: &(impl IdText + ?Sized)) -> String {
        self.key("claim_by_artefact:", artefact_id)
    }

    pub fn artefact_events(&self) -> String {
        format!("{}artefact_events", self.prefix)
    }

    /// Where agents announce bids and the orchestrator its grants and verdicts.
    pub fn workflow_events(&self) -> String {
        format!("{}workflow_events", self.prefix)
    }

    /// (Per claim in Phase 1: built without `format!`.)
    pub fn claim_events(&self) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 12);
        key.push_str(&self.prefix);
        key.push_str("claim_events");
        key
    }

    /// The SCAN pattern for artefact hashes (it also matches junk; see [`Keys::artefact_id_of`]).
    pub fn artefact_pattern(&self) -> String {
        format!("{}artefact:*", self.prefix)
    }

    /// The artefact id of a key found by SCAN, if the key is exactly
    /// `{prefix}artefact:<id>` with an id in an accepted form.
    pub fn artefact_id_of(&self, key: &[u8]) -> Option<ArtefactId> {
        let rest = key
            .strip_prefix(self.prefix.as_bytes())?
            .strip_prefix(b"artefact:")?;
        ArtefactId::parse_bytes(rest)
    }
}

/// The `claim_events` message: the claim as JSON, fields in contract order.
/// (Accepted id forms need no JSON escaping.)
pub fn claim_json(claim_id: &Uuid, artefact_id: &(impl IdText + ?Sized)) -> String {
    let mut json = String::with_capacity(200);
    json.push_str("{\"id\":\"");
    push_uuid(&mut json, claim_id);
    json.push_str("\",\"artefact_id\":\"");
    artefact_id.push_to(&mut json);
    json.push_str("\",\"status\":\"");
    json.push_str(PENDING_REVIEW);
    json.push_str(
        "\",\"granted_review_agents\":[],\"granted_parallel_agents\":[],\"granted_exclusive_agent\":\"\"}",
    );
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";

    #[test]
    fn keys_follow_the_contract() {
        let k = Keys::new("prod");
        let id = id(ID);
        assert_eq!(k.artefact(&id), format!("sett:prod:artefact:{ID}"));
        let claim = Uuid::parse_str(ID).unwrap();
        assert_eq!(k.claim(&claim), format!("sett:prod:claim:{ID}"));
        assert_eq!(
            k.claim_by_artefact(&id),
            format!("sett:prod:claim_by_artefact:{ID}")
        );
        assert_eq!(k.artefact_events(), "sett:prod:artefact_events");
        assert_eq!(k.claim_events(), "sett:prod:claim_events");
        assert_eq!(k.artefact_pattern(), "sett:prod:artefact:*");
    }

    #[test]
    fn the_holt_namespace_prefixes_every_key() {
        let k = Keys::with_namespace(Namespace::Holt, "prod");
        assert_eq!(k.prefix(), "holt:prod:");
        assert_eq!(Keys::new("prod").prefix(), "sett:prod:");
        let id = id(ID);
        assert_eq!(k.artefact(&id), format!("holt:prod:artefact:{ID}"));
        let claim = Uuid::parse_str(ID).unwrap();
        assert_eq!(k.claim(&claim), format!("holt:prod:claim:{ID}"));
        assert_eq!(
            k.claim_by_artefact(&id),
            format!("holt:prod:claim_by_artefact:{ID}")
        );
        assert_eq!(k.artefact_events(), "holt:prod:artefact_events");
        assert_eq!(k.claim_events(), "holt:prod:claim_events");
        assert_eq!(k.artefact_pattern(), "holt:prod:artefact:*");
        let key = format!("holt:prod:artefact:{ID}");
        assert_eq!(k.artefact_id_of(key.as_bytes()), Some(id));
        let other = format!("sett:prod:artefact:{ID}");
        assert_eq!(k.artefact_id_of(other.as_bytes()), None);
    }

    fn id(s: &str) -> ArtefactId {
        ArtefactId::parse(s).unwrap()
    }

    #[test]
    fn scanned_keys_must_be_exact() {
        let k = Keys::new("prod");
        for form in [
            ID.to_string(),
            ID.to_uppercase(),
            format!("{{{ID}}}"),
            format!("urn:uuid:{ID}"),
            ID.replace('-', ""),
        ] {
            assert_eq!(
                k.artefact_id_of(format!("sett:prod:artefact:{form}").as_bytes()),
                Some(id(&form))
            );
        }
        for junk in [
            "sett:prod:artefact:".to_string(),
            "sett:prod:artefact:x".to_string(),
            format!("sett:prod:artefact:{ID}:extra"),
            format!("sett:other:artefact:{ID}"),
            "sett:prod:artefact:\u{ff}".to_string(),
        ] {
            assert_eq!(k.artefact_id_of(junk.as_bytes()), None, "{junk}");
        }
    }

    #[test]
    fn keys_keep_the_id_as_written() {
        let k = Keys::new("prod");
        let upper = ID.to_uppercase();
        assert_eq!(
            k.artefact(&id(&upper)),
            format!("sett:prod:artefact:{upper}")
        );
        assert_eq!(
            k.claim_by_artefact(&id(&format!("urn:uuid:{ID}"))),
            format!("sett:prod:claim_by_artefact:urn:uuid:{ID}")
        );
    }

    #[test]
    fn claim_json_is_byte_exact() {
        let c = Uuid::parse_str("11111111-2222-4333-8444-555555555555").unwrap();
        let a = id(ID);
        assert_eq!(
            claim_json(&c, &a),
            format!(
                r#"{{"id":"11111111-2222-4333-8444-555555555555","artefact_id":"{ID}","status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#
            )
        );
    }
}
