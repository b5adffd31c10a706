//! `bids::decide_batch` on a batch of bid events, without a bid timeout:
//! the reads it sends (once per claim of the batch; none for a claim this
//! process decided), the one decision it makes per claim, and a bid to
//! work on a claim whose script is on its way (another batch's), which is
//! still looked up: it may be late.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Effect, Phase};
use sett_orchestrator::ids::ClaimId;
use sett_orchestrator::lifecycle::{bids, Lifecycle};
use support::command_calls;
use support::lifecycle::*;

const TEAM: &[(&str, &str)] = &[("Reviewer", "reviewer"), ("Worker", "worker")];

fn lifecycle(lab: &Lab) -> Lifecycle {
    Lifecycle::new(&lab.keys, registry(TEAM, 3), None, None)
}

/// `decide_batch` on `events` (claim, bid to work): each event's effects.
fn batch(lab: &mut Lab, lc: &Lifecycle, events: &[(&str, bool)]) -> Vec<Vec<Effect>> {
    let events: Vec<(ClaimId, bool)> = events.iter().map(|(c, w)| (cid(c), *w)).collect();
    smol::block_on(bids::decide_batch(&mut lab.conn, lc, &events))
        .expect("the pipeline")
        .into_iter()
        .map(|answer| answer.expect("a decision"))
        .collect()
}

/// Calls of `command` since the last `CONFIG RESETSTAT` (inside scripts too).
fn calls(lab: &mut Lab, command: &str) -> u64 {
    command_calls(&mut lab.sync)
        .get(command)
        .copied()
        .unwrap_or(0)
}

fn reset_stats(lab: &mut Lab) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut lab.sync)
        .unwrap();
}

#[test]
fn a_batch_reads_each_claim_once_and_decides_it_once() {
    let mut lab = Lab::new(TEAM, 3);
    let lc = lifecycle(&lab);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Reviewer", "ignore");
    lab.bid(&claim, "Worker", "exclusive");
    lab.published();
    reset_stats(&mut lab);
    let answers = batch(
        &mut lab,
        &lc,
        &[(&claim, false), (&claim, true), (&claim, false)],
    );
    let not_bidding = vec![Effect::NotBidding { claim: cid(&claim) }];
    assert_eq!(
        answers,
        vec![
            vec![granted(&claim, "exclusive", &["Worker"])],
            not_bidding.clone(),
            not_bidding.clone(),
        ]
    );
    // One HLEN and one look-up (the bid to work's) for the three events;
    // the script's own ZRANK; one script call.
    assert_eq!(calls(&mut lab, "hlen"), 1);
    assert_eq!(calls(&mut lab, "zrank"), 2);
    assert_eq!(calls(&mut lab, "fcall") + calls(&mut lab, "evalsha"), 1);

    // Decided here: later events of the claim need no command at all.
    reset_stats(&mut lab);
    let answers = batch(&mut lab, &lc, &[(&claim, true), (&claim, false)]);
    assert_eq!(answers, vec![not_bidding.clone(), not_bidding]);
    assert_eq!(calls(&mut lab, "hlen") + calls(&mut lab, "zrank"), 0);
    assert_eq!(calls(&mut lab, "fcall") + calls(&mut lab, "evalsha"), 0);
    assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");
}

/// A claim decided dormant by an earlier orchestrator's bid timeout,
/// without Worker, whose exclusive bid comes after; marked as having its
/// script on its way (another batch's).
fn late_on_its_way(lab: &mut Lab, lc: &Lifecycle) -> String {
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Reviewer", "ignore");
    let timed_out = lab.time_out(&claim);
    assert!(timed_out.contains(&Effect::Dormant { claim: cid(&claim) }));
    lab.bid(&claim, "Worker", "exclusive");
    lab.published();
    lc.deciding.lock().unwrap().insert(cid(&claim));
    claim
}

#[test]
fn a_bid_to_work_on_a_claim_on_its_way_is_still_looked_up_and_may_be_late() {
    // The bid to work in the batch's first event of the claim, or in a
    // later one: either way the claim is looked up (no HLEN), found no
    // longer collecting bids, and the late bid honoured, once.
    for to_work in [vec![true], vec![false, true]] {
        let mut lab = Lab::new(TEAM, 3);
        let lc = lifecycle(&lab);
        let claim = late_on_its_way(&mut lab, &lc);
        reset_stats(&mut lab);
        let events: Vec<(&str, bool)> = to_work.iter().map(|&w| (claim.as_str(), w)).collect();
        let answers = batch(&mut lab, &lc, &events);
        assert_eq!(calls(&mut lab, "hlen"), 0);
        let mut expected = vec![vec![
            honoured(&claim, "Worker", "exclusive", Phase::Exclusive),
            granted(&claim, "exclusive", &["Worker"]),
        ]];
        // (A later event of the claim: not decided again.)
        expected.resize(
            to_work.len(),
            vec![Effect::NotBidding { claim: cid(&claim) }],
        );
        assert_eq!(answers, expected, "{to_work:?}");
        assert_eq!(lab.claim(&claim)["status"], "pending_exclusive");
        assert_eq!(lab.claim(&claim)["granted_exclusive_agent"], "Worker");
        assert_eq!(
            lab.published(),
            grants(&claim, "exclusive", &["Worker"], &[])
        );
    }
}

#[test]
fn a_bid_to_ignore_on_a_claim_on_its_way_sends_nothing() {
    let mut lab = Lab::new(TEAM, 3);
    let lc = lifecycle(&lab);
    let claim = lab.new_claim(&Art::goal());
    lab.published();
    lc.deciding.lock().unwrap().insert(cid(&claim));
    reset_stats(&mut lab);
    let answers = batch(&mut lab, &lc, &[(&claim, false)]);
    assert_eq!(
        answers,
        vec![vec![Effect::NotBidding { claim: cid(&claim) }]]
    );
    assert_eq!(calls(&mut lab, "hlen") + calls(&mut lab, "zrank"), 0);
    assert_eq!(lab.claim(&claim)["status"], "pending_review");
}
