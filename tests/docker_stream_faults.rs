//! The logs and events streams against a daemon that misbehaves
//! (support/fake_docker.rs): frames to demultiplex, logs past their bound, a
//! log stream that is not one, an events stream that ends at its window, goes
//! silent past it, breaks, or carries objects that are not events.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::docker::{
    ErrorKind, EventFilter, LogOptions, MAX_EVENT_BYTES, MAX_LOG_BYTES,
};
use support::fake_docker::*;

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    [
        vec![stream, 0, 0, 0],
        (payload.len() as u32).to_be_bytes().to_vec(),
        payload.to_vec(),
    ]
    .concat()
}

#[test]
fn logs_are_demultiplexed_bounded_and_checked() {
    let fake = FakeDocker::start(pinging("1.41", |seen| {
        let body: Vec<u8> = match seen.path() {
            p if p.starts_with("/v1.41/containers/small/") => {
                [frame(1, b"out 1\n"), frame(2, b"err 1\n")].concat()
            }
            p if p.starts_with("/v1.41/containers/big/") => (0..64)
                .flat_map(|i| frame(1, &vec![b'a' + (i % 26) as u8; 16 * 1024]))
                .collect(),
            p if p.starts_with("/v1.41/containers/tty/") => {
                return Answer::Bytes(reply(
                    "200 OK",
                    "1.42",
                    "application/vnd.docker.raw-stream",
                    b"raw text\n",
                ))
            }
            p if p.starts_with("/v1.41/containers/bad/") => b"out 1\nout 2\n".to_vec(),
            _ => {
                return Answer::Bytes(json(
                    "404 Not Found",
                    r#"{"message":"No such container: x"}"#,
                ))
            }
        };
        let chunks: Vec<u8> = body.chunks(5000).flat_map(chunk).collect();
        Answer::Bytes(
            [
                chunked_head("application/vnd.docker.multiplexed-stream"),
                chunks,
                b"0\r\n\r\n".to_vec(),
            ]
            .concat(),
        )
    }));
    let docker = client(&fake);
    smol::block_on(async {
        let logs = docker.logs("small", LogOptions::default()).await.unwrap();
        assert_eq!(
            (logs.text.as_slice(), logs.truncated),
            (&b"out 1\nerr 1\n"[..], false)
        );
        assert_eq!(
            fake.paths()[1],
            "/v1.41/containers/small/logs?stdout=1&stderr=1&tail=100"
        );
        let logs = docker.logs("big", LogOptions::default()).await.unwrap();
        assert_eq!(logs.text.len(), MAX_LOG_BYTES);
        assert!(logs.truncated);
        let expected: Vec<u8> = (48..64)
            .flat_map(|i| vec![b'a' + (i % 26) as u8; 16 * 1024])
            .collect();
        assert_eq!(logs.text, expected, "the last 256 KiB, in order");
        let logs = docker.logs("tty", LogOptions::default()).await.unwrap();
        assert_eq!(logs.text, b"raw text\n");
        let msg = expect(
            docker.logs("bad", LogOptions::default()).await,
            ErrorKind::Transient,
        );
        assert_eq!(msg, "garbage from Docker: a log frame header");
        expect(
            docker.logs("gone", LogOptions::default()).await,
            ErrorKind::NotFound,
        );
    });
}

const START: &str = r#"{"Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"holt.claim.id":"k1","name":"w1"}},"time":1,"timeNano":1000000001}"#;
const DIE: &str = r#"{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"exitCode":"3","name":"w1"}},"time":2,"timeNano":2000000002}"#;

/// A fake whose `/events` answers `pieces` (after a chunked head), then hangs.
fn events_fake(pieces: Vec<Vec<u8>>) -> FakeDocker {
    FakeDocker::start(pinging("1.41", move |_| {
        Answer::PiecesThenHang([vec![chunked_head("application/json")], pieces.clone()].concat())
    }))
}

