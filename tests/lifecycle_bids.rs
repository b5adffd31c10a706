//! The bids decision: when bidding is complete, the snapshot, the bid
//! timeout, the initial phase and its grants, the exclusive winner, dormant
//! claims, and exactly-once grants under replays and racing replicas.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use support::lifecycle::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];

fn waiting(claim: &str, missing: u64) -> Vec<Effect> {
    vec![Effect::Waiting {
        claim: cid(claim),
        missing,
    }]
}

/// Every registered name must bid: an unknown name does not stand in for a
/// missing one, a value outside the four counts as `ignore`, and the snapshot
/// holds exactly the registered names.
#[test]
fn bidding_completes_when_every_registered_name_has_bid() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    assert_eq!(lab.on_bids(&claim, None), waiting(&claim, 3));
    assert_eq!(
        lab.bid_and_decide(&claim, "Gamma", "claim"),
        waiting(&claim, 2)
    );
    assert_eq!(
        lab.bid_and_decide(&claim, "Stranger", "review"),
        waiting(&claim, 2)
    );
    assert_eq!(
        lab.bid_and_decide(&claim, "alpha", "review"),
        waiting(&claim, 2)
    );
    assert_eq!(
        lab.bid_and_decide(&claim, "Alpha", "maybe"),
        waiting(&claim, 1)
    );
    assert_eq!(lab.published(), vec![]);
    assert_eq!(lab.claim(&claim), new_claim_fields(&claim, &goal.id));

    let effects = lab.bid_and_decide(&claim, "Beta", "claim");
    assert_eq!(
        effects,
        vec![
            Effect::InvalidBid {
                claim: cid(&claim),
                agent: "Alpha".into(),
                value: "maybe".into()
            },
            Effect::UnknownBidder {
                claim: cid(&claim),
                agent: "Stranger".into()
            },
            Effect::UnknownBidder {
                claim: cid(&claim),
                agent: "alpha".into()
            },
            granted(&claim, "parallel", &["Beta", "Gamma"]),
        ]
    );
    assert_eq!(
        lab.published(),
        grants(&claim, "claim", &["Beta", "Gamma"], &[])
    );
    let ms = lab.phase_start(&claim);
    let all_bids = [("Alpha", "ignore"), ("Beta", "claim"), ("Gamma", "claim")];
    assert_eq!(
        lab.claim(&claim),
        with(
            new_claim_fields(&claim, &goal.id),
            &[
                ("status", "pending_parallel"),
                ("granted_parallel_agents", r#"["Beta","Gamma"]"#),
                (
                    "phase_state",
                    &phase_state("parallel", &["Beta", "Gamma"], &[], &all_bids, ms)
                ),
            ]
        )
    );
    assert_eq!(lab.set_members(Set::Bidding), Vec::<String>::new());
    assert_eq!(lab.set_members(Set::Active), vec![claim.clone()]);

    // The snapshot decides: later bids, changed bids and replays do nothing.
    lab.assert_noop("bids after the grant", |lab| {
        let not_bidding = vec![Effect::NotBidding { claim: cid(&claim) }];
        assert_eq!(lab.on_bids(&claim, None), not_bidding);
        assert_eq!(
            lab.on_bids(&claim, Some(Duration::from_millis(1))),
            not_bidding
        );
    });
    lab.bid(&claim, "Alpha", "review");
    lab.assert_noop("a changed bid", |lab| {
        lab.on_bids(&claim, None);
    });
}

/// Two replicas run the bids decision for the same last bid at once: one
/// grant, published once.
#[test]
fn racing_bids_decisions_grant_once() {
    let mut lab = Lab::new(TEAM, 3);
    let claim = lab.new_claim(&Art::goal());
    lab.bid(&claim, "Alpha", "exclusive");
    lab.bid(&claim, "Beta", "exclusive");
    lab.bid(&claim, "Gamma", "ignore");
    let mut replica = Lab::connect(&lab.redis);
    let calls = [
        lab.ctx.bids(&cid(&claim), None),
        lab.ctx.bids(&cid(&claim), None),
    ];
    let mut replies = lab.run_on(Some(&mut replica), &calls);
    let calls = [lab.ctx.bids(&cid(&claim), None)];
    replies.extend(lab.run_on(None, &calls));
    assert_eq!(
        effects(&replies[0]),
        vec![granted(&claim, "exclusive", &["Alpha"])]
    );
    for reply in &replies[1..] {
        assert_eq!(
            effects(reply),
            vec![Effect::NotBidding { claim: cid(&claim) }]
        );
    }
    assert_eq!(
        lab.published(),
        grants(&claim, "exclusive", &["Alpha"], &[])
    );
}

