//! Bids: agents HSET their bid into `{p}:{i}:claim:{id}:bids`, then announce
//! it on `workflow_events` as `bid_submitted`. The hash is the truth; the
//! event only tells us *when* to look, so a grant follows the last bid within
//! milliseconds. Bids whose event never came are found by the sweep.
//!
//! Here: reading a `bid_submitted` event down to its claim, and running the
//! bids decision (`bids.lua`: is bidding complete, and what is granted?).

use std::borrow::Cow;

use redis::aio::MultiplexedConnection;
use redis::RedisError;
use serde::Deserialize;

use super::workflow_message::{self, Scanned};
use super::Lifecycle;
use crate::blackboard::effects::Effect;
use crate::ids::ClaimId;
use crate::redis_io::scripts::{decide, Decided};

/// Largest `workflow_events` message we read whole; larger ones are not bids
/// (a bid event is about 150 bytes) and are skipped as they stream by.
pub const MAX_WORKFLOW_MESSAGE: usize = 4096;

/// A `bid_submitted` event: which claim to look at, and (for the debug log)
/// who said they bid what (borrowed from the message unless escaped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BidEvent<'a> {
    /// A claim id in a form that may be used in a key.
    pub claim_id: ClaimId,
    pub agent_name: Cow<'a, str>,
    pub bid_type: Cow<'a, str>,
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

/// A workflow message's fields we read, borrowed from the message where
/// they have no escapes (every message on the channel is parsed, bids and
/// the others alike: a new `String` per field cost about a sixth of a
/// lifecycle claim's allocations).
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(default, borrow)]
    claim_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    agent_name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    bid_type: Option<Cow<'a, str>>,
}

/// Reads a `workflow_events` message: a message of the usual shape with our
/// own scanner (`workflow_message`), any other with serde_json, with the
/// same verdicts.
pub fn parse(message: &[u8]) -> Result<BidEvent<'_>, NotABid> {
    match workflow_message::scan(message) {
        Some(Scanned::Other) => Err(NotABid::OtherEvent),
        Some(Scanned::Bid(data)) => {
            let data = data.ok_or(NotABid::BadClaimId)?;
            bid(
                data.claim_id,
                data.agent_name.map(Cow::Borrowed),
                data.bid_type.map(Cow::Borrowed),
            )
        }
        None => parse_with_serde(message),
    }
}

/// [`parse`] with serde_json only (the rules: `bids_tests.rs` holds the
/// scanner to them).
pub(super) fn parse_with_serde(message: &[u8]) -> Result<BidEvent<'_>, NotABid> {
    #[derive(Deserialize)]
    struct Head {
        event: String,
    }
    // One parse for every well-formed message (bids, and the grants and
    // others, whose data has the same shape or more); only a message that
    // fails it is read again for its event, which decides between "not a
    // bid" and "malformed", as reading the event first would.
    let msg: Message = match serde_json::from_slice(message) {
        Ok(msg) => msg,
        Err(_) => {
            let head: Head = serde_json::from_slice(message).map_err(|_| NotABid::Malformed)?;
            return Err(if head.event == "bid_submitted" {
                NotABid::Malformed
            } else {
                NotABid::OtherEvent
            });
        }
    };
    if msg.event != "bid_submitted" {
        return Err(NotABid::OtherEvent);
    }
    let data = msg.data.ok_or(NotABid::BadClaimId)?;
    bid(
        data.claim_id.as_deref().map(str::as_bytes),
        data.agent_name,
        data.bid_type,
    )
}

/// The bid event of a `bid_submitted` message's data.
fn bid<'a>(
    claim_id: Option<&[u8]>,
    agent_name: Option<Cow<'a, str>>,
    bid_type: Option<Cow<'a, str>>,
) -> Result<BidEvent<'a>, NotABid> {
    let claim_id = claim_id
        .and_then(ClaimId::parse_bytes)
        .ok_or(NotABid::BadClaimId)?;
    Ok(BidEvent {
        claim_id,
        agent_name: agent_name.unwrap_or_default(),
        bid_type: bid_type.unwrap_or_default(),
    })
}

