//! The flow most end-to-end lifecycle tests run, and everything it must
//! leave behind, spelled out from the contract (sections 3 to 6).
//!
//! A user's goal (whose payload, `rejects=N…`, is its plan) is claimed; the
//! writer bids `exclusive` on it, the reviewers `ignore`. The writer's work
//! (the goal's payload again) gets its own claim, on which the reviewers bid
//! `review` and the writer `ignore`. Rejecting reviewers turn down versions
//! 1 to N, the others approve (`{}`). A rejected version comes back to the
//! writer as a feedback claim; its rework (same payload) is reviewed again,
//! until the reviewers approve or `max_review_iterations` ends the loop with
//! a Failure artefact. [`Expected::chain`] lists every message, claim, bid,
//! index entry, artefact and grant one goal's flow makes; [`Expected::check`]
//! compares them with what was recorded: each exactly once.

use std::collections::{BTreeMap, BTreeSet};

use sett_sim::Seen;

pub use super::e2e_team::*;
use super::e2e_wire::*;
use super::lifecycle::*;

/// Everything one test's flows must have left, each exactly once.
#[derive(Debug, Default)]
pub struct Expected {
    /// When the test started and when its flows were over (test clock, ms).
    pub window: (u64, u64),
    pub messages: Vec<Msg>,
    /// Messages one script publishes: together and in this order.
    pub groups: Vec<Vec<Msg>>,
    pub claims: BTreeMap<String, Fields>,
    pub bids: BTreeMap<String, Fields>,
    pub index: BTreeMap<String, String>,
    pub artefacts: BTreeSet<String>,
    /// Per agent name: its grants per claim.
    pub grants: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub bidding: Vec<String>,
    pub active: Vec<String>,
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

impl Expected {
    /// `started`: the test clock (ms) before anything was written.
    pub fn new(started: u64) -> Expected {
        Expected {
            window: (started, now_ms()),
            ..Expected::default()
        }
    }

    /// An artefact on the board, announced once on `artefact_events`.
    pub fn artefact(&mut self, a: &Fields) {
        assert!(self.artefacts.insert(a["id"].clone()), "counted twice");
        self.messages.push(artefact_event(a));
    }

    /// A new claim: its `claim_events` message, and each agent's bid.
    pub fn claim(&mut self, claim: &str, artefact: &str, bids: &[(&str, &str)]) {
        self.messages.push(claim_event(claim, artefact));
        let mut hash = Fields::new();
        for (name, bid) in bids {
            self.messages.push(bid_submitted(claim, name, bid));
            hash.insert(name.to_string(), bid.to_string());
        }
        self.bids.insert(claim.into(), hash);
    }

    /// A grant to `names`: published together, each agent granted once.
    pub fn grant(&mut self, claim: &str, kind: &str, names: &[&str]) {
        self.group(grants(claim, kind, names, &[]));
        for name in names {
            self.grants
                .entry(name.to_string())
                .or_default()
                .insert(claim.into(), vec![kind.into()]);
        }
    }

    pub fn group(&mut self, msgs: Vec<Msg>) {
        self.messages.extend(msgs.iter().cloned());
        self.groups.push(msgs);
    }

    /// `start_time_ms` of a claim's phase (within the test's window).
    pub fn start_of(&self, board: &Board, claim: &str) -> u64 {
        within(
            &start_time(&board.claims[claim]["phase_state"]),
            self.window,
        )
    }

    /// The Failure artefact the orchestrator wrote for `target`, checked
    /// field by field; returns its event.
    pub fn failure(&mut self, board: &Board, target: &str, kind: &str, payload: &str) -> Msg {
        let sources = json::list(&[target]);
        let f = board.only("the orchestrator's Failure artefact", |a| {
            a["produced_by_role"] == "orchestrator" && a["source_artefacts"] == sources
        });
        let (id, logical) = (f["id"].clone(), f["logical_id"].clone());
        assert!(is_v4(&id) && is_v4(&logical) && id != logical, "{f:?}");
        within(&f["created_at_ms"], self.window);
        let want = fields(&[
            ("id", &id),
            ("logical_id", &logical),
            ("version", "1"),
            ("structural_type", "Failure"),
            ("type", kind),
            ("payload", payload),
            ("source_artefacts", &sources),
            ("produced_by_role", "orchestrator"),
            ("created_at_ms", &f["created_at_ms"]),
        ]);
        assert_eq!(*f, want);
        assert!(self.artefacts.insert(id), "counted twice");
        artefact_event(f)
    }

