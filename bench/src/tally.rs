//! Counting: what was sent against what came back, per artefact.
//!
//! Kept pure (no Redis, no clock) so the rules are unit-tested: an artefact
//! with two claim events, or two claim hashes on the blackboard, is counted as
//! duplicated; one with none is missing. Nothing is folded away.

use serde::Serialize;

/// One message seen on `claim_events`.
#[derive(Clone, Debug)]
pub struct ClaimEvent {
    /// Index of the artefact in this run, `None` when it is not one of ours.
    pub artefact: Option<u32>,
    pub claim_id: String,
    /// Nanoseconds since the run's clock started.
    pub at_ns: u64,
}

/// The counts of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Artefacts written (each published `duplicates` times).
    pub sent: u64,
    /// Artefacts that must get a claim (all of them unless Terminal).
    pub expected: u64,
    /// Expected artefacts with at least one claim event.
    pub claimed: u64,
    /// Expected artefacts with no claim event.
    pub missing: u64,
    /// Artefacts with more than one claim event or more than one claim hash.
    pub duplicated: u64,
    /// Claim events beyond the first per artefact.
    pub extra_claim_events: u64,
    /// Distinct claim ids announced for this run's artefacts (two per artefact: two claims).
    pub claim_ids_announced: u64,
    /// Claim events or hashes for artefacts that must not get one (Terminal).
    pub unexpected_claims: u64,
    /// Expected artefacts with no claim hash on the blackboard.
    pub board_unclaimed: u64,
    /// Claim events that are not about this run's artefacts (or not parseable).
    pub foreign_events: u64,
}

/// Counts `events` and the per-artefact claim-hash counts `board` against `sent` artefacts.
pub fn count(sent: usize, expect_claims: bool, events: &[ClaimEvent], board: &[u32]) -> Tally {
    let mut per_artefact = vec![0u32; sent];
    let mut foreign = 0;
    for e in events {
        match e.artefact {
            Some(i) if (i as usize) < sent => per_artefact[i as usize] += 1,
            _ => foreign += 1,
        }
    }
    let distinct: std::collections::HashSet<(u32, &str)> = events
        .iter()
        .filter_map(|e| e.artefact.map(|i| (i, e.claim_id.as_str())))
        .collect();
    let mut t = Tally {
        sent: sent as u64,
        foreign_events: foreign,
        claim_ids_announced: distinct.len() as u64,
        ..Tally::default()
    };
    for (i, &n) in per_artefact.iter().enumerate() {
        let on_board = board.get(i).copied().unwrap_or(0);
        if n > 1 || on_board > 1 {
            t.duplicated += 1;
        }
        t.extra_claim_events += u64::from(n.saturating_sub(1));
        if expect_claims {
            t.expected += 1;
            if n == 0 {
                t.missing += 1;
            } else {
                t.claimed += 1;
            }
            if on_board == 0 {
                t.board_unclaimed += 1;
            }
        } else if n > 0 || on_board > 0 {
            t.unexpected_claims += 1;
        }
    }
    t
}

/// Per artefact, nanoseconds from its (first) publish to its first claim event.
pub fn first_claim_latencies(sent_at_ns: &[u64], events: &[ClaimEvent]) -> Vec<u64> {
    let mut first = vec![u64::MAX; sent_at_ns.len()];
    for e in events {
        if let Some(i) = e.artefact.map(|i| i as usize).filter(|&i| i < first.len()) {
            first[i] = first[i].min(e.at_ns);
        }
    }
    first
        .iter()
        .zip(sent_at_ns)
        .filter(|(&f, &s)| f != u64::MAX && s != 0)
        .map(|(&f, &s)| f.saturating_sub(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(artefact: Option<u32>, claim: &str, at_ns: u64) -> ClaimEvent {
        ClaimEvent {
            artefact,
            claim_id: claim.into(),
            at_ns,
        }
    }

    #[test]
    fn exact_counts() {
        let events = [
            ev(Some(0), "a", 5),
            ev(Some(1), "b", 6),
            ev(Some(1), "c", 7),
            ev(None, "x", 8),
        ];
        let t = count(4, true, &events, &[1, 2, 0, 0]);
        assert_eq!(
            t,
            Tally {
                sent: 4,
                expected: 4,
                claimed: 2,
                missing: 2,
                duplicated: 1,
                extra_claim_events: 1,
                claim_ids_announced: 3,
                unexpected_claims: 0,
                board_unclaimed: 2,
                foreign_events: 1,
            }
        );
    }

    #[test]
    fn the_same_claim_announced_twice_is_one_claim_id_but_a_duplicate() {
        let t = count(1, true, &[ev(Some(0), "a", 1), ev(Some(0), "a", 2)], &[1]);
        assert_eq!(
            (
                t.claimed,
                t.duplicated,
                t.extra_claim_events,
                t.claim_ids_announced
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn two_hashes_with_one_event_are_a_duplicate_too() {
        let t = count(1, true, &[ev(Some(0), "a", 1)], &[2]);
        assert_eq!(
            (t.claimed, t.missing, t.duplicated, t.extra_claim_events),
            (1, 0, 1, 0)
        );
    }

    #[test]
    fn terminal_claims_are_unexpected_not_missing() {
        let t = count(3, false, &[ev(Some(2), "a", 1)], &[0, 1, 1]);
        assert_eq!(
            (t.expected, t.missing, t.claimed, t.unexpected_claims),
            (0, 0, 0, 2)
        );
    }

    #[test]
    fn latency_is_from_publish_to_the_first_claim() {
        let events = [
            ev(Some(0), "a", 50),
            ev(Some(0), "b", 20),
            ev(Some(1), "c", 90),
        ];
        assert_eq!(first_claim_latencies(&[10, 30, 40], &events), vec![10, 60]);
    }
}
