//! Redis lost while running: health goes red and green again, the session is
//! rebuilt and claiming resumes; gone for longer than the retry budget, the
//! process exits 1.

use sett_test_support as support;

use support::*;

#[test]
fn redis_killed_and_restarted_turns_health_red_then_green_and_claims_resume() {
    let mut redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "loss");
    assert!(orch.wait_status("/healthz", 200));
    let mut p = Producer::new(&redis, "loss");
    let before = p.write("Standard", "before");
    orch.wait_for_event("claim_created");
    assert!(p.claim_of(&before).is_some());

    redis.kill();
    assert!(orch.wait_status("/healthz", 503), "healthz never went 503");
    let (status, body) = orch.get("/healthz");
    assert_eq!(status, 503);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["redis"], "disconnected");
    assert!(
        !v["error"].as_str().expect("error string").is_empty(),
        "{body}"
    );
    assert_eq!(v.as_object().unwrap().len(), 3, "{body}");
    assert_eq!(orch.get("/livez").0, 200);

    redis.restart();
    assert!(orch.wait_status("/healthz", 200), "healthz never recovered");
    let reconnected = orch.wait_for_event("redis_reconnected");
    assert!(reconnected["attempts"].as_u64().unwrap() >= 1);
    let session_lost = orch.events("redis_error");
    assert!(
        session_lost
            .iter()
            .any(|l| l["operation"] == "session" && l["level"] == "error"),
        "{session_lost:?}"
    );

    // The restarted server is empty (no persistence): a new artefact is claimed.
    let listener = ClaimListener::start(&redis, "loss");
    let mut p = Producer::new(&redis, "loss");
    let after = p.write("Standard", "after");
    let events = listener.wait_for(1);
    assert!(events[0].contains(&after), "{events:?}");
    let claim_id = p.claim_of(&after).expect("index after restart");
    let fields: usize = redis::cmd("HLEN")
        .arg(format!("sett:loss:claim:{claim_id}"))
        .query(&mut p.conn)
        .unwrap();
    assert_eq!(fields, 6);
    assert_eq!(orch.events("redis_unavailable").len(), 0);
    assert_all_json(&orch);
}

#[test]
fn redis_gone_longer_than_the_retry_timeout_exits_1_saying_why_on_stderr() {
    const SECRET: &str = "hunter2-secret";
    let mut redis = RedisServer::start_with(&["--requirepass", SECRET]);
    let mut orch = Orchestrator::start_env(&redis, "gone", &[("SETT_REDIS_RETRY_TIMEOUT", "2s")]);
    assert!(orch.wait_status("/healthz", 200));
    redis.kill();
    let status = orch
        .wait_exit(PATIENCE)
        .expect("still running long after the retry timeout");
    assert_eq!(status.code(), Some(1));
    assert!(orch.wait_output_closed());
    let gave_up = orch.events("redis_unavailable");
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0]["level"], "error");
    assert_eq!(gave_up[0]["retry_timeout_ms"], 2000);
    // The last reconnect's error, as its own `redis_error` line gave it.
    let last = orch.events("redis_error").pop().unwrap();
    assert_eq!(last["operation"], "reconnect", "{last}");
    assert_eq!(gave_up[0]["last_error"], last["error"]);
    assert_eq!(
        orch.stderr(),
        vec![format!(
            "sett-orchestrator: Redis at redis://127.0.0.1:{} was unreachable for longer than SETT_REDIS_RETRY_TIMEOUT (2s); exiting (last error: {})",
            redis.port,
            last["error"].as_str().unwrap()
        )]
    );
    assert_eq!(orch.events("orchestrator_shutdown").len(), 0);
    for line in orch.all_output() {
        assert!(!line.contains(SECRET), "password printed: {line}");
    }
    assert_all_json(&orch);
}
