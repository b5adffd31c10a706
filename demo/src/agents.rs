//! The demo's four simulated agents and their registry. Each runs on its own
//! connections and behaves as the contract says real (Go) agents do
//! (`lifecycle-contract.md` sections 4, 5, 6 and 8):
//!
//! - on every `claim_events` message that is not a feedback claim, read the
//!   claim's artefact and bid: HSET `{p}:{i}:claim:{id}:bids`, then publish
//!   `bid_submitted` on `workflow_events`;
//! - on a grant on `{p}:{i}:agent:{name}:events`, read the claim and work
//!   only if it names this agent: write a new artefact sourced from the
//!   claim's artefact, produced by this agent's role;
//! - on a feedback claim (`pending_assignment`) assigned to this agent,
//!   rework: same `logical_id`, `version` + 1, sourced from the target and
//!   the message's `additional_context_ids`, then `artefact_reworked`.
//!
//! What they bid and write is the demo's script, decided by the artefact's
//! `type` and payload (see [`Agent::bid`] and [`Agent::work`]).

use std::collections::HashMap;

use futures_lite::StreamExt as _;
use redis::aio::MultiplexedConnection;
use serde_json::Value;

use crate::wire::{workflow_event, Artefact, Keys};

/// The registry the orchestrator runs with. `max_review_iterations: 1`: a
/// first draft may be rejected and reworked once; a rejected rework is a
/// Failure (`MaxIterationsExceeded`).
pub const REGISTRY: &str = "\
version: '1.0'
agents:
  Reviewer: {}
  WorkerA: {}
  WorkerB: {}
  Coder: {}
orchestrator:
  max_review_iterations: 1
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    Reviewer,
    WorkerA,
    WorkerB,
    Coder,
}

/// In registry order (the order bids are printed in).
pub const AGENTS: [Agent; 4] = [
    Agent::Reviewer,
    Agent::WorkerA,
    Agent::WorkerB,
    Agent::Coder,
];

impl Agent {
    /// Name and role (Holt's format: one and the same).
    pub fn name(self) -> &'static str {
        match self {
            Agent::Reviewer => "Reviewer",
            Agent::WorkerA => "WorkerA",
            Agent::WorkerB => "WorkerB",
            Agent::Coder => "Coder",
        }
    }

    /// The Reviewer reviews goals and patches; both workers join the parallel
    /// phase of goals; the Coder wants goals and bug reports exclusively.
    /// Everything else (notes, code): `ignore`.
    pub fn bid(self, target: &Artefact) -> &'static str {
        match (self, target.kind.as_str()) {
            (Agent::Reviewer, "GoalDefined" | "Patch") => "review",
            (Agent::WorkerA | Agent::WorkerB, "GoalDefined") => "claim",
            (Agent::Coder, "GoalDefined" | "BugReport") => "exclusive",
            _ => "ignore",
        }
    }

    /// The artefact written for a grant on `target`. The Reviewer approves
    /// (`{}`) unless the payload asks otherwise: `[reject v1]` rejects a
    /// first version, `[reject all]` every version.
    pub fn work(self, target: &Artefact) -> Artefact {
        let mut a = match self {
            Agent::Reviewer => {
                let reject = target.payload.contains("[reject all]")
                    || (target.payload.contains("[reject v1]") && target.version == 1);
                let verdict = if reject {
                    format!(r#"{{"comment":"v{} does not hold yet"}}"#, target.version)
                } else {
                    "{}".to_string()
                };
                Artefact::new("Review", "ReviewResult", &verdict, self.name())
            }
            Agent::WorkerA | Agent::WorkerB => Artefact::new(
                "Standard",
                "Notes",
                &format!("notes on: {}", target.payload),
                self.name(),
            ),
            Agent::Coder if target.kind == "BugReport" => Artefact::new(
                "Standard",
                "Patch",
                &format!("patch for: {}", target.payload),
                self.name(),
            ),
            Agent::Coder => Artefact::new(
                "Standard",
                "Code",
                &format!("code for: {}", target.payload),
                self.name(),
            ),
        };
        a.sources = vec![target.id.clone()];
        a
    }

    /// The next version of `target`, answering the reviews in `context`.
    fn rework(self, target: &Artefact, context: &[String]) -> Artefact {
        let mut a = Artefact::new(
            &target.structural_type,
            &target.kind,
            &target.payload,
            self.name(),
        );
        a.logical_id = target.logical_id.clone();
        a.version = target.version + 1;
        a.sources = std::iter::once(target.id.clone())
            .chain(context.iter().cloned())
            .collect();
        a
    }
}

