//! What happened while no orchestrator ran, through the running binary
//! (issue 15, sections 1 and 2): bids written into a bids hash with no
//! `bid_submitted` event are decided at the next start-up as their event
//! would have been (late bids honoured or reported, once across two
//! replicas; a claim that waited with no timeout decided by the new one);
//! a claim granted to an agent the registry no longer has is terminated,
//! once. And how often a periodic pass looks for claims to adopt, and how a
//! pass cut after its walk is resumed.

use sett_test_support as support;

use serde_json::json;
use support::e2e::*;
use support::lifecycle::*;
use support::verify::fill_backlog;
use support::*;

const TEAM: &str = "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n";
const TIMEOUT: (&str, &str) = ("SETT_BID_TIMEOUT", "1s");

fn stop(mut orch: Orchestrator) {
    orch.signal(libc::SIGTERM);
    assert!(orch.wait_exit(PATIENCE).is_some());
}

fn all_bids(stack: &mut Stack, claim: &str) -> serde_json::Value {
    let ps: serde_json::Value = serde_json::from_str(&stack.claim(claim)["phase_state"]).unwrap();
    ps["all_bids"].clone()
}

/// Three claims decided by the bid timeout without the coder (dormant, in
/// review, in parallel); the coder's bids land while no orchestrator runs.
/// Two replicas start: the dormant claim starts its exclusive phase, the
/// review keeps the exclusive bid for later, the parallel claim's `review`
/// bid comes after its phase: each once.
#[test]
fn late_bids_written_while_no_orchestrator_ran_are_decided_once_by_two_replicas() {
    let mut stack = Stack::new("sett", "gone", TEAM);
    let first = stack.orchestrator(&[TIMEOUT]);
    let mut claims = Vec::new();
    for reviewer in ["ignore", "review", "claim"] {
        let goal = Art::goal();
        stack.write(&goal);
        let claim = stack.claim_of(&goal.id);
        stack.bid_unannounced(&claim, "Reviewer", reviewer);
        claims.push(claim);
    }
    let (dormant, review, parallel) = (&claims[0], &claims[1], &claims[2]);
    assert_eq!(first.wait_for_events("bid_timeout", 3).len(), 3);
    first.wait_for_events("claim_granted", 2);
    assert_eq!(lines_for(&first, "claim_dormant", dormant).len(), 1);
    stop(first);

    stack.bid_unannounced(dormant, "Coder", "exclusive");
    stack.bid_unannounced(review, "Coder", "exclusive");
    stack.bid_unannounced(parallel, "Coder", "review");
    let a = stack.orchestrator(&[TIMEOUT]);
    let b = stack.orchestrator(&[TIMEOUT]);
    // The recheck ends each replica's first pass.
    a.wait_for_event("reconcile_complete");
    b.wait_for_event("reconcile_complete");
    let both = [&a, &b];
    let lines = |event: &str, claim: &str| -> Vec<serde_json::Value> {
        both.iter()
            .flat_map(|o| lines_for(o, event, claim))
            .collect()
    };
    let honoured = lines("late_bid_honoured", dormant);
    assert_eq!(honoured.len(), 1, "{honoured:?}");
    assert_eq!(honoured[0]["agent_name"], "Coder");
    assert_eq!(honoured[0]["bid"], "exclusive");
    assert_eq!(honoured[0]["phase"], "exclusive");
    let granted = lines("claim_granted", dormant);
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["phase"], "exclusive");
    assert_eq!(granted[0]["agents"], json!(["Coder"]));
    let stored = stack.claim(dormant);
    assert_eq!(stored["status"], "pending_exclusive");
    assert_eq!(stored["granted_exclusive_agent"], "Coder");

    let honoured = lines("late_bid_honoured", review);
    assert_eq!(honoured.len(), 1);
    assert_eq!(honoured[0]["phase"], "exclusive");
    assert_eq!(stack.claim(review)["status"], "pending_review");
    assert_eq!(
        all_bids(&mut stack, review),
        json!({"Coder": "exclusive", "Reviewer": "review"})
    );

    let late = lines("late_bid", parallel);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["level"], "warn");
    assert_eq!(late[0]["agent_name"], "Coder");
    assert_eq!(late[0]["bid"], "review");
    assert_eq!(late[0]["claim_at"], "parallel");
    assert_eq!(lines("late_bid_honoured", parallel).len(), 0);
    let sum = |series: &str| -> u64 { both.iter().map(|o| metric(o, series)).sum() };
    assert_eq!(sum("late_bids_honoured_total"), 2);
    assert_eq!(sum("late_bids_total"), 1);
}

