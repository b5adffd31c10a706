//! A slow Redis is not a dead Redis (issue 9 item 2): a stall of a few
//! seconds (a busy script, a stopped process) keeps the session, the catch-up
//! pass and every claim in flight; `/healthz` shows a stall that lasts; only
//! no answer at all for 10 s ends the session. A pass cut by a real reconnect
//! resumes from its cursor.

use sett_test_support as support;

use std::thread;
use std::time::{Duration, Instant};

use support::verify::{all_claim_events, assert_exactly_once, fill_backlog, stop};
use support::*;

/// A catch-up over this many takes many seconds here, even without stalls.
const BACKLOG: u64 = 200_000;

/// Keeps Redis busy in a Lua loop for `ms` milliseconds (from another client).
fn busy_script(redis: &RedisServer, ms: u64) {
    const BUSY: &str = r#"
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
while true do
  t = redis.call('TIME')
  if tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= tonumber(ARGV[1]) * 1000 then
    return 1
  end
end
"#;
    redis::cmd("EVAL")
        .arg(BUSY)
        .arg(0)
        .arg(ms)
        .query::<i64>(&mut redis.conn())
        .unwrap();
}

/// The ids `fill_backlog` made for `prefix`.
fn backlog_ids(prefix: u32, n: u64) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix:08x}-0000-4000-8000-{i:012x}"))
        .collect()
}

