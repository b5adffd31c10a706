//! The scripts against awkward but possible blackboards: an author who also
//! reviews, a hash written in two steps, a bids hash swollen with junk.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Effect, Phase};
use sett_orchestrator::lifecycle::scripts::Set;
use support::adoption::*;
use support::lifecycle::*;
use support::*;

/// Registry: Ann reviews; Writer writes and also reviews.
const AUTHOR_REVIEWS: &[(&str, &str)] = &[("Ann", "ann"), ("Writer", "writer")];

#[test]
fn the_authors_own_review_never_completes_its_feedback_claim() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let target = Art::work("writer", &support::uuid());
    let claim = lab.new_claim(&target);
    lab.bid_all(&claim, &[("Ann", "review"), ("Writer", "review")]);
    lab.published();
    lab.deliver(&Art::review("ann", &target.id, b"fix it"));
    let own = Art::review("writer", &target.id, b"{}");
    let out = lab.deliver(&own);
    assert!(
        out.effects
            .iter()
            .any(|e| matches!(e, Effect::FeedbackClaim { .. })),
        "{:?}",
        out.effects
    );
    let feedback = lab.index(&target.id).unwrap();
    assert_eq!(lab.claim(&feedback)["status"], "pending_assignment");
    // A replay of the author's review (a second replica, a catch-up pass) is
    // sourced from the target and made by the author's role: not a rework.
    lab.assert_noop("the author's review again", |lab| {
        lab.on_artefact(&own.id);
    });
    assert_eq!(lab.claim(&feedback)["status"], "pending_assignment");
    assert_eq!(lab.set_members(Set::Active), vec![feedback]);
}

#[test]
fn a_hash_without_its_sources_yet_is_judged_again_later() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let target = Art::work("writer", &support::uuid());
    let claim = lab.new_claim(&target);
    lab.bid_all(&claim, &[("Ann", "ignore"), ("Writer", "exclusive")]);
    lab.published();
    let work = Art::work("writer", &target.id);
    let key = format!("{P}artefact:{}", work.id);
    for (field, value) in [
        ("id", work.id.as_str()),
        ("structural_type", "Standard"),
        ("version", "1"),
    ] {
        lab.hset(&key, field, value);
    }
    assert_eq!(
        lab.on_artefact(&work.id),
        vec![Effect::Invalid {
            reason: "artefact hash has no source_artefacts".into()
        }]
    );
    assert_eq!(lab.index(&work.id), None, "not claimed half-written");
    lab.write(&work);
    let effects = lab.on_artefact(&work.id);
    assert!(effects.contains(&complete(&claim)), "{effects:?}");
}

#[test]
fn a_bids_hash_swollen_with_junk_is_read_for_the_registered_names_only() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let claim = lab.new_claim(&Art::goal());
    let bids = format!("{P}claim:{claim}:bids");
    for i in 0..100 {
        lab.hset(&bids, &format!("junk-{i}"), "exclusive");
    }
    lab.bid(&claim, "Ann", "ignore");
    lab.bid(&claim, "Writer", "exclusive");
    let effects = lab.on_bids(&claim, None);
    assert_eq!(
        effects,
        vec![
            Effect::UnknownBidders {
                claim: cid(&claim),
                count: 100
            },
            granted(&claim, "exclusive", &["Writer"]),
        ]
    );
}

/// A bids hash seen small just before the call and swollen by the time it
/// runs is judged as a swollen one is.
#[test]
fn a_bids_hash_swollen_after_it_was_seen_small_is_judged_the_same() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let claim = lab.new_claim(&Art::goal());
    let bids = format!("{P}claim:{claim}:bids");
    lab.bid(&claim, "Ann", "ignore");
    lab.bid(&claim, "Writer", "exclusive");
    for i in 0..100 {
        lab.hset(&bids, &format!("junk-{i}"), "exclusive");
    }
    let call = lab.ctx.bids_seen(&cid(&claim), None, Some(2));
    assert_eq!(
        lab.decide(call),
        vec![
            Effect::UnknownBidders {
                claim: cid(&claim),
                count: 100
            },
            granted(&claim, "exclusive", &["Writer"]),
        ]
    );
}

/// Junk keys where the orchestrator keeps its state (a bids hash that is a
/// string, an active claim whose hash is a string) stop neither the bid walk,
/// nor the catch-up, nor the instance lock.
#[test]
fn junk_in_the_orchestrators_own_keys_stops_nothing() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let (junk_bidding, junk_active) = (support::uuid(), support::uuid());
    let set = |cmd: &[&str]| {
        redis::cmd(cmd[0])
            .arg(&cmd[1..])
            .query::<()>(&mut redis.conn())
            .unwrap()
    };
    set(&["SET", &format!("sett:junk:claim:{junk_bidding}:bids"), "x"]);
    set(&["ZADD", "sett:junk:orchestrator:bidding", "1", &junk_bidding]);
    set(&["SET", &format!("sett:junk:claim:{junk_active}"), "x"]);
    set(&["ZADD", "sett:junk:orchestrator:active", "1", &junk_active]);
    let dir = support::TempDir::new();
    let file = dir.file("sett.yml", "version: '1.0'\nagents:\n  Coder: {}\n");
    let orch = Orchestrator::start_env(
        &redis,
        "junk",
        &[("SETT_CONFIG_FILE", &file), ("SETT_BID_TIMEOUT", "0")],
    );
    // The catch-up completes despite the junk active claim.
    let pass = orch.wait_for_event("reconcile_complete");
    assert_eq!(pass["interrupted"], false, "{pass}");
    let mut p = Producer::new(&redis, "junk");
    let goal = p.write("Standard", "build it");
    assert!(wait_until(PATIENCE, || p.claim_of(&goal).is_some()));
    let claim = p.claim_of(&goal).unwrap();
    // A bid without its event: only the walk over the bidding set finds it.
    set(&[
        "HSET",
        &format!("sett:junk:claim:{claim}:bids"),
        "Coder",
        "exclusive",
    ]);
    let granted = orch.wait_for_event("claim_granted");
    assert_eq!(granted["claim_id"], claim.as_str());
    let lock: Option<String> = redis::cmd("GET")
        .arg("sett:junk:lock")
        .query(&mut conn)
        .unwrap();
    assert!(lock.is_some_and(|l| l.starts_with("orchestrator:")));
    assert!(orch.events("redis_reconnected").is_empty());
}

