//! Bids: agents HSET their bid into `{p}:{i}:claim:{id}:bids`, then announce
//! it on `workflow_events` as `bid_submitted`. The hash is the truth; the
//! event only tells us *when* to look, so a grant follows the last bid within
//! milliseconds. Bids whose event never came are found by the sweep.
//!
//! Here: reading a `bid_submitted` event down to its claim, and running the
//! bids decision (`bids.lua`: is bidding complete, and what is granted?).

use redis::aio::MultiplexedConnection;
use redis::RedisError;
use serde::Deserialize;

use super::Lifecycle;
use crate::blackboard::effects::Effect;
use crate::ids::ClaimId;
use crate::redis_io::scripts::{decide, Decided};

/// Largest `workflow_events` message we read whole; larger ones are not bids
/// (a bid event is about 150 bytes) and are skipped as they stream by.
pub const MAX_WORKFLOW_MESSAGE: usize = 4096;

/// A `bid_submitted` event: which claim to look at, and (for the debug log)
/// who said they bid what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BidEvent {
    /// A claim id in a form that may be used in a key.
    pub claim_id: ClaimId,
    pub agent_name: String,
    pub bid_type: String,
}

/// Why a workflow message is not a usable bid event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotABid {
    /// Another workflow event (ours, or the CLI's): not for us.
    OtherEvent,
    /// Says `bid_submitted` but its claim id is missing or not an id.
    BadClaimId,
    /// Not JSON, or not the event shape.
    Malformed,
}

#[derive(Deserialize)]
struct Message {
    event: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    claim_id: Option<String>,
    #[serde(default)]
    agent_name: Option<String>,
    #[serde(default)]
    bid_type: Option<String>,
}

/// Reads a `workflow_events` message.
pub fn parse(message: &[u8]) -> Result<BidEvent, NotABid> {
    #[derive(Deserialize)]
    struct Head {
        event: String,
    }
    let head: Head = serde_json::from_slice(message).map_err(|_| NotABid::Malformed)?;
    if head.event != "bid_submitted" {
        return Err(NotABid::OtherEvent);
    }
    let msg: Message = serde_json::from_slice(message).map_err(|_| NotABid::Malformed)?;
    debug_assert_eq!(msg.event, "bid_submitted");
    let data = msg.data.ok_or(NotABid::BadClaimId)?;
    let claim_id = data
        .claim_id
        .as_deref()
        .and_then(ClaimId::parse)
        .ok_or(NotABid::BadClaimId)?;
    Ok(BidEvent {
        claim_id,
        agent_name: data.agent_name.unwrap_or_default(),
        bid_type: data.bid_type.unwrap_or_default(),
    })
}

/// Runs the bids decision for each claim (one pipeline). `Err` only when
/// the pipeline as a whole failed (the connection is gone). With a bid
/// timeout, a claim no longer collecting bids may have received a late bid:
/// those go to the late-bid decision (`late_bid.lua`, a second pipeline),
/// whose answer replaces `not_bidding`.
pub async fn decide_batch(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    claims: &[ClaimId],
) -> Result<Vec<Decided>, RedisError> {
    let calls: Vec<_> = claims
        .iter()
        .map(|claim| lc.scripts.bids(claim, lc.bid_timeout))
        .collect();
    let mut decided = decide(conn, &calls).await?;
    if lc.bid_timeout.is_none() {
        return Ok(decided);
    }
    let decided_already = |d: &Decided| !matches!(d.as_deref(), Ok([Effect::NotBidding { .. }]));
    let late: Vec<usize> = (0..claims.len())
        .filter(|&i| !decided_already(&decided[i]))
        .collect();
    let calls: Vec<_> = late
        .iter()
        .map(|&i| lc.scripts.late_bid(&claims[i]))
        .collect();
    for (i, answer) in late.into_iter().zip(decide(conn, &calls).await?) {
        decided[i] = answer;
    }
    Ok(decided)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIM: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";

    #[test]
    fn bid_events_parse() {
        let msg = format!(
            r#"{{"event":"bid_submitted","data":{{"agent_name":"Coder","bid_type":"exclusive","claim_id":"{CLAIM}"}}}}"#
        );
        let bid = parse(msg.as_bytes()).unwrap();
        assert_eq!(bid.claim_id.as_str(), CLAIM);
        assert_eq!(bid.agent_name, "Coder");
        assert_eq!(bid.bid_type, "exclusive");
    }

    #[test]
    fn everything_else_is_not_a_bid() {
        let granted = format!(
            r#"{{"event":"claim_granted","data":{{"agent_image_id":"","agent_name":"A","claim_id":"{CLAIM}","grant_type":"review"}}}}"#
        );
        assert_eq!(parse(granted.as_bytes()), Err(NotABid::OtherEvent));
        assert_eq!(parse(b"not json"), Err(NotABid::Malformed));
        assert_eq!(parse(b"{}"), Err(NotABid::Malformed));
        assert_eq!(
            parse(br#"{"event":"bid_submitted"}"#),
            Err(NotABid::BadClaimId)
        );
        assert_eq!(
            parse(br#"{"event":"bid_submitted","data":{"claim_id":"../x"}}"#),
            Err(NotABid::BadClaimId)
        );
        assert_eq!(
            parse(br#"{"event":"bid_submitted","data":{"claim_id":5}}"#),
            Err(NotABid::Malformed)
        );
    }
}