#[test]
fn bid_timeout_counts_missing_agents_as_ignore() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    let limit = Some(Duration::from_millis(300));
    lab.bid(&claim, "Beta", "exclusive");
    let hour = Some(Duration::from_secs(3600));
    assert_eq!(lab.on_bids(&claim, hour), waiting(&claim, 2));
    std::thread::sleep(Duration::from_millis(400));
    // No timeout (0): waits for ever, as Go.
    assert_eq!(lab.on_bids(&claim, None), waiting(&claim, 2));
    let effects = lab.on_bids(&claim, limit);
    assert_eq!(
        effects,
        vec![
            Effect::BidTimeout {
                claim: cid(&claim),
                agents: vec!["Alpha".into(), "Gamma".into()]
            },
            granted(&claim, "exclusive", &["Beta"]),
        ]
    );
    assert_eq!(lab.published(), grants(&claim, "exclusive", &["Beta"], &[]));
    let ms = lab.phase_start(&claim);
    let all_bids = [
        ("Alpha", "ignore"),
        ("Beta", "exclusive"),
        ("Gamma", "ignore"),
    ];
    assert_eq!(
        lab.claim(&claim),
        with(
            new_claim_fields(&claim, &goal.id),
            &[
                ("status", "pending_exclusive"),
                ("granted_exclusive_agent", "Beta"),
                (
                    "phase_state",
                    &phase_state("exclusive", &["Beta"], &[], &all_bids, ms)
                ),
            ]
        )
    );
    lab.assert_noop("the timeout decision again", |lab| {
        lab.on_bids(&claim, limit);
    });

    // Nobody bids at all: after the timeout the claim is dormant.
    let quiet = lab.new_claim(&Art::goal());
    std::thread::sleep(Duration::from_millis(400));
    let effects = lab.on_bids(&quiet, limit);
    assert_eq!(
        effects,
        vec![
            Effect::BidTimeout {
                claim: cid(&quiet),
                agents: vec!["Alpha".into(), "Beta".into(), "Gamma".into()]
            },
            Effect::Dormant { claim: cid(&quiet) },
        ]
    );
    assert_eq!(lab.published(), vec![]);
}

/// Any review bid: review; else any claim: parallel; else any exclusive:
/// exclusive; else dormant (nothing written, nothing published).
#[test]
fn the_snapshot_chooses_the_initial_phase() {
    let mut lab = Lab::new(TEAM, 3);
    let cases: &[(&[&str; 3], &str, &str, &[&str])] = &[
        (
            &["claim", "review", "exclusive"],
            "review",
            "review",
            &["Beta"],
        ),
        (
            &["review", "junk", "review"],
            "review",
            "review",
            &["Alpha", "Gamma"],
        ),
        (
            &["exclusive", "claim", "claim"],
            "parallel",
            "claim",
            &["Beta", "Gamma"],
        ),
        (
            &["ignore", "exclusive", "exclusive"],
            "exclusive",
            "exclusive",
            &["Beta"],
        ),
    ];
    for (values, phase, claim_type, names) in cases {
        let goal = Art::goal();
        let claim = lab.new_claim(&goal);
        let bids: Vec<(&str, &str)> = vec![
            ("Alpha", values[0]),
            ("Beta", values[1]),
            ("Gamma", values[2]),
        ];
        let effects = lab.bid_all(&claim, &bids);
        assert_eq!(effects.last(), Some(&granted(&claim, phase, names)));
        assert_eq!(lab.published(), grants(&claim, claim_type, names, &[]));
        let ms = lab.phase_start(&claim);
        let snapshot: Vec<(&str, &str)> = bids
            .iter()
            .map(|&(n, v)| (n, if v == "junk" { "ignore" } else { v }))
            .collect();
        let names_json = json::list(names);
        let (status, field, value) = match *phase {
            "review" => ("pending_review", "granted_review_agents", names_json),
            "parallel" => ("pending_parallel", "granted_parallel_agents", names_json),
            _ => (
                "pending_exclusive",
                "granted_exclusive_agent",
                names[0].to_string(),
            ),
        };
        let ps = phase_state(phase, names, &[], &snapshot, ms);
        assert_eq!(
            lab.claim(&claim),
            with(
                new_claim_fields(&claim, &goal.id),
                &[("status", status), (field, &value), ("phase_state", &ps)]
            )
        );
    }

    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    let effects = lab.bid_all(
        &claim,
        &[("Alpha", "ignore"), ("Beta", "ignore"), ("Gamma", "x")],
    );
    assert_eq!(
        effects.last(),
        Some(&Effect::Dormant { claim: cid(&claim) })
    );
    assert_eq!(lab.published(), vec![]);
    assert_eq!(lab.claim(&claim), new_claim_fields(&claim, &goal.id));
    assert!(!lab.set_members(Set::Active).contains(&claim));
    lab.assert_noop("a dormant claim's decision again", |lab| {
        lab.on_bids(&claim, None);
    });
}

