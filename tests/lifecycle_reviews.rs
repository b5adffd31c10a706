//! Review verdicts: what approves, the `review_rejected` feedback text (cut
//! on a UTF-8 boundary, escaped as Go's encoder does), verdict order, and
//! the rejection's termination reason.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use support::lifecycle::*;

const TEAM: &[(&str, &str)] = &[("Ann", "ann"), ("Bob", "bob"), ("Writer", "writer")];

/// The writer's artefact with a claim granted to the reviewers in `reviewers`.
fn under_review(lab: &mut Lab, reviewers: &[&str]) -> (Art, String) {
    let target = Art::work("writer", &support::uuid());
    let bids: Vec<(&str, &str)> = TEAM
        .iter()
        .map(|(n, _)| {
            (
                *n,
                if reviewers.contains(n) {
                    "review"
                } else {
                    "ignore"
                },
            )
        })
        .collect();
    let (claim, effects) = lab.granted_claim(&target, &bids);
    assert_eq!(effects, vec![granted(&claim, "review", reviewers)]);
    assert_eq!(lab.published(), grants(&claim, "review", reviewers, &[]));
    (target, claim)
}

/// Ann's single review with `payload`; returns the messages it set off.
fn verdict(lab: &mut Lab, payload: &[u8]) -> (String, Vec<Msg>, Art) {
    let (target, claim) = under_review(lab, &["Ann"]);
    let review = Art::review("ann", &target.id, payload);
    let out = lab.deliver(&review);
    (claim, out.published, target)
}

#[test]
fn empty_object_or_array_approves_anything_else_rejects() {
    let mut lab = Lab::new(TEAM, 3);
    for payload in ["{}", "[]", "{ }", " [\n] ", "\t{\r\n}\r\n"] {
        let (claim, published, target) = verdict(&mut lab, payload.as_bytes());
        assert_eq!(published, vec![approved(&target.id, "ann")], "{payload:?}");
        assert_eq!(lab.claim(&claim)["status"], "complete", "{payload:?}");
    }
    let rejecting = [
        r#"{"a":1}"#,
        "[1]",
        r#""""#,
        "true",
        "null",
        "0",
        "not json",
        "",
        "{",
        "{}{}",
        "{} x",
        "[}",
        "\u{c}{}",
        "\u{b}[]",
        "{\u{a0}}",
        r#"{"":""}"#,
    ];
    for payload in rejecting {
        let (claim, published, target) = verdict(&mut lab, payload.as_bytes());
        let feedback = serde_json::to_string(payload).unwrap();
        assert_eq!(
            published.first(),
            Some(&rejected(&feedback, &target.id, "ann")),
            "{payload:?}"
        );
        assert_eq!(lab.claim(&claim)["status"], "terminated", "{payload:?}");
    }
}

#[test]
fn feedback_is_cut_to_200_bytes_on_a_utf8_boundary() {
    let mut lab = Lab::new(TEAM, 3);
    let a = |n: usize| "a".repeat(n);
    let cases = [
        (a(200), a(200)),
        (a(201), format!("{}...", a(200))),
        (format!("{}é", a(199)), format!("{}...", a(199))),
        (format!("{}é", a(198)), format!("{}é", a(198))),
        (format!("{}€x", a(198)), format!("{}...", a(198))),
        (format!("{}😀", a(197)), format!("{}...", a(197))),
        (format!("{}😀", a(196)), format!("{}😀", a(196))),
        (format!("{}😀b", a(196)), format!("{}😀...", a(196))),
        ("é".repeat(150), format!("{}...", "é".repeat(100))),
    ];
    for (payload, cut) in cases {
        let (_, published, target) = verdict(&mut lab, payload.as_bytes());
        let feedback = serde_json::to_string(&cut).unwrap();
        assert_eq!(
            published.first(),
            Some(&rejected(&feedback, &target.id, "ann")),
            "{} bytes",
            payload.len()
        );
    }
}

