//! The agent registry (`sett.yml` / `holt.yml`, contract sections 2 and 11):
//! the agents that bid on claims, by name, and the role each one plays.
//!
//! Bids and grants use names; artefacts carry roles. The file also belongs to
//! the CLI and the agents, so only `version`, `agents` (name, `role`, `mode`,
//! and a controller's `worker`, `bidding_strategy`, `bid_script`) and
//! `orchestrator.max_review_iterations` are read and every other key is
//! ignored. Anything that would make the lifecycle misbehave later (duplicate
//! keys, odd names, a controller without a usable `worker`) is refused here,
//! at start-up, with one line.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::error::printable;
use crate::log::push_json_str;

mod worker;
pub use worker::{Controller, Worker, WorkspaceMode, DEFAULT_MAX_CONCURRENT};

/// `orchestrator.max_review_iterations` when absent.
pub const DEFAULT_MAX_REVIEW_ITERATIONS: u32 = 3;
/// Longest agent name, and longest role, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// One registered agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// What it bids and is granted as: 1-64 of `A-Za-z0-9-`.
    pub name: String,
    /// What its artefacts carry in `produced_by_role`.
    pub role: String,
    /// `mode: controller`: it only bids; its grants start worker containers.
    pub controller: Option<Controller>,
}

/// The checked registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// Sorted bytewise by name, names unique.
    agents: Vec<Agent>,
    /// Rejections a claim may go through before it is terminated; 0 = unlimited.
    pub max_review_iterations: u32,
}

impl Registry {
    /// Parses and checks a registry; the error is one line (the YAML parser's
    /// own errors carry their line and column).
    pub fn parse(yaml: &str) -> Result<Registry, String> {
        let raw = from_yaml(yaml)?;
        match raw.version.as_deref() {
            Some("1.0") => {}
            Some(other) => {
                return Err(format!(
                    "version must be 1.0 (got '{}')",
                    printable(other, 40)
                ))
            }
            None => return Err("version is missing (it must be 1.0)".into()),
        }
        let entries = raw
            .agents
            .ok_or("agents is missing (a map of agent names is required)")?;
        if entries.is_empty() {
            return Err("agents is empty (at least one agent is required)".into());
        }
        let mut agents = Vec::with_capacity(entries.len());
        for (name, settings) in entries {
            let settings = settings.unwrap_or_default();
            agents.push(check_agent(name, settings)?);
        }
        agents.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = agents.windows(2).find(|p| p[0].name == p[1].name) {
            return Err(format!("agent '{}' is listed twice", pair[0].name));
        }
        // A controller's role is its workers' (their slots, queue, container
        // names and grants are the role's): shared with another agent, the
        // queue would resume the other one's claims, or the other
        // controller's workers would be launched from this one's spec.
        let mut by_role: std::collections::HashMap<&str, &Agent> =
            std::collections::HashMap::with_capacity(agents.len());
        let mut shared = None;
        for a in &agents {
            if let Some(first) = by_role.insert(a.role.as_str(), a) {
                if shared.is_none() && (a.controller.is_some() || first.controller.is_some()) {
                    shared = Some((first, a));
                }
            }
        }
        if let Some((first, second)) = shared {
            let (a, b) = if first.controller.is_some() {
                (first, second)
            } else {
                (second, first)
            };
            return Err(format!(
                "controller '{}' shares its role '{}' with agent '{}': a controller's role must be its own (its workers' slots, queue and container names are the role's)",
                printable(&a.name, 64),
                printable(&a.role, 64),
                printable(&b.name, 64)
            ));
        }
        let max_review_iterations = match raw.orchestrator.and_then(|o| o.max_review_iterations) {
            None => DEFAULT_MAX_REVIEW_ITERATIONS,
            Some(n) if n < 0 => {
                return Err(format!(
                    "orchestrator.max_review_iterations must not be negative (got {n}; 0 means unlimited)"
                ))
            }
            Some(n) => u32::try_from(n).map_err(|_| {
                format!("orchestrator.max_review_iterations is too large (got {n})")
            })?,
        };
        Ok(Registry {
            agents,
            max_review_iterations,
        })
    }

