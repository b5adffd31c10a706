//! The logs: every stdout line is one JSON object with `ts`, `level`, `event`,
//! and no output (logs, stderr, probe bodies) ever shows the Redis password,
//! through a whole session with claims, bad input, an outage and a shutdown.

use sett_test_support as support;

use std::time::{Duration, Instant};

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

/// Junk and duplicates in a burst: each kind gets its own 50 lines a second,
/// and a `log_lines_suppressed` line per kind sums up the rest on a timer,
/// within 2 s of the burst's end though nothing is logged after it.
#[test]
fn a_burst_of_bad_events_is_counted_in_full_but_logged_50_a_second_per_kind() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "flood");
    let mut p = Producer::new(&redis, "flood");
    let id = p.write("Standard", "claimed once");
    orch.wait_for_event("claim_created");
    let again = Producer::event_json(&id, "Standard", "claimed once");
    let mut pipe = redis::pipe();
    for i in 0..120 {
        pipe.cmd("PUBLISH")
            .arg("sett:flood:artefact_events")
            .arg(if i % 2 == 0 { "not json" } else { "{" })
            .ignore();
    }
    for _ in 0..80 {
        pipe.cmd("PUBLISH")
            .arg("sett:flood:artefact_events")
            .arg(&again)
            .ignore();
    }
    pipe.query::<()>(&mut p.conn).unwrap();
    let sent = Instant::now();

    let summary = |kind: &str| -> Vec<serde_json::Value> {
        orch.events("log_lines_suppressed")
            .into_iter()
            .filter(|l| l["kind"] == kind)
            .collect()
    };
    let both = wait_until(PATIENCE, || {
        !summary("malformed_event").is_empty() && !summary("duplicate_artefact").is_empty()
    });
    let took = sent.elapsed();
    assert!(both, "no summaries: {:#?}", orch.stdout());
    assert!(took < Duration::from_secs(2), "summaries after {took:?}");
    let metrics = orch.get("/metrics").1;
    assert_eq!(metric_value(&metrics, "malformed_events_total"), 120);
    assert_eq!(metric_value(&metrics, "duplicate_events_total"), 80);
    assert_eq!(
        metric_value(&metrics, "log_lines_suppressed_total"),
        70 + 30
    );

    let malformed = summary("malformed_event");
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    assert_eq!(malformed[0]["count"], 70);
    assert_eq!(malformed[0]["level"], "warn");
    assert_eq!(orch.events("malformed_event").len(), 50);
    let duplicates = summary("duplicate_artefact");
    assert_eq!(duplicates.len(), 1, "{duplicates:?}");
    assert_eq!(duplicates[0]["count"], 30);
    assert_eq!(orch.events("duplicate_artefact").len(), 50);
    assert_eq!(orch.get("/healthz").0, 200);
    assert_all_json(&orch);
}
