//! `/metrics`: valid Prometheus text (checked by `promtool check metrics`),
//! counters that move by exactly what the test sends, and scrapes that never
//! touch Redis (they answer while Redis is paused or gone, and never count a
//! Redis error).

use sett_test_support as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::promtool::promtool_check;
use support::verify::all_claim_events;
use support::*;

/// The value of `sett_orchestrator_{name}` (exact series name, labels included).
fn metric(body: &str, name: &str) -> f64 {
    let series = format!("sett_orchestrator_{name} ");
    let line = body
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("no {series}in:\n{body}"));
    line[series.len()..].trim().parse().unwrap()
}

/// GET /metrics with its own read timeout; `(status, content type, body)`.
fn scrape(port: u16, timeout: Duration) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP port");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .unwrap_or_else(|e| panic!("no complete /metrics answer within {timeout:?}: {e}"));
    let (head, body) = out.split_once("\r\n\r\n").expect("a response head");
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_string();
    (status, content_type, body.to_string())
}

#[test]
fn metrics_are_valid_prometheus_text_and_count_exactly_what_was_sent() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "m1");
    let orch = Orchestrator::start(&redis, "m1");
    // The catch-up scan after subscribing has finished: it cannot claim anything later.
    assert!(wait_until(PATIENCE, || metric(
        &orch.get("/metrics").1,
        "reconcile_runs_total"
    ) >= 1.0));
    let (status, content_type, before) = scrape(orch.http_port, PATIENCE);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    promtool_check(&before);

    let mut p = Producer::new(&redis, "m1");
    for _ in 0..3 {
        p.write("Standard", "payload");
    }
    p.write("Review", "please review");
    p.write("Terminal", "the end");
    let twice = p.write("Standard", "sent twice");
    p.publish_raw(Producer::event_json(&twice, "Standard", "sent twice").as_bytes());
    p.publish_raw(b"{not json");
    p.publish_raw(Producer::event_json(&uuid(), "Standard", "never stored").as_bytes());

    assert_eq!(listener.wait_for(5).len(), 5);
    // A claim is counted with its log line, once its script answered (its
    // claim event goes out before that answer).
    orch.wait_for_events("claim_created", 5);
    for event in [
        "terminal_skipped",
        "duplicate_artefact",
        "malformed_event",
        "artefact_not_found",
    ] {
        orch.wait_for_event(event);
    }
    let (status, _, after) = scrape(orch.http_port, PATIENCE);
    assert_eq!(status, 200);
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(delta("claims_created_total"), 5.0);
    assert_eq!(delta("terminal_skipped_total"), 1.0);
    assert_eq!(delta("duplicate_events_total"), 1.0);
    assert_eq!(delta("malformed_events_total"), 1.0);
    assert_eq!(delta("artefacts_not_found_total"), 1.0);
    assert_eq!(delta("redis_errors_total"), 0.0);
    assert_eq!(delta("redis_reconnects_total"), 0.0);
    assert_eq!(delta("claim_duration_seconds_count"), 5.0);
    assert_eq!(delta("claim_duration_seconds_bucket{le=\"+Inf\"}"), 5.0);
    assert_eq!(metric(&after, "claims_in_flight"), 0.0);
    assert_eq!(metric(&after, "redis_up"), 1.0);
    let version = format!("build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(metric(&after, &version), 1.0);
    promtool_check(&after);
    // Nothing more was claimed than announced.
    assert_eq!(all_claim_events(&redis, "m1", &listener).len(), 5);
    assert_eq!(p.claims(), 5);
}

#[test]
fn scrapes_answer_without_redis_and_never_count_redis_errors() {
    let mut redis = RedisServer::start();
    let orch = Orchestrator::start_env(&redis, "m2", &[("SETT_REDIS_RETRY_TIMEOUT", "10m")]);
    assert!(orch.wait_status("/readyz", 200));

    // Paused for 10 s: a scrape that waited on Redis could not answer within 4 s.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("ALL")
        .query(&mut redis.conn())
        .unwrap();
    for _ in 0..10 {
        let (status, _, body) = scrape(orch.http_port, Duration::from_secs(4));
        assert_eq!(status, 200);
        assert_eq!(metric(&body, "claims_in_flight"), 0.0);
    }

    // Gone: the engine counts its own failed reconnects; scrapes add nothing.
    redis.kill();
    assert!(wait_until(PATIENCE, || orch
        .events("redis_error")
        .iter()
        .filter(|e| e["operation"] == "reconnect")
        .count()
        >= 2));
    for _ in 0..30 {
        let (status, _, body) = scrape(orch.http_port, Duration::from_secs(4));
        assert_eq!(status, 200);
        assert_eq!(metric(&body, "redis_up"), 0.0);
    }
    assert_eq!(orch.get("/healthz").0, 503);
    redis.restart();
    orch.wait_for_event("redis_reconnected");
    assert!(orch.wait_status("/readyz", 200));

    // Every counted Redis error is one the engine logged; the 40 scrapes added none.
    let mut last = (0.0, 0);
    let settled = wait_until(PATIENCE, || {
        let body = scrape(orch.http_port, PATIENCE).2;
        last = (
            metric(&body, "redis_errors_total"),
            orch.events("redis_error").len(),
        );
        last.0 == last.1 as f64
            && metric(&body, "redis_reconnects_total")
                == orch.events("redis_reconnected").len() as f64
    });
    assert!(
        settled,
        "redis_errors_total {} but {} redis_error log lines",
        last.0, last.1
    );
    assert!(last.0 >= 3.0, "the outage must have been counted: {last:?}");
}
