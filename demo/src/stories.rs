//! The three stories the demo plays, one after the other, each started by
//! one artefact the user writes, and how each is judged from what the
//! timeline saw (claims' last status, grants, artefacts).
//!
//! All three run under one registry (`max_review_iterations: 1`): the
//! Reviewer rejects patches whose request asks for it (`[reject v1]`,
//! `[reject all]`), so one patch is reworked once and approved, and the
//! other is rejected again at the limit.

use sett_sim::Artefact;

use crate::board::{Board, Claim};

pub struct Story {
    pub title: &'static str,
    /// The goal the user writes: its `type` and payload.
    pub kind: &'static str,
    pub payload: &'static str,
    judge: fn(&Board, &str) -> Result<String, String>,
}

pub const STORIES: [Story; 3] = [
    Story {
        title: "approved through all three phases: review, parallel, exclusive",
        kind: "GoalDefined",
        payload: "build a bridge",
        judge: three_phases,
    },
    Story {
        title: "a patch rejected, reworked by its author (a feedback claim), approved",
        kind: "BugReport",
        payload: "fix the door [reject v1]",
        judge: reworked_and_approved,
    },
    Story {
        title: "a patch rejected again at max_review_iterations (1): a Failure artefact",
        kind: "BugReport",
        payload: "fix the roof [reject all]",
        judge: iteration_limit,
    },
];

impl Story {
    /// What became of the goal `goal`: `Ok(summary)` when the story ended as
    /// it should, else what went wrong.
    pub fn judge(&self, board: &Board, goal: &str) -> Result<String, String> {
        (self.judge)(board, goal)
    }
}

fn three_phases(b: &Board, goal: &str) -> Result<String, String> {
    let claim = claim(b, goal, false, "complete")?;
    expect_grants(
        claim,
        &[
            ("review", "Reviewer"),
            ("claim", "WorkerA"),
            ("claim", "WorkerB"),
            ("exclusive", "Coder"),
        ],
    )?;
    Ok("complete after review (Reviewer), parallel (WorkerA, WorkerB), exclusive (Coder)".into())
}

fn reworked_and_approved(b: &Board, goal: &str) -> Result<String, String> {
    let (v1, v2) = patches(b, goal)?;
    rejected_and_reworked(b, v1)?;
    expect_grants(
        claim(b, &v2.id, false, "complete")?,
        &[("review", "Reviewer")],
    )?;
    Ok(
        "patch v1 rejected, reworked by Coder (feedback claim complete), v2 approved: complete"
            .into(),
    )
}

fn iteration_limit(b: &Board, goal: &str) -> Result<String, String> {
    let (v1, v2) = patches(b, goal)?;
    rejected_and_reworked(b, v1)?;
    let last = claim(b, &v2.id, false, "terminated")?;
    let reason = "Terminated after reaching max review iterations (1).";
    if last.reason != reason {
        return Err(format!(
            "v2's claim: reason {:?}, not {reason:?}",
            last.reason
        ));
    }
    if b.claim_of(&v2.id, true).is_some() {
        return Err("v2 got a feedback claim beyond the limit".into());
    }
    b.artefacts
        .values()
        .find(|a| {
            a.structural_type == "Failure"
                && a.kind == "MaxIterationsExceeded"
                && a.role == "orchestrator"
                && a.sources == [v2.id.clone()]
        })
        .ok_or("no Failure artefact MaxIterationsExceeded for v2")?;
    Ok(
        "patch v1 reworked, v2 rejected at the limit: terminated, Failure MaxIterationsExceeded"
            .into(),
    )
}

/// The Coder's patch for `goal` (v1) and its rework (v2).
fn patches<'a>(b: &'a Board, goal: &str) -> Result<(&'a Artefact, &'a Artefact), String> {
    let v1 = (b.artefacts.values())
        .find(|a| a.kind == "Patch" && a.sources.first().map(String::as_str) == Some(goal))
        .ok_or("the Coder wrote no patch")?;
    let v2 = (b.artefacts.values())
        .find(|a| a.logical_id == v1.logical_id && a.version == 2 && a.role == "Coder")
        .ok_or("patch v1 was not reworked")?;
    Ok((v1, v2))
}

/// `v1`'s claim terminated by its review, and its feedback claim done by the Coder.
fn rejected_and_reworked(b: &Board, v1: &Artefact) -> Result<(), String> {
    let first = claim(b, &v1.id, false, "terminated")?;
    if !first
        .reason
        .starts_with("Terminated due to negative review feedback")
    {
        return Err(format!("v1's claim: reason {:?}", first.reason));
    }
    let feedback = claim(b, &v1.id, true, "complete")?;
    match feedback.assignee.as_deref() {
        Some("Coder") => Ok(()),
        other => Err(format!(
            "v1's feedback claim went to {other:?}, not the Coder"
        )),
    }
}

fn claim<'a>(
    b: &'a Board,
    artefact: &str,
    feedback: bool,
    status: &str,
) -> Result<&'a Claim, String> {
    let what = if feedback { "feedback claim" } else { "claim" };
    let c =
        (b.claim_of(artefact, feedback)).ok_or(format!("no {what} for {}", b.name(artefact)))?;
    if c.status != status {
        return Err(format!(
            "{what} for {} is {}, not {status}",
            b.name(artefact),
            c.status
        ));
    }
    Ok(c)
}

fn expect_grants(c: &Claim, expected: &[(&str, &str)]) -> Result<(), String> {
    let seen: Vec<(&str, &str)> = (c.grants.iter())
        .map(|(kind, agent)| (kind.as_str(), agent.as_str()))
        .collect();
    if seen != expected {
        return Err(format!("grants {seen:?}, expected {expected:?}"));
    }
    Ok(())
}

/// Prints `== outcomes`: one line per story, numbered from `first`
/// (`labels[n]` names it); a story without an outcome was not played.
/// Whether every one ended as it should.
pub fn report(first: usize, labels: &[&str], outcomes: &[Result<String, String>]) -> bool {
    println!("\n== outcomes");
    let mut all_ok = true;
    for (n, label) in labels.iter().enumerate() {
        let (mark, text) = match outcomes.get(n) {
            Some(Ok(text)) => ("ok", text.as_str()),
            Some(Err(e)) => ("FAILED", e.as_str()),
            None => ("FAILED", "not played (an earlier story failed)"),
        };
        all_ok &= mark == "ok";
        println!("{mark:<6} {}. {label}: {text}", first + n);
    }
    all_ok
}
