//! The RESP push parser on recorded bytes: the same replies however the
//! stream is cut, bounded texts, and the protocol errors that end a
//! connection.

use super::resp::{Parser, ProtocolError, Reply};
use super::{Body, Decode, Malformed};
use crate::ids::ArtefactId;

const ID: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";
const EVENTS: &str = "sett:t:artefact_events";
const OTHER: &str = "sett:t:claim_events";

fn channels() -> Vec<(String, Decode)> {
    vec![
        (EVENTS.to_string(), Decode::ArtefactEvent),
        (OTHER.to_string(), Decode::Capture { max: 8 }),
    ]
}

fn bulk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

fn message(channel: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend(bulk(b"message"));
    out.extend(bulk(channel.as_bytes()));
    out.extend(bulk(payload));
    out
}

/// Every reply in `chunks`, fed in order.
fn parse(chunks: &[&[u8]]) -> Result<Vec<Reply>, ProtocolError> {
    let mut parser = Parser::new(&channels());
    let mut replies = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        loop {
            let (used, reply) = parser.feed(rest)?;
            rest = &rest[used..];
            match reply {
                Some(r) => replies.push(r),
                None => break,
            }
        }
        assert!(rest.is_empty());
    }
    Ok(replies)
}

/// Whole, at every split point and byte by byte: always `want`.
fn check_all_ways(stream: &[u8], want: &Result<Vec<Reply>, ProtocolError>) {
    assert_eq!(&parse(&[stream]), want, "whole");
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(&parse(&[a, b]), want, "split at {at}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(&parse(&bytes), want, "bytewise");
}

#[test]
fn a_recorded_session_reads_the_same_in_any_chunking() {
    let mut stream = Vec::new();
    stream.extend(b"+OK\r\n");
    stream.extend(b"*3\r\n$9\r\nsubscribe\r\n");
    stream.extend(bulk(EVENTS.as_bytes()));
    stream.extend(b":1\r\n*3\r\n$9\r\nsubscribe\r\n");
    stream.extend(bulk(OTHER.as_bytes()));
    stream.extend(b":2\r\n");
    stream.extend(message(
        EVENTS,
        format!(r#"{{"payload":"x","id":"{ID}"}}"#).as_bytes(),
    ));
    stream.extend(message(EVENTS, br#"{"id":"../x","payload":"secret"}"#));
    stream.extend(message(OTHER, b"12345678"));
    stream.extend(message(OTHER, b"123456789"));
    stream.extend(message(OTHER, b""));
    stream.extend(message("sett:t:unknown", b"{}"));
    stream.extend(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n+PONG\r\n");
    stream.extend(b"-ERR unknown command\r\n:7\r\n$-1\r\n*-1\r\n*0\r\n$3\r\nabc\r\n");
    stream.extend(b">3\r\n$7\r\nmessage\r\n");
    stream.extend(bulk(EVENTS.as_bytes()));
    stream.extend(bulk(b"[]"));
    let want = vec![
        Reply::Simple("OK".into()),
        Reply::Subscribed(Some(0)),
        Reply::Subscribed(Some(1)),
        Reply::Message {
            channel: 0,
            body: Body::Event(Ok(ArtefactId::parse(ID).unwrap())),
        },
        Reply::Message {
            channel: 0,
            body: Body::Event(Err(Malformed {
                reason: "id is not a UUID in a form the Go client accepts",
                bytes: 32,
                sample: r#"{"id":"../x","payload""#.into(),
            })),
        },
        Reply::Message {
            channel: 1,
            body: Body::Captured(b"12345678".to_vec()),
        },
        Reply::Message {
            channel: 1,
            body: Body::TooLarge { bytes: 9 },
        },
        Reply::Message {
            channel: 1,
            body: Body::Captured(Vec::new()),
        },
        Reply::Other,
        Reply::Pong,
        Reply::Pong,
        Reply::Error("ERR unknown command".into()),
        Reply::Other,
        Reply::Other,
        Reply::Other,
        Reply::Other,
        Reply::Other,
        Reply::Message {
            channel: 0,
            body: Body::Event(Err(Malformed {
                reason: "not a JSON object",
                bytes: 2,
                sample: "[]".into(),
            })),
        },
    ];
    check_all_ways(&stream, &Ok(want));
}

#[test]
fn texts_and_names_are_bounded() {
    let long = "E".repeat(5000);
    let replies = parse(&[format!("-{long}\r\n+{long}\r\n").as_bytes()]).unwrap();
    assert_eq!(replies[0], Reply::Error("E".repeat(200)));
    assert_eq!(replies[1], Reply::Simple("E".repeat(256)));
    // Multi-byte text is cut on a character boundary.
    let replies = parse(&[format!("-{}\r\n", "é".repeat(150)).as_bytes()]).unwrap();
    assert_eq!(replies[0], Reply::Error("é".repeat(100)));
    // A channel name longer than what is kept (and one that only starts like ours) never matches.
    let long_channel = format!("{EVENTS}{}", "x".repeat(10_000));
    let mut stream = message(&long_channel, b"{}");
    stream.extend(message(&EVENTS[..EVENTS.len() - 1], b"{}"));
    assert_eq!(parse(&[&stream]), Ok(vec![Reply::Other, Reply::Other]));
}

#[test]
fn what_a_subscription_never_gets_is_a_protocol_error() {
    let cases: &[&[u8]] = &[
        b"*2\r\n*1\r\n:1\r\n",
        b"+OK\n",
        b"$3\r\nabcd\r\n",
        b"$x\r\n",
        b"$-2\r\n",
        b"$99999999999999999999999\r\n",
        b"%1\r\n",
        b"_\r\n",
        b"*3\r\n$7\r\nmessage\r\n$22\r\nsett:t:artefact_events\r\n:1\r\n",
        b"*3\r\n$7\r\nmessage\r\n$22\r\nsett:t:artefact_events\r\n$-1\r\n",
    ];
    for stream in cases {
        let got = parse(&[stream]);
        assert!(got.is_err(), "{}: {got:?}", String::from_utf8_lossy(stream));
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes), got);
    }
}
