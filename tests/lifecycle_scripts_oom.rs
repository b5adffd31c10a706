//! The lifecycle's decisions run as scripts (the EVALSHA fallback: Redis 5
//! or 6, or an ACL without FUNCTION) while Redis refuses writes under `OOM`:
//! a bids decision is refused whole, as the library's function always was
//! (its first write is the `ZADD` to the active or dormant set, which Redis
//! refuses once `maxmemory` is reached), writes and publishes nothing, and
//! is made once memory is back (docs/operations.md, "Refused before it
//! runs"). A test binary of its own: the fallback is a flag of the process.

use sett_test_support as support;

use redis::{ErrorKind, RedisError};
use sett_orchestrator::redis_io::{functions, scripts};
use support::lifecycle::*;

fn maxmemory(lab: &mut Lab, bytes: &str) {
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", bytes])
        .query::<()>(&mut lab.sync)
        .unwrap();
}

#[test]
fn as_a_script_a_bids_decision_under_oom_writes_nothing_and_is_made_after() {
    functions::fall_back(&RedisError::from((
        ErrorKind::Client,
        "this test runs scripts",
    )));
    let mut lab = Lab::new(&[("Ann", "ann"), ("Writer", "writer")], 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Ann", "ignore");
    lab.bid(&claim, "Writer", "exclusive");
    let before = lab.snapshot();
    maxmemory(&mut lab, "1");
    let call = lab.ctx.bids(&cid(&claim), None);
    let replies = smol::block_on(scripts::run_batch(&mut lab.conn, &[call])).expect("pipeline");
    maxmemory(&mut lab, "0");
    let refused = replies[0].as_ref().expect_err("refused under OOM");
    assert_eq!(refused.code(), Some("OOM"), "{refused}");
    assert_eq!(lab.snapshot(), before);
    assert_eq!(lab.published(), vec![]);
    assert!(!functions::enabled(), "the decisions ran as scripts");
    assert_eq!(
        lab.on_bids(&claim, None),
        vec![granted(&claim, "exclusive", &["Writer"])]
    );
}
