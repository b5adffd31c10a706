//! The delivery that completes an exclusive phase (and its claim): the
//! `phase_state` it leaves, byte for byte. Its usual form (one plainly
//! spelt agent, the registry's names as the snapshot) is read by patterns
//! (`phases.lua`, `deliver_exclusive`); every other stored form goes the
//! full way (decoded, checked, encoded again as Go writes it). Both must
//! leave exactly the text the full way writes.

mod support;

use support::lifecycle::*;

const TEAM: &[(&str, &str)] = &[("Reviewer", "reviewer"), ("Worker", "worker")];

/// A claim granted to Worker (exclusive; Reviewer ignores), with
/// `phase_state` replaced by `stored` when given; then Worker's delivery.
/// Its effects and the `phase_state` and status the claim is left with.
fn deliver_with(stored: Option<&str>) -> (Vec<String>, String, String, String) {
    let mut lab = Lab::new(TEAM, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "ignore");
    assert_eq!(
        lab.bid_and_decide(&claim, "Worker", "exclusive"),
        vec![granted(&claim, "exclusive", &["Worker"])]
    );
    lab.published();
    if let Some(text) = stored {
        lab.hset(&format!("{P}claim:{claim}"), "phase_state", text);
    }
    let work = Art::work("worker", &goal.id);
    let out = lab.deliver(&work);
    let effects = out.effects.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(out.published, vec![]);
    let fields = lab.claim(&claim);
    (
        effects,
        fields["phase_state"].clone(),
        fields["status"].clone(),
        work.id,
    )
}

fn completed(work: &str, all_bids: &str, start: &str) -> String {
    format!(
        r#"{{"current":"exclusive","granted_agents":["Worker"],"received":{{"worker":"{work}"}},"all_bids":{{{all_bids}}},"start_time_ms":{start}}}"#
    )
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
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Worker":"exclusive","Reviewer":"ignore"},"start_time_ms":5}"#,
            bids,
            "5",
        ),
        // Spaces, an exponent, a field Go does not know.
        (
            r#"{"current": "exclusive", "granted_agents": ["Worker"], "received": {}, "all_bids": {"Reviewer":"ignore","Worker":"exclusive"}, "start_time_ms": 7e3}"#,
            bids,
            "7000",
        ),
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Reviewer":"ignore","Worker":"exclusive"},"start_time_ms":9,"extra":1}"#,
            bids,
            "9",
        ),
        // A name escaped where it need not be; a bid that is none of the four.
        (
            r#"{"current":"exclusive","granted_agents":["W\u006frker"],"received":{},"all_bids":{"Reviewer":"maybe","Worker":"exclusive"},"start_time_ms":11}"#,
            r#""Reviewer":"maybe","Worker":"exclusive""#,
            "11",
        ),
        // The snapshot missing a registered name; one of another registry.
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Worker":"exclusive"},"start_time_ms":12}"#,
            r#""Worker":"exclusive""#,
            "12",
        ),
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Other":"ignore","Reviewer":"ignore","Worker":"exclusive"},"start_time_ms":13}"#,
            r#""Other":"ignore","Reviewer":"ignore","Worker":"exclusive""#,
            "13",
        ),
        // The usual form with its entries run together, or parted by ';'.
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Reviewer":"ignore""Worker":"exclusive"},"start_time_ms":14}"#,
            "",
            "",
        ),
        (
            r#"{"current":"exclusive","granted_agents":["Worker"],"received":{},"all_bids":{"Reviewer":"ignore";"Worker":"exclusive"},"start_time_ms":15}"#,
            "",
            "",
        ),
    ] {
        let (effects, text, status, work) = deliver_with(Some(stored));
        if all_bids.is_empty() {
            // Not JSON: the claim is left as it was (not counted, not ended).
            assert_eq!(effects, Vec::<String>::new(), "{stored}");
            assert_eq!(
                (text.as_str(), status.as_str()),
                (stored, "pending_exclusive")
            );
            continue;
        }
        assert_eq!(effects.len(), 2, "{stored}: {effects:?}");
        assert_eq!(status, "complete", "{stored}");
        assert_eq!(text, completed(&work, all_bids, start), "{stored}");
    }
}
