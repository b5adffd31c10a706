//! What a worker decision did, told with Holt's event names (workers-contract
//! section 6) and counted. The lifecycle's own rows (terminated, Failure
//! artefacts) are the lifecycle report's.

use crate::blackboard::effects::Effect;
use crate::log::{Line, Lines};
use crate::metrics::inc;
use crate::metrics::workers::WorkerMetrics;

/// Logs and counts the worker effects among `effects`; true when one of them
/// gave a claim a worker slot (a container is to be launched).
pub fn effects(effects: &[Effect], m: &WorkerMetrics, out: &mut Lines) -> bool {
    let mut granted = false;
    for effect in effects {
        match effect {
            Effect::WorkerGranted {
                claim,
                role,
                agent,
                resumed,
            } => {
                granted = true;
                if *resumed {
                    out.push(
                        Line::info("grant_resumed_from_queue")
                            .str("claim_id", claim.as_str())
                            .str("role", role)
                            .str("agent_name", agent),
                    );
                }
            }
            Effect::WorkerQueued {
                claim,
                role,
                queued,
            } => {
                out.push(
                    Line::info("worker_limit_reached")
                        .str("claim_id", claim.as_str())
                        .str("role", role),
                );
                out.push(
                    Line::info("grant_paused_for_queue")
                        .str("claim_id", claim.as_str())
                        .str("role", role)
                        .num("queue_length", *queued),
                );
            }
            Effect::WorkerEnded {
                claim,
                role,
                kind,
                code,
            } => {
                let line = if kind == "not_launched" {
                    // Its claim ended before the container was made.
                    Line::info("worker_not_launched").str("reason", "claim no longer waits")
                } else if kind == "launch_failed" {
                    inc(&m.launch_errors);
                    Line::error("worker_error")
                } else if *code == 0 {
                    inc(&m.completed);
                    Line::info("worker_completed")
                } else {
                    inc(&m.failed);
                    Line::warn("worker_failed").num("exit_code", *code as u64)
                };
                out.push(line.str("claim_id", claim.as_str()).str("role", role));
            }
            _ => {}
        }
    }
    granted
}
