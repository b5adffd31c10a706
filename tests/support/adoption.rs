//! Adoption's lab helpers (lifecycle_adoption_replay.rs,
//! lifecycle_adoption_times.rs, lifecycle_adoption_finished.rs): claims
//! someone else made, and one adoption call decided.

use sett_orchestrator::blackboard::effects::Effect;

use super::lifecycle::*;
use super::*;

/// `art` written while no lifecycle orchestrator listened, and claimed by
/// someone else: a six-field Phase-1 claim, or (`go_fields`) Holt's Go
/// orchestrator's 14 fields with `phase_state ""`, and the index entry.
pub fn claimed_by_someone_else(lab: &mut Lab, art: &Art, go_fields: bool) -> String {
    lab.store(art);
    let claim = uuid();
    let fields = if go_fields {
        new_claim_fields(&claim, &art.id)
    } else {
        fields(&phase1_claim_fields(&claim, &art.id))
    };
    store_claim(lab, &claim, &art.id, fields);
    claim
}

/// Claim hash `claim` with `fields`, and `artefact`'s index entry naming it.
pub fn store_claim(
    lab: &mut Lab,
    claim: &str,
    artefact: &str,
    fields: std::collections::BTreeMap<String, String>,
) {
    for (f, v) in fields {
        lab.hset(&format!("{P}claim:{claim}"), &f, v);
    }
    redis::cmd("SET")
        .arg(format!("{P}claim_by_artefact:{artefact}"))
        .arg(claim)
        .query::<()>(&mut lab.sync)
        .unwrap();
}

/// One adoption call over `ids`, decided: its effects.
pub fn adopt(lab: &mut Lab, ids: &[sett_orchestrator::blackboard::Indexed]) -> Vec<Effect> {
    let call = lab.ctx.adopt(ids);
    lab.decide(call)
}

/// Holt's Go orchestrator's claim on `goal` in its exclusive phase, granted
/// to Beta at `start` (ms), Alpha having bid `claim` (its phase done).
pub fn go_claim_in_exclusive(lab: &mut Lab, goal: &Art, start: u64) -> String {
    go_claim_with(lab, goal, start, GO_BIDS)
}

/// The bids of [`go_claim_in_exclusive`], as Go writes them (keys sorted).
pub const GO_BIDS: &str = r#"{"Alpha":"claim","Beta":"exclusive","Gamma":"ignore"}"#;

/// [`go_claim_in_exclusive`] with `all_bids` as given.
pub fn go_claim_with(lab: &mut Lab, goal: &Art, start: u64, all_bids: &str) -> String {
    let go = uuid();
    let phase_state = format!(
        r#"{{"current":"exclusive","granted_agents":["Beta"],"received":{{}},"all_bids":{all_bids},"start_time_ms":{start}}}"#
    );
    let mut fields = new_claim_fields(&go, &goal.id);
    fields.insert("status".into(), "pending_exclusive".into());
    fields.insert("granted_exclusive_agent".into(), "Beta".into());
    fields.insert("phase_state".into(), phase_state);
    store_claim(lab, &go, &goal.id, fields);
    go
}

/// `art`'s `created_at_ms` made `written`, or removed (`None`).
pub fn set_written(lab: &mut Lab, art: &Art, written: Option<&str>) {
    let key = format!("{P}artefact:{}", art.id);
    match written {
        Some(ms) => lab.hset(&key, "created_at_ms", ms),
        None => redis::cmd("HDEL")
            .arg(&key)
            .arg("created_at_ms")
            .query::<()>(&mut lab.sync)
            .unwrap(),
    }
}
