//! Exactly-once checks for the fault, catch-up and abuse tests: what the
//! blackboard and `claim_events` must look like once every orchestrator has
//! stopped, plus fast bulk writers for large backlogs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{wait_until, ClaimListener, Orchestrator, Producer, RedisServer, PATIENCE};

/// Stops an orchestrator with SIGTERM and asserts a clean exit, so nothing
/// more can be written once the caller starts counting; then waits until its
/// stdout and stderr are read to the end, so its log is complete too (the
/// exit is seen before the reader threads have read the last lines).
pub fn stop(o: &mut Orchestrator) {
    o.signal(libc::SIGTERM);
    let status = o
        .wait_exit(PATIENCE)
        .expect("orchestrator did not exit after SIGTERM");
    assert!(
        status.success(),
        "exit {status:?}; stderr: {:#?}",
        o.stderr()
    );
    assert!(o.wait_output_closed(), "output still open after the exit");
}

/// Every claim event the listener received, complete: a sentinel published
/// after all writers stopped comes after them on the channel (Redis keeps
/// per-subscriber order), so once it is seen nothing is still on its way.
pub fn all_claim_events(
    redis: &RedisServer,
    instance: &str,
    listener: &ClaimListener,
) -> Vec<String> {
    let sentinel = format!("sentinel-{}", super::uuid());
    redis::cmd("PUBLISH")
        .arg(format!("sett:{instance}:claim_events"))
        .arg(&sentinel)
        .query::<i64>(&mut redis.conn())
        .unwrap();
    assert!(
        wait_until(PATIENCE, || listener.messages().contains(&sentinel)),
        "sentinel never arrived"
    );
    let mut messages = listener.messages();
    let at = messages.iter().position(|m| *m == sentinel).unwrap();
    messages.truncate(at);
    // Sentinels of earlier calls are ours, not claims.
    messages.retain(|m| !m.starts_with("sentinel-"));
    messages
}

fn keys(p: &mut Producer, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("sett:{}:{pattern}", p.instance))
        .query(&mut p.conn)
        .unwrap()
}

/// Asserts the contract's rule for `instance`: each id in `claimable` has
/// exactly one index key pointing to one claim hash for it, nothing else has a
/// claim, and (when given) `events` announce exactly those claims, once each.
pub fn assert_exactly_once(
    p: &mut Producer,
    claimable: &[String],
    unclaimable: &[String],
    events: Option<&[String]>,
) {
    let want: BTreeSet<&String> = claimable.iter().collect();
    assert_eq!(
        want.len(),
        claimable.len(),
        "test bug: duplicate artefact ids"
    );
    let index_keys = keys(p, "claim_by_artefact:*");
    let claim_keys = keys(p, "claim:*");
    assert_eq!(index_keys.len(), claimable.len(), "index keys");
    assert_eq!(claim_keys.len(), claimable.len(), "claim hashes");

    let mut pipe = redis::pipe();
    for id in claimable {
        pipe.get(format!("sett:{}:claim_by_artefact:{id}", p.instance));
    }
    let claim_ids: Vec<Option<String>> = pipe.query(&mut p.conn).unwrap();
    let mut pipe = redis::pipe();
    for (id, claim) in claimable.iter().zip(&claim_ids) {
        let claim = claim
            .as_ref()
            .unwrap_or_else(|| panic!("artefact {id} has no index key"));
        pipe.hgetall(format!("sett:{}:claim:{claim}", p.instance));
    }
    let hashes: Vec<BTreeMap<String, String>> = pipe.query(&mut p.conn).unwrap();
    let mut owner_of = BTreeMap::new();
    for ((artefact, claim), hash) in claimable.iter().zip(&claim_ids).zip(&hashes) {
        let claim = claim.as_ref().unwrap();
        assert_eq!(
            hash.get("artefact_id"),
            Some(artefact),
            "claim {claim}: {hash:?}"
        );
        assert_eq!(hash.get("id"), Some(claim), "claim {claim}: {hash:?}");
        assert_eq!(
            hash.get("status").map(String::as_str),
            Some("pending_review")
        );
        assert_eq!(hash.len(), 6, "claim {claim}: {hash:?}");
        assert!(
            owner_of.insert(claim.clone(), artefact.clone()).is_none(),
            "claim {claim} indexed twice"
        );
    }
    for id in unclaimable {
        assert_eq!(p.claim_of(id), None, "{id} must not be claimed");
    }
    let Some(events) = events else { return };
    assert_eq!(events.len(), claimable.len(), "claim events");
    let mut announced = BTreeSet::new();
    for event in events {
        let v: serde_json::Value =
            serde_json::from_str(event).unwrap_or_else(|e| panic!("{e}: {event}"));
        let claim = v["id"].as_str().unwrap().to_string();
        assert_eq!(
            owner_of.get(&claim).map(String::as_str),
            v["artefact_id"].as_str(),
            "event {event}"
        );
        assert!(announced.insert(claim), "claim announced twice: {event}");
    }
}

