//! One end-to-end lifecycle test's world: a Redis, a registry file for a
//! [`Team`], the recorder of every message, the team's running agents, and
//! the orchestrators the test starts, kills and restarts. [`Flow::finish`]
//! stops everything in an order that leaves nothing on its way, so the
//! exactly-once checks see all there is.

use sett_sim::{Recorder, Seen, SimAgent};

use super::e2e_chain::*;
use super::e2e_wire::*;
use super::lifecycle::{now_ms, Art, Msg};
use super::verify::stop;
use super::*;

pub struct Flow {
    /// Test clock (ms) before anything was written.
    pub started: u64,
    pub instance: String,
    pub team: Team,
    pub wire: Recorder,
    pub hand: Hand,
    pub agents: Vec<SimAgent>,
    registry: String,
    _dir: TempDir,
    pub redis: RedisServer,
}

/// What a finished flow left: the blackboard, every message, each agent's record.
pub struct Finished {
    pub board: Board,
    pub messages: Vec<Msg>,
    pub agents: Vec<(String, Seen)>,
}

impl Flow {
    /// The team's agents all running.
    pub fn new(instance: &str, team: Team) -> Flow {
        Flow::with_agents(instance, team, |redis, instance, team| {
            team.start_agents(redis, instance)
        })
    }

    /// `agents` starts the agents that run (e.g. some behaving otherwise).
    pub fn with_agents(
        instance: &str,
        team: Team,
        agents: impl FnOnce(&RedisServer, &str, &Team) -> Vec<SimAgent>,
    ) -> Flow {
        let started = now_ms();
        let redis = RedisServer::start();
        let dir = TempDir::new();
        let registry = dir.file("sett.yml", &team.yaml());
        let wire = Recorder::start(&redis, &format!("sett:{instance}"));
        let agents = agents(&redis, instance, &team);
        Flow {
            started,
            instance: instance.into(),
            hand: Hand::new(&redis, instance),
            wire,
            agents,
            registry,
            _dir: dir,
            team,
            redis,
        }
    }

    /// Starts an orchestrator with the team's registry and `extra` variables.
    pub fn orchestrator(&self, extra: &[(&str, &str)]) -> Orchestrator {
        let mut env = vec![("SETT_CONFIG_FILE", self.registry.as_str())];
        env.extend_from_slice(extra);
        Orchestrator::start_env(&self.redis, &self.instance, &env)
    }

    /// The user writes a goal whose plan is `rejects`; returns its id.
    pub fn goal(&mut self, rejects: u32) -> String {
        self.goal_with(&plan(rejects))
    }

    pub fn goal_with(&mut self, payload: &str) -> String {
        let mut goal = Art::goal();
        goal.payload = payload.as_bytes().to_vec();
        self.hand.write(&goal);
        goal.id
    }

    pub fn board(&self) -> Board {
        Board::read(&self.redis, &self.instance)
    }

    /// Waits until `claims` claims exist, every one complete or terminated,
    /// and none is collecting bids or in a phase (fails at once on more claims).
    pub fn wait_settled(&self, claims: usize) {
        let settled = |b: &Board| {
            b.claims.len() == claims
                && b.bidding.is_empty()
                && b.active.is_empty()
                && b.claims
                    .values()
                    .all(|c| c["status"] == "complete" || c["status"] == "terminated")
        };
        let mut board = Board::default();
        wait_until(PATIENCE, || {
            board = self.board();
            settled(&board) || board.claims.len() > claims
        });
        if !settled(&board) {
            let mut statuses = std::collections::BTreeMap::new();
            for c in board.claims.values() {
                *statuses.entry(c["status"].as_str()).or_insert(0) += 1;
            }
            panic!(
                "not settled: {} of {claims} claims {statuses:?}, bidding {:?}, active {:?}",
                board.claims.len(),
                board.bidding,
                board.active
            );
        }
    }

    /// Waits until `cond` holds on the blackboard (`what` names it).
    pub fn wait_board(&self, what: &str, cond: impl Fn(&Board) -> bool) {
        assert!(
            wait_until(PATIENCE, || cond(&self.board())),
            "never: {what}; board: {:#?}",
            self.board()
        );
    }

    /// Stops `running` (SIGTERM, clean exit) so nothing more is decided,
    /// then the agents (each finishes what it is doing), then takes every
    /// message published and reads the blackboard.
    pub fn finish(&mut self, running: &mut [&mut Orchestrator]) -> Finished {
        for o in running.iter_mut() {
            stop(o);
        }
        let agents = std::mem::take(&mut self.agents)
            .into_iter()
            .map(|a| (a.name.clone(), a.seen()))
            .collect();
        Finished {
            messages: self.wire.everything(),
            board: self.board(),
            agents,
        }
    }

    /// Waits until every goal's flow is over, finishes, and checks them all.
    pub fn settle_and_check(&mut self, running: &mut [&mut Orchestrator], goals: &[String]) {
        let board = self.board();
        let claims = goals
            .iter()
            .map(|g| {
                self.team
                    .claims_for(rejects_in(&board.artefacts[g]["payload"]))
            })
            .sum();
        self.wait_settled(claims);
        let out = self.finish(running);
        self.chains(&out.board, goals)
            .check(&out.board, &out.messages, &out.agents);
    }

    /// The expectation of each goal's whole flow.
    pub fn chains(&self, board: &Board, goals: &[String]) -> Expected {
        let mut want = Expected::new(self.started);
        for goal in goals {
            want.chain(board, &self.team, goal);
        }
        want
    }
}
