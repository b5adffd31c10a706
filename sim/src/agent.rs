//! One agent's decisions on each message it hears, made as the lifecycle
//! contract says Holt's Go agent makes them (sections 4, 5, 6 and 8), apart
//! from any connection: a [`Next`] says which hash to read and, once it is
//! read, what to write, so that one logic serves a blocking thread per
//! agent ([`crate::thread`]) and tasks on an executor ([`crate::swarm`]).
//!
//! - On a `claim_events` message whose status is not `pending_assignment`:
//!   read the target artefact; if it decodes ([`Artefact::from_fields`]) and
//!   the spec bids, HSET the bids hash, then publish `bid_submitted`.
//! - On a feedback claim (`pending_assignment`) whose
//!   `granted_exclusive_agent` is this agent: read the target, write the
//!   rework (same `logical_id`, `version` + 1, same `type`, sourced from
//!   the target and the message's `additional_context_ids`), then publish
//!   `artefact_reworked`.
//! - On a grant on `agent:{name}:events`: read the claim; accept only when
//!   the name is in one of its three granted fields; read the target; write
//!   the work, sourced from the claim's artefact, with the agent's role.
//!   No memory of grants: every grant heard is worked again.

use serde::Deserialize;
use serde_json::Value;

use crate::artefact::{self, Artefact};
use crate::commands::{self, command};
use crate::keys::Keys;
use crate::spec::Spec;
use crate::wire;

/// A message an agent acts on, decoded (anything else it ignores).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A `claim_events` message.
    Claim {
        id: String,
        artefact: String,
        status: String,
        /// `granted_exclusive_agent` (a feedback claim's agent).
        assignee: String,
        /// `additional_context_ids` (a feedback claim's reviews).
        context: Vec<String>,
    },
    /// A grant on the agent's own channel.
    Grant { claim: String, claim_type: String },
}

/// A `claim_events` message as agents decode it (other fields skipped).
#[derive(Deserialize)]
struct ClaimMsg {
    id: String,
    artefact_id: String,
    #[serde(default)]
    status: Value,
    #[serde(default)]
    granted_exclusive_agent: Value,
    #[serde(default)]
    additional_context_ids: Value,
}

/// A grant on an agent's channel.
#[derive(Deserialize)]
struct GrantMsg {
    claim_id: String,
    #[serde(default)]
    claim_type: Value,
}

impl Heard {
    /// A payload from `claim_events` (`claims`) or from the agent's channel.
    pub fn parse(claims: bool, payload: &[u8]) -> Option<Heard> {
        let text = |v: Value| match v {
            Value::String(s) => s,
            _ => String::new(),
        };
        if !claims {
            let g: GrantMsg = serde_json::from_slice(payload).ok()?;
            return Some(Heard::Grant {
                claim: g.claim_id,
                claim_type: text(g.claim_type),
            });
        }
        let c: ClaimMsg = serde_json::from_slice(payload).ok()?;
        let context = match c.additional_context_ids {
            Value::Array(ids) => ids.into_iter().filter(Value::is_string).map(text).collect(),
            _ => Vec::new(),
        };
        Some(Heard::Claim {
            id: c.id,
            artefact: c.artefact_id,
            status: text(c.status),
            assignee: text(c.granted_exclusive_agent),
            context,
        })
    }
}

/// What an agent writes, named for whoever watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// A bid on `claim`, whose artefact is `artefact`.
    Bid {
        claim: String,
        artefact: String,
        bid: String,
    },
    /// The work for a grant on `claim` (on artefact `source`): artefact `id`.
    Work {
        claim: String,
        source: String,
        id: String,
    },
    /// The rework answering feedback claim `claim`: artefact `id`.
    Rework { claim: String, id: String },
}

/// Sees what agents hear and do: the tests' record of each agent, the
/// bench's clock. Each call names the agent.
pub trait Watch: Send + Sync {
    /// A message the agent acts on, as it arrives.
    fn heard(&self, _agent: &str, _heard: &Heard) {}
    /// `act`'s writes go out next.
    fn sending(&self, _agent: &str, _act: &Act) {}
    /// `act`'s writes were all acknowledged.
    fn sent(&self, _agent: &str, _act: &Act) {}
    /// A read or write failed: the agent drops that message.
    fn failed(&self, _agent: &str, _error: &redis::RedisError) {}
}

/// What to do next with a message.
pub enum Next {
    /// Send [`Job::read`] and give its reply to [`Job::resume`].
    Read(Job),
    /// Send these writes (one pipeline), which are `Act`.
    Write(Act, redis::Pipeline),
    /// Nothing (more) to do.
    Done,
}

/// A message half done: waiting for a hash's fields.
pub struct Job {
    read: redis::Cmd,
    then: Then,
}