/// A claim waited for the coder under an orchestrator with no bid timeout;
/// another got every bid while none ran. The next orchestrator, with a
/// timeout, decides both: the first without the coder, the second with
/// every bid.
#[test]
fn claims_that_waited_are_decided_after_a_restart() {
    let mut stack = Stack::new("sett", "waited", TEAM);
    let first = stack.orchestrator(&[]);
    let (waited, full) = (Art::goal(), Art::goal());
    stack.write(&waited);
    stack.write(&full);
    let waited = stack.claim_of(&waited.id);
    let full = stack.claim_of(&full.id);
    stack.bid_unannounced(&waited, "Reviewer", "review");
    first.wait_for_event("reconcile_complete");
    stop(first);
    stack.bid_unannounced(&full, "Reviewer", "ignore");
    stack.bid_unannounced(&full, "Coder", "exclusive");

    let next = stack.orchestrator(&[TIMEOUT]);
    let timeout = next.wait_for_event("bid_timeout");
    assert_eq!(timeout["claim_id"], waited.as_str());
    assert_eq!(timeout["agents"], json!(["Coder"]));
    assert!(wait_until(PATIENCE, || next.events("claim_granted").len() == 2));
    let granted = lines_for(&next, "claim_granted", &waited);
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["phase"], "review");
    assert_eq!(granted[0]["agents"], json!(["Reviewer"]));
    let granted = lines_for(&next, "claim_granted", &full);
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["phase"], "exclusive");
    assert_eq!(granted[0]["agents"], json!(["Coder"]));
    assert_eq!(
        all_bids(&mut stack, &waited),
        json!({"Coder": "ignore", "Reviewer": "review"})
    );
    assert_eq!(next.events("bid_timeout").len(), 1);
}

/// Granted to `Tester`, which the registry no longer lists: a claim Holt's
/// Go orchestrator left (adopted) and one of ours from an earlier registry
/// (in our active set) are terminated with Holt's recovery reason, once
/// across two replicas; nothing is published.
#[test]
fn claims_granted_to_an_agent_no_longer_registered_are_terminated_once() {
    let mut stack = Stack::new("holt", "left", TEAM);
    let at = stack.server_ms().to_string();
    let mut claims = Vec::new();
    for (status, current) in [
        ("pending_review", "review"),
        ("pending_exclusive", "exclusive"),
    ] {
        let goal = Art::goal();
        stack.store(&goal);
        let claim = uuid();
        let phase_state = format!(
            r#"{{"current":"{current}","granted_agents":["Tester"],"received":{{}},"all_bids":{{"Coder":"ignore","Reviewer":"ignore","Tester":"review"}},"start_time_ms":{at}}}"#
        );
        let mut fields = new_claim_fields(&claim, &goal.id);
        fields.insert("status".into(), status.into());
        fields.insert("phase_state".into(), phase_state);
        let mut cmd = redis::cmd("HSET");
        cmd.arg(stack.key(&format!("claim:{claim}")));
        for (f, v) in &fields {
            cmd.arg(f).arg(v);
        }
        cmd.query::<()>(&mut stack.conn).unwrap();
        redis::cmd("SET")
            .arg(stack.key(&format!("claim_by_artefact:{}", goal.id)))
            .arg(&claim)
            .query::<()>(&mut stack.conn)
            .unwrap();
        claims.push(claim);
    }
    let (holt, ours) = (&claims[0], &claims[1]);
    redis::cmd("ZADD")
        .arg(stack.key("orchestrator:active"))
        .arg(1)
        .arg(ours)
        .query::<()>(&mut stack.conn)
        .unwrap();
    let mut wiretap = stack.wiretap();

    let a = stack.orchestrator(&[]);
    let b = stack.orchestrator(&[]);
    a.wait_for_event("reconcile_complete");
    b.wait_for_event("reconcile_complete");
    let both = [&a, &b];
    for claim in [holt, ours] {
        let ended: Vec<_> = both
            .iter()
            .flat_map(|o| lines_for(o, "claim_terminated", claim))
            .collect();
        assert_eq!(ended.len(), 1, "{claim}: {ended:?}");
        assert_eq!(ended[0]["cause"], "missing_agent");
        assert_eq!(
            ended[0]["reason"],
            "Recovery failed: granted agent 'Tester' no longer in config"
        );
        let stored = stack.claim(claim);
        assert_eq!(stored["status"], "terminated");
        assert_eq!(
            stored["termination_reason"],
            "Recovery failed: granted agent 'Tester' no longer in config"
        );
    }
    let adopted: usize = both.iter().map(|o| o.events("claim_adopted").len()).sum();
    assert_eq!(adopted, 0);
    let series = r#"claims_terminated_total{cause="missing_agent"}"#;
    assert_eq!(metric(&a, series) + metric(&b, series), 2);
    let active: Vec<String> = redis::cmd("ZRANGE")
        .arg(stack.key("orchestrator:active"))
        .arg(0)
        .arg(-1)
        .query(&mut stack.conn)
        .unwrap();
    assert_eq!(active, Vec::<String>::new());
    assert_eq!(wiretap.everything(), vec![]);
}

