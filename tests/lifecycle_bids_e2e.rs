//! Bidding through the running binary: the bid timeout, unknown bidders and
//! invalid bids, a bid whose event never came, and many claims collecting
//! bids at once while new artefacts keep being claimed.

use sett_test_support as support;

use std::collections::BTreeSet;
use std::time::Duration;

use sett_sim::{Spec, Work};
use support::e2e::*;
use support::lifecycle::*;
use support::verify::fill_backlog;
use support::*;

/// An agent that bids `bid` on the user's artefacts and never delivers.
fn idle(name: &str, bid: &'static str) -> Spec {
    Spec::new(name, bid, Work::new("Standard", "Never", "")).with_work(|_| None)
}

/// An agent that never bids (the Go agent when it cannot read the target).
fn silent(name: &str) -> Spec {
    idle(name, "ignore").with_bid(|_| None)
}

/// The stored claim once granted `exclusive` to `winner` with `all_bids`.
fn assert_exclusive(
    stack: &mut Stack,
    claim: &str,
    artefact: &str,
    winner: &str,
    all_bids: &[(&str, &str)],
) {
    let stored = stack.claim(claim);
    let at = start_time(&stored["phase_state"], 0, stack.server_ms());
    let want = with(
        new_claim_fields(claim, artefact),
        &[
            ("status", "pending_exclusive"),
            ("granted_exclusive_agent", winner),
            (
                "phase_state",
                &phase_state("exclusive", &[winner], &[], all_bids, at),
            ),
        ],
    );
    assert_eq!(stored, want);
}

#[test]
fn a_missing_bid_times_out_as_ignore() {
    let mut stack = Stack::new(
        "sett",
        "bt",
        "version: '1.0'\nagents:\n  Coder: {}\n  Mute: {}\n",
    );
    let coder = stack.agent(idle("Coder", "exclusive"));
    let mute = stack.agent(silent("Mute"));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "1s")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    let line = orch.wait_for_event("claim_granted");
    assert_eq!(line["claim_id"], claim.as_str());
    assert_eq!(line["agents"], serde_json::json!(["Coder"]));
    assert_exclusive(
        &mut stack,
        &claim,
        &goal.id,
        "Coder",
        &[("Coder", "exclusive"), ("Mute", "ignore")],
    );
    let timeouts = orch.events("bid_timeout");
    assert_eq!(timeouts.len(), 1, "{timeouts:?}");
    assert_eq!(timeouts[0]["claim_id"], claim.as_str());
    assert_eq!(timeouts[0]["agents"], serde_json::json!(["Mute"]));
    assert_eq!(timeouts[0]["level"], "warn");
    assert_eq!(metric(&orch, "bid_timeouts_total"), 1);
    assert!(wait_until(PATIENCE, || coder.grants_for(&claim) == 1));
    assert_eq!(mute.seen().bids, vec![]);
    assert_eq!(mute.grants_for(&claim), 0);
    // Decided by the sweep, not by a bid event: no bid-to-grant sample.
    assert_eq!(metric(&orch, "bid_to_grant_seconds_count"), 0);
    assert_eq!(metric(&orch, "bids_received_total"), 1);
}

#[test]
fn unknown_bidders_and_invalid_bids_are_ignored_and_logged() {
    let mut stack = Stack::new(
        "sett",
        "ub",
        "version: '1.0'\nagents:\n  Alpha: {}\n  Beta: {}\n",
    );
    let (alpha_gate, beta_gate) = (Gate::new(), Gate::new());
    let alpha = stack.agent(bids_after(idle("Alpha", "exclusive"), &alpha_gate));
    let beta = stack.agent(bids_after(idle("Beta", "maybe"), &beta_gate));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "0")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);

    // A name not in the registry bids, then Alpha: two fields, but Beta is
    // still missing (Go would count two and grant).
    stack.bid(&claim, "Ghost", "claim");
    alpha_gate.open();
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "bids_received_total"
    ) == 2));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stack.claim(&claim), new_claim_fields(&claim, &goal.id));
    assert_eq!(
        orch.events("claim_granted"),
        Vec::<serde_json::Value>::new()
    );

    // Beta's `maybe` completes the bidding; it counts as ignore.
    beta_gate.open();
    let line = orch.wait_for_event("claim_granted");
    assert_eq!(line["agents"], serde_json::json!(["Alpha"]));
    assert_exclusive(
        &mut stack,
        &claim,
        &goal.id,
        "Alpha",
        &[("Alpha", "exclusive"), ("Beta", "ignore")],
    );
    let invalid = orch.events("invalid_bid");
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0]["claim_id"], claim.as_str());
    assert_eq!(invalid[0]["agent_name"], "Beta");
    assert_eq!(invalid[0]["bid"], "maybe");
    let unknown = orch.events("unknown_bidder");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0]["claim_id"], claim.as_str());
    assert_eq!(unknown[0]["agent_name"], "Ghost");
    assert!(wait_until(PATIENCE, || alpha.grants_for(&claim) == 1));
    assert_eq!(beta.grants_for(&claim), 0);
    assert_eq!(metric(&orch, "bid_timeouts_total"), 0);
    assert_eq!(metric(&orch, "bid_to_grant_seconds_count"), 1);
}