fn filter() -> EventFilter {
    EventFilter {
        labels: vec!["holt.instance.name=prod".to_string()],
        actions: vec!["start".to_string(), "die".to_string()],
    }
}

#[test]
fn an_events_stream_ends_cleanly_at_its_window_or_is_called_dead_after_it() {
    let fake = events_fake(vec![
        chunk(format!("{START}\n").as_bytes()),
        chunk(format!("{DIE}\n").as_bytes()),
        b"0\r\n\r\n".to_vec(),
    ]);
    let docker = client(&fake);
    smol::block_on(async {
        let mut events = docker.events(&filter(), Some(500_000_000)).await.unwrap();
        let start = events.next().await.unwrap().unwrap();
        assert_eq!(
            (
                start.action.as_str(),
                start.id.as_str(),
                start.attribute("holt.claim.id")
            ),
            ("start", "c1", Some("k1"))
        );
        let die = events.next().await.unwrap().unwrap();
        assert_eq!((die.action.as_str(), die.exit_code()), ("die", Some(3)));
        assert_eq!(events.next().await, Ok(None));
        assert_eq!(events.resume_from(), 2000000002);
    });
    let path = fake.paths()[1].clone();
    let query = percent_encoding::percent_decode_str(&path)
        .decode_utf8()
        .unwrap()
        .to_string();
    assert!(
        query.starts_with("/v1.41/events?since=0.500000000&until="),
        "{query}"
    );
    assert!(query.ends_with(r#"&filters={"type":["container"],"label":["holt.instance.name=prod"],"event":["start","die"]}"#), "{query}");
    // One event, then silence past the window and its grace: a dead daemon.
    let fake = events_fake(vec![chunk(START.as_bytes())]);
    let docker = client(&fake);
    let (r, took) = run(async move {
        let mut events = docker.events(&filter(), None).await?;
        assert_eq!(events.next().await?.unwrap().action, "start");
        events.next().await
    });
    assert_eq!(
        expect(r, ErrorKind::Transient),
        "Docker did not answer in time (events stream past its window)"
    );
    assert!(took >= Duration::from_millis(600), "{took:?}");
}

#[test]
fn a_broken_events_stream_is_transient_and_a_bad_event_is_skipped() {
    let big = format!(
        r#"{{"Action":"die","pad":"{}"}}"#,
        "x".repeat(MAX_EVENT_BYTES)
    );
    let fake = events_fake(vec![
        chunk(big.as_bytes()),
        chunk(b"{\"not\":\"an event\"}\n"),
        chunk(DIE.as_bytes()),
        chunk(b"\nnot json"),
    ]);
    let docker = client(&fake);
    smol::block_on(async {
        let mut events = docker.events(&filter(), None).await.unwrap();
        assert_eq!(events.next().await.unwrap().unwrap().exit_code(), Some(3));
        assert_eq!(events.skipped(), 2);
        let msg = expect(events.next().await, ErrorKind::Transient);
        assert_eq!(
            msg,
            "garbage from Docker: bytes between events that are not JSON objects"
        );
    });
    // Closed without the last chunk: not a clean end.
    let fake = FakeDocker::start(pinging("1.41", |_| {
        Answer::Bytes([chunked_head("application/json"), chunk(START.as_bytes())].concat())
    }));
    let docker = client(&fake);
    smol::block_on(async {
        let mut events = docker.events(&filter(), None).await.unwrap();
        events.next().await.unwrap().unwrap();
        let msg = expect(events.next().await, ErrorKind::Transient);
        assert_eq!(
            msg,
            "Docker closed the connection in the middle of a response body"
        );
    });
    // An error status instead of a stream.
    let fake = FakeDocker::start(pinging("1.41", |_| {
        Answer::Bytes(json("500 Internal Server Error", r#"{"message":"boom"}"#))
    }));
    let msg = expect(
        smol::block_on(client(&fake).events(&filter(), None)).map(|_| ()),
        ErrorKind::Transient,
    );
    assert_eq!(msg, "events: 500 boom");
}
