//! The lifecycle's decisions as one Redis Functions library (issue 15 §6):
//! loaded once, called with FCALL; EVALSHA where FUNCTION is not allowed
//! (an ACL without it), with one `redis_functions_unavailable` line; the
//! library loaded again when Redis forgot it (FUNCTION FLUSH), each decision
//! still made once; and libraries of other binaries or instances sharing
//! the Redis left alone.

use sett_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use sett_orchestrator::redis_io::{functions, scripts};
use sett_sim::{SimAgent, Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::*;

const TEAM: &str = "version: '1.0'\nagents:\n  Reviewer: {}\n  Coder: {}\n";

/// A library another version of the orchestrator would load: its own hash
/// in its name and its functions' names, the same decisions.
const OTHER_VERSION: &str = "#!lua name=sett_lc_0000aaaa0000
local decisions = { 'artefact', 'bids', 'timeout', 'due', 'late_bid', 'overdue', 'adopt' }
for i = 1, #decisions do
  redis.register_function('sett_lc_0000aaaa0000_' .. decisions[i], function() return 'other version' end)
end
";

/// The reviewer approves what the user wrote, the coder takes it exclusively.
fn team(redis: &RedisServer, prefix: &str) -> Vec<SimAgent> {
    vec![
        SimAgent::start(redis, prefix, Spec::approver("Reviewer")),
        SimAgent::start(
            redis,
            prefix,
            Spec::new("Coder", "exclusive", Work::new("Standard", "Code", "c")),
        ),
    ]
}

/// The user writes a goal under `prefix`; its claim completes (review, then
/// exclusive), granted once to each agent, with one `claim_complete` line
/// among `orchs`. The claim's id.
fn completes(
    conn: &mut redis::Connection,
    prefix: &str,
    orchs: &[&Orchestrator],
    agents: &[SimAgent],
) -> String {
    let goal = Art::goal();
    let mut cmd = redis::cmd("HSET");
    cmd.arg(format!("{prefix}:artefact:{}", goal.id));
    for (field, value) in goal.hash_fields() {
        cmd.arg(field).arg(value);
    }
    cmd.query::<()>(conn).unwrap();
    redis::cmd("PUBLISH")
        .arg(format!("{prefix}:artefact_events"))
        .arg(goal.event_json())
        .query::<i64>(conn)
        .unwrap();
    let index = format!("{prefix}:claim_by_artefact:{}", goal.id);
    let mut claim: Option<String> = None;
    wait_until(PATIENCE, || {
        claim = redis::cmd("GET").arg(&index).query(conn).unwrap();
        claim.is_some()
    });
    let claim = claim.expect("a claim");
    let done = |orchs: &[&Orchestrator]| -> usize {
        orchs
            .iter()
            .map(|o| lines_for(o, "claim_complete", &claim).len())
            .sum()
    };
    assert!(
        wait_until(PATIENCE, || done(orchs) >= 1),
        "{claim} never completed"
    );
    let status: String = redis::cmd("HGET")
        .arg(format!("{prefix}:claim:{claim}"))
        .arg("status")
        .query(conn)
        .unwrap();
    assert_eq!(status, "complete");
    for agent in agents {
        assert_eq!(agent.grants_for(&claim), 1, "{}", agent.name);
    }
    assert_eq!(done(orchs), 1);
    claim
}

/// The libraries loaded: name -> its functions' names, sorted.
fn libraries(conn: &mut redis::Connection) -> BTreeMap<String, Vec<String>> {
    let list: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(conn).unwrap();
    let mut out = BTreeMap::new();
    for library in list {
        let fields: Vec<redis::Value> = redis::from_redis_value(library).unwrap();
        let mut name = String::new();
        let mut functions = Vec::new();
        for pair in fields.chunks(2) {
            let key: String = redis::from_redis_value(pair[0].clone()).unwrap();
            if key == "library_name" {
                name = redis::from_redis_value(pair[1].clone()).unwrap();
            } else if key == "functions" {
                let list: Vec<Vec<redis::Value>> =
                    redis::from_redis_value(pair[1].clone()).unwrap();
                for f in list {
                    functions.push(redis::from_redis_value(f[1].clone()).unwrap());
                }
            }
        }
        functions.sort();
        out.insert(name, functions);
    }
    out
}

/// Ours: `sett_lc_` and 12 hex digits, each decision `<library>_<decision>`.
fn assert_ours(name: &str, functions: &[String]) {
    let hash = name.strip_prefix("sett_lc_").expect(name);
    assert!(
        hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    let mut want: Vec<String> = [
        "adopt", "artefact", "bids", "due", "late_bid", "overdue", "timeout",
    ]
    .iter()
    .map(|d| format!("{name}_{d}"))
    .collect();
    want.sort();
    assert_eq!(functions, want);
}

/// Driven directly (as the engine does), the decisions are FCALLs of one
/// library, loaded on the first call that finds no function.
#[test]
fn decisions_run_as_functions_of_one_library() {
    let mut lab = Lab::new(&[("Reviewer", "Reviewer"), ("Coder", "Coder")], 3);
    let goal = Art::goal();
    lab.write(&goal);
    let out = lab.on_artefact(&goal.id);
    assert!(
        matches!(out.as_slice(), [Effect::Created { .. }]),
        "{out:?}"
    );
    let libs = libraries(&mut lab.sync);
    assert_eq!(libs.len(), 1, "{libs:?}");
    let (name, functions) = libs.iter().next().unwrap();
    assert_ours(name, functions);
    let stats = command_calls(&mut lab.sync);
    assert_eq!(stats.get("fcall"), Some(&2), "{stats:?}");
    assert_eq!(stats.get("evalsha"), None, "{stats:?}");
    assert_eq!(stats.get("function|load"), Some(&1), "{stats:?}");
}

/// The library keeps the registry's tables between calls: a call with other
/// registry arguments (other names, the same count; fewer names) reads its
/// own, and the first registry read again is its own again.
/// Redis refuses a function that may write as a whole under OOM (a script
/// ran until its first write): `due`, which never writes, is registered
/// `no-writes` and still answers, as its script did.
#[test]
fn due_still_answers_under_oom() {
    let mut lab = Lab::new(&[("A", "A")], 3);
    let goal = Art::goal();
    lab.write(&goal);
    let claim = lab.new_claim(&goal);
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query::<()>(&mut lab.sync)
        .unwrap();
    let due = lab.due(Set::Bidding, Duration::ZERO, 10);
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"])
        .query::<()>(&mut lab.sync)
        .unwrap();
    assert_eq!(due, vec![claim]);
}

/// Redis refuses a function that may write as a whole under MISCONF too (a
/// snapshot that cannot be written): a bids decision writes and publishes
/// nothing, and is made once writes are back.
#[test]
fn a_bids_decision_under_misconf_writes_nothing_and_is_made_after() {
    let mut lab = Lab::new(&[("Ann", "ann"), ("Writer", "writer")], 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Ann", "ignore");
    lab.bid(&claim, "Writer", "exclusive");
    let before = lab.snapshot();
    let dir = lab.redis.dir.clone();
    refuse_writes_misconf(&mut lab.sync, &dir, true);
    let call = lab.ctx.bids(&cid(&claim), None);
    let replies = smol::block_on(scripts::run_batch(&mut lab.conn, &[call])).expect("pipeline");
    refuse_writes_misconf(&mut lab.sync, &dir, false);
    let refused = replies[0].as_ref().expect_err("refused under MISCONF");
    assert_eq!(refused.code(), Some("MISCONF"), "{refused}");
    assert_eq!(lab.snapshot(), before);
    assert_eq!(lab.published(), vec![]);
    assert!(functions::enabled(), "the decision was a function");
    assert_eq!(
        lab.on_bids(&claim, None),
        vec![granted(&claim, "exclusive", &["Writer"])]
    );
}

/// A user whose ACL denies FUNCTION: one line says so at start-up, and the
/// lifecycle runs whole on EVALSHA.
#[test]
fn without_function_in_the_acl_the_lifecycle_runs_on_evalsha_saying_so_once() {
    let mut stack = Stack::new("sett", "acl", TEAM);
    let url = acl_user(&mut stack, "fb", &["-function"]);
    let agents = team(&stack.redis, &stack.prefix);
    let orch = stack.orchestrator(&[("REDIS_URL", &url)]);
    let prefix = stack.prefix.clone();
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    let lines = orch.events("redis_functions_unavailable");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "warn");
    assert_eq!(lines[0]["using"], "EVALSHA");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("no permissions to run the 'function|load' command"),
        "{}",
        lines[0]
    );
    assert_eq!(libraries(&mut stack.conn), BTreeMap::new());
    let stats = command_calls(&mut stack.conn);
    assert_eq!(stats.get("fcall"), None, "{stats:?}");
    assert!(stats.get("evalsha").is_some_and(|&n| n >= 8), "{stats:?}");
    no_redis_errors(&orch);
}

/// FUNCTION FLUSH while the orchestrator runs: the next decision loads the
/// library again and is made once; later, with FUNCTION denied and the
/// library flushed again, the decision is retried as EVALSHA, once, and one
/// line says so.
#[test]
fn a_flushed_library_is_loaded_again_or_replaced_by_evalsha_each_decision_once() {
    let mut stack = Stack::new("sett", "flush", TEAM);
    let url = acl_user(&mut stack, "fl", &[]);
    let agents = team(&stack.redis, &stack.prefix);
    let orch = stack.orchestrator(&[("REDIS_URL", &url)]);
    let prefix = stack.prefix.clone();
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    let before = libraries(&mut stack.conn);
    assert_eq!(before.len(), 1, "{before:?}");

    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut stack.conn)
        .unwrap();
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    assert_eq!(libraries(&mut stack.conn), before);
    assert!(orch.events("redis_functions_unavailable").is_empty());

    redis::cmd("ACL")
        .arg(&["SETUSER", "fl", "-function"])
        .query::<()>(&mut stack.conn)
        .unwrap();
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut stack.conn)
        .unwrap();
    let evalsha = command_calls(&mut stack.conn)
        .get("evalsha")
        .copied()
        .unwrap_or(0);
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    completes(&mut stack.conn, &prefix, &[&orch], &agents);
    assert_eq!(libraries(&mut stack.conn), BTreeMap::new());
    assert!(command_calls(&mut stack.conn)["evalsha"] > evalsha);
    let lines = orch.events("redis_functions_unavailable");
    assert_eq!(lines.len(), 1, "{lines:?}");
    no_redis_errors(&orch);
}