#[test]
fn a_bid_without_its_event_is_granted_by_the_sweep() {
    let mut stack = Stack::new("sett", "nb", "version: '1.0'\nagents:\n  Coder: {}\n");
    let coder = stack.agent(silent("Coder"));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "0")]);
    let goal = Art::goal();
    stack.write(&goal);
    let claim = stack.claim_of(&goal.id);
    orch.wait_for_event("claim_created");
    stack.bid_unannounced(&claim, "Coder", "exclusive");
    // The full walk of the claims collecting bids runs every 5 sweeps (~5 s).
    let line = orch.wait_for_event("claim_granted");
    assert_eq!(line["claim_id"], claim.as_str());
    assert_exclusive(
        &mut stack,
        &claim,
        &goal.id,
        "Coder",
        &[("Coder", "exclusive")],
    );
    assert!(wait_until(PATIENCE, || coder.grants_for(&claim) == 1));
    assert_eq!(metric(&orch, "bids_received_total"), 0);
    assert_eq!(metric(&orch, "bid_to_grant_seconds_count"), 0);
    assert_eq!(metric(&orch, "bid_timeouts_total"), 0);
}

/// With catch-up passes off there is no first pass for a session's first
/// walk to wait for: a claim whose bid came while no orchestrator ran is
/// granted by that walk at once, and no pass runs.
#[test]
fn with_passes_off_the_first_walk_does_not_wait() {
    let mut stack = Stack::new("sett", "np", "version: '1.0'\nagents:\n  Coder: {}\n");
    let claim = stack.claim_left_bidding();
    stack.bid_unannounced(&claim, "Coder", "exclusive");
    let orch = stack.orchestrator(&[("SETT_RECONCILE", "off")]);
    let line = orch.wait_for_event("claim_granted");
    assert_eq!(line["claim_id"], claim.as_str());
    // Not held back for WALK_HOLD (30 s) waiting for a pass that never comes.
    let ms = |l: &serde_json::Value| {
        let t = l["ts"].as_str().unwrap();
        let (h, m, s): (u64, u64, f64) = (
            t[11..13].parse().unwrap(),
            t[14..16].parse().unwrap(),
            t[17..23].parse().unwrap(),
        );
        (h * 3_600_000 + m * 60_000) as f64 + s * 1000.0
    };
    let started = orch.wait_for_event("orchestrator_startup");
    // (Across midnight the clock of the day starts again.)
    let waited = (ms(&line) - ms(&started)).rem_euclid(86_400_000.0);
    assert!((0.0..15_000.0).contains(&waited), "{waited} ms");
    assert_eq!(orch.events("reconcile_started").len(), 0);
}

/// A session lost while its first walk waited for its first pass (the
/// pass held up by `CLIENT PAUSE WRITE`) owes a walk: the next session's
/// first walk does not wait for the resumed pass, and grants a claim whose
/// bids came while no orchestrator ran before that pass ends.
#[test]
fn a_walk_held_by_a_lost_session_does_not_wait_again() {
    let team = "version: '1.0'\nagents:\n  Coder: {}\n";
    let mut stack = Stack::new("sett", "owed", team);
    let claim = stack.claim_left_bidding();
    stack.bid_unannounced(&claim, "Coder", "exclusive");
    assert_eq!(fill_backlog(&stack.redis, "owed", 0xbeef, 20_000, 1), 0);

    let orch = stack.orchestrator(&[]);
    orch.wait_for_event("reconcile_started");
    let mut redis = stack.redis.conn();
    let mut client = |args: &[&str]| -> redis::Value {
        redis::cmd("CLIENT").arg(args).query(&mut redis).unwrap()
    };
    client(&["PAUSE", "20000", "WRITE"]);
    // Held up at its first adoption, and the walk waiting for it.
    assert!(orch.events("reconcile_complete").is_empty());
    assert!(orch.events("claim_granted").is_empty());
    client(&["KILL", "TYPE", "normal", "SKIPME", "yes"]);
    client(&["UNPAUSE"]);
    orch.wait_for_event("reconcile_resumed");
    let granted = orch.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim.as_str());
    let done = orch.wait_for_event("reconcile_complete");
    assert_eq!(done["resumed"], 1, "{done}");
    assert!(line_index(&orch, "claim_granted") < line_index(&orch, "reconcile_complete"));
    assert_eq!(orch.events("claim_granted").len(), 1);
}

