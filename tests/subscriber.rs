//! The streaming subscriber (`sett_orchestrator::subscriber`) against a real
//! redis-server: exact frames on two channels (events, a capture with a
//! limit, an id after a 20 MiB payload, PING), every way `REDIS_URL` can
//! reach Redis (password, user, db, unix socket, TLS), failures (wrong
//! password, killed connection, per-step timeouts on a slow link), and the
//! memory a 64 MiB event costs the reading thread.

#[path = "subscriber/alloc.rs"]
mod alloc;
use sett_test_support as support;

use std::path::Path;
use std::time::Duration;

use sett_orchestrator::config::Config;
use sett_orchestrator::deadline::within;
use sett_orchestrator::ids::ArtefactId;
use sett_orchestrator::redis_io::subscriber::{
    self, Body, ConnectError, Decode, Frame, Malformed, ReadError, Reader, Writer,
};
use support::*;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const EVENTS: &str = "sett:t:artefact_events";
const CAPTURES: &str = "sett:t:captures";
/// Generous: the machines are shared (the slow-link test sets its own).
const STEP: Duration = Duration::from_secs(10);

fn channels() -> Vec<(String, Decode)> {
    vec![
        (EVENTS.to_string(), Decode::ArtefactEvent),
        (CAPTURES.to_string(), Decode::Capture { max: 4096 }),
    ]
}

/// The target `REDIS_URL=url` (and `SETT_REDIS_CA_FILE=ca`) names.
fn target(url: &str, ca: Option<&Path>) -> subscriber::Target {
    let mut config = Config::from_lookup(|name| match name {
        "SETT_INSTANCE_NAME" => Some("t".into()),
        "REDIS_URL" => Some(url.into()),
        "SETT_REDIS_CA_FILE" => ca.map(|p| p.display().to_string()),
        _ => None,
    })
    .unwrap();
    // As main does: the CA file is read with the configuration.
    config.load_files().unwrap();
    subscriber::target(&config).unwrap()
}

fn open_with(
    url: &str,
    ca: Option<&Path>,
    channels: &[(String, Decode)],
) -> Result<(Reader, Writer), ConnectError> {
    smol::block_on(subscriber::connect(&target(url, ca), channels, STEP))
}

fn open(url: &str) -> (Reader, Writer) {
    open_with(url, None, &channels()).unwrap()
}

fn next(reader: &mut Reader) -> Result<Frame, ReadError> {
    smol::block_on(within(PATIENCE, reader.next())).expect("a frame within PATIENCE")
}

fn publish(conn: &mut redis::Connection, channel: &str, message: &[u8]) {
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query(conn)
        .unwrap();
    assert_eq!(receivers, 1, "one subscriber on {channel}");
}

fn event_frame(id: &str) -> Frame {
    Frame::Message {
        channel: 0,
        body: Body::Event(Ok(ArtefactId::parse(id).unwrap())),
    }
}

fn malformed(reason: &'static str, message: &[u8], sample: &str) -> Frame {
    Frame::Message {
        channel: 0,
        body: Body::Event(Err(Malformed {
            reason,
            bytes: message.len(),
            sample: sample.into(),
        })),
    }
}

/// Publishes one event and reads it back: the connection works end to end.
fn assert_event_flows(conn: &mut redis::Connection, reader: &mut Reader, channel: &str) {
    let id = uuid();
    publish(
        conn,
        channel,
        Producer::event_json(&id, "Standard", "p").as_bytes(),
    );
    assert_eq!(next(reader).unwrap(), event_frame(&id));
}

#[test]
fn events_captures_and_pongs_arrive_as_exact_frames() {
    let redis = RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 0 0 0"]);
    let (mut reader, mut writer) = open(&redis.url());
    let mut conn = redis.conn();
    let (first, late) = (uuid(), uuid());
    let bad: &[&[u8]] = &[
        b"not json",
        br#"{"id":"../x","payload":"hunter2"}"#,
        b"[1]",
        b"",
    ];
    let big = format!(
        r#"{{"payload":"{}","version":1,"id":"{late}"}}"#,
        "p".repeat(20 << 20)
    );
    publish(
        &mut conn,
        EVENTS,
        Producer::event_json(&first, "Standard", "hi").as_bytes(),
    );
    for message in bad {
        publish(&mut conn, EVENTS, message);
    }
    publish(&mut conn, EVENTS, big.as_bytes());
    publish(&mut conn, CAPTURES, &[b'c'; 4096]);
    publish(&mut conn, CAPTURES, &[b'c'; 4097]);
    smol::block_on(writer.ping()).unwrap();

    assert_eq!(next(&mut reader).unwrap(), event_frame(&first));
    let want = [
        malformed("not valid JSON (or not UTF-8)", bad[0], "not json"),
        malformed(
            "id is not a UUID in a form the Go client accepts",
            bad[1],
            r#"{"id":"../x","payload""#,
        ),
        malformed("not a JSON object", bad[2], "[1]"),
        malformed("not valid JSON (or not UTF-8)", bad[3], ""),
    ];
    for frame in want {
        assert_eq!(next(&mut reader).unwrap(), frame);
    }
    assert_eq!(next(&mut reader).unwrap(), event_frame(&late));
    let captured = Body::Captured(vec![b'c'; 4096]);
    assert_eq!(
        next(&mut reader).unwrap(),
        Frame::Message {
            channel: 1,
            body: captured
        }
    );
    let too_large = Body::TooLarge { bytes: 4097 };
    assert_eq!(
        next(&mut reader).unwrap(),
        Frame::Message {
            channel: 1,
            body: too_large
        }
    );
    assert_eq!(next(&mut reader).unwrap(), Frame::Pong);
}

