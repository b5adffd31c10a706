//! The worker decisions over wrong-typed keys they would write, on a real
//! Redis (no Docker): each answers one `key_conflict` row and writes
//! nothing, so the engine keeps an exited container until a later pass, after
//! the repair, records its end once.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::{Cause, Effect};
use sett_orchestrator::lifecycle::scripts::Set;
use sett_orchestrator::workers::scripts::Ending;
use support::lifecycle::*;
use support::worker_calls::*;

/// A worker's end that would end its claim (exit N, a failed launch) writes
/// the active and bidding sets: over a wrong-typed one it answers
/// `key_conflict` and writes nothing (it once released the slot, wrote the
/// Failure artefact and its event, terminated the claim, then raised). An
/// exit 0 writes neither set and is recorded anyway. Repaired, the same end
/// is recorded once.
#[test]
fn a_worker_end_writes_nothing_over_a_wrong_typed_orchestrator_set() {
    for (set_name, which) in [("active", Set::Active), ("bidding", Set::Bidding)] {
        let (mut lab, calls) = lab(2);
        let (claim, _, _) = won_by_coder(&mut lab);
        let (done, _, _) = won_by_coder(&mut lab);
        lab.published();
        let set = format!("{P}orchestrator:{set_name}");
        let members = lab.set_members(which);
        let junk = redis::pipe()
            .del(&set)
            .set(&set, "junk")
            .query::<()>(&mut lab.sync);
        junk.unwrap();
        let want = vec![Effect::KeyConflict {
            key: set.clone(),
            key_type: "string".into(),
        }];
        let before = lab.snapshot();
        let failed = Ending::Exit {
            code: 3,
            logs: "boom\n".into(),
        };
        let launch = Ending::LaunchFailed {
            reason: "No such image: coder:1".into(),
        };
        assert_eq!(lab.decide(calls.ended(&claim, "Coder", &failed)), want);
        assert_eq!(lab.decide(calls.ended(&claim, "Coder", &launch)), want);
        assert_eq!(lab.snapshot(), before, "{set_name}: written");
        assert_eq!(lab.published(), vec![], "{set_name}: published");
        let ok = Ending::Exit {
            code: 0,
            logs: String::new(),
        };
        assert_eq!(
            lab.decide(calls.ended(&done, "Coder", &ok)),
            vec![Effect::WorkerEnded {
                claim: c(&done),
                role: "Coder".into(),
                kind: "exit".into(),
                code: 0
            }]
        );
        // Repaired: the failure is recorded, once.
        let mut repair = redis::pipe();
        repair.del(&set);
        for member in &members {
            repair.zadd(&set, member, 1);
        }
        repair.query::<()>(&mut lab.sync).unwrap();
        let effects = lab.decide(calls.ended(&claim, "Coder", &failed));
        assert!(
            matches!(
                &effects[..],
                [
                    Effect::FailureArtefact { .. },
                    Effect::Terminated { .. },
                    Effect::WorkerEnded { .. }
                ]
            ),
            "{set_name}: {effects:?}"
        );
        assert_eq!(lab.claim(&claim)["status"], "terminated");
        assert_eq!(
            lab.decide(calls.ended(&claim, "Coder", &failed)),
            vec![Effect::WorkerGone { claim: c(&claim) }]
        );
    }
}

/// A worker key of ours holding another type (the launch record, the slot
/// set, the grant queue): the launch, the created mark and the end each
/// answer `key_conflict` for it and write nothing (the end once answered
/// `invalid`, which the engine took for recorded and removed the exited
/// container: its claim then ended as "worker container disappeared").
/// Repaired, the end is recorded once.
#[test]
fn worker_decisions_write_nothing_over_a_wrong_typed_worker_key() {
    let (mut lab, calls) = lab(2);
    let (claim, _, _) = won_by_coder(&mut lab);
    lab.published();
    let keys = [
        (calls.record_key(&claim), "set"),
        (calls.slots_key("Coder"), "string"),
        (format!("{P}grant_queue:Coder"), "string"),
    ];
    let failed = Ending::Exit {
        code: 3,
        logs: "boom\n".into(),
    };
    for (key, junk_type) in &keys {
        let kept: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query(&mut lab.sync).unwrap();
        let mut junk = redis::pipe();
        junk.del(key);
        if *junk_type == "set" {
            junk.sadd(key, "junk");
        } else {
            junk.set(key, "junk");
        }
        junk.query::<()>(&mut lab.sync).unwrap();
        let want = vec![Effect::KeyConflict {
            key: key.clone(),
            key_type: junk_type.to_string(),
        }];
        let before = lab.snapshot();
        assert_eq!(lab.decide(calls.launch(&claim, "Coder")), want, "{key}");
        assert_eq!(lab.decide(calls.created(&claim, "Coder")), want, "{key}");
        assert_eq!(
            lab.decide(calls.ended(&claim, "Coder", &failed)),
            want,
            "{key}"
        );
        assert_eq!(lab.snapshot(), before, "{key}: written");
        assert_eq!(lab.published(), vec![], "{key}: published");
        let mut repair = redis::pipe();
        repair.del(key);
        if let Some(kept) = &kept {
            repair.cmd("RESTORE").arg(key).arg(0).arg(kept.as_slice());
        }
        repair.query::<()>(&mut lab.sync).unwrap();
    }
    let effects = lab.decide(calls.ended(&claim, "Coder", &failed));
    assert!(effects.contains(&Effect::WorkerEnded {
        claim: c(&claim),
        role: "Coder".into(),
        kind: "exit".into(),
        code: 3
    }));
    assert!(effects.contains(&Effect::Terminated {
        claim: c(&claim),
        cause: Cause::WorkerFailed,
        reason: "Worker failed with exit code 3".into()
    }));
    assert_eq!(lab.claim(&claim)["status"], "terminated");
}