const WAITING: usize = 50;
const MEANWHILE: usize = 20;

#[test]
fn fifty_claims_collect_bids_at_once_while_new_artefacts_are_claimed() {
    let mut stack = Stack::new(
        "sett",
        "many",
        "version: '1.0'\nagents:\n  Coder: {}\n  Other: {}\n",
    );
    let mut tap = stack.wiretap();
    let gate = Gate::new();
    let coder = stack.agent(bids_after(idle("Coder", "exclusive"), &gate));
    let other = stack.agent(bids_after(idle("Other", "ignore"), &gate));
    let orch = stack.orchestrator(&[("SETT_BID_TIMEOUT", "0")]);
    let first: Vec<Art> = (0..WAITING).map(|_| Art::goal()).collect();
    for art in &first {
        stack.write(art);
    }
    orch.wait_for_events("claim_created", WAITING);
    // While all of them wait for bids, new artefacts still get their claims.
    let later: Vec<Art> = (0..MEANWHILE).map(|_| Art::goal()).collect();
    for art in &later {
        stack.write(art);
    }
    orch.wait_for_events("claim_created", WAITING + MEANWHILE);
    let all: Vec<&Art> = first.iter().chain(&later).collect();
    let claims: Vec<String> = all.iter().map(|a| stack.claim_of(&a.id)).collect();
    for (claim, art) in claims.iter().zip(&all) {
        assert_eq!(stack.claim(claim), new_claim_fields(claim, &art.id));
    }
    let mut want: Vec<Msg> = claims
        .iter()
        .zip(&all)
        .map(|(c, a)| claim_event(c, &a.id))
        .collect();
    want.sort_by(|a, b| a.payload.cmp(&b.payload));
    let mut announced = tap.orchestrator_since_last();
    announced.sort_by(|a, b| a.payload.cmp(&b.payload));
    assert_eq!(announced, want);
    let total = (WAITING + MEANWHILE) as u64;
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "claims_awaiting_bids"
    ) == total));
    assert_eq!(
        orch.events("claim_granted"),
        Vec::<serde_json::Value>::new()
    );

    // Bids released: every claim granted once, to Coder.
    gate.open();
    orch.wait_for_events("claim_granted", WAITING + MEANWHILE);
    assert!(wait_until(PATIENCE, || claims
        .iter()
        .all(|c| coder.grants_for(c) == 1)));
    let granted: BTreeSet<String> = orch
        .events("claim_granted")
        .iter()
        .map(|l| l["claim_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(granted, claims.iter().cloned().collect());
    assert_eq!(orch.events("claim_granted").len(), WAITING + MEANWHILE);
    std::thread::sleep(Duration::from_secs(2));
    let seen = coder.seen().grants;
    assert_eq!(seen.len(), WAITING + MEANWHILE);
    assert!(seen.values().all(|g| g == &["exclusive"]), "{seen:?}");
    assert!(other.seen().grants.is_empty());
    let published = tap.orchestrator_since_last();
    let mut want: Vec<Msg> = claims
        .iter()
        .flat_map(|c| grants(c, "exclusive", &["Coder"], &[]))
        .collect();
    want.sort_by(|a, b| (&a.channel, &a.payload).cmp(&(&b.channel, &b.payload)));
    let mut got = published;
    got.sort_by(|a, b| (&a.channel, &a.payload).cmp(&(&b.channel, &b.payload)));
    assert_eq!(got, want);
    assert!(wait_until(PATIENCE, || metric(
        &orch,
        "claims_awaiting_bids"
    ) == 0));
    assert_eq!(metric(&orch, "grants_total{phase=\"exclusive\"}"), total);
}