    /// A registry from checked parts (tests and tools; files go through [`Registry::parse`]).
    pub fn from_agents(mut agents: Vec<Agent>, max_review_iterations: u32) -> Registry {
        agents.sort_by(|a, b| a.name.cmp(&b.name));
        agents.dedup_by(|a, b| a.name == b.name);
        Registry {
            agents,
            max_review_iterations,
        }
    }

    /// Every agent, sorted bytewise by name.
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// The registry as the lifecycle scripts read it (`lib.lua`): a count,
    /// `n` or `n/c` (n agents, c of them controllers), and the arguments that
    /// end every script call (a library call sends them only when the
    /// library does not hold them: `redis_io::call::Frame`): the n names
    /// sorted bytewise, their n roles, then each
    /// controller's name, `max_concurrent` and worker image id. One argument
    /// each: Redis hands them to Lua as strings, nothing to parse.
    pub fn script_args(&self) -> (String, Vec<String>) {
        let controllers: Vec<_> = self.controllers().collect();
        let count = match controllers.len() {
            0 => self.agents.len().to_string(),
            c => format!("{}/{c}", self.agents.len()),
        };
        let mut tail = Vec::with_capacity(2 * self.agents.len() + 3 * controllers.len());
        tail.extend(self.agents.iter().map(|a| a.name.clone()));
        tail.extend(self.agents.iter().map(|a| a.role.clone()));
        for (a, c) in controllers {
            tail.extend([
                a.name.clone(),
                c.worker.max_concurrent.to_string(),
                c.image_id.clone(),
            ]);
        }
        (count, tail)
    }

    /// Records the worker image id Docker gave for controller `name`.
    pub fn set_image_id(&mut self, name: &str, image_id: &str) {
        if let Some(c) = self
            .agents
            .iter_mut()
            .find(|a| a.name == name)
            .and_then(|a| a.controller.as_mut())
        {
            c.image_id = image_id.to_string();
        }
    }

    /// The controller agents, in name order.
    pub fn controllers(&self) -> impl Iterator<Item = (&Agent, &Controller)> {
        self.agents
            .iter()
            .filter_map(|a| a.controller.as_ref().map(|c| (a, c)))
    }

    /// `{"name":{"role":"…","image":"…","max_concurrent":N},…}`, for the start-up line.
    pub fn controllers_json(&self) -> String {
        let mut json = String::from("{");
        for (i, (agent, c)) in self.controllers().enumerate() {
            if i > 0 {
                json.push(',');
            }
            push_json_str(&mut json, &agent.name);
            json.push_str(":{\"role\":");
            push_json_str(&mut json, &agent.role);
            json.push_str(",\"image\":");
            push_json_str(&mut json, &c.worker.image);
            json.push_str(&format!(
                ",\"max_concurrent\":{}}}",
                c.worker.max_concurrent
            ));
        }
        json.push('}');
        json
    }

    /// `{"name":"role",…}` in name order, for the start-up log line.
    pub fn roles_json(&self) -> String {
        let mut json = String::from("{");
        for (i, agent) in self.agents.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            push_json_str(&mut json, &agent.name);
            json.push(':');
            push_json_str(&mut json, &agent.role);
        }
        json.push('}');
        json
    }
}

fn check_agent(name: String, settings: AgentSettings) -> Result<Agent, String> {
    if name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "agent name '{}' is invalid (1 to 64 of A-Z a-z 0-9 '-')",
            printable(&name, MAX_NAME_BYTES)
        ));
    }
    let controller = match settings.mode.as_deref() {
        None | Some("") => None,
        Some("controller") => Some(worker::controller(
            &name,
            settings.worker.as_ref(),
            settings.bidding_strategy.as_ref(),
            settings.bid_script.as_ref(),
        )?),
        Some(other) => {
            return Err(format!(
                "agent '{name}': mode must be empty or controller (got '{}')",
                printable(other, 40)
            ))
        }
    };
    let role = match settings.role {
        None => name.clone(),
        Some(role) => {
            let role = role.unwrap_or_default();
            if role.is_empty() || role.len() > MAX_NAME_BYTES || role.chars().any(char::is_control)
            {
                return Err(format!(
                    "agent '{name}': role '{}' is invalid (1 to 64 bytes, no control characters)",
                    printable(&role, MAX_NAME_BYTES)
                ));
            }
            role
        }
    };
    Ok(Agent {
        name,
        role,
        controller,
    })
}

