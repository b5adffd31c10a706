//! The blackboard schema: key and channel names, and the wire types we read
//! (artefact events) and write (claims), byte for byte as in the contract.
//!
//! Keys are only ever built from ids that passed [`ArtefactId::parse`] (or
//! that we generated), so a hostile event cannot make us touch
//! `sett:i:artefact:../x` or `a*:b`.

use uuid::Uuid;

use crate::config::Namespace;
use crate::ids::ArtefactId;
use crate::subscriber::json_id::IdScanner;

/// Status of every claim this phase creates.
pub const PENDING_REVIEW: &str = "pending_review";
/// Structural type that never gets a claim.
pub const TERMINAL: &str = "Terminal";
/// How many bytes of a bad message a `malformed_event` log line may show.
pub const SAMPLE_BYTES: usize = 200;

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

    pub fn claim_events(&self) -> String {
        format!("{}claim_events", self.prefix)
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
        crate::ids::parse_bytes(rest)
    }
}

/// An id that can be written into a key: one we generated, or one we checked.
pub trait IdText {
    fn push_to(&self, out: &mut String);
}

impl IdText for Uuid {
    fn push_to(&self, out: &mut String) {
        push_uuid(out, self);
    }
}

impl IdText for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl IdText for ArtefactId {
    fn push_to(&self, out: &mut String) {
        out.push_str(self.as_str());
    }
}

/// Why an artefact event was rejected. Reasons are fixed texts: they never
/// echo message content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedEvent {
    NotJson,
    TooDeep,
    NotObject,
    MissingId,
    IdNotString,
    IdNotUuid,
    BadShape,
}

impl MalformedEvent {
    pub fn reason(self) -> &'static str {
        match self {
            MalformedEvent::NotJson => "not valid JSON (or not UTF-8)",
            MalformedEvent::TooDeep => "JSON nested too deeply",
            MalformedEvent::NotObject => "not a JSON object",
            MalformedEvent::MissingId => "no id field",
            MalformedEvent::IdNotString => "id is not a string",
            MalformedEvent::IdNotUuid => "id is not a UUID in a form the Go client accepts",
            MalformedEvent::BadShape => "unexpected JSON shape (e.g. a repeated field)",
        }
    }
}

/// Decodes an artefact event down to its artefact id, validating the JSON
/// without storing any of it but the id (see `subscriber::json_id`, the
/// streaming scanner this runs in one chunk).
pub fn decode_event(message: &[u8]) -> Result<ArtefactId, MalformedEvent> {
    let mut scanner = IdScanner::new();
    scanner.feed(message);
    scanner.finish()
}

/// At most [`SAMPLE_BYTES`] of a bad message for the log, cut before any
/// payload value so a payload (which may hold secrets) is never shown: right
/// after the first `payload` in any letter case (`"Payload"` from an untagged
/// Go struct too), and before any `\u` escape (which could spell the name).
pub fn safe_sample(message: &[u8]) -> String {
    let mut end = message.len().min(SAMPLE_BYTES);
    let head = &message[..end];
    if let Some(at) = head
        .windows(7)
        .position(|w| w.eq_ignore_ascii_case(b"payload"))
    {
        end = at + 7 + usize::from(head.get(at + 7) == Some(&b'"'));
    }
    if let Some(at) = head[..end].windows(2).position(|w| w == b"\\u") {
        end = at;
    }
    String::from_utf8_lossy(&message[..end]).into_owned()
}

/// Appends the canonical text of `id` (without the formatting machinery: this is per claim).
pub fn push_uuid(out: &mut String, id: &Uuid) {
    out.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
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
    fn events_decode_to_their_id() {
        let ok = format!(
            r#"{{"id":"{ID}","logical_id":"{ID}","version":1,"structural_type":"Standard","type":"GoalDefined","payload":"hi","source_artefacts":null,"produced_by_role":"user","extra":{{"x":[1]}}}}"#
        );
        assert_eq!(decode_event(ok.as_bytes()), Ok(id(ID)));
        let cases: &[(&[u8], MalformedEvent)] = &[
            (b"", MalformedEvent::NotJson),
            (b"not json", MalformedEvent::NotJson),
            (b"{", MalformedEvent::NotJson),
            (b"[1,2]", MalformedEvent::NotObject),
            (b"\"str\"", MalformedEvent::NotObject),
            (b"{}", MalformedEvent::MissingId),
            (b"{\"id\":null}", MalformedEvent::MissingId),
            (b"{\"id\":5}", MalformedEvent::IdNotString),
            (b"{\"id\":\"../x\"}", MalformedEvent::IdNotUuid),
            (b"{\"id\":\"a*:b\"}", MalformedEvent::IdNotUuid),
            (b"{\"id\":\"\xff\xfe\"}", MalformedEvent::NotJson),
            (b"{\"id\":\"x\",\"id\":\"y\"}", MalformedEvent::BadShape),
        ];
        for (msg, want) in cases {
            assert_eq!(
                decode_event(msg),
                Err(*want),
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
        // Deep nesting in a skipped field is skipped without recursion; in `id` it is refused.
        let deep = format!(
            "{{\"id\":\"{ID}\",\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(decode_event(deep.as_bytes()), Ok(id(ID)));
        let deep_id = format!("{{\"id\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            decode_event(deep_id.as_bytes()),
            Err(MalformedEvent::TooDeep)
        );
    }

    #[test]
    fn samples_hide_payloads() {
        let msg = br#"{"id":"nope","payload":"hunter2 secret"}"#;
        let s = safe_sample(msg);
        assert_eq!(s, r#"{"id":"nope","payload""#);
        assert_eq!(safe_sample(&[b'x'; 500]).len(), SAMPLE_BYTES);
        assert_eq!(
            safe_sample(br#"{"ID":"x","Payload":"s3cret"}"#),
            r#"{"ID":"x","Payload""#
        );
        assert_eq!(
            safe_sample(br#"{"id":"x","pay\u006coad":"s3cret"}"#),
            r#"{"id":"x","pay"#
        );
        assert_eq!(safe_sample(b"\xff\xfe"), "\u{fffd}\u{fffd}");
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