/// Another version's library (its own names) and a second instance of this
/// binary (the same library, loaded again) share the Redis: every library
/// stays, and every lifecycle completes.
#[test]
fn libraries_of_other_binaries_and_instances_sharing_a_redis_are_left_alone() {
    let mut stack = Stack::new("sett", "one", TEAM);
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(OTHER_VERSION)
        .query::<()>(&mut stack.conn)
        .unwrap();
    let one_agents = team(&stack.redis, "sett:one");
    let two_agents = team(&stack.redis, "sett:two");
    let one = stack.orchestrator(&[]);
    let two = Orchestrator::start_env(
        &stack.redis,
        "two",
        &[("SETT_CONFIG_FILE", stack.registry.as_str())],
    );
    for _ in 0..2 {
        completes(&mut stack.conn, "sett:one", &[&one], &one_agents);
        completes(&mut stack.conn, "sett:two", &[&two], &two_agents);
    }
    let libs = libraries(&mut stack.conn);
    assert_eq!(libs.len(), 2, "{libs:?}");
    let (ours, functions) = libs
        .iter()
        .find(|(n, _)| *n != "sett_lc_0000aaaa0000")
        .unwrap();
    assert_ours(ours, functions);
    let other: String = redis::cmd("FCALL")
        .arg("sett_lc_0000aaaa0000_due")
        .arg(0)
        .query(&mut stack.conn)
        .unwrap();
    assert_eq!(other, "other version");
    for orch in [&one, &two] {
        assert!(orch.events("redis_functions_unavailable").is_empty());
        assert!(
            orch.events("redis_error").is_empty(),
            "{:?}",
            orch.events("redis_error")
        );
    }
}

/// A Redis user `name` (password `<name>-secret`) allowed everything but
/// `deny`; the URL that logs in as it.
fn acl_user(stack: &mut Stack, name: &str, deny: &[&str]) -> String {
    let password = format!(">{name}-secret");
    let mut rules = vec![
        "SETUSER",
        name,
        "on",
        &password,
        "allkeys",
        "allchannels",
        "+@all",
    ];
    rules.extend_from_slice(deny);
    redis::cmd("ACL")
        .arg(&rules)
        .query::<()>(&mut stack.conn)
        .unwrap();
    stack
        .redis
        .url()
        .replace("redis://", &format!("redis://{name}:{name}-secret@"))
}

/// No `redis_error` line, and every line JSON.
fn no_redis_errors(orch: &Orchestrator) {
    assert!(
        orch.events("redis_error").is_empty(),
        "{:?}",
        orch.events("redis_error")
    );
    assert_all_json(orch);
}
