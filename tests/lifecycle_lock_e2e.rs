//! The instance lock `{p}:{i}:lock` through the running binary: its value
//! (`orchestrator:<unix seconds>:<token>`, as `holt up` parses it) and expiry,
//! held in lifecycle mode only, and never deleted by a replica that does not
//! hold it. Apart from the wire tests because the lock is the process's, not
//! a claim's: no agent, no message is involved.

use sett_test_support as support;

use std::time::Duration;

use support::e2e::*;
use support::*;

/// `{p}:{i}:lock` = `orchestrator:<unix seconds>:<token>` (the prefix `holt
/// up` parses with `orchestrator:%d`), expiring within 30 s. Returns the value.
fn assert_lock(stack: &mut Stack, before_start: u64) -> String {
    let key = stack.key("lock");
    let mut value: Option<String> = None;
    let conn = &mut stack.conn;
    wait_until(PATIENCE, || {
        value = redis::cmd("GET").arg(&key).query(conn).unwrap();
        value.is_some()
    });
    let value = value.unwrap_or_else(|| panic!("no {key}"));
    let (secs, token) = value
        .strip_prefix("orchestrator:")
        .and_then(|s| s.split_once(':'))
        .unwrap_or_else(|| panic!("{key} = {value:?}"));
    let secs: u64 = secs.parse().unwrap_or_else(|_| panic!("{key} = {value:?}"));
    assert!(
        token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key} = {value:?}"
    );
    let now = stack.server_ms() / 1000;
    assert!(
        before_start <= secs && secs <= now,
        "{secs} not in [{before_start}, {now}]"
    );
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut stack.conn).unwrap();
    assert!((1..=30).contains(&ttl), "TTL {ttl}");
    value
}

/// Two orchestrators on one instance: the second leaves the first's lock
/// alone, and stopping it does not delete it; the holder's stop does.
#[test]
fn a_stopping_replica_never_deletes_the_live_ones_lock() {
    let mut stack = Stack::new("sett", "lk2", "version: '1.0'\nagents:\n  Coder: {}\n");
    let before = stack.server_ms() / 1000;
    let first = stack.orchestrator(&[]);
    let held = assert_lock(&mut stack, before);
    let mut second = stack.orchestrator(&[]);
    second.wait_for_event("reconcile_complete");
    // The second has run its first sweep (the lock is refreshed on it):
    // wait for its first sweep's gauge to show, then check the value.
    assert!(second.wait_status("/healthz", 200));
    let get = |stack: &mut Stack| -> Option<String> {
        redis::cmd("GET")
            .arg(stack.key("lock"))
            .query(&mut stack.conn)
            .unwrap()
    };
    assert_eq!(get(&mut stack).as_deref(), Some(held.as_str()));
    second.signal(libc::SIGTERM);
    assert!(second.wait_exit(PATIENCE).is_some_and(|s| s.success()));
    assert_eq!(get(&mut stack).as_deref(), Some(held.as_str()));
    let mut first = first;
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit(PATIENCE).is_some_and(|s| s.success()));
    assert_eq!(get(&mut stack), None);
}

#[test]
fn the_instance_lock_is_held_in_lifecycle_mode_only() {
    let mut stack = Stack::new("sett", "lk", "version: '1.0'\nagents:\n  Coder: {}\n");
    let before = stack.server_ms() / 1000;
    let _lifecycle = stack.orchestrator(&[]);
    assert_lock(&mut stack, before);

    // Phase 1 on another instance of the same Redis: no lock, ever.
    let phase1 = Orchestrator::start(&stack.redis, "plain");
    phase1.wait_for_event("reconcile_complete");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stack.keys("sett:plain:*"), Vec::<String>::new());
    assert_eq!(stack.keys("*lock*"), vec!["sett:lk:lock".to_string()]);
}
