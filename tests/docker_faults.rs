//! The Docker client against a daemon that misbehaves (support/fake_docker.rs):
//! a socket missing or refusing, garbage, a close in the middle of a body, a
//! daemon that never answers, error statuses, version negotiation, oversized
//! answers. Each must give the right error kind, by its time-out, and never
//! panic. No Docker engine is needed. (Logs and events: docker_stream_faults.rs.)

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::docker::{ApiVersion, ContainerSpec, Docker, ErrorKind};
use support::fake_docker::*;
use support::TempDir;

#[test]
fn a_missing_or_refusing_socket_is_transient() {
    let dir = TempDir::new();
    let docker = Docker::new(dir.path().join("absent.sock"), timeouts());
    let msg = expect(smol::block_on(docker.ping()), ErrorKind::Transient);
    assert!(
        msg.starts_with("cannot connect to the Docker socket "),
        "{msg}"
    );
    let path = dir.path().join("refusing.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let docker = Docker::new(&path, timeouts());
    let msg = expect(smol::block_on(docker.version()), ErrorKind::Transient);
    assert!(msg.contains("Connection refused"), "{msg}");
}

#[test]
fn garbage_is_transient() {
    let fake = FakeDocker::start(|_| Answer::Bytes(b"garbage\r\n\r\n".to_vec()));
    let msg = expect(smol::block_on(client(&fake).ping()), ErrorKind::Transient);
    assert_eq!(msg, "garbage from Docker: not an HTTP/1.x response");
    let fake = FakeDocker::start(pinging("1.41", |_| {
        Answer::Bytes(json("200 OK", "{\"Version\":\"7\""))
    }));
    let msg = expect(
        smol::block_on(client(&fake).version()),
        ErrorKind::Transient,
    );
    assert!(
        msg.starts_with("garbage from Docker: version JSON (Eof error"),
        "{msg}"
    );
    let fake = FakeDocker::start(pinging("1.41", |_| {
        Answer::Bytes(b"\x00\x01\x02\x03".to_vec())
    }));
    expect(
        smol::block_on(client(&fake).inspect("abc")),
        ErrorKind::Transient,
    );
    // JSON, but not the answer asked for: a field we need is missing or mistyped.
    let fake = FakeDocker::start(pinging("1.41", |seen| {
        Answer::Bytes(json(
            "200 OK",
            match seen.path() {
                "/v1.41/containers/a/json" => {
                    r#"{"Id":"a","Name":"/a","Image":"i","State":{"ExitCode":3}}"#
                }
                "/v1.41/containers/b/json" => {
                    r#"{"Id":"b","Name":"/b","Image":"i","State":{"Status":"exited","ExitCode":"3"}}"#
                }
                "/v1.41/containers/c/json" => {
                    r#"{"Id":"c","Name":"/c","Image":"i","State":{"Status":"exited"},"Config":{"Labels":{"k":1}}}"#
                }
                _ => r#"{"Warnings":null}"#,
            },
        ))
    }));
    let docker = client(&fake);
    smol::block_on(async {
        let msg = expect(docker.inspect("a").await, ErrorKind::Transient);
        assert_eq!(
            msg,
            "garbage from Docker: container inspect without a valid State.Status"
        );
        let msg = expect(docker.inspect("b").await, ErrorKind::Transient);
        assert_eq!(
            msg,
            "garbage from Docker: container inspect without a valid State.ExitCode"
        );
        let msg = expect(docker.inspect("c").await, ErrorKind::Transient);
        assert_eq!(
            msg,
            "garbage from Docker: container inspect without a valid Config.Labels"
        );
        let spec = ContainerSpec::new("w-1", "img", vec![]);
        let msg = expect(docker.create(&spec).await, ErrorKind::Transient);
        assert_eq!(msg, "garbage from Docker: create without a valid Id");
    });
}

#[test]
fn a_daemon_that_never_answers_costs_one_time_out() {
    let fake = FakeDocker::start(|_| Answer::Hang);
    let docker = client(&fake);
    let (r, took) = run(async move { docker.ping().await });
    assert_eq!(
        expect(r, ErrorKind::Transient),
        "Docker did not answer in time (response head)"
    );
    assert!(took >= CALL, "gave up after {took:?}, before its time-out");
    // A daemon that stops in the middle of a body: the same deadline.
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Version\"".to_vec();
    let fake = FakeDocker::start(pinging("1.41", move |_| {
        Answer::BytesThenHang(head.clone())
    }));
    let docker = client(&fake);
    let (r, took) = run(async move { docker.version().await });
    assert_eq!(
        expect(r, ErrorKind::Transient),
        "Docker did not answer in time (response body)"
    );
    assert!(took >= CALL);
}

#[test]
fn a_close_in_the_middle_of_a_body_is_transient() {
    let length = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Version\"".to_vec();
    let chunked = [chunked_head("application/json"), chunk(b"{\"Version\":")].concat();
    for answer in [length, chunked] {
        let fake = FakeDocker::start(pinging("1.41", move |_| Answer::Bytes(answer.clone())));
        let msg = expect(
            smol::block_on(client(&fake).version()),
            ErrorKind::Transient,
        );
        assert_eq!(
            msg,
            "Docker closed the connection in the middle of a response body"
        );
    }
    let fake = FakeDocker::start(pinging("1.41", |_| Answer::Close));
    let msg = expect(
        smol::block_on(client(&fake).version()),
        ErrorKind::Transient,
    );
    assert_eq!(
        msg,
        "Docker closed the connection before a complete response head"
    );
}

#[test]
fn statuses_give_the_four_kinds() {
    let fake = FakeDocker::start(pinging("1.41", |seen| {
        Answer::Bytes(match seen.path() {
            "/v1.41/containers/gone/json" => {
                json("404 Not Found", r#"{"message":"No such container: gone"}"#)
            }
            "/v1.41/containers/w1/start" => json(
                "404 Not Found",
                r#"{"message":"network holt-network-x not found"}"#,
            ),
            "/v1.41/images/nope:1/json" => {
                json("404 Not Found", r#"{"message":"no such image: nope:1"}"#)
            }
            "/v1.41/containers/create?name=taken" => json(
                "409 Conflict",
                r#"{"message":"Conflict. The container name \"/taken\" is already in use"}"#,
            ),
            "/v1.41/containers/busy?force=1&v=1" => json(
                "500 Internal Server Error",
                r#"{"message":"driver failed"}"#,
            ),
            _ => json("400 Bad Request", r#"{"message":"bad parameter"}"#),
        })
    }));
    let docker = client(&fake);
    smol::block_on(async {
        assert_eq!(
            expect(docker.inspect("gone").await, ErrorKind::NotFound),
            "inspect container: 404 No such container: gone"
        );
        assert_eq!(
            expect(docker.start("w1").await, ErrorKind::Permanent),
            "start container: 404 network holt-network-x not found"
        );
        assert_eq!(
            expect(docker.image_inspect("nope:1").await, ErrorKind::Permanent),
            "inspect image: 404 no such image: nope:1"
        );
        let taken = ContainerSpec::new("taken", "img", vec![]);
        expect(docker.create(&taken).await, ErrorKind::Conflict);
        assert_eq!(
            expect(docker.remove("busy").await, ErrorKind::Transient),
            "remove container: 500 driver failed"
        );
        assert_eq!(
            expect(
                docker.stop("x1", Duration::ZERO).await,
                ErrorKind::Permanent
            ),
            "stop container: 400 bad parameter"
        );
    });
}

#[test]
fn the_api_version_is_the_daemons_capped_at_1_44() {
    for (daemon, used) in [
        ("1.41", "/v1.41/version"),
        ("1.43", "/v1.43/version"),
        ("1.52", "/v1.44/version"),
    ] {
        let fake = FakeDocker::start(pinging(daemon, |_| {
            Answer::Bytes(json("200 OK", r#"{"Version":"x","ApiVersion":"1.52"}"#))
        }));
        let docker = client(&fake);
        let ping = smol::block_on(docker.ping()).unwrap();
        assert_eq!(ping.daemon_api, ApiVersion::parse(daemon).unwrap());
        smol::block_on(docker.version()).unwrap();
        assert_eq!(fake.paths(), ["/_ping", used]);
    }
    let fake = FakeDocker::start(pinging("1.40", |_| Answer::Close));
    let msg = expect(
        smol::block_on(client(&fake).version()),
        ErrorKind::Permanent,
    );
    assert_eq!(
        msg,
        "Docker speaks Engine API 1.40, older than 1.41 (Docker 20.10)"
    );
    let fake = FakeDocker::start(|_| {
        Answer::Bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK".to_vec())
    });
    let msg = expect(smol::block_on(client(&fake).ping()), ErrorKind::Transient);
    assert_eq!(
        msg,
        "garbage from Docker: a ping answer without a valid Api-Version"
    );
}

#[test]
fn a_version_refusal_is_transient_and_renegotiated() {
    let refusal = r#"{"message":"client version 1.44 is too old. Minimum supported API version is 1.45, please upgrade your client to a newer version"}"#;
    let fake = FakeDocker::start(pinging("1.52", move |_| {
        Answer::Bytes(json("400 Bad Request", refusal))
    }));
    let docker = client(&fake);
    expect(smol::block_on(docker.version()), ErrorKind::Transient);
    expect(smol::block_on(docker.version()), ErrorKind::Transient);
    assert_eq!(
        fake.paths(),
        ["/_ping", "/v1.44/version", "/_ping", "/v1.44/version"]
    );
}

#[test]
fn create_errors_never_echo_the_environment() {
    let secret = "redis://:hunter2-password@redis:6379";
    let fake = FakeDocker::start(pinging("1.41", move |seen| {
        let echo = format!(r#"{{"message":"invalid env REDIS_URL={secret}"}}"#);
        assert!(
            String::from_utf8_lossy(&seen.body).contains(secret),
            "the body carries the env"
        );
        Answer::Bytes(json("400 Bad Request", &echo))
    }));
    let spec = ContainerSpec::new("w-1", "img", vec![]).env("REDIS_URL", secret);
    let msg = expect(
        smol::block_on(client(&fake).create(&spec)),
        ErrorKind::Permanent,
    );
    assert_eq!(
        msg,
        "create container: 400 invalid env REDIS_URL=<redacted>"
    );
}

#[test]
fn oversized_answers_are_refused() {
    let big = format!(r#"{{"Id":"a","Name":"/{}"}}"#, "x".repeat(1 << 20));
    let fake = FakeDocker::start(pinging("1.41", move |_| {
        Answer::Bytes(json("200 OK", &big))
    }));
    let msg = expect(
        smol::block_on(client(&fake).inspect("a")),
        ErrorKind::Transient,
    );
    assert_eq!(msg, "a Docker response body over 1024 KiB");
    let head = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "y".repeat(20_000));
    let fake = FakeDocker::start(pinging("1.41", move |_| {
        Answer::Bytes(head.clone().into_bytes())
    }));
    let msg = expect(
        smol::block_on(client(&fake).version()),
        ErrorKind::Transient,
    );
    assert_eq!(msg, "garbage from Docker: a response head over 16 KiB");
}
