//! Phase progress: review -> parallel -> exclusive -> complete, what counts
//! for a phase, agent failures, and the phase timeout.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::scripts::Set;
use support::lifecycle::*;

/// Agents: two builders share nothing; `Omega` never bids.
const TEAM: &[(&str, &str)] = &[
    ("Alpha", "alpha"),
    ("Beta", "beta"),
    ("Delta", "delta"),
    ("Gamma", "gamma"),
    ("Omega", "omega"),
];
const BIDS: &[(&str, &str)] = &[
    ("Alpha", "review"),
    ("Beta", "claim"),
    ("Delta", "claim"),
    ("Gamma", "exclusive"),
    ("Omega", "ignore"),
];

#[test]
fn review_then_parallel_then_exclusive_then_complete() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let (claim, effects) = lab.granted_claim(&goal, BIDS);
    assert_eq!(effects, vec![granted(&claim, "review", &["Alpha"])]);
    assert_eq!(lab.published(), grants(&claim, "review", &["Alpha"], &[]));
    let mut fields = new_claim_fields(&claim, &goal.id);
    let ms = lab.phase_start(&claim);
    fields = with(
        fields,
        &[
            ("granted_review_agents", r#"["Alpha"]"#),
            (
                "phase_state",
                &phase_state("review", &["Alpha"], &[], BIDS, ms),
            ),
        ],
    );
    assert_eq!(lab.claim(&claim), fields);

    // The review approves: verdict, then the parallel grants.
    let review = Art::review("alpha", &goal.id, b"{}");
    let out = lab.deliver(&review);
    assert_eq!(
        out.effects,
        vec![
            delivered(&claim, "review", "alpha", &review.id),
            Effect::ReviewApproved {
                claim: cid(&claim),
                role: "alpha".into(),
                review: review.id.clone()
            },
            granted(&claim, "parallel", &["Beta", "Delta"]),
        ]
    );
    let mut want = vec![approved(&goal.id, "alpha")];
    want.extend(grants(&claim, "claim", &["Beta", "Delta"], &[]));
    assert_eq!(out.published, want);
    let ms = lab.phase_start(&claim);
    let ps = phase_state("parallel", &["Beta", "Delta"], &[], BIDS, ms);
    fields = with(
        fields,
        &[
            ("status", "pending_parallel"),
            ("granted_parallel_agents", r#"["Beta","Delta"]"#),
            ("phase_state", &ps),
        ],
    );
    assert_eq!(lab.claim(&claim), fields);
    lab.assert_noop("the review again", |lab| {
        lab.on_artefact(&review.id);
    });

    // Parallel: the exclusive bidder's early work and Beta's work; both
    // builders are needed.
    let early = Art::work("gamma", &goal.id);
    assert_eq!(lab.deliver(&early).effects, vec![]);
    let beta = Art::work("beta", &goal.id);
    let out = lab.deliver(&beta);
    assert_eq!(
        out.effects,
        vec![delivered(&claim, "parallel", "beta", &beta.id)]
    );
    assert_eq!(out.published, vec![]);
    let ps = phase_state(
        "parallel",
        &["Beta", "Delta"],
        &[("beta", &beta.id)],
        BIDS,
        ms,
    );
    fields = with(fields, &[("phase_state", &ps)]);
    assert_eq!(lab.claim(&claim), fields);
    let beta_again = Art::work("beta", &goal.id);
    assert_eq!(lab.deliver(&beta_again).effects, vec![]);
    lab.assert_noop("Beta's work again", |lab| {
        lab.on_artefact(&beta.id);
        lab.on_artefact(&early.id);
    });

    let delta = Art::work("delta", &goal.id);
    let out = lab.deliver(&delta);
    assert_eq!(
        out.effects,
        vec![
            delivered(&claim, "parallel", "delta", &delta.id),
            granted(&claim, "exclusive", &["Gamma"]),
        ]
    );
    assert_eq!(out.published, grants(&claim, "exclusive", &["Gamma"], &[]));
    let ms = lab.phase_start(&claim);
    let ps = phase_state("exclusive", &["Gamma"], &[], BIDS, ms);
    fields = with(
        fields,
        &[
            ("status", "pending_exclusive"),
            ("granted_exclusive_agent", "Gamma"),
            ("phase_state", &ps),
        ],
    );
    assert_eq!(lab.claim(&claim), fields);

    // The winner's first artefact completes the claim; nothing is published.
    let gamma = Art::work("gamma", &goal.id);
    let out = lab.deliver(&gamma);
    assert_eq!(
        out.effects,
        vec![
            delivered(&claim, "exclusive", "gamma", &gamma.id),
            complete(&claim)
        ]
    );
    assert_eq!(out.published, vec![]);
    let ps = phase_state("exclusive", &["Gamma"], &[("gamma", &gamma.id)], BIDS, ms);
    fields = with(fields, &[("status", "complete"), ("phase_state", &ps)]);
    assert_eq!(lab.claim(&claim), fields);
    assert!(!lab.set_members(Set::Active).contains(&claim));
    lab.assert_noop("every artefact again", |lab| {
        for id in [&review.id, &beta.id, &delta.id, &gamma.id, &early.id] {
            lab.on_artefact(id);
        }
    });
    let second = Art::work("gamma", &goal.id);
    assert_eq!(lab.deliver(&second).effects, vec![]);
    assert_eq!(lab.claim(&claim), fields);
}

/// When the snapshot has no next phase, the phase's end completes the claim.
#[test]
fn a_phase_with_no_next_phase_completes_the_claim() {
    let mut lab = Lab::new(TEAM, 3);
    for (phase, bid, role) in [
        ("review", "review", "beta"),
        ("parallel", "claim", "beta"),
        ("exclusive", "exclusive", "beta"),
    ] {
        let goal = Art::goal();
        let bids: Vec<(&str, &str)> = TEAM
            .iter()
            .map(|(n, _)| (*n, if *n == "Beta" { bid } else { "ignore" }))
            .collect();
        let (claim, _) = lab.granted_claim(&goal, &bids);
        lab.published();
        let art = if phase == "review" {
            Art::review(role, &goal.id, b"[]")
        } else {
            Art::work(role, &goal.id)
        };
        let out = lab.deliver(&art);
        assert_eq!(
            out.effects.first(),
            Some(&delivered(&claim, phase, role, &art.id))
        );
        assert_eq!(out.effects.last(), Some(&complete(&claim)));
        let verdict: Vec<Msg> = if phase == "review" {
            vec![approved(&goal.id, role)]
        } else {
            vec![]
        };
        assert_eq!(out.published, verdict);
        assert_eq!(lab.claim(&claim)["status"], "complete");
    }
}

/// Only the granted roles' artefacts sourced from the claim's artefact count;
/// Terminal never counts.
#[test]
fn only_granted_roles_count() {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let bids = [
        ("Alpha", "ignore"),
        ("Beta", "claim"),
        ("Delta", "ignore"),
        ("Gamma", "ignore"),
        ("Omega", "ignore"),
    ];
    let (claim, _) = lab.granted_claim(&goal, &bids);
    lab.published();
    let mut terminal = Art::work("beta", &goal.id);
    terminal.structural_type = "Terminal".into();
    let others = [
        Art::work("delta", &goal.id),
        Art::work("user", &goal.id),
        Art::work("Beta", &goal.id),
        Art::review("beta", &Art::goal().id, b"{}"),
        Art::work("beta", &claim),
        terminal,
        Art::failure("delta", &goal.id),
    ];
    for art in &others {
        lab.write(art);
        let mut effects = lab.on_artefact(&art.id);
        effects.pop();
        assert_eq!(effects, vec![], "{art:?}");
        lab.published();
    }
    assert_eq!(lab.claim(&claim)["status"], "pending_parallel");
    let work = Art::work("beta", &goal.id);
    assert_eq!(lab.deliver(&work).effects.last(), Some(&complete(&claim)));
}

/// A Failure from a granted role ends the claim, in any phase (contract 12.6).
#[test]
fn a_failure_from_a_granted_role_terminates_the_claim() {
    let mut lab = Lab::new(TEAM, 3);
    for (bid, status) in [("review", "pending_review"), ("claim", "pending_parallel")] {
        let goal = Art::goal();
        let bids = [
            ("Alpha", bid),
            ("Beta", bid),
            ("Delta", "ignore"),
            ("Gamma", "ignore"),
            ("Omega", "ignore"),
        ];
        let (claim, _) = lab.granted_claim(&goal, &bids);
        lab.published();
        let first = if bid == "review" {
            Art::review("alpha", &goal.id, b"{}")
        } else {
            Art::work("alpha", &goal.id)
        };
        lab.deliver(&first);
        let failure = Art::failure("beta", &goal.id);
        let out = lab.deliver(&failure);
        let reason = format!("Agent 'beta' reported failure: see artefact {}", failure.id);
        assert_eq!(
            out.effects,
            vec![terminated(&claim, "agent_failure", &reason)]
        );
        assert_eq!(out.published, vec![]);
        let c = lab.claim(&claim);
        assert_eq!(c["status"], "terminated", "was {status}");
        assert_eq!(c["termination_reason"], reason);
        assert!(!lab.set_members(Set::Active).contains(&claim));
        lab.assert_noop("the failure again", |lab| {
            lab.on_artefact(&failure.id);
            lab.on_artefact(&first.id);
        });
    }
}

#[test]
fn a_phase_timeout_names_the_missing_roles() {
    let team = [
        ("Zulu", "zeta"),
        ("Bravo", "beta"),
        ("Alpha", "alpha"),
        ("Mike", "mu"),
    ];
    let mut lab = Lab::new(&team, 3);
    let goal = Art::goal();
    let bids = [
        ("Zulu", "claim"),
        ("Bravo", "claim"),
        ("Alpha", "claim"),
        ("Mike", "ignore"),
    ];
    let (claim, _) = lab.granted_claim(&goal, &bids);
    lab.published();
    lab.deliver(&Art::work("alpha", &goal.id));
    lab.assert_noop("a timeout not yet due", |lab| {
        assert_eq!(
            lab.on_timeout(&claim, Duration::from_secs(3600), "1h"),
            vec![Effect::Running { claim: cid(&claim) }]
        );
    });
    std::thread::sleep(Duration::from_millis(150));
    let effects = lab.on_timeout(&claim, Duration::from_millis(100), "100ms");
    let reason = "Phase 'parallel' timed out after 100ms: no artefact from beta, zeta";
    assert_eq!(effects, vec![terminated(&claim, "phase_timeout", reason)]);
    assert_eq!(lab.published(), vec![]);
    let c = lab.claim(&claim);
    assert_eq!(
        (c["status"].as_str(), c["termination_reason"].as_str()),
        ("terminated", reason)
    );
    lab.assert_noop("the timeout again", |lab| {
        let not_active = vec![Effect::NotActive { claim: cid(&claim) }];
        assert_eq!(lab.on_timeout(&claim, Duration::ZERO, "0s"), not_active);
    });
    assert_eq!(lab.deliver(&Art::work("beta", &goal.id)).effects, vec![]);
    assert_eq!(lab.claim(&claim), c);
}