/// Every periodic pass nobody asked for looks for claims to adopt (issue
/// 15: "by every periodic catch-up"): a Phase-1 claim written by hand after
/// the first pass is adopted by the next pass, once.
#[test]
fn every_periodic_pass_adopts_what_someone_else_made_since() {
    let mut stack = Stack::new("sett", "periodic", TEAM);
    let orch = stack.orchestrator(&[("SETT_CATCHUP_INTERVAL", "100ms")]);
    let first = orch.wait_for_event("reconcile_complete");
    assert_eq!(first["adopting"], true);
    assert_eq!(first["adopted"], 0);
    let goal = Art::goal();
    stack.store(&goal);
    let claim = stack.phase1_claim(&goal.id);
    // Passes are at least 1 s apart. The pass under way when the claim was
    // written may have passed its artefact: the one after it adopts.
    let passes = |o: &Orchestrator| o.events("reconcile_complete");
    assert!(wait_until(PATIENCE, || orch.events("claim_adopted").len() == 1));
    let n = passes(&orch).len();
    assert!(wait_until(PATIENCE, || passes(&orch).len() >= n + 2));
    let seen: Vec<(bool, u64)> = passes(&orch)
        .iter()
        .map(|p| {
            (
                p["adopting"].as_bool().unwrap(),
                p["adopted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(seen.iter().all(|(adopting, _)| *adopting), "{seen:?}");
    assert_eq!(seen.iter().map(|(_, n)| n).sum::<u64>(), 1, "{seen:?}");
    assert_eq!(seen[0], (true, 0));
    let adopted = orch.events("claim_adopted");
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0]["claim_id"], claim.as_str());
    assert_eq!(adopted[0]["as"], "phase1");
    assert_eq!(stack.claim(&claim).len(), 14);
}

/// A live artefact event whose artefact another program claimed first (a
/// Phase-1 replica during a rolling update) is logged as a duplicate and
/// asks for a catch-up pass at once, which adopts the claim: with the
/// default 5-minute interval, the second pass comes from that request.
#[test]
fn a_claim_someone_else_made_met_live_is_adopted_by_the_pass_it_asks_for() {
    let mut stack = Stack::new("sett", "rolling", TEAM);
    let orch = stack.orchestrator(&[]);
    let passes = |o: &Orchestrator| o.events("reconcile_complete");
    assert!(wait_until(PATIENCE, || passes(&orch).len() == 1));
    let goal = Art::goal();
    let claim = stack.phase1_claim(&goal.id);
    stack.write(&goal);
    let duplicate = orch.wait_for_event("duplicate_artefact");
    assert_eq!(duplicate["existing_claim_id"], claim.as_str());
    assert!(wait_until(PATIENCE, || passes(&orch).len() == 2));
    let second = &passes(&orch)[1];
    assert_eq!(second["adopting"], true);
    assert_eq!(second["adopted"], 1);
    let adopted = orch.events("claim_adopted");
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0]["claim_id"], claim.as_str());
    assert_eq!(stack.claim(&claim).len(), 14);
}