#[test]
fn reader_and_writer_work_from_two_tasks_at_once() {
    let redis = RedisServer::start();
    let (mut reader, mut writer) = open(&redis.url());
    let pinger = smol::spawn(async move {
        for _ in 0..3 {
            writer.ping().await.unwrap();
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        writer
    });
    let mut conn = redis.conn();
    let id = uuid();
    publish(
        &mut conn,
        EVENTS,
        Producer::event_json(&id, "Standard", "").as_bytes(),
    );
    let mut frames: Vec<Frame> = (0..4).map(|_| next(&mut reader).unwrap()).collect();
    frames.retain(|f| *f != Frame::Pong);
    assert_eq!(frames, vec![event_frame(&id)]);
    let mut writer = smol::block_on(pinger);
    fn movable_between_threads<T: Send + 'static>(_: &T) {}
    movable_between_threads(&reader);
    movable_between_threads(&writer);
    smol::block_on(writer.ping()).unwrap();
    assert_eq!(next(&mut reader).unwrap(), Frame::Pong);
}

#[test]
fn a_password_is_sent_and_a_wrong_or_missing_one_refused_without_showing_it() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let (mut reader, _writer) = open(&redis.url());
    assert_event_flows(&mut redis.conn(), &mut reader, EVENTS);
    let wrong = open_with(&redis.url_with_password("wrong-pw"), None, &channels()).err();
    let text = wrong.expect("a wrong password is refused").to_string();
    assert!(text.starts_with("WRONGPASS"), "{text}");
    assert!(
        !text.contains("wrong-pw") && !text.contains("s3cret"),
        "{text}"
    );
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let missing = open_with(&url, None, &channels()).err().unwrap();
    assert!(
        matches!(&missing, ConnectError::Redis(t) if t.starts_with("NOAUTH")),
        "{missing}"
    );
}

#[test]
fn a_user_is_authenticated_with_its_own_permissions() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "alice",
            "on",
            ">alice pw",
            "resetchannels",
            "&sett:allowed:*",
        ])
        .arg(&["+subscribe", "+ping"])
        .query::<()>(&mut conn)
        .unwrap();
    let url = format!("redis://alice:alice%20pw@127.0.0.1:{}", redis.port);
    let allowed = vec![("sett:allowed:x".to_string(), Decode::ArtefactEvent)];
    let (mut reader, _writer) = open_with(&url, None, &allowed).unwrap();
    assert_event_flows(&mut conn, &mut reader, "sett:allowed:x");
    // Only alice's permissions refuse this channel: AUTH was sent as alice.
    let denied = vec![("sett:denied:x".to_string(), Decode::ArtefactEvent)];
    let e = open_with(&url, None, &denied).err().unwrap();
    assert!(
        matches!(&e, ConnectError::Redis(t) if t.starts_with("NOPERM")),
        "{e}"
    );
    let wrong = format!("redis://alice:nope@127.0.0.1:{}", redis.port);
    let e = open_with(&wrong, None, &allowed).err().unwrap();
    assert!(
        matches!(&e, ConnectError::Redis(t) if t.starts_with("WRONGPASS")),
        "{e}"
    );
}

/// The `db=` of the one pubsub client in CLIENT LIST.
fn pubsub_client_db(conn: &mut redis::Connection) -> String {
    let list: String = redis::cmd("CLIENT")
        .arg(&["LIST", "TYPE", "pubsub"])
        .query(conn)
        .unwrap();
    let dbs: Vec<&str> = list
        .split_whitespace()
        .filter(|f| f.starts_with("db="))
        .collect();
    assert_eq!(dbs.len(), 1, "{list}");
    dbs[0].to_string()
}

#[test]
fn the_database_number_is_selected() {
    let redis = RedisServer::start();
    let (mut reader, _writer) = open(&format!("redis://127.0.0.1:{}/3", redis.port));
    let mut conn = redis.conn();
    assert_eq!(pubsub_client_db(&mut conn), "db=3");
    assert_event_flows(&mut conn, &mut reader, EVENTS);
}