fn redis_pid(redis: &RedisServer) -> i32 {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut redis.conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn waited_for(orch: &Orchestrator, event: &str, limit: Duration) -> serde_json::Value {
    assert!(
        wait_until(limit, || !orch.events(event).is_empty()),
        "no {event}; stdout tail: {:#?}",
        orch.stdout().iter().rev().take(30).collect::<Vec<_>>()
    );
    orch.events(event).remove(0)
}

#[test]
fn three_busy_scripts_during_a_200k_catch_up_stall_it_but_do_not_restart_it() {
    let redis = RedisServer::start();
    let inst = "slow-busy";
    let prefix = 0x5105;
    assert_eq!(fill_backlog(&redis, inst, prefix, BACKLOG, 0), BACKLOG);
    let listener = ClaimListener::start(&redis, inst);
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_started");
    let mut stalls = Vec::new();
    for _ in 0..3 {
        let at = Instant::now();
        busy_script(&redis, 2_600);
        stalls.push(at.elapsed());
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        orch.events("reconcile_complete").is_empty(),
        "the catch-up finished before the third stall; raise BACKLOG"
    );
    let done = waited_for(&orch, "reconcile_complete", PATIENCE * 10);
    eprintln!("stalls {stalls:?}; {done}");
    // One pass, never started over: every key scanned once, every claim counted.
    assert_eq!(done["scanned"], BACKLOG, "{done}");
    assert_eq!(done["unclaimed"], BACKLOG, "{done}");
    assert_eq!(done["claimed"], BACKLOG, "{done}");
    assert_eq!(done["resumed"], 0, "{done}");
    assert_eq!(done["interrupted"], false, "{done}");
    assert_eq!(orch.events("reconcile_started").len(), 1);
    assert_eq!(orch.metric("claims_in_flight"), 0);
    assert_eq!(orch.metric("claims_created_total"), BACKLOG);
    assert_eq!(orch.metric("reconcile_scanned_total"), BACKLOG);
    // The stalls were seen as such, and nothing was torn down for them.
    let slow = orch.events("redis_slow");
    assert!(slow.len() >= 3, "{slow:#?}");
    assert!(slow
        .iter()
        .all(|l| l["waited_ms"].as_u64().unwrap() > 2_000));
    assert_eq!(orch.metric("redis_stalls_total"), slow.len() as u64);
    assert!(
        orch.events("redis_error").is_empty(),
        "{:#?}",
        orch.events("redis_error")
    );
    assert!(orch.events("redis_reconnected").is_empty());
    assert!(orch.events("events_abandoned").is_empty());
    stop(&mut orch);

    let events = all_claim_events(&redis, inst, &listener);
    let mut p = Producer::new(&redis, inst);
    assert_exactly_once(&mut p, &backlog_ids(prefix, BACKLOG), &[], Some(&events));
    assert_all_json(&orch);
}

#[test]
fn a_4s_stall_turns_healthz_red_then_green_and_the_session_stays() {
    let redis = RedisServer::start();
    let inst = "slow-stop";
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_complete");
    assert!(orch.wait_status("/healthz", 200));
    let pid = redis_pid(&redis);
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let stopped = Instant::now();
    let mut red = Vec::new();
    while stopped.elapsed() < Duration::from_secs(4) {
        let (status, body) = orch.get("/healthz");
        if status == 503 {
            red.push(body);
        }
        thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(
        !red.is_empty(),
        "/healthz never turned red during the stall"
    );
    // Its own word for a stall: the connections are open, Redis is silent.
    // `{"status":"unhealthy","redis":"stalled","error":"connected, but Redis
    // has not answered a PING for 2.3s"}`: only the seconds vary.
    for body in &red {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let error = v["error"].as_str().unwrap();
        let secs = error
            .strip_prefix("connected, but Redis has not answered a PING for ")
            .and_then(|s| s.strip_suffix('s'))
            .unwrap_or_else(|| panic!("{body}"));
        let (whole, tenths) = secs.split_once('.').unwrap_or_else(|| panic!("{body}"));
        assert!(whole.parse::<u64>().unwrap() >= 2, "{body}");
        assert_eq!(tenths.len(), 1, "{body}");
        assert_eq!(
            *body,
            format!("{{\"status\":\"unhealthy\",\"redis\":\"stalled\",\"error\":\"{error}\"}}\n")
        );
    }
    assert!(orch.wait_status("/healthz", 200));
    let slow = orch.wait_for_event("redis_slow");
    assert!(slow["waited_ms"].as_u64().unwrap() > 2_000, "{slow}");
    // Same session: a new artefact is claimed from its event, nothing reconnected.
    let mut p = Producer::new(&redis, inst);
    let id = p.write("Standard", "after the stall");
    assert!(wait_until(PATIENCE, || p.claim_of(&id).is_some()));
    assert!(
        orch.events("redis_error").is_empty(),
        "{:#?}",
        orch.stdout()
    );
    assert!(orch.events("redis_reconnected").is_empty());
    assert_eq!(orch.metric("redis_up"), 1);
    stop(&mut orch);
}

/// A script runs 3 s past `busy-reply-threshold`: Redis answers the quiet
/// subscription's PING with -BUSY. That is an answer (the watchdog PINGs
/// again), not silence: the session stays, and the stall is one
/// `redis_slow` line, no `subscription_error` per PING. (The watchdog once
/// waited for a PONG that never came and rebuilt the session 10 s later.)
#[test]
fn busy_replies_on_a_quiet_subscription_keep_the_session() {
    let redis = RedisServer::start();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("busy-reply-threshold")
        .arg(100)
        .query::<()>(&mut redis.conn())
        .unwrap();
    let inst = "slow-busyreply";
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_complete");
    busy_script(&redis, 3_000);
    let slow = orch.wait_for_event("redis_slow");
    assert!(slow["waited_ms"].as_u64().unwrap() > 2_000, "{slow}");
    // Past the 10 s an unanswered PING may wait, from the stall's start.
    thread::sleep(Duration::from_secs(9));
    assert!(orch.events("redis_reconnected").is_empty());
    assert!(orch.events("subscription_error").is_empty());
    let mut p = Producer::new(&redis, inst);
    let id = p.write("Standard", "after the busy script");
    assert!(wait_until(PATIENCE, || p.claim_of(&id).is_some()));
    assert_eq!(orch.metric("redis_up"), 1);
    stop(&mut orch);
}

#[test]
fn no_answer_for_10s_is_dead_and_the_session_is_rebuilt() {
    let redis = RedisServer::start();
    let inst = "slow-dead";
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_complete");
    let pid = redis_pid(&redis);
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let lost = waited_for(&orch, "redis_error", PATIENCE);
    let after = Instant::now();
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(lost["operation"], "session", "{lost}");
    assert!(
        lost["error"]
            .as_str()
            .unwrap()
            .ends_with("no answer to PING for 10s"),
        "{lost}: {:#?}",
        orch.stdout()
    );
    orch.wait_for_event("redis_reconnected");
    eprintln!("declared dead: {lost} ({after:?})");
    let mut p = Producer::new(&redis, inst);
    let id = p.write("Standard", "after the outage");
    assert!(wait_until(PATIENCE, || p.claim_of(&id).is_some()));
    // The claim exists once its script ran; its answer may still be on its way.
    assert!(wait_until(PATIENCE, || orch.metric("claims_in_flight") == 0));
    stop(&mut orch);
}

#[test]
fn a_pass_cut_by_a_reconnect_resumes_from_its_cursor() {
    const N: u64 = 100_000;
    let redis = RedisServer::start();
    let inst = "slow-resume";
    let prefix = 0x7e5;
    fill_backlog(&redis, inst, prefix, N, 0);
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_started");
    let mut p = Producer::new(&redis, inst);
    assert!(wait_until(PATIENCE * 4, || orch
        .metric("claims_created_total")
        >= 20_000));
    // Kill the orchestrator's command connection (our own is spared).
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query(&mut p.conn)
        .unwrap();
    assert!(killed >= 1);
    orch.wait_for_event("redis_reconnected");
    let resumed = orch.wait_for_event("reconcile_resumed");
    let first = waited_for(&orch, "reconcile_complete", PATIENCE * 4);
    eprintln!("resumed at {resumed}; {first}");
    assert!(resumed["scanned"].as_u64().unwrap() < N, "{resumed}");
    assert_eq!(first["scanned"], N, "{first}");
    assert_eq!(first["resumed"], 1, "{first}");
    // Then one full pass for what the outage may have hidden.
    let passes = orch.wait_for_events("reconcile_complete", 2);
    assert_eq!(passes[1]["scanned"], N, "{}", passes[1]);
    assert_eq!(passes[1]["resumed"], 0, "{}", passes[1]);
    assert_eq!(orch.metric("claims_in_flight"), 0);
    stop(&mut orch);
    assert_exactly_once(&mut p, &backlog_ids(prefix, N), &[], None);
}