/// A dormant set of another type: the bids decision that would hold a claim
/// there (every bid `ignore`) writes and publishes nothing and says which
/// key is wrong; once the set is a set again, the same decision is made.
#[test]
fn a_wrong_typed_dormant_set_stops_a_dormant_decision_before_it_writes() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let claim = lab.new_claim(&Art::goal());
    let key = format!("{P}orchestrator:dormant");
    lab.bid(&claim, "Ann", "ignore");
    lab.bid(&claim, "Writer", "ignore");
    redis::cmd("SET")
        .arg(&key)
        .arg("junk")
        .query::<()>(&mut lab.sync)
        .unwrap();
    let before = lab.snapshot();
    let conflict = Effect::KeyConflict {
        key: key.clone(),
        key_type: "string".into(),
    };
    assert_eq!(lab.on_bids(&claim, None), vec![conflict]);
    assert_eq!(lab.snapshot(), before);
    assert_eq!(lab.published(), vec![]);
    redis::cmd("DEL")
        .arg(&key)
        .query::<()>(&mut lab.sync)
        .unwrap();
    assert_eq!(
        lab.on_bids(&claim, None),
        vec![Effect::Dormant { claim: cid(&claim) }]
    );
    assert_eq!(lab.set_members(Set::Dormant), vec![claim.clone()]);
    assert_eq!(lab.published(), vec![]);
}

/// A dormant set of another type holds up only the adoptions that read it
/// (a claim with a `phase_state`: is it in one of our sets?); a Phase-1
/// claim in the same call is adopted. Once the set is deleted, the other
/// is adopted too.
#[test]
fn a_wrong_typed_dormant_set_holds_up_only_the_adoptions_that_read_it() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let (go_goal, phase1_goal) = (Art::goal(), Art::goal());
    let go = claimed_by_someone_else(&mut lab, &go_goal, true);
    let phase1 = claimed_by_someone_else(&mut lab, &phase1_goal, false);
    let dormant = format!("{P}orchestrator:dormant");
    lab.junk_string(&dormant);
    let go_before = lab.claim(&go);
    let ids = [indexed(&go_goal.id, &go), indexed(&phase1_goal.id, &phase1)];
    let conflict = Effect::KeyConflict {
        key: dormant.clone(),
        key_type: "string".into(),
    };
    assert_eq!(
        adopt(&mut lab, &ids),
        vec![conflict, adopted(&phase1, "phase1")]
    );
    assert_eq!(lab.claim(&go), go_before, "left as it was");
    assert_eq!(lab.set_members(Set::Bidding), vec![phase1.clone()]);
    redis::cmd("DEL")
        .arg(&dormant)
        .query::<()>(&mut lab.sync)
        .unwrap();
    assert_eq!(adopt(&mut lab, &ids), vec![adopted(&go, "bidding")]);
}

/// A dormant set of another type holds up only the late bids on a claim
/// that may be in it; a late bid joining a claim's review phase is
/// honoured meanwhile. Once the set is repaired, the held-up one is too.
#[test]
fn a_wrong_typed_dormant_set_holds_up_only_late_bids_on_dormant_claims() {
    let mut lab = Lab::new(AUTHOR_REVIEWS, 3);
    let reviewed = lab.new_claim(&Art::goal());
    lab.bid(&reviewed, "Ann", "review");
    assert_eq!(
        lab.time_out(&reviewed)[1],
        granted(&reviewed, "review", &["Ann"])
    );
    lab.published();
    let quiet = lab.new_claim(&Art::goal());
    lab.time_out(&quiet);
    assert_eq!(lab.set_members(Set::Dormant), vec![quiet.clone()]);
    lab.published();
    let dormant = format!("{P}orchestrator:dormant");
    lab.junk_string(&dormant);
    lab.bid(&reviewed, "Writer", "review");
    lab.bid(&quiet, "Ann", "review");
    let quiet_before = lab.claim(&quiet);
    assert_eq!(
        lab.on_late_bids(&[&reviewed, &quiet]),
        vec![
            honoured(&reviewed, "Writer", "review", Phase::Review),
            Effect::KeyConflict {
                key: dormant.clone(),
                key_type: "string".into(),
            },
        ]
    );
    assert_eq!(lab.claim(&quiet), quiet_before, "left as it was");
    assert_eq!(
        lab.published(),
        grants(&reviewed, "review", &["Writer"], &[])
    );
    // Repaired: the set back with the claim in it.
    redis::cmd("DEL")
        .arg(&dormant)
        .query::<()>(&mut lab.sync)
        .unwrap();
    redis::cmd("ZADD")
        .arg(&dormant)
        .arg(1)
        .arg(&quiet)
        .query::<()>(&mut lab.sync)
        .unwrap();
    lab.published();
    assert_eq!(
        lab.on_late_bids(&[&quiet]),
        vec![
            honoured(&quiet, "Ann", "review", Phase::Review),
            granted(&quiet, "review", &["Ann"]),
        ]
    );
}
