//! The delivery that completes an exclusive phase (and its claim): the
//! `phase_state` it leaves, byte for byte. Its usual form (one plainly
//! spelt agent, the registry's names as the snapshot) is read by patterns
//! (`phases.lua`, `deliver_exclusive`); every other stored form goes the
//! full way (decoded, checked, encoded again as Go writes it). Both must
//! leave exactly the text the full way writes.

use sett_test_support as support;

use support::lifecycle::*;

const TEAM: &[(&str, &str)] = &[("Reviewer", "reviewer"), ("Worker", "worker")];

/// A claim granted to `worker` (exclusive; Reviewer ignores) under `team`,
/// with `phase_state` replaced by `stored` when given; `before` runs on it
/// (the lab, the claim, the artefact about to come); then that artefact
/// (`art`, made from the goal's id). Its effects for the claim, and the
/// `phase_state` and status the claim is left with.
struct Case<'a> {
    team: &'a [(&'a str, &'a str)],
    worker: &'a str,
    stored: Option<&'a str>,
    art: fn(&str) -> Art,
    before: fn(&mut Lab, &str, &Art),
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            team: TEAM,
            worker: "Worker",
            stored: None,
            art: |goal| Art::work("worker", goal),
            before: |_, _, _| {},
        }
    }
}

fn run(case: Case) -> (Vec<String>, String, String, String) {
    let mut lab = Lab::new(case.team, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "ignore");
    assert_eq!(
        lab.bid_and_decide(&claim, case.worker, "exclusive"),
        vec![granted(&claim, "exclusive", &[case.worker])]
    );
    lab.published();
    if let Some(text) = case.stored {
        lab.hset(&format!("{P}claim:{claim}"), "phase_state", text);
    }
    let art = (case.art)(&goal.id);
    (case.before)(&mut lab, &claim, &art);
    let out = lab.deliver(&art);
    let effects = out.effects.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(out.published, vec![]);
    let fields = lab.claim(&claim);
    (
        effects,
        fields["phase_state"].clone(),
        fields["status"].clone(),
        art.id,
    )
}

fn deliver_with(stored: Option<&str>) -> (Vec<String>, String, String, String) {
    run(Case {
        stored,
        ..Case::default()
    })
}

/// The exclusive phase's `phase_state` as Go writes it: Worker granted,
/// `received` and `all_bids` the entries given (JSON text), `start`.
fn phase_state(received: &str, all_bids: &str, start: &str) -> String {
    format!(
        r#"{{"current":"exclusive","granted_agents":["Worker"],"received":{{{received}}},"all_bids":{{{all_bids}}},"start_time_ms":{start}}}"#
    )
}

/// Before the delivery (nothing received).
fn unreceived(all_bids: &str, start: &str) -> String {
    phase_state("", all_bids, start)
}

