//! The demo's four agents and their registry: what each bids and writes is
//! the demo's script, decided by the artefact's `type` and payload (see
//! [`Agent::bid`] and [`Agent::work`]); how they read, bid, accept grants
//! and rework is the lifecycle contract's, played by sett-sim.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use futures_lite::{future, FutureExt as _};
use sett_sim::{swarm, Keys, Spec, Target, Watch, Work};

use crate::timeline::Timeline;

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
    pub fn bid(self, target: &Target) -> &'static str {
        match (self, target.kind.as_str()) {
            (Agent::Reviewer, "GoalDefined" | "Patch") => "review",
            (Agent::WorkerA | Agent::WorkerB, "GoalDefined") => "claim",
            (Agent::Coder, "GoalDefined" | "BugReport") => "exclusive",
            _ => "ignore",
        }
    }

    /// What it writes for a grant on `target`. The Reviewer approves (`{}`)
    /// unless the payload asks otherwise: `[reject v1]` rejects a first
    /// version, `[reject all]` every version.
    pub fn work(self, target: &Target) -> Work {
        match self {
            Agent::Reviewer => {
                let reject = target.payload.contains("[reject all]")
                    || (target.payload.contains("[reject v1]") && target.version == 1);
                let verdict = if reject {
                    format!(r#"{{"comment":"v{} does not hold yet"}}"#, target.version)
                } else {
                    "{}".to_string()
                };
                Work::new("Review", "ReviewResult", &verdict)
            }
            Agent::WorkerA | Agent::WorkerB => Work::new(
                "Standard",
                "Notes",
                &format!("notes on: {}", target.payload),
            ),
            Agent::Coder if target.kind == "BugReport" => Work::new(
                "Standard",
                "Patch",
                &format!("patch for: {}", target.payload),
            ),
            Agent::Coder => Work::new("Standard", "Code", &format!("code for: {}", target.payload)),
        }
    }

    /// As a simulated agent: it reworks what is rejected by writing the
    /// next version of the same text (the reviews decide by version).
    fn spec(self) -> Spec {
        Spec::new(self.name(), "ignore", Work::new("Standard", "Notes", ""))
            .with_bid(move |t| Some(self.bid(t).into()))
            .with_work(move |t| Some(self.work(t)))
            .with_rework(|t| Some(Work::new(&t.structural_type, &t.kind, &t.payload)))
    }
}

/// Says what went wrong for an agent (it drops that message).
pub struct Complain;

impl Watch for Complain {
    fn failed(&self, agent: &str, error: &redis::RedisError) {
        eprintln!("sett-demo: agent {agent}: {error}");
    }
}

/// The specs of the three stories' agents.
pub fn specs() -> Vec<Spec> {
    AGENTS.iter().map(|a| a.spec()).collect()
}

/// One play (the stories', the workers'): the agents of `specs` subscribed
/// first (nothing published after is missed; and the timeline changes a
/// Redis setting that `around` puts back, so nothing may fail between the
/// two), then the timeline of `names`, then `tell` with the agents polled
/// beside it ([`alongside`]).
pub async fn stage(
    client: &redis::Client,
    keys: &Keys,
    specs: Vec<Spec>,
    names: Vec<String>,
    tell: impl AsyncFnOnce(&mut Timeline) -> redis::RedisResult<bool>,
) -> Result<bool, PlayError> {
    let agents = swarm::run(client, keys, specs, Arc::new(Complain)).await?;
    let timeline = Timeline::start(client, keys, names).await?;
    timeline
        .around(async |t: &mut Timeline| alongside(agents, tell(t)).await)
        .await
}

/// Why a play ended without its outcomes.
#[derive(Debug)]
pub enum PlayError {
    Redis(redis::RedisError),
    /// The agents ended before the stories: [`PANICKED`] or [`STOPPED`].
    Agents(&'static str),
}

pub const PANICKED: &str = "a simulated agent panicked (its message is above)";
pub const STOPPED: &str = "the simulated agents stopped: their subscriptions ended";

impl From<redis::RedisError> for PlayError {
    fn from(e: redis::RedisError) -> Self {
        PlayError::Redis(e)
    }
}

impl std::fmt::Display for PlayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlayError::Redis(e) => write!(f, "{e}"),
            PlayError::Agents(why) => f.write_str(why),
        }
    }
}

/// Plays `stories` with the agents' future (from `swarm::run`, as
/// [`stage`] starts it) polled beside it, first: when the agents end first (an
/// agent's reader or task panicked, which sett-sim raises at once; or their
/// subscriptions ended: Redis went away or closed them), the play ends then
/// with an error. A detached task would drop that panic and leave the
/// stories waiting out their timeout. The agents stop when the stories end.
pub async fn alongside<T>(
    agents: impl Future<Output = ()>,
    stories: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, PlayError> {
    let mut agents = pin!(AssertUnwindSafe(agents).catch_unwind());
    let mut stories = pin!(stories);
    future::poll_fn(|cx| {
        if let Poll::Ready(ended) = agents.as_mut().poll(cx) {
            let why = if ended.is_ok() { STOPPED } else { PANICKED };
            return Poll::Ready(Err(PlayError::Agents(why)));
        }
        stories.as_mut().poll(cx).map_err(PlayError::Redis)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(
        agents: impl Future<Output = ()>,
        stories: impl Future<Output = redis::RedisResult<u8>>,
    ) -> Result<u8, String> {
        smol::block_on(alongside(agents, stories)).map_err(|e| match e {
            PlayError::Agents(why) => why.to_string(),
            PlayError::Redis(e) => format!("redis: {e}"),
        })
    }

    #[test]
    fn an_agents_panic_ends_the_play_at_once() {
        let out = play(async { panic!("a grant twice") }, std::future::pending());
        assert_eq!(out, Err(PANICKED.into()));
    }

    #[test]
    fn agents_that_end_end_the_play() {
        assert_eq!(play(async {}, std::future::pending()), Err(STOPPED.into()));
    }

    #[test]
    fn a_panic_seen_with_the_stories_end_is_not_lost() {
        let out = play(async { panic!("a grant twice") }, async { Ok(1) });
        assert_eq!(out, Err(PANICKED.into()));
    }

    #[test]
    fn the_stories_answer_while_the_agents_run() {
        assert_eq!(play(std::future::pending(), async { Ok(7) }), Ok(7));
        let err = play(std::future::pending(), async {
            Err(redis::RedisError::from((redis::ErrorKind::Client, "story")))
        });
        assert!(err.unwrap_err().starts_with("redis: story"));
    }
}