/// Runs the bids decision for each distinct claim that is still collecting
/// bids and whose bids hash has at least as many fields as there are agents
/// (two pipelines: `HLEN`, with a bid timeout also `ZSCORE`, then the
/// scripts). The others cannot be decided now, and cost a microsecond of
/// Redis CPU instead of a script call (tens): a claim no longer in the
/// bidding set (decided by an earlier bid's event: the script would answer
/// the same) is answered `NotBidding`; one with fewer fields `Waiting`,
/// `missing` = agents - fields (a lower bound: fields of unknown names
/// count); a claim named twice in the batch, or whose script another batch
/// has on its way after seeing every field (`Lifecycle::deciding`: that
/// script sees every bid this one would), is decided once. A bid timeout is
/// the sweep's to decide. `Err` only when a pipeline as a whole failed (the
/// connection is gone). One answer per claim, in order. `claims`: each
/// event's claim, and whether its bid is one to work (not `ignore`).
/// The commands go once per claim of the batch (its first event's; the
/// others answer `NotBidding`). Without a bid timeout, no `ZSCORE`; no
/// command at all for a claim whose decision this process saw made
/// (`Lifecycle::decided`, the latest `recent::RECENT`: not bidding), and
/// no `HLEN` for one whose script is on its way (`Lifecycle::deciding`);
/// the others are judged by `HLEN`, and only those with every field in are
/// looked up in the bidding set (`ZRANK`, a second pipeline, unless the
/// first looked already) before their scripts. One not bidding whose hash
/// is short answers `Waiting` rather than `NotBidding`, the same to every
/// caller without a timeout (neither is logged nor counted).
/// A claim no longer collecting bids may have received a late bid: those go
/// to the late-bid decision (`late_bid.lua`, one call for the batch, each
/// claim once), whose answer replaces `not_bidding`. With a bid timeout,
/// every such claim; without one, only a claim with a bid to work among its
/// events of the batch (only a bid an earlier orchestrator's timeout
/// decided without can be late then), not decided by this process (it
/// waited for every bid), and looked up in the bidding set by the first
/// pipeline (`ZRANK`, also when its script is on its way: that script may
/// find it decided elsewhere; whatever its hash's length, the first late
/// bid of two missing ones leaves it short).
pub async fn decide_batch(
    conn: &mut MultiplexedConnection,
    lc: &Lifecycle,
    claims: &[(ClaimId, bool)],
) -> Result<Vec<Decided>, RedisError> {
    let agents = lc.registry.agents().len();
    let bidding = lc.scripts.set_key(super::scripts::Set::Bidding);
    let timeout = lc.bid_timeout.is_some();
    // Per event: the batch's first event of its claim (the one that carries
    // the claim's commands and answer; the others answer `NotBidding`, as a
    // claim is decided once a batch). Without a timeout, a claim this
    // process decided (`decided`) needs no command (`skip`), and one whose
    // script is on its way (`deciding`: it sees every bid this event's
    // would) no `HLEN` (`on_way`): it is not decided again, but a bid to
    // work on it is still looked up (that script may find it decided
    // elsewhere: the bid may be late).
    // Which claims the first pipeline looks up in the bidding set: every
    // one with a timeout (ZSCORE), without one those whose bid may be late
    // (ZRANK: an integer reply): a bid to work on a claim not decided here.
    let n = claims.len();
    let mut first_of: Vec<usize> = Vec::with_capacity(n);
    let mut skip = vec![false; n];
    let mut on_way = vec![false; n];
    let mut look = vec![false; n];
    {
        let deciding = lc.deciding.lock().unwrap_or_else(|p| p.into_inner());
        let recent = lc.decided.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (claim, to_work)) in claims.iter().enumerate() {
            let first = (0..i).find(|&j| claims[j].0 == *claim).unwrap_or(i);
            first_of.push(first);
            if first == i && !timeout {
                skip[i] = recent.contains(claim);
                on_way[i] = !skip[i] && deciding.contains(claim);
            }
            look[first] |= timeout || (*to_work && !skip[first]);
        }
    }
    // Each command created at its final size (the redis crate grows a
    // command's buffers argument by argument otherwise).
    let sent = |i: usize| first_of[i] == i && !skip[i] && (look[i] || !on_way[i]);
    let commands = (0..n)
        .filter(|&i| sent(i))
        .map(|i| usize::from(look[i]) + usize::from(!on_way[i]))
        .sum();
    let mut pipe = redis::Pipeline::with_capacity(commands);
    for (i, (claim, _)) in claims.iter().enumerate() {
        if !sent(i) {
            continue;
        }
        let id = claim.as_str();
        if look[i] {
            let verb = if timeout { "ZSCORE" } else { "ZRANK" };
            let mut lookup = redis::Cmd::with_capacity(3, 6 + bidding.len() + id.len());
            lookup.arg(verb).arg(&bidding).arg(id);
            pipe.add_command(lookup);
        }
        if on_way[i] {
            continue;
        }
        let bids = lc.scripts.bids_key(claim);
        let mut hlen = redis::Cmd::with_capacity(2, 4 + bids.len());
        hlen.arg("HLEN").arg(bids);
        pipe.add_command(hlen);
    }
    // A key of the wrong type answers an error: the script decides (and says so).
    let replies: Vec<redis::RedisResult<redis::Value>> = if commands == 0 {
        Vec::new()
    } else {
        pipe.ignore_errors().query_async(conn).await?
    };
    let mut replies = replies.into_iter();
    let mut answers = Vec::with_capacity(n);
    // (index, fields seen) of the claims whose decision runs now.
    let mut ready: Vec<(usize, Option<usize>)> = Vec::new();
    // The claims found out of the bidding set by the look-up: a late bid's.
    let mut left = vec![false; n];
    {
        let deciding = lc.deciding.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (claim, _)) in claims.iter().enumerate() {
            if !sent(i) {
                answers.push(Some(Effect::NotBidding { claim: *claim }));
                continue;
            }
            let in_set = if look[i] {
                let found = !matches!(replies.next(), Some(Ok(redis::Value::Nil)));
                left[i] = !found;
                found
            } else {
                true
            };
            if on_way[i] {
                answers.push(Some(Effect::NotBidding { claim: *claim }));
                continue;
            }
            let fields = match replies.next() {
                Some(Ok(redis::Value::Int(n))) => Some(n as usize),
                _ => None,
            };
            answers.push(if !in_set || deciding.contains(claim) {
                Some(Effect::NotBidding { claim: *claim })
            } else if fields.is_some_and(|n| n < agents) {
                Some(Effect::Waiting {
                    claim: *claim,
                    missing: (agents - fields.unwrap_or(0)) as u64,
                })
            } else {
                ready.push((i, fields));
                None
            });
        }
    }
    // On their way from here (before any other await), so that another
    // batch's events for them need no call.
    let _on_its_way = Deciding::new(lc, ready.iter().map(|&(i, ..)| claims[i].0).collect());
    // Without a timeout, the claims about to be decided that the first
    // pipeline did not look up are looked up in the bidding set now (ZRANK),
    // not every bid event's: one decided elsewhere (the sweep, another
    // replica, or here longer ago than `decided` holds) costs no script.
    let unchecked: Vec<usize> = (0..ready.len()).filter(|&r| !look[ready[r].0]).collect();
    if !timeout && !unchecked.is_empty() {
        let mut pipe = redis::Pipeline::with_capacity(unchecked.len());
        for &r in &unchecked {
            pipe.cmd("ZRANK")
                .arg(&bidding)
                .arg(claims[ready[r].0].0.as_str());
        }
        let ranks: Vec<redis::RedisResult<redis::Value>> =
            pipe.ignore_errors().query_async(conn).await?;
        let mut gone = vec![false; ready.len()];
        for (&r, rank) in unchecked.iter().zip(ranks) {
            if matches!(rank, Ok(redis::Value::Nil)) {
                let i = ready[r].0;
                answers[i] = Some(Effect::NotBidding { claim: claims[i].0 });
                gone[r] = true;
            }
        }
        let mut r = 0;
        ready.retain(|_| {
            r += 1;
            !gone[r - 1]
        });
    }
    let calls: Vec<_> = ready
        .iter()
        .map(|&(i, fields)| lc.scripts.bids_seen(&claims[i].0, lc.bid_timeout, fields))
        .collect();
    let decided_now = decide(conn, &calls).await?;
    remember(
        lc,
        ready.iter().map(|&(i, ..)| &claims[i].0).zip(&decided_now),
    );
    let mut decided_now = decided_now.into_iter();
    let mut decided: Vec<Decided> = answers
        .into_iter()
        .map(|answer| match answer {
            Some(effect) => Ok(vec![effect]),
            None => decided_now.next().unwrap_or(Ok(Vec::new())),
        })
        .collect();
    let not_bidding = |d: &Decided| matches!(d.as_deref(), Ok([Effect::NotBidding { .. }]));
    let late: Vec<usize> = (0..claims.len())
        .filter(|&i| not_bidding(&decided[i]) && (timeout || left[i]))
        .collect();
    let Some(&first) = late.first() else {
        return Ok(decided);
    };
    // One call for the batch's late claims. Its answer stands for the first
    // of them (the others answer nothing more): a bid event's wait is
    // measured from the first one's arrival.
    let ids: Vec<ClaimId> = late.iter().map(|&i| claims[i].0).collect();
    let answer = decide(conn, &[lc.scripts.late_bids(&ids)]).await?;
    for &i in &late {
        decided[i] = Ok(Vec::new());
    }
    decided[first] = answer.into_iter().next().unwrap_or(Ok(Vec::new()));
    Ok(decided)
}

