//! Artefact events as they arrive: decoded down to their id, and the few
//! bytes of a bad one that a log line may show.
//!
//! The streaming scanner (`json_id`) keeps only the id of a message that may
//! be hundreds of MiB; [`decode_event`] runs it over one whole message.

use super::json_id::IdScanner;
pub use super::json_id::MalformedEvent;
use crate::ids::ArtefactId;

/// How many bytes of a bad message a `malformed_event` log line may show.
pub const SAMPLE_BYTES: usize = 200;

/// Decodes an artefact event down to its artefact id, validating the JSON
/// without storing any of it but the id (see `json_id`, the streaming
/// scanner this runs in one chunk).
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

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";

    fn id(s: &str) -> ArtefactId {
        ArtefactId::parse(s).unwrap()
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
}