/// A pass whose walk had reached its end when its session ended (its last
/// adopt call cut with the connection) is resumed as complete: it does not
/// walk the keyspace again and count every key twice (found by review). The
/// batch the lost call carried is adopted by the next pass, each claim once.
#[test]
fn a_pass_cut_after_its_walk_is_resumed_complete_not_walked_again() {
    const N: u64 = 20;
    let mut stack = Stack::new("sett", "walked", TEAM);
    // The pause below holds every write on the orchestrator's connection
    // (and what follows it there): no `bids_overdue` marking (a write every
    // 5 s), and the lock's refresh (every 10 s) just done when it starts.
    let orch = stack.orchestrator(&[("SETT_CATCHUP_INTERVAL", "1s"), ("SETT_BID_OVERDUE", "0")]);
    let passes = |o: &Orchestrator| o.events("reconcile_complete");
    assert!(wait_until(PATIENCE, || passes(&orch).len() == 1));
    let lock = stack.key("lock");
    let mut lock_value =
        || -> String { redis::cmd("GET").arg(&lock).query(&mut stack.conn).unwrap() };
    let refreshed = lock_value();
    assert!(wait_until(PATIENCE, || lock_value() != refreshed));
    let n = passes(&orch).len();
    assert!(wait_until(PATIENCE, || passes(&orch).len() > n));
    let runs = orch.metric("reconcile_runs_total");
    let mut claims = Vec::new();
    for _ in 0..N {
        let goal = Art::goal();
        stack.store(&goal);
        claims.push(stack.phase1_claim(&goal.id));
    }
    // From here the next pass's reads (SCAN, GET) are answered and its
    // adopt call (a write) waits: its walk ends with that call in flight.
    redis::cmd("CLIENT")
        .arg(&["PAUSE", "20000", "WRITE"])
        .query::<()>(&mut stack.conn)
        .unwrap();
    assert!(wait_until(PATIENCE, || orch.metric("reconcile_runs_total") == runs + 1));
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query(&mut stack.conn)
        .unwrap();
    assert!(killed >= 1);
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query::<()>(&mut stack.conn)
        .unwrap();
    orch.wait_for_event("redis_reconnected");
    let resumed = orch.wait_for_event("reconcile_resumed");
    assert_eq!(resumed["scanned"], N, "{resumed}");
    let resumed_pass = |o: &Orchestrator| passes(o).into_iter().find(|p| p["resumed"] == 1);
    assert!(wait_until(PATIENCE, || resumed_pass(&orch).is_some()));
    let done = resumed_pass(&orch).unwrap();
    assert_eq!(done["scanned"], N, "{done}");
    assert_eq!(done["interrupted"], false, "{done}");
    // The next pass adopts the lost call's claims: every claim once.
    assert!(wait_until(PATIENCE, || orch.events("claim_adopted").len()
        >= N as usize));
    let n = passes(&orch).len();
    assert!(wait_until(PATIENCE, || passes(&orch).len() > n));
    let mut adopted: Vec<String> = orch
        .events("claim_adopted")
        .iter()
        .map(|l| l["claim_id"].as_str().unwrap().to_string())
        .collect();
    adopted.sort();
    claims.sort();
    assert_eq!(adopted, claims);
    for claim in &claims {
        assert_eq!(stack.claim(claim).len(), 14, "{claim}");
    }
    assert_eq!(orch.metric("claims_in_flight"), 0);
}

/// The walk over the claims collecting bids waits for the session's first
/// catch-up pass (here adopting 20,000 Phase-1 claims): a claim whose bids
/// all came while no orchestrator ran is granted once, after the pass ends,
/// with no `bids_overdue` warning while it waited for the walk (the
/// adopted claims, with no bid, get theirs).
#[test]
fn the_bids_walk_waits_for_the_first_pass_to_end() {
    let mut stack = Stack::new("sett", "held", TEAM);
    let claim = stack.claim_left_bidding();
    stack.bid_unannounced(&claim, "Reviewer", "ignore");
    stack.bid_unannounced(&claim, "Coder", "exclusive");
    assert_eq!(fill_backlog(&stack.redis, "held", 0xfeed, 20_000, 1), 0);

    let next = stack.orchestrator(&[("SETT_BID_OVERDUE", "1ms")]);
    let granted = next.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim.as_str());
    assert_eq!(granted["agents"], json!(["Coder"]));
    let done = next.wait_for_event("reconcile_complete");
    assert_eq!(done["adopted"], 20_000);
    assert!(line_index(&next, "reconcile_complete") < line_index(&next, "claim_granted"));
    let overdue = next.wait_for_event("bids_overdue");
    assert_eq!(
        overdue["missing"],
        json!(["Coder", "Reviewer"]),
        "{overdue}"
    );
    assert!(lines_for(&next, "bids_overdue", &claim).is_empty());
    assert_eq!(next.events("claim_granted").len(), 1);
}