/// Writes `total` artefacts (HSET then PUBLISH, as the Go producer), sleeping
/// `pace` after each so that faults land mid-stream; `written` counts
/// progress for the thread that injects the faults. Returns the ids in order.
pub fn paced_stream(
    redis: &RedisServer,
    instance: &str,
    total: usize,
    pace: Duration,
    written: &AtomicUsize,
) -> Vec<String> {
    let mut p = Producer::new(redis, instance);
    (0..total)
        .map(|_| {
            let id = p.write("Standard", "streamed");
            written.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(pace);
            id
        })
        .collect()
}

/// Blocks until `counter` reaches `n` (bounded).
pub fn wait_count(counter: &AtomicUsize, n: usize) {
    assert!(
        wait_until(PATIENCE * 2, || counter.load(Ordering::SeqCst) >= n),
        "stream stalled before {n}"
    );
}

/// Creates `n` stored artefacts (no events) of `instance` server-side, with
/// ids `prefix-0000-4000-8000-<counter>`; every `claimed_every`-th one (0:
/// none) also gets an index key and claim hash, as if claimed long ago.
/// Returns the number of unclaimed ones.
pub fn fill_backlog(
    redis: &RedisServer,
    instance: &str,
    prefix: u32,
    n: u64,
    claimed_every: u64,
) -> u64 {
    const FILL: &str = r#"
local base, from, to, every = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = from, to - 1 do
  local id = string.format('%s-0000-4000-8000-%012x', ARGV[5], i)
  redis.call('HSET', base .. 'artefact:' .. id, 'id', id, 'logical_id', id, 'version', '1',
    'structural_type', 'Standard', 'type', 'Backlog', 'payload', 'x', 'source_artefacts', '[]',
    'produced_by_role', 'user')
  if every > 0 and i % every == 0 then
    local claim = string.format('%s-0000-4000-9000-%012x', ARGV[5], i)
    redis.call('SET', base .. 'claim_by_artefact:' .. id, claim)
    redis.call('HSET', base .. 'claim:' .. claim, 'id', claim, 'artefact_id', id, 'status', 'pending_review',
      'granted_review_agents', '[]', 'granted_parallel_agents', '[]', 'granted_exclusive_agent', '')
  end
end
"#;
    let mut conn = redis.conn();
    let script = redis::Script::new(FILL);
    let step = 10_000;
    for from in (0..n).step_by(step as usize) {
        let to = (from + step).min(n);
        script
            .arg(format!("sett:{instance}:"))
            .arg(from)
            .arg(to)
            .arg(claimed_every)
            .arg(format!("{prefix:08x}"))
            .invoke::<()>(&mut conn)
            .unwrap();
    }
    if claimed_every == 0 {
        n
    } else {
        n - n.div_ceil(claimed_every)
    }
}

/// Resident set size now and at its peak (`VmRSS`, `VmHWM`), in KiB.
pub fn rss_kib(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Adds one Standard artefact to `pipe` as the Go producer writes it: HSET the
/// hash, then PUBLISH the event.
pub fn pipe_artefact(pipe: &mut redis::Pipeline, instance: &str, id: &str, payload: &str) {
    pipe.cmd("HSET")
        .arg(format!("sett:{instance}:artefact:{id}"))
        .arg(&[
            ("id", id),
            ("logical_id", id),
            ("version", "1"),
            ("structural_type", "Standard"),
            ("type", "GoalDefined"),
            ("payload", payload),
            ("source_artefacts", "[]"),
            ("produced_by_role", "user"),
        ])
        .ignore();
    pipe.cmd("PUBLISH")
        .arg(format!("sett:{instance}:artefact_events"))
        .arg(Producer::event_json(id, "Standard", payload));
}

/// Ids of the clients Redis counts as Pub/Sub subscribers right now.
pub fn pubsub_client_ids(redis: &RedisServer) -> Vec<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut redis.conn())
        .unwrap();
    list.lines()
        .filter_map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("id="))?
                .parse()
                .ok()
        })
        .collect()
}
