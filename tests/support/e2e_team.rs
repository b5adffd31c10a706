//! The team the end-to-end lifecycle tests register and run: a writer and
//! reviewers, simulated as the contract says real agents behave, and the
//! plan each goal carries in its payload (see `e2e_chain` for the flow).

use sett_sim::{SimAgent, Spec, Work};

use super::*;

/// A registered agent as the tests run it.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub role: String,
    /// A reviewer that turns down the versions its plan says (else approves).
    pub rejects: bool,
}

pub fn member(name: &str, role: &str, rejects: bool) -> Member {
    Member {
        name: name.into(),
        role: role.into(),
        rejects,
    }
}

/// The writer and the reviewers, and `max_review_iterations` (`None`: absent).
#[derive(Clone, Debug)]
pub struct Team {
    pub writer: Member,
    pub reviewers: Vec<Member>,
    pub max: Option<u32>,
}

/// The plan a goal's (and its versions') payload carries.
pub fn plan(rejects: u32) -> String {
    format!("rejects={rejects}")
}

pub fn rejects_in(payload: &str) -> u32 {
    let digits: String = payload
        .strip_prefix("rejects=")
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// What a rejecting reviewer writes (JSON escaping needed, under 200 bytes).
pub fn rejection_text(role: &str, version: i64) -> String {
    format!("{role}: v{version} needs \"tests\"\n\tplease")
}

impl Team {
    /// Writer `Writer` (role `writer`), reviewer `Ann` (role `ann`, rejecting).
    pub fn pair(max: Option<u32>) -> Team {
        Team {
            writer: member("Writer", "writer", false),
            reviewers: vec![member("Ann", "ann", true)],
            max,
        }
    }

    /// `max_review_iterations` in effect (absent: 3).
    pub fn max_iterations(&self) -> u32 {
        self.max.unwrap_or(3)
    }

    /// A Sett-era registry (name and role differ).
    pub fn yaml(&self) -> String {
        let mut y = String::from("version: '1.0'\nagents:\n");
        for m in std::iter::once(&self.writer).chain(&self.reviewers) {
            y.push_str(&format!(
                "  {}:\n    role: {}\n    image: x\n",
                m.name, m.role
            ));
        }
        if let Some(max) = self.max {
            y.push_str(&format!("orchestrator:\n  max_review_iterations: {max}\n"));
        }
        y
    }

    /// The writer as a running agent would behave.
    pub fn writer_spec(&self) -> Spec {
        Spec::new(
            &self.writer.name,
            "exclusive",
            Work::new("Standard", "Code", ""),
        )
        .with_role(&self.writer.role)
        .with_work(|t| Some(Work::new("Standard", "Code", &t.payload)))
        .with_rework(|t| Some(Work::new("Standard", "Code", &t.payload)))
    }

    pub fn reviewer_spec(&self, m: &Member) -> Spec {
        let (writer_role, role, rejects) = (self.writer.role.clone(), m.role.clone(), m.rejects);
        Spec::new(&m.name, "ignore", Work::new("Review", "ReviewResult", "{}"))
            .with_role(&m.role)
            .with_bid(move |t| {
                Some(
                    if t.role == writer_role {
                        "review"
                    } else {
                        "ignore"
                    }
                    .into(),
                )
            })
            .with_work(move |t| {
                let reject = rejects && t.version <= i64::from(rejects_in(&t.payload));
                let payload = if reject {
                    rejection_text(&role, t.version)
                } else {
                    "{}".into()
                };
                Some(Work::new("Review", "ReviewResult", &payload))
            })
    }

    /// Every member as a running agent, writer first.
    pub fn start_agents(&self, redis: &RedisServer, instance: &str) -> Vec<SimAgent> {
        let prefix = format!("sett:{instance}");
        let mut agents = vec![SimAgent::start(redis, &prefix, self.writer_spec())];
        for m in &self.reviewers {
            agents.push(SimAgent::start(redis, &prefix, self.reviewer_spec(m)));
        }
        agents
    }

    /// The last version a goal with `rejects` gets.
    pub fn last_version(&self, rejects: u32) -> u32 {
        let max = self.max_iterations();
        match rejects {
            0 => 1,
            n if max > 0 && n > max => max + 1,
            n => n + 1,
        }
    }

    /// Claims one goal's flow makes: the goal's, and per version its claim
    /// and (but the last) its feedback claim.
    pub fn claims_for(&self, rejects: u32) -> usize {
        2 * self.last_version(rejects) as usize
    }

    /// Every member's bid: the writer's, and each reviewer's; sorted by name.
    pub fn bids(&self, writer: &str, reviewers: &str) -> Vec<(String, String)> {
        let mut bids = vec![(self.writer.name.clone(), writer.to_string())];
        for m in &self.reviewers {
            bids.push((m.name.clone(), reviewers.to_string()));
        }
        bids.sort();
        bids
    }
}