    /// One goal's whole flow (see the module doc).
    pub fn chain(&mut self, board: &Board, team: &Team, goal: &str) {
        let g = &board.artefacts[goal];
        let rejects = rejects_in(&g["payload"]);
        let max = team.max_iterations();
        let (w, wrole) = (team.writer.name.as_str(), team.writer.role.as_str());
        let mut reviewers: Vec<&Member> = team.reviewers.iter().collect();
        reviewers.sort_by(|a, b| a.role.cmp(&b.role));
        let mut names: Vec<&str> = reviewers.iter().map(|m| m.name.as_str()).collect();
        names.sort();

        self.artefact(g);
        let c0 = board.index.get(goal).expect("the goal has a claim").clone();
        self.index.insert(goal.into(), c0.clone());
        let bids0 = team.bids("exclusive", "ignore");
        self.claim(&c0, goal, &pairs(&bids0));
        self.grant(&c0, "exclusive", &[w]);
        let first = json::list(&[goal]);
        let w1 = board.only("the writer's work", |a| {
            a["produced_by_role"] == wrole && a["source_artefacts"] == first
        });
        let ps = phase_state(
            "exclusive",
            &[w],
            &[(wrole, &w1["id"])],
            &pairs(&bids0),
            self.start_of(board, &c0),
        );
        let done = [
            ("status", "complete"),
            ("granted_exclusive_agent", w),
            ("phase_state", ps.as_str()),
        ];
        self.claims
            .insert(c0.clone(), with(new_claim_fields(&c0, goal), &done));

        let bids = team.bids("ignore", "review");
        let (mut target, mut v) = (w1, 1i64);
        loop {
            assert_eq!(
                (target["logical_id"].as_str(), target["version"].as_str()),
                (w1["id"].as_str(), v.to_string().as_str())
            );
            assert_eq!(target["payload"], g["payload"]);
            self.artefact(target);
            let t = target["id"].as_str();
            let cv = board.phased_claim(t)["id"].clone();
            self.claim(&cv, t, &pairs(&bids));
            self.grant(&cv, "review", &names);
            let (mut received, mut verdicts, mut rejecting) = (vec![], vec![], vec![]);
            for m in &reviewers {
                let on = json::list(&[t]);
                let r = board.only("a review", |a| {
                    a["produced_by_role"] == m.role && a["source_artefacts"] == on
                });
                self.artefact(r);
                received.push((m.role.as_str(), r["id"].as_str()));
                if m.rejects && v <= i64::from(rejects) {
                    assert_eq!(r["payload"], rejection_text(&m.role, v));
                    verdicts.push(rejected(&json::string(&r["payload"]), t, &m.role));
                    rejecting.push(r["id"].as_str());
                } else {
                    assert_eq!(r["payload"], "{}");
                    verdicts.push(approved(t, &m.role));
                }
            }
            rejecting.sort();
            let start = self.start_of(board, &cv);
            let ps = phase_state("review", &names, &received, &pairs(&bids), start);
            let reviewed = with(
                new_claim_fields(&cv, t),
                &[
                    ("granted_review_agents", &json::list(&names)),
                    ("phase_state", &ps),
                ],
            );
            let iteration = v - 1;
            let max_reached = max > 0 && iteration >= i64::from(max);
            let (status, reason) = if rejecting.is_empty() {
                ("complete", String::new())
            } else if max_reached {
                let payload = format!("Max review iterations ({max}) reached for artefact {t} (version {v}). Review feedback loop terminated.");
                verdicts.push(self.failure(board, t, "MaxIterationsExceeded", &payload));
                let reason = format!("Terminated after reaching max review iterations ({max}).");
                ("terminated", reason)
            } else {
                ("terminated", rejection_reason(&rejecting))
            };
            self.claims.insert(
                cv.clone(),
                with(
                    reviewed,
                    &[("status", status), ("termination_reason", reason.as_str())],
                ),
            );
            if rejecting.is_empty() || max_reached {
                self.index.insert(t.into(), cv);
                self.group(verdicts);
                return;
            }
            let others: Vec<&Fields> = board
                .claims_of(t)
                .into_iter()
                .filter(|c| c["id"] != cv)
                .collect();
            assert_eq!(others.len(), 1, "one feedback claim on {t}");
            let fv = others[0]["id"].clone();
            let context = json::list(&rejecting);
            let fb = [
                ("status", "complete"),
                ("granted_exclusive_agent", w),
                ("additional_context_ids", context.as_str()),
            ];
            self.claims
                .insert(fv.clone(), with(new_claim_fields(&fv, t), &fb));
            self.index.insert(t.into(), fv.clone());
            verdicts.push(feedback_claim_event(&fv, t, w, &rejecting));
            verdicts.push(feedback_created(&fv, v as u64, &cv, wrole));
            self.group(verdicts);
            let next = board.only("the rework", |a| {
                a["produced_by_role"] == wrole
                    && a["logical_id"] == w1["id"]
                    && a["version"] == (v + 1).to_string()
            });
            let mut sources = vec![t];
            sources.extend(&rejecting);
            assert_eq!(next["source_artefacts"], json::list(&sources));
            assert_eq!(next["type"], target["type"]);
            self.messages.push(artefact_reworked(next, &target["id"]));
            (target, v) = (next, v + 1);
        }
    }

    /// The board, the recorded messages and the agents' grants are exactly
    /// what was expected: nothing missing, nothing twice, nothing else.
    pub fn check(&self, board: &Board, recorded: &[Msg], agents: &[(String, Seen)]) {
        assert_same_messages(recorded, &self.messages);
        for group in &self.groups {
            assert_contiguous(recorded, group);
        }
        let claim_ids: Vec<&String> = board.claims.keys().collect();
        assert_eq!(claim_ids, self.claims.keys().collect::<Vec<_>>(), "claims");
        for (id, want) in &self.claims {
            assert_eq!(&board.claims[id], want, "claim {id}");
        }
        assert_eq!(board.bids, self.bids, "bids hashes");
        assert_eq!(board.index, self.index, "claim_by_artefact");
        let artefacts: BTreeSet<String> = board.artefacts.keys().cloned().collect();
        assert_eq!(artefacts, self.artefacts, "artefacts");
        assert_eq!(
            (&board.bidding, &board.active),
            (&self.bidding, &self.active),
            "orchestrator sets (bidding, active)"
        );
        for (name, seen) in agents {
            let want = self.grants.get(name).cloned().unwrap_or_default();
            assert_eq!(seen.grants, want, "{name}'s grants");
        }
    }
}
