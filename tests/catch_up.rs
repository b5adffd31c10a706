//! Catch-up (issue 5): artefacts that never reached us on `artefact_events`
//! are claimed by the scan that follows every subscribe, exactly once;
//! Terminal ones and junk keys are not; `SETT_RECONCILE=off` turns it off; and
//! a long scan holds up neither probes nor live events.

use sett_test_support as support;

use std::time::Instant;

use support::verify::{all_claim_events, assert_exactly_once, fill_backlog, stop};
use support::*;

#[test]
fn artefacts_written_while_no_orchestrator_runs_are_claimed_at_start() {
    let redis = RedisServer::start();
    let inst = "cu-offline";
    let mut p = Producer::new(&redis, inst);
    // Written with no orchestrator running: no event will ever announce them.
    let types = ["Standard", "Review", "Question", "Answer", "Failure"];
    let claimable: Vec<String> = (0..150)
        .map(|i| {
            let id = uuid();
            p.store(&id, types[i % types.len()], "payload");
            id
        })
        .collect();
    let terminal: Vec<String> = (0..10)
        .map(|_| {
            let id = uuid();
            p.store(&id, "Terminal", "done");
            id
        })
        .collect();
    // Keys under the pattern that are not artefact:<id in an accepted form>,
    // each a well-formed artefact hash otherwise: none may be claimed or counted.
    let extra = format!("{}:extra", uuid());
    let padded = format!(" {}", uuid());
    for junk in [
        "not-a-uuid",
        extra.as_str(),
        padded.as_str(),
        "",
        "*",
        "(00000000-0000-4000-8000-000000000000)",
    ] {
        p.store(junk, "Standard", "junk");
    }
    // A canonical id whose key is not a hash: scanned, judged invalid, unclaimed.
    let wrong_type = uuid();
    redis::cmd("SET")
        .arg(p.artefact_key(&wrong_type))
        .arg("x")
        .query::<()>(&mut p.conn)
        .unwrap();
    // Another instance's artefact is not ours to claim.
    let mut other = Producer::new(&redis, "cu-other");
    let foreign = uuid();
    other.store(&foreign, "Standard", "theirs");

    let listener = ClaimListener::start(&redis, inst);
    let mut orch = Orchestrator::start(&redis, inst);
    let done = orch.wait_for_event("reconcile_complete");
    let started = orch.events("reconcile_started");
    assert_eq!(started.len(), 1);
    assert_eq!(done["scanned"], 150 + 10 + 1, "{done}");
    assert_eq!(done["claimed"], 150, "{done}");
    assert!(done["duration_ms"].as_u64().is_some(), "{done}");
    assert_eq!(orch.metric("reconcile_runs_total"), 1);
    assert_eq!(orch.metric("reconcile_scanned_total"), 161);
    assert_eq!(orch.metric("reconcile_claimed_total"), 150);
    assert_eq!(orch.metric("claims_created_total"), 150);
    let logged = orch.events("claim_created");
    assert_eq!(logged.len(), 150);
    assert!(
        logged.iter().all(|l| l["source"] == "reconcile"),
        "{logged:?}"
    );
    stop(&mut orch);

    let events = all_claim_events(&redis, inst, &listener);
    let mut unclaimable = terminal.clone();
    unclaimable.push(wrong_type);
    assert_exactly_once(&mut p, &claimable, &unclaimable, Some(&events));
    assert_eq!(other.claim_of(&foreign), None);
    assert_eq!(other.claims(), 0);
}

#[test]
fn a_second_start_claims_nothing_more() {
    let redis = RedisServer::start();
    let inst = "cu-again";
    let mut p = Producer::new(&redis, inst);
    let ids: Vec<String> = (0..40)
        .map(|_| {
            let id = uuid();
            p.store(&id, "Standard", "x");
            id
        })
        .collect();
    let listener = ClaimListener::start(&redis, inst);
    for run in 0..2 {
        let mut orch = Orchestrator::start(&redis, inst);
        let done = orch.wait_for_event("reconcile_complete");
        assert_eq!(done["scanned"], 40, "run {run}: {done}");
        assert_eq!(
            done["claimed"],
            if run == 0 { 40 } else { 0 },
            "run {run}: {done}"
        );
        stop(&mut orch);
    }
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
}

#[test]
fn reconcile_off_leaves_the_backlog_alone() {
    let redis = RedisServer::start();
    let inst = "cu-off";
    let mut p = Producer::new(&redis, inst);
    let backlog: Vec<String> = (0..30)
        .map(|_| {
            let id = uuid();
            p.store(&id, "Standard", "x");
            id
        })
        .collect();
    let listener = ClaimListener::start(&redis, inst);
    let mut orch = Orchestrator::start_env(&redis, inst, &[("SETT_RECONCILE", "off")]);
    assert_eq!(
        orch.wait_for_event("orchestrator_startup")["reconcile"],
        false
    );
    // A live event is still claimed, so the process is up and subscribed...
    let live = p.write("Standard", "live");
    listener.wait_for(1);
    // ...and by then a catch-up would have started (it begins at subscribe).
    assert_eq!(orch.events("reconcile_started").len(), 0);
    assert_eq!(orch.metric("reconcile_runs_total"), 0);
    stop(&mut orch);
    let events = all_claim_events(&redis, inst, &listener);
    assert_exactly_once(&mut p, std::slice::from_ref(&live), &backlog, Some(&events));

    // Turned back on, the next start claims the backlog.
    let mut orch = Orchestrator::start(&redis, inst);
    assert_eq!(orch.wait_for_event("reconcile_complete")["claimed"], 30);
    stop(&mut orch);
    let events = all_claim_events(&redis, inst, &listener);
    let mut all = backlog;
    all.push(live);
    assert_exactly_once(&mut p, &all, &[], Some(&events));
}

