//! Claims someone else made that adoption leaves alone as junk, each said
//! with a `not_adopted` row (the binary's `claim_not_adopted` line:
//! lifecycle_adoption_e2e.rs), and junk that must not break a batch: no
//! artefact_id or another artefact's, a phase's status with no phase_state,
//! a phase granting no agent, a claim of ours under a stray index entry (no
//! junk: nothing said), a `received` map of thousands.

use sett_test_support as support;

use support::adoption::*;
use support::lifecycle::*;
use support::*;

const TEAM: &[(&str, &str)] = &[("Alpha", "alpha"), ("Beta", "beta"), ("Gamma", "gamma")];

/// Each left alone, nothing written, one row each but for ours.
#[test]
fn junk_claims_are_left_alone_with_a_row_each() {
    let mut lab = Lab::new(TEAM, 3);
    let (a, b) = (Art::goal(), Art::goal());
    lab.store(&a);
    lab.store(&b);
    let phase1 = |lab: &mut Lab, artefact: &str, skip: &str| {
        let claim = uuid();
        for (f, v) in phase1_claim_fields(&claim, artefact) {
            if f != skip {
                lab.hset(&format!("{P}claim:{claim}"), f, v);
            }
        }
        claim
    };
    // Another artefact's claim, and one with no artefact_id.
    let elsewhere = phase1(&mut lab, &b.id, "");
    let no_artefact = phase1(&mut lab, &b.id, "artefact_id");
    // A phase's status with no phase_state field.
    let no_phase = phase1(&mut lab, &b.id, "");
    lab.hset(
        &format!("{P}claim:{no_phase}"),
        "status",
        "pending_parallel",
    );
    // Go's claim in a phase that grants no agent (no list of names, an
    // empty one, null): nobody to wait for.
    let nobody: Vec<String> = ["\"Alpha\"", "[]", "null"]
        .iter()
        .map(|granted| {
            let claim = uuid();
            let mut fields = new_claim_fields(&claim, &b.id);
            fields.insert("status".into(), "pending_parallel".into());
            fields.insert(
                "phase_state".into(),
                format!(r#"{{"current":"parallel","granted_agents":{granted},"received":{{}},"all_bids":{{"Alpha":"claim"}},"start_time_ms":1}}"#),
            );
            for (f, v) in fields {
                lab.hset(&format!("{P}claim:{claim}"), &f, v);
            }
            claim
        })
        .collect();
    let ours = lab.new_claim(&Art::goal());
    lab.assert_noop("junk claims", |lab| {
        let call = lab.ctx.adopt(&[
            indexed(&a.id, &elsewhere),
            indexed(&b.id, &no_artefact),
            indexed(&b.id, &no_phase),
            indexed(&b.id, &nobody[0]),
            indexed(&b.id, &nobody[1]),
            indexed(&b.id, &nobody[2]),
            indexed(&a.id, &ours),
        ]);
        assert_eq!(
            lab.decide(call),
            vec![
                not_adopted(&elsewhere, NOT_ITS_ARTEFACT),
                not_adopted(&no_artefact, NOT_ITS_ARTEFACT),
                not_adopted(&no_phase, NOT_A_PHASE),
                not_adopted(&nobody[0], NO_AGENT),
                not_adopted(&nobody[1], NO_AGENT),
                not_adopted(&nobody[2], NO_AGENT),
            ]
        );
    });
}

/// Go's claim whose phase `received` map is huge (junk, or a very wide
/// team): adopting it writes every id into the counted set in chunks (Lua
/// unpacks some 8,000 values at most), in the same batch as a Phase-1
/// claim adopted before it, and the batch completes.
#[test]
fn a_received_map_of_thousands_is_counted_whole_and_the_batch_completes() {
    let mut lab = Lab::new(TEAM, 3);
    let first = Art::goal();
    let first_claim = claimed_by_someone_else(&mut lab, &first, false);
    let goal = Art::goal();
    lab.store(&goal);
    let received: Vec<String> = (0..9_000)
        .map(|i| format!(r#""r{i}":"{}""#, uuid()))
        .collect();
    let go = uuid();
    let mut fields = new_claim_fields(&go, &goal.id);
    fields.insert("status".into(), "pending_parallel".into());
    fields.insert("granted_parallel_agents".into(), r#"["Alpha"]"#.into());
    fields.insert(
        "phase_state".into(),
        format!(
            r#"{{"current":"parallel","granted_agents":["Alpha"],"received":{{{}}},"all_bids":{{"Alpha":"claim"}},"start_time_ms":1}}"#,
            received.join(",")
        ),
    );
    store_claim(&mut lab, &go, &goal.id, fields);
    let effects = adopt(
        &mut lab,
        &[indexed(&first.id, &first_claim), indexed(&goal.id, &go)],
    );
    assert_eq!(
        effects,
        vec![adopted(&go, "parallel"), adopted(&first_claim, "phase1")]
    );
    let counted: u64 = redis::cmd("SCARD")
        .arg(format!("{P}orchestrator:counted:{go}"))
        .query(&mut lab.sync)
        .unwrap();
    assert_eq!(counted, 9_000);
    assert_eq!(lab.claim(&first_claim).len(), 14);
}