/// Go escapes `<`, `>`, `&`, U+2028 and U+2029, writes `\b \f \n \r \t`
/// short (Go 1.22 and later) and other control characters as `\u00xx`,
/// leaves DEL alone, and turns each invalid UTF-8 byte into `\ufffd`.
#[test]
fn feedback_is_escaped_as_go_escapes_it() {
    let mut lab = Lab::new(TEAM, 3);
    let payload: &[u8] = b"<b>&\"\\ \xe2\x80\xa8\xe2\x80\xa9 \x00\x01\x1f\x7f\t\n\r\x08\x0c \xff\xfe \xc3( \xed\xa0\x80 \xc0\x80 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xf4\x90\x80\x80 \xe2\x82";
    let want = r#""\u003cb\u003e\u0026\"\\ \u2028\u2029 \u0000\u0001\u001f"#.to_string()
        + "\x7f"
        + r#"\t\n\r\b\f \ufffd\ufffd \ufffd( \ufffd\ufffd\ufffd \ufffd\ufffd "#
        + "é€😀"
        + r#" \ufffd\ufffd\ufffd\ufffd \ufffd\ufffd""#;
    let (claim, published, target) = verdict(&mut lab, payload);
    assert_eq!(published.first(), Some(&rejected(&want, &target.id, "ann")));
    assert_eq!(lab.claim(&claim)["status"], "terminated");
}

/// Verdicts go out in reviewer-role order; the reason lists the rejecting
/// reviews' ids sorted (here the reverse of the reviewers' order).
#[test]
fn every_rejection_is_named_in_the_termination_reason() {
    let mut lab = Lab::new(TEAM, 3);
    let (target, claim) = under_review(&mut lab, &["Ann", "Bob"]);
    let ann = Art::review("ann", &target.id, b"no").with_id("ffffffff-0000-4000-8000-000000000000");
    let bob = Art::review("bob", &target.id, b"NO").with_id("00000000-ffff-4fff-bfff-ffffffffffff");
    let out = lab.deliver(&bob);
    assert_eq!(
        out.effects,
        vec![delivered(&claim, "review", "bob", &bob.id)]
    );
    assert_eq!(out.published, vec![]);
    let out = lab.deliver(&ann);
    let reason = rejection_reason(&[&bob.id, &ann.id]);
    assert_eq!(
        out.effects[..4],
        [
            delivered(&claim, "review", "ann", &ann.id),
            Effect::ReviewRejected {
                claim: cid(&claim),
                role: "ann".into(),
                review: ann.id.clone()
            },
            Effect::ReviewRejected {
                claim: cid(&claim),
                role: "bob".into(),
                review: bob.id.clone()
            },
            terminated(&claim, "review_rejected", &reason),
        ]
    );
    assert_eq!(
        out.published[..2],
        [
            rejected(r#""no""#, &target.id, "ann"),
            rejected(r#""NO""#, &target.id, "bob")
        ]
    );
    let c = lab.claim(&claim);
    assert_eq!(c["status"], "terminated");
    assert_eq!(c["termination_reason"], reason);
    assert_eq!(c["granted_review_agents"], r#"["Ann","Bob"]"#);
    assert!(c["phase_state"].contains(&format!(
        r#""received":{{"ann":"{}","bob":"{}"}}"#,
        ann.id, bob.id
    )));
    lab.assert_noop("both reviews again", |lab| {
        lab.on_artefact(&ann.id);
        lab.on_artefact(&bob.id);
    });

    // One approves, one rejects: both verdicts, the reason names one review.
    let (target, claim) = under_review(&mut lab, &["Ann", "Bob"]);
    let ann = Art::review("ann", &target.id, b"{}");
    let bob = Art::review("bob", &target.id, b"{\"fix\":1}");
    lab.deliver(&ann);
    let out = lab.deliver(&bob);
    assert_eq!(
        out.published[..2],
        [
            approved(&target.id, "ann"),
            rejected(r#""{\"fix\":1}""#, &target.id, "bob")
        ]
    );
    assert_eq!(
        lab.claim(&claim)["termination_reason"],
        rejection_reason(&[&bob.id])
    );
}