/// What an agent reads of a claim to accept a grant.
const CLAIM_FIELDS: [&str; 4] = [
    "artefact_id",
    "granted_review_agents",
    "granted_parallel_agents",
    "granted_exclusive_agent",
];

enum Then {
    Bid { claim: String, artefact: String },
    Rework { claim: String, context: Vec<String> },
    Grant { claim: String },
    Work { claim: String, source: String },
}

/// One agent: its spec, on one instance.
pub struct Agent {
    pub spec: Spec,
    pub keys: Keys,
}

impl Agent {
    pub fn new(spec: Spec, keys: Keys) -> Agent {
        Agent { spec, keys }
    }

    /// The first step for `heard`.
    pub fn on(&self, heard: Heard) -> Next {
        let (read, then) = match heard {
            Heard::Claim {
                id,
                artefact,
                status,
                assignee,
                context,
            } => {
                let read = Artefact::read(&self.keys, &artefact);
                let then = if status != "pending_assignment" {
                    Then::Bid {
                        claim: id,
                        artefact,
                    }
                } else if assignee == self.spec.name {
                    Then::Rework { claim: id, context }
                } else {
                    return Next::Done;
                };
                (read, then)
            }
            Heard::Grant { claim, .. } => {
                let read = commands::hmget(&self.keys.claim(&claim), &CLAIM_FIELDS);
                (read, Then::Grant { claim })
            }
        };
        Next::Read(Job { read, then })
    }

    /// The agent's decision once the fields it asked for are read.
    fn resume(&self, then: Then, values: Vec<Option<String>>) -> Next {
        if let Then::Grant { claim } = then {
            return match self.accepted(values) {
                Some(source) => Next::Read(Job {
                    read: Artefact::read(&self.keys, &source),
                    then: Then::Work { claim, source },
                }),
                None => Next::Done,
            };
        }
        let Some(target) = Artefact::from_fields(values) else {
            return Next::Done;
        };
        let spec = &self.spec;
        let mut pipe = redis::pipe();
        let act = match then {
            Then::Grant { .. } => unreachable!("handled above"),
            Then::Bid { claim, artefact } => {
                let Some(bid) = (spec.bid)(&target) else {
                    return Next::Done;
                };
                let bids = self.keys.bids(&claim);
                let hset = [bids.as_bytes(), spec.name.as_bytes(), bid.as_bytes()];
                pipe.add_command(command("HSET", &hset)).ignore();
                let msg = wire::bid_submitted(&claim, &spec.name, &bid);
                pipe.add_command(commands::publish(&self.keys, &msg))
                    .ignore();
                Act::Bid {
                    claim,
                    artefact,
                    bid,
                }
            }
            Then::Work { claim, source } => {
                let Some(work) = (spec.work)(&target) else {
                    return Next::Done;
                };
                let mut new =
                    Artefact::new(&work.structural_type, &work.kind, &work.payload, &spec.role);
                new.sources = vec![source.clone()];
                new.write(&self.keys, &mut pipe);
                Act::Work {
                    claim,
                    source,
                    id: new.id,
                }
            }
            Then::Rework { claim, context } => {
                let Some(work) = spec.rework.as_ref().and_then(|f| f(&target)) else {
                    return Next::Done;
                };
                let new = Artefact {
                    id: artefact::new_id(),
                    logical_id: target.logical_id.clone(),
                    version: target.version + 1,
                    structural_type: work.structural_type,
                    kind: target.kind.clone(),
                    payload: work.payload,
                    sources: std::iter::once(target.id.clone()).chain(context).collect(),
                    role: spec.role.clone(),
                };
                let hash = new.write(&self.keys, &mut pipe);
                let msg = wire::artefact_reworked(&hash[..], &target.id);
                pipe.add_command(commands::publish(&self.keys, &msg))
                    .ignore();
                Act::Rework { claim, id: new.id }
            }
        };
        Next::Write(act, pipe)
    }

    /// The claim's artefact when this agent's name is in one of the
    /// claim's granted fields ([`CLAIM_FIELDS`], as read).
    fn accepted(&self, claim: Vec<Option<String>>) -> Option<String> {
        let Ok([artefact, review, parallel, exclusive]) = <[Option<String>; 4]>::try_from(claim)
        else {
            return None;
        };
        let name = &self.spec.name;
        let listed = |field: Option<String>| {
            field
                .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
                .is_some_and(|names| names.contains(name))
        };
        let granted = listed(review) || listed(parallel) || exclusive.as_ref() == Some(name);
        artefact.filter(|_| granted)
    }
}

impl Job {
    /// What to read: an `HMGET`, whose reply is one value per field.
    pub fn read(&self) -> &redis::Cmd {
        &self.read
    }

    /// The next step, given the reply to [`Job::read`].
    pub fn resume(self, agent: &Agent, values: Vec<Option<String>>) -> Next {
        agent.resume(self.then, values)
    }
}