/// A scan over a large backlog runs beside the live path: while it is still
/// going, `/healthz` answers and a newly published artefact is claimed from
/// its event. The backlog is sized so the scan takes several seconds here;
/// the checks themselves take milliseconds.
#[test]
fn a_long_catch_up_holds_up_neither_probes_nor_live_events() {
    const BACKLOG: u64 = 40_000;
    let redis = RedisServer::start();
    let inst = "cu-busy";
    let unclaimed = fill_backlog(&redis, inst, 0xc0ffee, BACKLOG, 0);
    let mut p = Producer::new(&redis, inst);
    let mut orch = Orchestrator::start(&redis, inst);
    orch.wait_for_event("reconcile_started");
    let probe_started = Instant::now();
    let (status, body) = orch.get("/healthz");
    let probe_took = probe_started.elapsed();
    let live = p.write("Standard", "live while scanning");
    let claimed_live = wait_until(PATIENCE, || {
        orch.events("claim_created")
            .iter()
            .any(|l| l["artefact_id"] == live.as_str())
    });
    // Only meaningful while the scan is still running: checked right after.
    let scan_still_running = orch.events("reconcile_complete").is_empty();
    assert!(
        scan_still_running,
        "catch-up of {BACKLOG} finished before the checks; raise BACKLOG"
    );
    assert_eq!(
        (status, body.contains("\"healthy\"")),
        (200, true),
        "{body}"
    );
    // The issue's bound for /healthz is 1 s; this is far more than it needs.
    assert!(
        probe_took.as_millis() < 1000,
        "/healthz took {probe_took:?} during catch-up"
    );
    assert!(claimed_live);
    let line = orch
        .events("claim_created")
        .into_iter()
        .find(|l| l["artefact_id"] == live.as_str())
        .unwrap();
    assert_eq!(line["source"], "event", "{line}");

    let done = orch.wait_for_event("reconcile_complete");
    eprintln!("catch-up over the backlog: {done}");
    // The live artefact may or may not have been in the scan's view.
    let scanned = done["scanned"].as_u64().unwrap();
    assert!(scanned == BACKLOG || scanned == BACKLOG + 1, "{done}");
    assert_eq!(done["claimed"], unclaimed, "{done}");
    stop(&mut orch);
    assert_eq!(p.index_entries(), BACKLOG as usize + 1);
    assert_eq!(p.claims(), BACKLOG as usize + 1);
}

/// The exactly-once check every fault test relies on must itself fail on a
/// second claim, a missing index key, or an announcement missing or doubled.
#[test]
fn the_exactly_once_check_catches_what_it_should() {
    let redis = RedisServer::start();
    let inst = "cu-checker";
    let mut p = Producer::new(&redis, inst);
    let ids: Vec<String> = (0..3).map(|_| uuid()).collect();
    let mut events = Vec::new();
    let claim_hash = |claim: &str, artefact: &str| {
        let fields = phase1_claim_fields(claim, artefact);
        let mut cmd = redis::cmd("HSET");
        cmd.arg(format!("sett:{inst}:claim:{claim}")).arg(&fields);
        cmd
    };
    for id in &ids {
        p.store(id, "Standard", "x");
        let claim = uuid();
        claim_hash(&claim, id).query::<()>(&mut p.conn).unwrap();
        redis::cmd("SET")
            .arg(format!("sett:{inst}:claim_by_artefact:{id}"))
            .arg(&claim)
            .query::<()>(&mut p.conn)
            .unwrap();
        events.push(format!(r#"{{"id":"{claim}","artefact_id":"{id}"}}"#));
    }
    assert_exactly_once(&mut p, &ids, &[], Some(&events));
    let fails = |p: &mut Producer, ids: &[String], events: &[String]| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_exactly_once(p, ids, &[], Some(events))
        }))
        .is_err()
    };
    let doubled: Vec<String> = events.iter().chain(&events[..1]).cloned().collect();
    assert!(
        fails(&mut p, &ids, &doubled),
        "a doubled announcement passed"
    );
    assert!(
        fails(&mut p, &ids, &events[1..]),
        "a missing announcement passed"
    );
    assert!(
        fails(&mut p, &ids[1..], &events[1..]),
        "a claim nobody asked for passed"
    );
    // A second claim hash for the first artefact (as a check-then-set race would leave).
    claim_hash(&uuid(), &ids[0])
        .query::<()>(&mut p.conn)
        .unwrap();
    assert!(fails(&mut p, &ids, &events), "a second claim passed");
}