/// Bytewise order: uppercase before lowercase, `-` before digits and
/// letters; grant arrays, agent messages and `all_bids` keys all follow it.
#[test]
fn the_exclusive_winner_and_every_list_are_in_bytewise_order() {
    let team = [
        ("alice", "alice"),
        ("Zed", "zed"),
        ("bob1", "bob1"),
        ("bob-x", "bobx"),
        ("-dash", "dash"),
    ];
    let mut lab = Lab::new(&team, 3);
    let cases: &[(&[&str], &str)] = &[
        (&["alice", "Zed"], "Zed"),
        (&["bob1", "bob-x"], "bob-x"),
        (&["alice", "bob1", "-dash"], "-dash"),
    ];
    for (bidders, winner) in cases {
        let claim = lab.new_claim(&Art::goal());
        let bids: Vec<(&str, &str)> = team
            .iter()
            .map(|(n, _)| {
                (
                    *n,
                    if bidders.contains(n) {
                        "exclusive"
                    } else {
                        "ignore"
                    },
                )
            })
            .collect();
        let effects = lab.bid_all(&claim, &bids);
        assert_eq!(effects, vec![granted(&claim, "exclusive", &[winner])]);
        assert_eq!(lab.published(), grants(&claim, "exclusive", &[winner], &[]));
        assert_eq!(lab.claim(&claim)["granted_exclusive_agent"], *winner);
    }

    let claim = lab.new_claim(&Art::goal());
    let bids = [
        ("alice", "review"),
        ("Zed", "review"),
        ("bob1", "review"),
        ("bob-x", "review"),
        ("-dash", "ignore"),
    ];
    lab.bid_all(&claim, &bids);
    let order = ["Zed", "alice", "bob-x", "bob1"];
    assert_eq!(lab.published(), grants(&claim, "review", &order, &[]));
    let c = lab.claim(&claim);
    assert_eq!(
        c["granted_review_agents"],
        r#"["Zed","alice","bob-x","bob1"]"#
    );
    let ms = lab.stamped(&c["phase_state"], "start_time_ms");
    assert_eq!(
        c["phase_state"],
        phase_state("review", &order, &[], &bids, ms)
    );
    assert!(c["phase_state"].contains(
        r#""all_bids":{"-dash":"ignore","Zed":"review","alice":"review","bob-x":"review","bob1":"review"}"#
    ));
}

#[test]
fn claim_granted_carries_the_agent_image_from_the_cli() {
    let mut lab = Lab::new(TEAM, 3);
    lab.hset(&format!("{P}agent_images"), "Gamma", "sha256:abc");
    let claim = lab.new_claim(&Art::goal());
    lab.bid_all(
        &claim,
        &[("Alpha", "claim"), ("Beta", "ignore"), ("Gamma", "claim")],
    );
    assert_eq!(
        lab.published(),
        grants(
            &claim,
            "claim",
            &["Alpha", "Gamma"],
            &[("Gamma", "sha256:abc")]
        )
    );
}
