//! A controller agent's `worker:` section (workers-contract section 1): the
//! image and command of the containers started for the claims it wins, how
//! many may run at once, and the workspace they see. Checked at start-up with
//! Holt's refusals, each one line naming the agent.

use serde_norway::Value;

use crate::config::error::printable;

/// `worker.max_concurrent` when absent. 0 and below are refused, as the
/// contract (section 1) says; Holt reads 0 as 1.
pub const DEFAULT_MAX_CONCURRENT: u32 = 1;
/// The most workers of one role we allow at once.
pub const MAX_CONCURRENT_LIMIT: u32 = 10_000;

/// How a worker sees the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceMode {
    ReadOnly,
    ReadWrite,
}

/// A controller's worker settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub image: String,
    /// Non-empty; given to the pup as `HOLT_AGENT_COMMAND` (a JSON array).
    pub command: Vec<String>,
    pub max_concurrent: u32,
    /// `None`: no workspace mount.
    pub workspace: Option<WorkspaceMode>,
}

/// What else a controller's workers are told: Holt's pup reads these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Controller {
    pub worker: Worker,
    /// `bidding_strategy`, as written (may be empty).
    pub bidding_strategy: String,
    /// `bid_script`, when present.
    pub bid_script: Option<Vec<String>>,
    /// The worker image's full id (`sha256:…`), filled in at start-up from
    /// Docker (empty when the image is not there: its launches then fail).
    pub image_id: String,
}

impl Default for Worker {
    fn default() -> Worker {
        Worker {
            image: String::new(),
            command: Vec::new(),
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            workspace: None,
        }
    }
}

/// Reads a controller's `worker`, `bidding_strategy` and `bid_script`.
pub fn controller(
    name: &str,
    worker: Option<&Value>,
    bidding_strategy: Option<&Value>,
    bid_script: Option<&Value>,
) -> Result<Controller, String> {
    let worker = match worker {
        None | Some(Value::Null) => {
            return Err(format!(
                "agent '{name}' has mode: controller but no worker configuration"
            ))
        }
        Some(Value::Mapping(_)) => worker.unwrap(),
        Some(_) => return Err(format!("agent '{name}': worker must be a mapping")),
    };
    let image = match worker.get("image") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(format!("agent '{name}': worker.image must be a string")),
    };
    if image.is_empty() {
        return Err(format!("agent '{name}' worker configuration missing image"));
    }
    if image.len() > 512 || image.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "agent '{name}': worker.image '{}' is invalid",
            printable(&image, 64)
        ));
    }
    let command = strings(name, "worker.command", worker.get("command"))?.unwrap_or_default();
    if command.is_empty() {
        return Err(format!(
            "agent '{name}' worker configuration missing command"
        ));
    }
    let max_concurrent = match worker.get("max_concurrent") {
        None | Some(Value::Null) => DEFAULT_MAX_CONCURRENT,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) if (1..=i64::from(MAX_CONCURRENT_LIMIT)).contains(&n) => n as u32,
            Some(n) if n < 1 => {
                return Err(format!(
                    "agent '{name}' worker.max_concurrent must be >= 1 (got {n})"
                ))
            }
            _ => {
                return Err(format!(
                    "agent '{name}' worker.max_concurrent must be an integer from 1 to {MAX_CONCURRENT_LIMIT} (got {n})"
                ))
            }
        },
        Some(_) => {
            return Err(format!(
                "agent '{name}' worker.max_concurrent must be an integer"
            ))
        }
    };
    let workspace = match worker.get("workspace") {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => match m.get("mode") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s == "ro" => Some(WorkspaceMode::ReadOnly),
            Some(Value::String(s)) if s == "rw" => Some(WorkspaceMode::ReadWrite),
            Some(other) => {
                let shown = match other {
                    Value::String(s) => printable(s, 40),
                    _ => "(not a string)".to_string(),
                };
                return Err(format!(
                    "agent '{name}' worker: invalid workspace mode: {shown} (must be 'ro' or 'rw')"
                ));
            }
        },
        Some(_) => {
            return Err(format!(
                "agent '{name}': worker.workspace must be a mapping (mode: ro or rw)"
            ))
        }
    };
    let bidding_strategy = match bidding_strategy {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(format!("agent '{name}': bidding_strategy must be a string")),
    };
    let bid_script = strings(name, "bid_script", bid_script)?.filter(|s| !s.is_empty());
    Ok(Controller {
        worker: Worker {
            image,
            command,
            max_concurrent,
            workspace,
        },
        bidding_strategy,
        bid_script,
        image_id: String::new(),
    })
}

/// A list of strings (`None` when absent or null).
fn strings(name: &str, field: &str, value: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Sequence(items)) => items,
        Some(_) => return Err(format!("agent '{name}': {field} must be a list of strings")),
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) if !s.contains('\0') => Ok(s.clone()),
            _ => Err(format!("agent '{name}': {field} must be a list of strings")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
