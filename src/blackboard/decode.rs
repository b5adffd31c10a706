//! The one decoder of every decision script's answer (protocol in
//! `effects`): rows of a tag and cells, read by position into typed effects.
//! Anything else is an [`UnexpectedReply`], never a guess.

use redis::Value;

use super::effects::{Cause, Effect, Phase};
use crate::ids::{ArtefactId, ClaimId};

/// An answer no script of ours gives (another script under our SHA?).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnexpectedReply;

impl std::fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unexpected reply from a decision script")
    }
}

/// Decodes a script's whole answer: a list of rows, each either a list (its
/// cells) or, laid flat in the answer itself, an integer n followed by its
/// n cells (no table per row for Redis to make a reply of). A row is one
/// effect, except `adopted_claims` (how, claim ids): one `Adopted` per
/// claim, in the list's order (a batch of adoptions answered without a row
/// per claim).
pub fn decode(reply: &Value) -> Result<Vec<Effect>, UnexpectedReply> {
    let Value::Array(items) = reply else {
        return Err(UnexpectedReply);
    };
    let mut out = Vec::with_capacity(items.len());
    let mut at = 0;
    while at < items.len() {
        let cells: &[Value] = match &items[at] {
            Value::Array(cells) => {
                at += 1;
                cells
            }
            Value::Int(n) => {
                let n = usize::try_from(*n).map_err(|_| UnexpectedReply)?;
                let end = n.checked_add(at + 1).ok_or(UnexpectedReply)?;
                let cells = items.get(at + 1..end).ok_or(UnexpectedReply)?;
                at = end;
                cells
            }
            _ => return Err(UnexpectedReply),
        };
        let row = Row(cells);
        match row.0.first() {
            Some(Value::BulkString(tag)) if tag == b"adopted_claims" => {
                row.adopted_claims(&mut out)?
            }
            _ => out.push(row.effect()?),
        }
    }
    Ok(out)
}

/// One row's cells, read by position.
struct Row<'a>(&'a [Value]);

type Cell<T> = Result<T, UnexpectedReply>;