#[test]
fn a_unix_socket_with_query_credentials_and_db() {
    let dir = std::env::temp_dir().join(format!("sett-test-sock-{}", uuid()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("redis.sock").display().to_string();
    let redis = RedisServer::start_with(&["--unixsocket", &sock, "--requirepass", "pw"]);
    let (mut reader, _writer) = open(&format!("unix://{sock}?db=2&pass=pw"));
    let mut conn = redis.conn();
    assert_eq!(pubsub_client_db(&mut conn), "db=2");
    assert_event_flows(&mut conn, &mut reader, EVENTS);
    let e = open_with(&format!("redis+unix://{sock}?pass=no"), None, &channels()).err();
    assert!(
        matches!(&e, Some(ConnectError::Redis(t)) if t.starts_with("WRONGPASS")),
        "{e:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_trusts_the_ca_file_instead_of_the_web_roots() {
    let redis = support::tls_redis::TlsRedis::start();
    let mut conn = redis.client().get_connection().unwrap();
    for url in [
        format!("rediss://localhost:{}", redis.port),
        format!("rediss://127.0.0.1:{}/1", redis.port),
    ] {
        let (mut reader, _writer) = open_with(&url, Some(&redis.ca), &channels()).unwrap();
        assert_event_flows(&mut conn, &mut reader, EVENTS);
    }
    let url = format!("rediss://localhost:{}", redis.port);
    let e = open_with(&url, None, &channels()).err().unwrap();
    assert!(matches!(e, ConnectError::Tls(_)), "{e:?}");
    assert_eq!(e.to_string(), "invalid peer certificate: UnknownIssuer");
}

#[test]
fn a_killed_connection_ends_the_reader() {
    let redis = RedisServer::start();
    let (mut reader, _writer) = open(&redis.url());
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(killed, 1);
    let e = next(&mut reader).unwrap_err();
    assert!(matches!(e, ReadError::Closed | ReadError::Io(_)), "{e:?}");
    assert!(next(&mut reader).is_err(), "the reader stays failed");
}

#[test]
fn each_step_has_its_own_timeout() {
    let redis = RedisServer::start_with(&["--requirepass", "pw"]);
    // Every reply takes 600 ms: AUTH, SELECT and SUBSCRIBE take 1.8 s in all.
    // 300 ms each way: a round trip of 600 ms per step.
    let proxy = support::proxy::Proxy::start(redis.port);
    proxy.set_delay(Duration::from_millis(300));
    let target = target(&format!("redis://:pw@127.0.0.1:{}/1", proxy.port), None);
    let connect = |step| smol::block_on(subscriber::connect(&target, &channels(), step));
    let (mut reader, _writer) = connect(Duration::from_millis(1500)).unwrap();
    assert_event_flows(&mut redis.conn(), &mut reader, EVENTS);
    let e = connect(Duration::from_millis(100)).err().unwrap();
    assert!(
        matches!(e, ConnectError::TimedOut { step: "auth", .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "timed out at step auth (no answer within 100ms)"
    );
}

#[test]
fn a_64_mib_event_costs_the_reader_a_few_kib_where_a_capture_would_cost_all_of_it() {
    let redis = RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 0 0 0"]);
    let size = 64 << 20;
    let channels = vec![
        (EVENTS.to_string(), Decode::ArtefactEvent),
        (CAPTURES.to_string(), Decode::Capture { max: 2 * size }),
    ];
    let (mut reader, _writer) = open_with(&redis.url(), None, &channels).unwrap();
    let id = uuid();
    let message = format!(r#"{{"payload":"{}","id":"{id}"}}"#, "x".repeat(size)).into_bytes();
    let url = redis.url();
    // Published from another thread: its copies of the message are not counted.
    let publisher = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        publish(&mut conn, EVENTS, &message);
        publish(&mut conn, CAPTURES, &message);
    });
    let base = alloc::live();
    alloc::start();
    assert_eq!(next(&mut reader).unwrap(), event_frame(&id));
    let event_peak = alloc::peak_since(base);
    let base = alloc::live();
    alloc::start();
    let frame = next(&mut reader).unwrap();
    let capture_peak = alloc::peak_since(base);
    assert!(
        matches!(&frame, Frame::Message { channel: 1, body: Body::Captured(b) } if b.len() > size)
    );
    drop(frame);
    publisher.join().unwrap();
    // The event: the reader's own state only. The capture (the control that
    // proves the count sees a buffered message): the whole message.
    assert!(event_peak < 64 * 1024, "event peak {event_peak} bytes");
    assert!(
        capture_peak > size as isize,
        "capture peak {capture_peak} bytes"
    );
}
