//! The worker decisions' lab (no Docker): a registry with controller
//! `Coder` (and agent `Reviewer`), the calls, and a claim won by the coder.

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::config::registry::Registry;
use sett_orchestrator::workers::scripts::Calls;

use super::lifecycle::*;

pub const IMAGE_ID: &str = "sha256:0123abcd";

pub fn registry(max: u32) -> Registry {
    let mut r = Registry::parse(&format!(
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    \
         worker: {{image: 'coder:1', command: [run], max_concurrent: {max}}}\n  Reviewer: {{}}\n"
    ))
    .unwrap();
    r.set_image_id("Coder", IMAGE_ID);
    r
}

pub fn lab(max: u32) -> (Lab, Calls) {
    let mut lab = Lab::new(&[("Coder", "Coder"), ("Reviewer", "Reviewer")], 3);
    let r = registry(max);
    lab.use_registry(&r);
    let calls = Calls::new(&lab.keys, &r);
    (lab, calls)
}

pub fn c(id: &str) -> sett_orchestrator::ids::ClaimId {
    sett_orchestrator::ids::ClaimId::parse(id).unwrap()
}

/// A goal's claim, bid `exclusive` by Coder and `ignore` by Reviewer: the
/// claim, the decision's effects and what it published.
pub fn won_by_coder(lab: &mut Lab) -> (String, Vec<Effect>, Vec<Msg>) {
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "Reviewer", "ignore");
    let effects = lab.bid_and_decide(&claim, "Coder", "exclusive");
    (claim, effects, lab.published())
}