/// Remembers the claims whose bids decisions (`answers`, the sweep's too)
/// say they left the bidding set (`Lifecycle::decided`).
pub fn remember<'a>(lc: &Lifecycle, answers: impl Iterator<Item = (&'a ClaimId, &'a Decided)>) {
    let mut recent = lc.decided.lock().unwrap_or_else(|p| p.into_inner());
    for (claim, answer) in answers {
        if left_bidding(answer) {
            recent.insert(*claim);
        }
    }
}

/// True when a bids decision's answer says its claim collects bids no more
/// (not `waiting`, nor a key conflict, which wrote nothing).
fn left_bidding(answer: &Decided) -> bool {
    answer.as_deref().is_ok_and(|effects| {
        effects.iter().any(|e| {
            matches!(
                e,
                Effect::Granted { .. }
                    | Effect::Dormant { .. }
                    | Effect::NotBidding { .. }
                    | Effect::Terminated { .. }
            )
        })
    })
}

/// Claims in `Lifecycle::deciding` while their scripts are on their way;
/// taken out when dropped (answered, failed or cancelled).
struct Deciding<'a> {
    lc: &'a Lifecycle,
    claims: Vec<ClaimId>,
}

impl<'a> Deciding<'a> {
    fn new(lc: &'a Lifecycle, claims: Vec<ClaimId>) -> Deciding<'a> {
        let mut set = lc.deciding.lock().unwrap_or_else(|p| p.into_inner());
        set.extend(claims.iter().copied());
        drop(set);
        Deciding { lc, claims }
    }
}

impl Drop for Deciding<'_> {
    fn drop(&mut self) {
        let mut set = self.lc.deciding.lock().unwrap_or_else(|p| p.into_inner());
        for claim in &self.claims {
            set.remove(claim);
        }
    }
}
