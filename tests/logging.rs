//! The logs: every stdout line is one JSON object with `ts`, `level`, `event`,
//! and no output (logs, stderr, probe bodies) ever shows the Redis password,
//! through a whole session with claims, bad input, an outage and a shutdown.

mod support;

use support::*;

const SECRET: &str = "hunter2-secret";

/// `2026-11-27T03:35:54.123Z`: RFC 3339, UTC, milliseconds.
fn is_rfc3339_millis(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn assert_no_secret(lines: &[String], secret: &str) {
    for line in lines {
        assert!(!line.contains(secret), "password printed: {line}");
    }
}

#[test]
fn a_whole_session_with_a_password_never_prints_it_and_logs_only_json() {
    let mut redis = RedisServer::start_with(&["--requirepass", SECRET]);
    assert!(
        redis.url().contains(SECRET),
        "the orchestrator must be given the password"
    );
    let mut orch = Orchestrator::start(&redis, "pw");
    orch.wait_for_event("reconcile_complete");
    let mut p = Producer::new(&redis, "pw");
    let id = p.write("Standard", "hello");
    p.publish_raw(Producer::event_json(&id, "Standard", "hello").as_bytes());
    p.write("Terminal", "end");
    p.publish_raw(b"{\"id\":\"nope\",\"payload\":\"x\"}");
    p.publish_raw(Producer::event_json(&uuid(), "Standard", "absent").as_bytes());
    for event in [
        "claim_created",
        "duplicate_artefact",
        "terminal_skipped",
        "malformed_event",
        "artefact_not_found",
    ] {
        orch.wait_for_event(event);
    }
    let mut bodies = vec![
        orch.get("/healthz").1,
        orch.get("/readyz").1,
        orch.get("/metrics").1,
    ];

    redis.kill();
    assert!(orch.wait_status("/healthz", 503));
    bodies.push(orch.get("/healthz").1);
    redis.restart();
    assert!(orch.wait_status("/healthz", 200));
    orch.wait_for_event("redis_reconnected");
    orch.signal(libc::SIGTERM);
    assert_eq!(orch.wait_exit(PATIENCE).and_then(|s| s.code()), Some(0));
    assert!(orch.wait_output_closed());

    assert_no_secret(&orch.all_output(), SECRET);
    assert_no_secret(&bodies, SECRET);
    assert_eq!(orch.stderr(), Vec::<String>::new());
    assert_all_json(&orch);
    for line in orch.stdout() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(is_rfc3339_millis(v["ts"].as_str().unwrap()), "{line}");
    }
    let startup = &orch.events("orchestrator_startup")[0];
    assert_eq!(startup["level"], "info");
    assert_eq!(startup["instance"], "pw");
    assert_eq!(
        startup["redis"],
        format!("redis://127.0.0.1:{}", redis.port)
    );
    assert_eq!(
        startup["http_addr"],
        format!("127.0.0.1:{}", orch.http_port)
    );
    assert_eq!(startup["reconcile"], true);
    assert_eq!(startup["version"], env!("CARGO_PKG_VERSION"));
    let levels = [
        ("claim_created", "info"),
        ("terminal_skipped", "info"),
        ("duplicate_artefact", "warn"),
        ("malformed_event", "warn"),
        ("artefact_not_found", "warn"),
        ("redis_reconnected", "info"),
        ("orchestrator_shutdown", "info"),
    ];
    for (event, level) in levels {
        let lines = orch.events(event);
        assert!(!lines.is_empty(), "no {event} line");
        assert!(
            lines.iter().all(|l| l["level"] == level),
            "{event}: {lines:?}"
        );
    }
    assert!(orch
        .events("redis_error")
        .iter()
        .any(|l| l["level"] == "error"));
}

#[test]
fn a_wrong_password_fails_the_start_without_printing_it() {
    let redis = RedisServer::start_with(&["--requirepass", SECRET]);
    let url = redis.url_with_password("hunter2-wrong");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut orch = Orchestrator::spawn(&[
        ("SETT_INSTANCE_NAME", "pw"),
        ("REDIS_URL", &url),
        ("SETT_HTTP_ADDR", &addr),
    ]);
    let status = orch
        .wait_exit(PATIENCE)
        .expect("still running with a wrong password");
    assert_eq!(status.code(), Some(1));
    assert!(orch.wait_output_closed());
    let stderr = orch.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains("cannot reach Redis"), "{stderr:?}");
    assert_no_secret(&orch.all_output(), "hunter2-wrong");
    assert_no_secret(&orch.all_output(), SECRET);
    assert_eq!(orch.events("startup_failed").len(), 1);
    assert_all_json(&orch);
}

/// A flood of junk is counted in full but logged at most 50 lines a second,
/// with the rest summed up in `log_lines_suppressed` lines.
#[test]
fn a_flood_of_bad_messages_is_counted_but_rate_limited_in_the_log() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "flood");
    let mut p = Producer::new(&redis, "flood");
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("PUBLISH")
            .arg("sett:flood:artefact_events")
            .arg(format!("junk {i}"))
            .ignore();
    }
    pipe.query::<()>(&mut p.conn).unwrap();
    let counted = "sett_orchestrator_malformed_events_total 500\n";
    assert!(wait_until(PATIENCE, || orch
        .get("/metrics")
        .1
        .contains(counted)));
    // One more, more than a second later, releases the summary of the suppressed lines.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.publish_raw(b"junk last");
    // The summary is written just before the first line a new second allows.
    let last_logged = wait_until(PATIENCE, || {
        orch.events("malformed_event")
            .iter()
            .any(|l| l["sample"] == "junk last")
    });
    assert!(last_logged, "{:#?}", orch.stdout());
    let logged = orch.events("malformed_event").len() as u64;
    let suppressed: u64 = orch
        .events("log_lines_suppressed")
        .iter()
        .map(|l| l["count"].as_u64().unwrap())
        .sum();
    assert!(logged < 501, "{logged} lines: not limited");
    assert_eq!(
        logged + suppressed,
        501,
        "{logged} logged + {suppressed} suppressed"
    );
    assert_eq!(orch.get("/healthz").0, 200);
    assert_all_json(&orch);
}
