//! Status codes to error kinds, bounded messages, DOCKER_HOST, versions.

use super::super::error::{
    daemon_message, from_status, redact, DockerError, ErrorKind, Missing, MAX_MESSAGE_BYTES,
};
use super::super::{ApiVersion, NEWEST_API, OLDEST_API};

#[test]
fn statuses_map_to_the_four_kinds() {
    let kind =
        |status, message: &str, missing| from_status(status, "call", message, missing).kind();
    assert_eq!(
        kind(404, "No such container: abc", Missing::Container),
        ErrorKind::NotFound
    );
    // A 404 from a container endpoint about something else (start: the network).
    assert_eq!(
        kind(404, "network holt-network-x not found", Missing::Container),
        ErrorKind::Permanent
    );
    assert_eq!(
        kind(404, "No such image: nope:1", Missing::Other),
        ErrorKind::Permanent
    );
    assert_eq!(
        kind(
            409,
            "Conflict. The container name \"/x\" is already in use",
            Missing::Other
        ),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(400, "invalid mount config", Missing::Other),
        ErrorKind::Permanent
    );
    assert_eq!(kind(403, "forbidden", Missing::Other), ErrorKind::Permanent);
    let refusal = "client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client";
    assert_eq!(kind(400, refusal, Missing::Other), ErrorKind::Transient);
    assert_eq!(
        kind(500, "server error", Missing::Container),
        ErrorKind::Transient
    );
    assert_eq!(kind(503, "", Missing::Other), ErrorKind::Transient);
    let e = from_status(409, "create container", "name in use", Missing::Other);
    assert_eq!(
        e,
        DockerError::Conflict("create container: 409 name in use".to_string())
    );
    assert_eq!(
        e.to_string(),
        "docker (conflict): create container: 409 name in use"
    );
}

#[test]
fn messages_are_bounded_on_a_character_boundary() {
    let long = "\u{20ac}".repeat(500);
    for status in [400, 404, 409, 500] {
        let e = from_status(status, "call", &long, Missing::Container);
        assert!(
            e.message().len() <= MAX_MESSAGE_BYTES,
            "{}",
            e.message().len()
        );
        assert!(e.message().len() > MAX_MESSAGE_BYTES - 4);
    }
    let e = DockerError::transient("x".repeat(10_000));
    assert_eq!(e.message().len(), MAX_MESSAGE_BYTES);
}

#[test]
fn the_daemon_message_is_read_from_its_json() {
    assert_eq!(
        daemon_message(br#"{"message":"No such image: x"}"#),
        "No such image: x"
    );
    assert_eq!(
        daemon_message(b"  plain text from a proxy\n"),
        "plain text from a proxy"
    );
    assert_eq!(daemon_message(&[0xff, b'a']), "\u{fffd}a");
    assert!(daemon_message(&[b'x'; 5000]).len() <= MAX_MESSAGE_BYTES);
}

#[test]
fn secrets_are_redacted_from_messages() {
    let secret = "redis://:hunter2-password@redis:6379";
    let msg = format!("invalid environment variable: REDIS_URL={secret} and again {secret}");
    let out = redact(&msg, &[secret, "abc"]);
    assert_eq!(
        out,
        "invalid environment variable: REDIS_URL=<redacted> and again <redacted>"
    );
    // Short values would redact ordinary words: left alone.
    assert_eq!(redact("abc def", &["abc"]), "abc def");
}

#[test]
fn api_versions_parse_and_order() {
    assert_eq!(ApiVersion::parse("1.41"), Some(OLDEST_API));
    assert_eq!(ApiVersion::parse(" 1.44 "), Some(NEWEST_API));
    assert_eq!(ApiVersion::parse("1.52"), Some(ApiVersion(1, 52)));
    assert!(ApiVersion(1, 9) < ApiVersion(1, 41) && ApiVersion(1, 52) > NEWEST_API);
    for bad in ["", "1", "1.", "x.41", "1.41.2", "1.-1"] {
        assert_eq!(ApiVersion::parse(bad), None, "{bad}");
    }
    assert_eq!(NEWEST_API.to_string(), "1.44");
}
