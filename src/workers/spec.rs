//! The one container a worker gets (workers-contract section 3), built from
//! the registry, the orchestrator's own settings and one value read from
//! Redis: the claim id, which must be a lowercase hyphenated UUID. The spec
//! type itself (`docker::ContainerSpec`) cannot ask for privileged mode,
//! host networking, capabilities or any mount but the workspace.

use uuid::Uuid;

use crate::config::registry::{Agent, Controller, WorkspaceMode};
use crate::docker::{Access, ContainerSpec};
use crate::log::json_array;

/// Labels every worker carries (Holt's, then ours).
pub const LABEL_PROJECT: &str = "holt.project";
pub const LABEL_INSTANCE: &str = "holt.instance.name";
pub const LABEL_RUN_ID: &str = "holt.instance.run_id";
pub const LABEL_WORKSPACE: &str = "holt.workspace.path";
pub const LABEL_COMPONENT: &str = "holt.component";
pub const LABEL_CLAIM: &str = "holt.claim.id";
pub const LABEL_ROLE: &str = "holt.agent.role";

/// What every worker of this process shares.
#[derive(Clone, Debug)]
pub struct Settings {
    pub instance: String,
    /// A fresh UUID per orchestrator process (`holt.instance.run_id`).
    pub run_id: String,
    /// `SETT_WORKER_REDIS_URL`, else the orchestrator's own `REDIS_URL`.
    pub redis_url: String,
    /// `HOST_WORKSPACE_PATH` (empty when unset).
    pub host_workspace: String,
    /// Also tell workers `SETT_INSTANCE_NAME` (the `sett` namespace).
    pub sett_namespace: bool,
}

impl Settings {
    /// `holt-network-{i}`.
    pub fn network(&self) -> String {
        format!("holt-network-{}", self.instance)
    }

    /// `holt-{i}-{role}-worker-{first 8 of the claim id}`.
    pub fn container_name(&self, role: &str, claim: &Uuid) -> String {
        let id = claim.hyphenated().to_string();
        format!("holt-{}-{role}-worker-{}", self.instance, &id[..8])
    }
}

/// A claim id read from Redis, accepted only as a lowercase hyphenated UUID.
pub fn claim_uuid(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// The container for `claim`'s worker.
pub fn worker_spec(s: &Settings, agent: &Agent, c: &Controller, claim: &Uuid) -> ContainerSpec {
    let claim_text = claim.hyphenated().to_string();
    let mut spec = ContainerSpec::new(
        &s.container_name(&agent.role, claim),
        &c.worker.image,
        vec!["--execute-claim".to_string(), claim_text.clone()],
    )
    .env("HOLT_INSTANCE_NAME", &s.instance)
    .env("HOLT_AGENT_NAME", &agent.role)
    .env("REDIS_URL", &s.redis_url)
    .env("HOLT_BIDDING_STRATEGY", &c.bidding_strategy)
    .env("HOLT_AGENT_COMMAND", &json_array(&c.worker.command));
    if let Some(script) = &c.bid_script {
        spec = spec.env("HOLT_AGENT_BID_SCRIPT", &json_array(script));
    }
    if s.sett_namespace {
        spec = spec.env("SETT_INSTANCE_NAME", &s.instance);
    }
    spec = spec
        .label(LABEL_PROJECT, "true")
        .label(LABEL_INSTANCE, &s.instance)
        .label(LABEL_RUN_ID, &s.run_id)
        .label(LABEL_WORKSPACE, &s.host_workspace)
        .label(LABEL_COMPONENT, "worker")
        .label(LABEL_CLAIM, &claim_text)
        .label(LABEL_ROLE, &agent.role)
        .network(&s.network());
    match c.worker.workspace {
        Some(WorkspaceMode::ReadOnly) => spec.workspace(&s.host_workspace, Access::ReadOnly),
        Some(WorkspaceMode::ReadWrite) => spec.workspace(&s.host_workspace, Access::ReadWrite),
        None => spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::registry::Registry;

    #[test]
    fn only_canonical_uuids_are_claim_ids() {
        let id = "0a1b2c3d-1111-4222-8333-444455556666";
        assert_eq!(claim_uuid(id).unwrap().to_string(), id);
        for bad in [
            "0A1B2C3D-1111-4222-8333-444455556666",
            "{0a1b2c3d-1111-4222-8333-444455556666}",
            "0a1b2c3d111142228333444455556666",
            "x; rm -rf /",
            "",
        ] {
            assert_eq!(claim_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_spec_is_holts() {
        let r = Registry::parse(
            "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    bidding_strategy: exclusive\n    \
             worker: {image: 'coder:1', command: [/app/run.sh], workspace: {mode: ro}}\n",
        )
        .unwrap();
        let (agent, c) = r.controllers().next().unwrap();
        let s = Settings {
            instance: "prod".into(),
            run_id: "r".into(),
            redis_url: "redis://secret@h:6379".into(),
            host_workspace: "/home/me/ws".into(),
            sett_namespace: false,
        };
        let claim = claim_uuid("0a1b2c3d-1111-4222-8333-444455556666").unwrap();
        let spec = worker_spec(&s, agent, c, &claim);
        assert_eq!(spec.name(), "holt-prod-Coder-worker-0a1b2c3d");
        assert_eq!(spec.image(), "coder:1");
        assert_eq!(spec.labels()[LABEL_CLAIM], claim.to_string());
        assert_eq!(spec.labels()[LABEL_INSTANCE], "prod");
        assert_eq!(spec.labels()[LABEL_COMPONENT], "worker");
        assert!(spec.validate().is_ok());
        let debug = format!("{spec:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