/// After the worker's delivery `work`.
fn completed(work: &str, all_bids: &str, start: &str) -> String {
    phase_state(&format!(r#""worker":"{work}""#), all_bids, start)
}

#[test]
fn the_usual_phase_state_gets_the_delivery_and_nothing_else() {
    let (effects, text, status, work) = deliver_with(None);
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(effects[0].starts_with("Delivered"), "{effects:?}");
    assert!(effects[1].starts_with("Complete"), "{effects:?}");
    assert_eq!(status, "complete");
    let start = text
        .rsplit_once(r#""start_time_ms":"#)
        .map(|(_, rest)| rest.trim_end_matches('}').to_string())
        .unwrap();
    assert!(start.parse::<u64>().unwrap() > 1_700_000_000_000, "{text}");
    assert_eq!(
        text,
        completed(&work, r#""Reviewer":"ignore","Worker":"exclusive""#, &start)
    );
}

#[test]
fn other_spellings_of_the_same_phase_are_written_again_as_go_writes_them() {
    let bids = r#""Reviewer":"ignore","Worker":"exclusive""#;
    for (stored, all_bids, start) in [
        // The snapshot's names out of order.
        (
            unreceived(r#""Worker":"exclusive","Reviewer":"ignore""#, "5"),
            bids,
            "5",
        ),
        // Spaces, an exponent, a field Go does not know.
        (
            r#"{"current": "exclusive", "granted_agents": ["Worker"], "received": {}, "all_bids": {"Reviewer":"ignore","Worker":"exclusive"}, "start_time_ms": 7e3}"#
                .to_string(),
            bids,
            "7000",
        ),
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Reviewer":"ignore","Worker":"exclusive"},"start_time_ms":9,"extra":1}"#
                .to_string(),
            bids,
            "9",
        ),
        // A name escaped where it need not be; a bid that is none of the four.
        (
            r#"{"current":"exclusive","granted_agents":["W\u006frker"],"received":{},"all_bids":{"Reviewer":"ignore","Worker":"exclusive"},"start_time_ms":10}"#
                .to_string(),
            bids,
            "10",
        ),
        (
            unreceived(r#""Reviewer":"maybe","Worker":"exclusive""#, "11"),
            r#""Reviewer":"maybe","Worker":"exclusive""#,
            "11",
        ),
        // The snapshot missing a registered name; one of another registry.
        (
            unreceived(r#""Worker":"exclusive""#, "12"),
            r#""Worker":"exclusive""#,
            "12",
        ),
        (
            unreceived(r#""Other":"ignore","Reviewer":"ignore","Worker":"exclusive""#, "13"),
            r#""Other":"ignore","Reviewer":"ignore","Worker":"exclusive""#,
            "13",
        ),
    ] {
        let (effects, text, status, work) = deliver_with(Some(&stored));
        assert_eq!(effects.len(), 2, "{stored}: {effects:?}");
        assert_eq!(status, "complete", "{stored}");
        assert_eq!(text, completed(&work, all_bids, start), "{stored}");
    }
    // Not JSON, or not a phase_state (the start): the claim is left as it
    // was (not counted, not ended).
    for stored in [
        // The usual form with its entries run together, or parted by ';',
        // or with something between them; a start of 2^53 and more.
        unreceived(r#""Reviewer":"ignore""Worker":"exclusive""#, "14"),
        unreceived(r#""Reviewer":"ignore";"Worker":"exclusive""#, "15"),
        unreceived(r#""Reviewer":"ignore",x,"Worker":"exclusive""#, "16"),
        unreceived(bids, "9999999999999999"),
    ] {
        let (effects, text, status, _) = deliver_with(Some(&stored));
        assert_eq!(effects, Vec::<String>::new(), "{stored}");
        assert_eq!(
            (text.as_str(), status.as_str()),
            (stored.as_str(), "pending_exclusive")
        );
    }
}

/// The usual form, and what the delivery is not: another role's artefact,
/// one counted already, a Failure; the usual form but for its start's
/// digits or an agent's spelling.
#[test]
fn the_usual_form_s_other_deliveries_and_near_misses() {
    let start = |text: &str| {
        text.rsplit_once(':')
            .unwrap()
            .1
            .trim_end_matches('}')
            .to_string()
    };
    // Another role's artefact, or one counted already: nothing changes.
    for case in [
        Case {
            art: |goal| Art::work("reviewer", goal),
            ..Case::default()
        },
        Case {
            before: |lab, claim, art| {
                let _: () = redis::cmd("SADD")
                    .arg(format!("{P}orchestrator:counted:{claim}"))
                    .arg(&art.id)
                    .query(&mut lab.sync)
                    .unwrap();
            },
            ..Case::default()
        },
    ] {
        let (effects, text, status, _) = run(case);
        assert_eq!(effects, Vec::<String>::new());
        assert_eq!(status, "pending_exclusive");
        assert!(text.contains(r#""received":{}"#), "{text}");
    }
    // A Failure ends the claim, its phase_state as it was.
    let (effects, text, status, art) = run(Case {
        art: |goal| Art::failure("worker", goal),
        ..Case::default()
    });
    assert_eq!(status, "terminated");
    assert_eq!(effects.len(), 1, "{effects:?}");
    assert!(effects[0].contains("AgentFailure"), "{effects:?}");
    assert!(effects[0].contains(&art), "{effects:?}");
    assert!(text.contains(r#""received":{}"#), "{text}");

    let bids = r#""Reviewer":"ignore","Worker":"exclusive""#;
    // 16 digits (the full path reads them: below 2^53), and a leading zero.
    for (digits, written) in [("1234567890123456", "1234567890123456"), ("0123", "123")] {
        let stored = unreceived(bids, digits);
        let (effects, text, status, work) = deliver_with(Some(&stored));
        assert_eq!(
            (effects.len(), status.as_str()),
            (2, "complete"),
            "{stored}"
        );
        assert_eq!(text, completed(&work, bids, written), "{stored}");
        assert_eq!(start(&text), written);
    }
    // An agent whose name JSON escapes: Go's spelling, by the full path.
    let (effects, text, status, work) = run(Case {
        team: &[("Reviewer", "reviewer"), ("W&r", "worker")],
        worker: "W&r",
        ..Case::default()
    });
    assert_eq!((effects.len(), status.as_str()), (2, "complete"));
    assert_eq!(
        text,
        format!(
            r#"{{"current":"exclusive","granted_agents":["W\u0026r"],"received":{{"worker":"{work}"}},"all_bids":{{"Reviewer":"ignore","W\u0026r":"exclusive"}},"start_time_ms":{}}}"#,
            start(&text)
        )
    );
}

/// A registry name JSON escapes, stored unescaped by another writer in the
/// snapshot: written again as Go spells it, as the full path does.
#[test]
fn a_snapshot_name_stored_unescaped_is_written_as_go_spells_it() {
    let team = &[("A&b", "other"), ("Worker", "worker")];
    let mut lab = Lab::new(team, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "A&b", "ignore");
    lab.bid_and_decide(&claim, "Worker", "exclusive");
    lab.published();
    let stored = unreceived(r#""A&b":"ignore","Worker":"exclusive""#, "21");
    lab.hset(&format!("{P}claim:{claim}"), "phase_state", &stored);
    let work = Art::work("worker", &goal.id);
    let out = lab.deliver(&work);
    assert_eq!(out.effects.len(), 2, "{:?}", out.effects);
    assert_eq!(
        lab.claim(&claim)["phase_state"],
        completed(
            &work.id,
            r#""A\u0026b":"ignore","Worker":"exclusive""#,
            "21"
        )
    );
}
