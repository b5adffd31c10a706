//! Phase 1's claim script when Redis refuses a write (OOM, NOREPLICAS, a
//! replica's READONLY, an ACL): each artefact that would write is refused
//! with Redis's error, on its own; the others in the same call get their
//! own outcomes, and nothing is written that a call of its own would not
//! have written. Driven through the real script on a real Redis.

use sett_test_support as support;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::ids::ArtefactId;
use sett_orchestrator::phase1::claim_batch;
use sett_orchestrator::redis_io::scripts::{CallError, Decided};
use support::phase1_board::*;
use support::uuid;

/// How a refusal is made and undone, and the code Redis answers with.
struct Refusal {
    code: &'static str,
    on: fn(&mut Board),
    off: fn(&mut Board),
}

const REFUSALS: [Refusal; 3] = [
    Refusal {
        code: "OOM",
        on: |b| {
            b.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
            b.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
        },
        off: |b| b.cmd(&["CONFIG", "SET", "maxmemory", "0"]),
    },
    Refusal {
        code: "NOREPLICAS",
        on: |b| support::refuse_writes(&mut b.sync, true),
        off: |b| support::refuse_writes(&mut b.sync, false),
    },
    // A replica of a primary that never answers (a port held here, which
    // accepts and says nothing): read-only.
    Refusal {
        code: "READONLY",
        on: |b| {
            let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = held.local_addr().unwrap().port().to_string();
            b.held = Some(held);
            b.cmd(&["REPLICAOF", "127.0.0.1", &port]);
        },
        off: |b| {
            b.cmd(&["REPLICAOF", "NO", "ONE"]);
            b.held = None;
        },
    },
];

/// Redis refusing writes refuses each artefact that would write, with its
/// error, and writes nothing; the artefacts that need no write get their
/// own outcomes in the same call, before and after a refused one.
#[test]
fn a_refused_write_is_its_artefacts_alone_and_writes_nothing() {
    let mut b = Board::start();
    for refusal in &REFUSALS {
        let listener = Listener::start(&b.redis);
        let claimed = b.standard();
        b.cmd(&[
            "SET",
            &format!("sett:pb:claim_by_artefact:{claimed}"),
            "earlier",
        ]);
        let bare = uuid();
        b.cmd(&["HSET", &format!("sett:pb:artefact:{bare}"), "id", &bare]);
        let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
        let ids: Vec<String> = vec![claimed, b.standard(), bare, terminal, b.standard()];
        let before = b.contents_now();
        (refusal.on)(&mut b);
        let (out, calls) = b.claim(&ids);
        (refusal.off)(&mut b);
        assert_eq!(calls, 1);
        assert_eq!(out.len(), 5);
        let refused = |d: &Decided| match d {
            Err(CallError::Redis(e)) => e.code().map(str::to_string),
            other => panic!("{}: not refused: {other:?}", refusal.code),
        };
        assert_eq!(
            out[0].as_ref().unwrap(),
            &one(Effect::Duplicate {
                existing: "earlier".into()
            })
        );
        assert_eq!(refused(&out[1]).as_deref(), Some(refusal.code));
        assert_eq!(
            out[2].as_ref().unwrap(),
            &one(Effect::Invalid {
                reason: "artefact hash has no structural_type".into()
            }),
            "a hash with neither field is not absent"
        );
        assert_eq!(
            out[3].as_ref().unwrap(),
            &one(Effect::Skipped {
                structural_type: "Terminal".into(),
                artefact_type: "Done".into()
            })
        );
        assert_eq!(refused(&out[4]).as_deref(), Some(refusal.code));
        assert_eq!(
            b.contents_now(),
            before,
            "{}: nothing written",
            refusal.code
        );
        // Writes back: the refused artefacts are claimed as usual.
        let (again, _) = b.claim(&[ids[1].clone(), ids[4].clone()]);
        let claims = [created(&again[0]), created(&again[1])];
        assert_eq!(
            listener.messages(),
            vec![event(claims[0], &ids[1]), event(claims[1], &ids[4])],
            "{}: announced once, when claimed",
            refusal.code
        );
    }
}

/// A user whose ACL refuses PUBLISH: each artefact's claim is written as a
/// script of its own would leave it (hash and index, not announced) and
/// answered as refused, each on its own; nothing is published.
#[test]
fn a_write_refused_after_the_first_is_its_artefacts_alone() {
    let mut b = Board::start();
    let mut mute = b.user_without("mute", "publish");
    let listener = Listener::start(&b.redis);
    let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
    let ids = [b.standard(), terminal, b.standard()];
    let artefacts: Vec<ArtefactId> = ids.iter().map(|s| ArtefactId::parse(s).unwrap()).collect();
    let out = smol::block_on(claim_batch(&mut mute, &b.keys, &artefacts)).unwrap();
    b.cmd(&["PING"]);
    assert_eq!(out.len(), 3);
    for i in [0, 2] {
        assert_acl_refused(&out[i]);
        let claim = b.get(&format!("sett:pb:claim_by_artefact:{}", ids[i]));
        let claim = claim.expect("the claim's index, written before the refusal");
        assert_eq!(
            b.hash(&format!("sett:pb:claim:{claim}")),
            claim_fields(&claim, &ids[i])
        );
    }
    assert_eq!(
        out[1].as_ref().unwrap(),
        &one(Effect::Skipped {
            structural_type: "Terminal".into(),
            artefact_type: "Done".into()
        })
    );
    assert_eq!(listener.messages(), Vec::<String>::new());
}

