//! Tests of `decode`: effect rows, their bad forms and the `adopted_claims` row.

use super::*;

const C: &str = "11111111-2222-4333-8444-555555555555";

fn s(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn rows(rows: Vec<Vec<Value>>) -> Value {
    Value::Array(rows.into_iter().map(Value::Array).collect())
}

fn claim() -> ClaimId {
    ClaimId::parse(C).unwrap()
}

#[test]
fn rows_decode_into_typed_effects() {
    let reply = rows(vec![
        vec![
            s("granted"),
            s(C),
            s("review"),
            Value::Array(vec![s("A"), s("B,C")]),
        ],
        vec![s("waiting"), s(C), Value::Int(2)],
        vec![s("not_found")],
        vec![s("terminated"), s(C), s("phase_timeout"), s("why")],
        vec![s("bid_timeout"), s(C), Value::Array(vec![])],
        vec![
            s("bids_overdue"),
            s(C),
            Value::Int(600_001),
            Value::Array(vec![s("Coder")]),
            Value::Int(2),
        ],
        vec![s("overdue_next"), Value::Int(1000)],
        vec![s("late_bid"), s(C), s("Coder"), s("review"), s("exclusive")],
        vec![
            s("adopted_claims"),
            s("phase1"),
            Value::Array(vec![s(C), s(C)]),
        ],
        vec![s("adopted_claims"), s("phase1"), Value::Array(vec![])],
        vec![s("adopted"), s(C), s("closed")],
        vec![s("not_counted"), s(C), s("parallel"), s("coder"), s(C)],
        vec![s("refused"), s("OOM command not allowed")],
    ]);
    assert_eq!(
        decode(&reply),
        Ok(vec![
            Effect::Granted {
                claim: claim(),
                phase: Phase::Review,
                agents: vec!["A".into(), "B,C".into()]
            },
            Effect::Waiting {
                claim: claim(),
                missing: 2
            },
            Effect::NotFound,
            Effect::Terminated {
                claim: claim(),
                cause: Cause::PhaseTimeout,
                reason: "why".into()
            },
            Effect::BidTimeout {
                claim: claim(),
                agents: vec![]
            },
            Effect::BidsOverdue {
                claim: claim(),
                waited_ms: 600_001,
                agents: vec!["Coder".into()],
                more: 2
            },
            Effect::OverdueNext { from: 1000 },
            Effect::LateBid {
                claim: claim(),
                agent: "Coder".into(),
                bid: "review".into(),
                at: "exclusive".into()
            },
            Effect::Adopted {
                claim: claim(),
                how: "phase1".into()
            },
            Effect::Adopted {
                claim: claim(),
                how: "phase1".into()
            },
            Effect::Adopted {
                claim: claim(),
                how: "closed".into()
            },
            Effect::NotCounted {
                claim: claim(),
                phase: Phase::Parallel,
                role: "coder".into(),
                artefact: ArtefactId::parse(C).unwrap()
            },
            Effect::Refused {
                error: "OOM command not allowed".into()
            },
        ])
    );
}

#[test]
fn anything_else_is_unexpected() {
    for bad in [
        rows(vec![vec![s("granted"), s(C)]]),
        rows(vec![vec![s("what")]]),
        rows(vec![vec![]]),
        rows(vec![vec![s("granted"), s(C), s("review"), s("A,B")]]),
        rows(vec![vec![
            s("granted"),
            s("not-an-id"),
            s("review"),
            Value::Array(vec![]),
        ]]),
        rows(vec![vec![s("waiting"), s(C), s("2")]]),
        rows(vec![vec![s("adopted_claims"), s("phase1")]]),
        rows(vec![vec![s("adopted_claims"), s("phase1"), s(C)]]),
        rows(vec![vec![
            s("adopted_claims"),
            s("phase1"),
            Value::Array(vec![s(C), s("not-an-id")]),
        ]]),
        rows(vec![vec![
            s("adopted_claims"),
            s("phase1"),
            Value::Array(vec![Value::Int(1)]),
        ]]),
        rows(vec![vec![s("waiting"), s(C), Value::Int(-1)]]),
        rows(vec![vec![s("terminated"), s(C), s("bored"), s("x")]]),
        rows(vec![vec![
            s("late_bid_honoured"),
            s(C),
            s("A"),
            s("claim"),
            s("later"),
        ]]),
        rows(vec![vec![
            s("bids_overdue"),
            s(C),
            Value::Int(1),
            s("A"),
            Value::Int(0),
        ]]),
        s("created"),
    ] {
        assert_eq!(decode(&bad), Err(UnexpectedReply), "{bad:?}");
    }
}

/// Protocol 6: a row laid flat (its cell count, then its cells) decodes as
/// the same row as a list, and both forms mix in one answer.
#[test]
fn flat_rows_decode_as_list_rows() {
    let flat = Value::Array(vec![
        Value::Int(4),
        s("granted"),
        s(C),
        s("exclusive"),
        Value::Array(vec![s("A")]),
        Value::Array(vec![s("waiting"), s(C), Value::Int(2)]),
        Value::Int(1),
        s("not_found"),
        Value::Int(3),
        s("waiting"),
        s(C),
        Value::Int(7),
    ]);
    assert_eq!(
        decode(&flat),
        Ok(vec![
            Effect::Granted {
                claim: claim(),
                phase: Phase::Exclusive,
                agents: vec!["A".into()],
            },
            Effect::Waiting {
                claim: claim(),
                missing: 2,
            },
            Effect::NotFound,
            Effect::Waiting {
                claim: claim(),
                missing: 7,
            },
        ])
    );
    assert_eq!(decode(&Value::Array(vec![])), Ok(vec![]));
    for bad in [
        // Fewer cells than the count says; a count of none; a negative one;
        // a count past the end (as large as it gets); a cell of a row too few.
        vec![Value::Int(3), s("waiting"), s(C)],
        vec![Value::Int(0)],
        vec![Value::Int(-1), s("not_found")],
        vec![Value::Int(i64::MAX), s("not_found")],
        vec![Value::Int(2), s("waiting"), s(C), Value::Int(2)],
        vec![Value::Int(1), s("not_found"), s("created")],
    ] {
        let bad = Value::Array(bad);
        assert_eq!(decode(&bad), Err(UnexpectedReply), "{bad:?}");
    }
}