/// Subscribes `agent` to `claim_events` and its grant channel, and returns
/// the loop to run (already subscribed: nothing published after this
/// returns is missed). The loop ends when Redis goes away.
pub async fn start(
    agent: Agent,
    client: &redis::Client,
    keys: &Keys,
) -> redis::RedisResult<impl std::future::Future<Output = ()>> {
    let claims = keys.channel("claim_events");
    let grants = keys.channel(&format!("agent:{}:events", agent.name()));
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[&claims, &grants]).await?;
    let mut me = Runner {
        agent,
        keys: keys.clone(),
        conn: client.get_multiplexed_async_connection().await?,
    };
    Ok(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let Ok(v) = serde_json::from_slice::<Value>(msg.get_payload_bytes()) else {
                continue;
            };
            let done = if msg.get_channel_name() == claims {
                me.on_claim(&v).await
            } else {
                me.on_grant(&v).await
            };
            if let Err(e) = done {
                eprintln!("sett-demo: agent {}: {e}", agent.name());
                return;
            }
        }
    })
}

struct Runner {
    agent: Agent,
    keys: Keys,
    conn: MultiplexedConnection,
}

impl Runner {
    async fn on_claim(&mut self, claim: &Value) -> redis::RedisResult<()> {
        let (Some(id), Some(artefact)) = (claim["id"].as_str(), claim["artefact_id"].as_str())
        else {
            return Ok(());
        };
        let Some(target) = Artefact::read(&mut self.conn, &self.keys, artefact).await? else {
            return Ok(());
        };
        let name = self.agent.name();
        if claim["status"] == "pending_assignment" {
            if claim["granted_exclusive_agent"] == name {
                let context: Vec<String> =
                    serde_json::from_value(claim["additional_context_ids"].clone())
                        .unwrap_or_default();
                self.rework(&target, &context).await?;
            }
            return Ok(());
        }
        let bid = self.agent.bid(&target);
        redis::cmd("HSET")
            .arg(self.keys.bids(id))
            .arg(name)
            .arg(bid)
            .query_async::<()>(&mut self.conn)
            .await?;
        workflow_event(
            &mut self.conn,
            &self.keys,
            "bid_submitted",
            &[
                ("agent_name", name.into()),
                ("bid_type", bid.into()),
                ("claim_id", id.into()),
            ],
        )
        .await
    }

    async fn on_grant(&mut self, grant: &Value) -> redis::RedisResult<()> {
        let Some(claim_id) = grant["claim_id"].as_str() else {
            return Ok(());
        };
        let claim: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.keys.claim(claim_id))
            .query_async(&mut self.conn)
            .await?;
        let name = self.agent.name();
        let listed = |field: &str| {
            claim
                .get(field)
                .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
                .is_some_and(|names| names.iter().any(|n| n == name))
        };
        let granted = listed("granted_review_agents")
            || listed("granted_parallel_agents")
            || claim.get("granted_exclusive_agent").map(String::as_str) == Some(name);
        let Some(artefact) = claim.get("artefact_id").filter(|_| granted) else {
            return Ok(());
        };
        let Some(target) = Artefact::read(&mut self.conn, &self.keys, artefact).await? else {
            return Ok(());
        };
        self.agent
            .work(&target)
            .write(&mut self.conn, &self.keys)
            .await
    }

    async fn rework(&mut self, target: &Artefact, context: &[String]) -> redis::RedisResult<()> {
        let next = self.agent.rework(target, context);
        next.write(&mut self.conn, &self.keys).await?;
        workflow_event(
            &mut self.conn,
            &self.keys,
            "artefact_reworked",
            &[
                ("artefact_type", next.kind.as_str().into()),
                ("logical_id", next.logical_id.as_str().into()),
                ("new_artefact_id", next.id.as_str().into()),
                ("new_version", next.version.into()),
                ("previous_version_id", target.id.as_str().into()),
                ("produced_by_role", next.role.as_str().into()),
            ],
        )
        .await
    }
}