/// The parts of the file we read (the parser's messages name these types:
/// "expected struct AgentSettings").
#[derive(Deserialize)]
struct RawRegistry {
    /// Scalar text: `1.0`, `'1.0'` and `"1.0"` all read as `1.0`.
    version: Option<String>,
    #[serde(default, deserialize_with = "agent_entries")]
    agents: Option<AgentEntries>,
    orchestrator: Option<OrchestratorSettings>,
}

/// The `agents` map's entries in file order: a name, and its settings (none for `Name:`).
type AgentEntries = Vec<(String, Option<AgentSettings>)>;

#[derive(Deserialize, Default)]
struct AgentSettings {
    /// `Some(None)`: the key is there with no value (`role:`), which is an error.
    #[serde(default, deserialize_with = "present")]
    role: Option<Option<String>>,
    mode: Option<String>,
    /// Read only for a controller (a traditional agent's is ignored, as Holt does).
    worker: Option<serde_norway::Value>,
    bidding_strategy: Option<serde_norway::Value>,
    bid_script: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
struct OrchestratorSettings {
    max_review_iterations: Option<i64>,
}

/// Parses in two passes: a generic value first, which refuses a repeated key
/// in any mapping (serde's maps would keep the last one silently), then the
/// fields we read, as their scalar text.
///
/// YAML 1.1 merge keys (`<<: *base`, `<<: [*a, *b]`) are applied as Holt's
/// tools (Go's yaml.v3) apply them: a key written in the mapping wins over a
/// merged one, and in a list of merges the earlier mapping wins. A file with
/// merges is read from its merged form (written back as YAML), so the
/// agents and their roles are the ones the CLI and the agents see.
fn from_yaml(yaml: &str) -> Result<RawRegistry, String> {
    let mut value: serde_norway::Value = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    if !(value.is_mapping() || value.is_null()) {
        return Err("the top level must be a mapping (version, agents, ...)".into());
    }
    if !has_merge(&value) {
        return serde_norway::from_str(yaml).map_err(|e| e.to_string());
    }
    apply_merges(&mut value)?;
    let merged = serde_norway::to_string(&value).map_err(|e| e.to_string())?;
    serde_norway::from_str(&merged).map_err(|e| e.to_string())
}

/// Deepest nesting of merges applied (a merged mapping may itself merge).
const MAX_MERGE_DEPTH: usize = 16;

/// Applies every `<<` key; a merged mapping's own `<<` comes in with it and
/// is applied on the next round (its keys lose to the ones already there).
fn apply_merges(value: &mut serde_norway::Value) -> Result<(), String> {
    for _ in 0..MAX_MERGE_DEPTH {
        value
            .apply_merge()
            .map_err(|e| format!("merge key (<<): {e}"))?;
        if !has_merge(value) {
            return Ok(());
        }
    }
    Err(format!(
        "merge keys (<<) nested more than {MAX_MERGE_DEPTH} deep"
    ))
}

/// Is there a `<<` key in any mapping?
fn has_merge(value: &serde_norway::Value) -> bool {
    use serde_norway::Value;
    match value {
        Value::Mapping(m) => m
            .iter()
            .any(|(k, v)| k.as_str() == Some("<<") || has_merge(v)),
        Value::Sequence(s) => s.iter().any(has_merge),
        Value::Tagged(t) => has_merge(&t.value),
        _ => false,
    }
}

/// A field that is present, even with a null value.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The `agents` map as its entries in file order, so a name written twice in
/// two spellings (`1` and `'1'`) is seen, not merged.
fn agent_entries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AgentEntries>, D::Error> {
    struct Entries;

    impl<'de> Visitor<'de> for Entries {
        type Value = Option<AgentEntries>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of agent names to their settings")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(Some(entries))
        }
    }

    d.deserialize_option(Entries)
}

#[cfg(test)]
mod tests;