/// An outcome refused by the caller's ACL (Redis 7.0's words for it inside
/// a script; 7.2 and later answer NOPERM).
fn assert_acl_refused(d: &Decided) {
    match d {
        Err(CallError::Redis(e)) => assert!(
            e.code() == Some("NOPERM")
                || (e.code() == Some("ERR") && e.to_string().contains("can't run this command")),
            "{e}"
        ),
        other => panic!("not refused: {other:?}"),
    }
}

/// What an artefact of [`an_acl_refusing_one_command_costs_only_the_artefacts_that_need_it`]
/// answers.
#[derive(Debug)]
enum Want {
    Refused,
    Is(Effect),
    Created,
}

/// A user whose ACL refuses one command the script reads or writes with:
/// every artefact whose decision needs that command is refused, each on its
/// own (a wrong-typed artefact whose type cannot be asked too); the others
/// in the same call get their own outcomes; nothing is written but what a
/// call of its own would write (a refused SET leaves the claim hash, as a
/// refused PUBLISH does), and only the claims made are announced.
#[test]
fn an_acl_refusing_one_command_costs_only_the_artefacts_that_need_it() {
    use Want::*;
    let mut b = Board::start();
    let not_a_hash = || {
        Is(Effect::Invalid {
            reason: "artefact key is a string, not a hash".into(),
        })
    };
    let skipped = || {
        Is(Effect::Skipped {
            structural_type: "Terminal".into(),
            artefact_type: "Done".into(),
        })
    };
    let dup = || {
        Is(Effect::Duplicate {
            existing: "earlier".into(),
        })
    };
    // The artefacts of each call, in order: absent, a string (not a hash),
    // a Standard one, a Terminal one, one claimed already.
    let cases: [(&str, [Want; 5]); 5] = [
        ("hmget", [Refused, Refused, Refused, Refused, Refused]),
        ("type", [Refused, Refused, Created, skipped(), dup()]),
        (
            "get",
            [
                Is(Effect::NotFound),
                not_a_hash(),
                Refused,
                skipped(),
                Refused,
            ],
        ),
        (
            "hset",
            [
                Is(Effect::NotFound),
                not_a_hash(),
                Refused,
                skipped(),
                dup(),
            ],
        ),
        (
            "set",
            [
                Is(Effect::NotFound),
                not_a_hash(),
                Refused,
                skipped(),
                dup(),
            ],
        ),
    ];
    for (command, wants) in cases {
        let absent = uuid();
        let string = uuid();
        b.cmd(&["SET", &format!("sett:pb:artefact:{string}"), "junk"]);
        let standard = b.standard();
        let terminal = b.artefact(&[("structural_type", "Terminal"), ("type", "Done")]);
        let claimed = b.standard();
        b.cmd(&[
            "SET",
            &format!("sett:pb:claim_by_artefact:{claimed}"),
            "earlier",
        ]);
        let ids = [absent, string, standard.clone(), terminal, claimed];
        let artefacts: Vec<ArtefactId> =
            ids.iter().map(|s| ArtefactId::parse(s).unwrap()).collect();
        let mut conn = b.user_without(&format!("no-{command}"), command);
        let listener = Listener::start(&b.redis);
        let before = b.contents_now();
        let out = smol::block_on(claim_batch(&mut conn, &b.keys, &artefacts)).unwrap();
        assert_eq!(out.len(), 5, "{command}");
        let mut announced = Vec::new();
        for (i, want) in wants.iter().enumerate() {
            match want {
                Refused => assert_acl_refused(&out[i]),
                Is(effect) => assert_eq!(
                    out[i].as_ref().unwrap(),
                    &one(effect.clone()),
                    "{command}: {i}"
                ),
                Created => announced.push(event(created(&out[i]), &ids[i])),
            }
        }
        // The keys written: the claim made (hash and index), or with SET
        // refused the claim hash alone.
        let mut after = b.contents_now();
        let new: Vec<String> = after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .cloned()
            .collect();
        match command {
            "type" => {
                let claim = b
                    .get(&format!("sett:pb:claim_by_artefact:{standard}"))
                    .unwrap();
                assert_eq!(
                    b.hash(&format!("sett:pb:claim:{claim}")),
                    claim_fields(&claim, &standard)
                );
                assert_eq!(new.len(), 2, "{new:?}");
            }
            "set" => {
                assert_eq!(new.len(), 1, "{new:?}");
                let claim = new[0].strip_prefix("sett:pb:claim:").expect("a claim hash");
                assert_eq!(b.hash(&new[0]), claim_fields(claim, &standard));
                assert_eq!(
                    b.get(&format!("sett:pb:claim_by_artefact:{standard}")),
                    None
                );
            }
            _ => assert_eq!(new, Vec::<String>::new(), "{command}: nothing written"),
        }
        after.retain(|k, _| before.contains_key(k));
        assert_eq!(after, before, "{command}: no other key written or gone");
        assert_eq!(listener.messages(), announced, "{command}");
    }
}
