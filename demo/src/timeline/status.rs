//! The timeline's reading of claim hashes: each claim's status (and
//! termination reason) when it changed, and once that a claim waits in a
//! controller's grant queue. Nothing publishes these: they are read when a
//! keyspace notification says the hash was written, or when all is quiet.

use serde_json::Value;

use super::Timeline;
use crate::ids::{short, shorten_ids};

impl Timeline {
    /// Prints a claim's new status (and reason) when it changed.
    fn set_status(&mut self, id: &str, status: &str, reason: &str) {
        let line = self.board.lines + 1;
        let Some(claim) = self.board.claims.get_mut(id) else {
            return;
        };
        if claim.status == status {
            return;
        }
        let text = match status {
            "terminated" => format!("claim {} terminated: {}", short(id), shorten_ids(reason)),
            "complete" => format!("claim {} complete", short(id)),
            _ => format!("claim {} {} -> {status}", short(id), claim.status),
        };
        claim.status = status.to_string();
        claim.reason = reason.to_string();
        if matches!(status, "complete" | "terminated") {
            claim.ended_at = Some(line);
        }
        self.line(&text);
    }

    /// Says once that a claim waits in a controller's grant queue
    /// (`grant_queue`: `{"paused_at_ms":…,"agent_name":"<role>","position":0}`).
    fn set_queued(&mut self, id: &str, grant_queue: &str) {
        let Some(claim) = self.board.claims.get_mut(id) else {
            return;
        };
        if grant_queue.is_empty() || claim.queued {
            return;
        }
        claim.queued = true;
        let v: Value = serde_json::from_str(grant_queue).unwrap_or_default();
        let role = v["agent_name"].as_str().unwrap_or("?").to_string();
        self.line(&format!(
            "claim {} waits in {role}'s grant queue ({role}'s max_concurrent workers run)",
            short(id)
        ));
    }

    /// Reads every open claim's status again.
    pub(super) async fn poll(&mut self) -> Result<(), String> {
        let open = self.board.open_claims();
        self.read_status(&open).await
    }

    /// Reads the status and grant queue of `claims`; prints each change.
    pub(super) async fn read_status(&mut self, claims: &[String]) -> Result<(), String> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for id in claims {
            pipe.cmd("HMGET")
                .arg(self.keys.claim(id))
                .arg("status")
                .arg("termination_reason")
                .arg("grant_queue");
        }
        type Fields = (Option<String>, Option<String>, Option<String>);
        let now: Vec<Fields> = pipe
            .query_async(&mut self.conn)
            .await
            .map_err(|e| format!("reading claims: {e}"))?;
        for (id, (status, reason, queue)) in claims.iter().zip(now) {
            let status = status.unwrap_or_default();
            // A claim's first change follows its last bid, whose event may
            // still be on its way: the bids (in the hash) are shown first.
            let first_change = self.board.claims.get(id).is_some_and(|c| {
                c.status != status && c.assignee.is_none() && !self.bids_shown.contains(id)
            });
            if first_change {
                self.show_bids_from_hash(id).await?;
            }
            self.set_status(id, &status, &reason.unwrap_or_default());
            self.set_queued(id, &queue.unwrap_or_default());
        }
        Ok(())
    }
}