impl Row<'_> {
    fn text(&self, i: usize) -> Cell<String> {
        match self.0.get(i) {
            Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(Value::SimpleString(s)) => Ok(s.clone()),
            _ => Err(UnexpectedReply),
        }
    }

    fn int(&self, i: usize) -> Cell<i64> {
        match self.0.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(UnexpectedReply),
        }
    }

    fn count(&self, i: usize) -> Cell<u64> {
        u64::try_from(self.int(i)?).map_err(|_| UnexpectedReply)
    }

    fn list(&self, i: usize) -> Cell<Vec<String>> {
        match self.0.get(i) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                    _ => Err(UnexpectedReply),
                })
                .collect(),
            _ => Err(UnexpectedReply),
        }
    }

    /// A cell's bytes, without copying them (ids are read straight from it).
    fn bytes(&self, i: usize) -> Cell<&[u8]> {
        match self.0.get(i) {
            Some(Value::BulkString(b)) => Ok(b),
            Some(Value::SimpleString(s)) => Ok(s.as_bytes()),
            _ => Err(UnexpectedReply),
        }
    }

    fn claim(&self, i: usize) -> Cell<ClaimId> {
        ClaimId::parse_bytes(self.bytes(i)?).ok_or(UnexpectedReply)
    }

    fn artefact(&self, i: usize) -> Cell<ArtefactId> {
        ArtefactId::parse_bytes(self.bytes(i)?).ok_or(UnexpectedReply)
    }

    /// `adopted_claims`, how, [claim ids]: an `Adopted` for each claim.
    fn adopted_claims(&self, out: &mut Vec<Effect>) -> Cell<()> {
        let how = self.text(1)?;
        let Some(Value::Array(claims)) = self.0.get(2) else {
            return Err(UnexpectedReply);
        };
        for claim in claims {
            let Value::BulkString(claim) = claim else {
                return Err(UnexpectedReply);
            };
            out.push(Effect::Adopted {
                claim: ClaimId::parse_bytes(claim).ok_or(UnexpectedReply)?,
                how: how.clone(),
            });
        }
        Ok(())
    }

    fn phase(&self, i: usize) -> Cell<Phase> {
        Phase::parse(&self.text(i)?).ok_or(UnexpectedReply)
    }

    fn effect(&self) -> Cell<Effect> {
        let claim = || self.claim(1);
        let tag = std::str::from_utf8(self.bytes(0)?).map_err(|_| UnexpectedReply)?;
        Ok(match tag {
            "created" => Effect::Created { claim: claim()? },
            "duplicate" => Effect::Duplicate {
                existing: self.text(1)?,
            },
            "foreign" => Effect::Foreign { claim: claim()? },
            "not_found" => Effect::NotFound,
            "invalid" => Effect::Invalid {
                reason: self.text(1)?,
            },
            "index_conflict" => Effect::IndexConflict {
                key_type: self.text(1)?,
            },
            "key_conflict" => Effect::KeyConflict {
                key: self.text(1)?,
                key_type: self.text(2)?,
            },
            "refused" => Effect::Refused {
                error: self.text(1)?,
            },
            "skipped" => Effect::Skipped {
                structural_type: self.text(1)?,
                artefact_type: self.text(2)?,
            },
            "delivered" => Effect::Delivered {
                claim: claim()?,
                phase: self.phase(2)?,
                role: self.text(3)?,
                artefact: self.artefact(4)?,
            },
            "not_counted" => Effect::NotCounted {
                claim: claim()?,
                phase: self.phase(2)?,
                role: self.text(3)?,
                artefact: self.artefact(4)?,
            },
            "granted" => Effect::Granted {
                claim: claim()?,
                phase: self.phase(2)?,
                agents: self.list(3)?,
            },
            "review_approved" => Effect::ReviewApproved {
                claim: claim()?,
                role: self.text(2)?,
                review: self.text(3)?,
            },
            "review_rejected" => Effect::ReviewRejected {
                claim: claim()?,
                role: self.text(2)?,
                review: self.text(3)?,
            },
            "complete" => Effect::Complete { claim: claim()? },
            "terminated" => Effect::Terminated {
                claim: claim()?,
                cause: Cause::parse(&self.text(2)?).ok_or(UnexpectedReply)?,
                reason: self.text(3)?,
            },
            "feedback_claim" => Effect::FeedbackClaim {
                claim: claim()?,
                feedback_claim: self.claim(2)?,
                agent: self.text(3)?,
                iteration: self.count(4)?,
            },
            "failure_artefact" => Effect::FailureArtefact {
                claim: claim()?,
                artefact: self.artefact(2)?,
                kind: self.text(3)?,
            },
            "reworked" => Effect::Reworked {
                claim: claim()?,
                artefact: self.artefact(2)?,
            },
            "dormant" => Effect::Dormant { claim: claim()? },
            "bid_timeout" => Effect::BidTimeout {
                claim: claim()?,
                agents: self.list(2)?,
            },
            "invalid_bid" => Effect::InvalidBid {
                claim: claim()?,
                agent: self.text(2)?,
                value: self.text(3)?,
            },
            "unknown_bidder" => Effect::UnknownBidder {
                claim: claim()?,
                agent: self.text(2)?,
            },
            "unknown_bidders" => Effect::UnknownBidders {
                claim: claim()?,
                count: self.count(2)?,
            },
            "waiting" => Effect::Waiting {
                claim: claim()?,
                missing: self.count(2)?,
            },
            "not_bidding" => Effect::NotBidding { claim: claim()? },
            "not_late" => Effect::NotLate { claim: claim()? },
            "late_bid_honoured" => Effect::LateBidHonoured {
                claim: claim()?,
                agent: self.text(2)?,
                bid: self.text(3)?,
                phase: self.phase(4)?,
            },
            "late_bid" => Effect::LateBid {
                claim: claim()?,
                agent: self.text(2)?,
                bid: self.text(3)?,
                at: self.text(4)?,
            },
            "bids_overdue" => Effect::BidsOverdue {
                claim: claim()?,
                waited_ms: self.count(2)?,
                agents: self.list(3)?,
                more: self.count(4)?,
            },
            "overdue_next" => Effect::OverdueNext {
                from: self.count(1)?,
            },
            "adopted" => Effect::Adopted {
                claim: claim()?,
                how: self.text(2)?,
            },
            "not_adopted" => Effect::NotAdopted {
                claim: claim()?,
                reason: self.text(2)?,
            },
            "not_active" => Effect::NotActive { claim: claim()? },
            "running" => Effect::Running { claim: claim()? },
            "worker_granted" => Effect::WorkerGranted {
                claim: claim()?,
                role: self.text(2)?,
                agent: self.text(3)?,
                resumed: self.int(4)? == 1,
            },
            "worker_queued" => Effect::WorkerQueued {
                claim: claim()?,
                role: self.text(2)?,
                queued: self.count(3)?,
            },
            "worker_launch" => Effect::WorkerLaunch { claim: claim()? },
            "worker_launched" => Effect::WorkerLaunched {
                claim: claim()?,
                state: self.text(2)?,
            },
            "worker_gone" => Effect::WorkerGone { claim: claim()? },
            "worker_ended" => Effect::WorkerEnded {
                claim: claim()?,
                role: self.text(2)?,
                kind: self.text(3)?,
                code: self.int(4)?,
            },
            _ => return Err(UnexpectedReply),
        })
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
