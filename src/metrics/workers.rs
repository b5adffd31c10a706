//! Worker metrics (workers-contract section 6): workers launched, completed,
//! failed, launch errors, Docker errors and whether Docker answers, and per
//! role the workers running and the claims queued (as the last
//! reconciliation pass counted them, every replica's).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::{metric_head, PREFIX};

#[derive(Default)]
pub struct WorkerMetrics {
    pub launched: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub launch_errors: AtomicU64,
    pub docker_errors: AtomicU64,
    /// 1 while the last Docker call answered.
    pub docker_up: AtomicI64,
    /// Role → (running, queued).
    by_role: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl WorkerMetrics {
    /// The counts of one role, from the last pass.
    pub fn set_role(&self, role: &str, running: u64, queued: u64) {
        let mut m = self.by_role.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(role.to_string(), (running, queued));
    }

    pub fn render(&self, out: &mut String) {
        let counters: [(&str, &AtomicU64, &str); 5] = [
            (
                "workers_launched_total",
                &self.launched,
                "Worker containers started.",
            ),
            (
                "workers_completed_total",
                &self.completed,
                "Workers that exited 0.",
            ),
            (
                "workers_failed_total",
                &self.failed,
                "Workers that exited with another code.",
            ),
            (
                "worker_launch_errors_total",
                &self.launch_errors,
                "Workers that could not be created or started (claim terminated).",
            ),
            (
                "docker_errors_total",
                &self.docker_errors,
                "Docker calls that failed for a transient reason (retried).",
            ),
        ];
        for (name, value, help) in counters {
            metric_head(out, name, "counter", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", value.load(Relaxed));
        }
        metric_head(out, "docker_up", "gauge", "1 while Docker answers.");
        let _ = writeln!(out, "{PREFIX}docker_up {}", self.docker_up.load(Relaxed));
        let by_role = self.by_role.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (name, help)) in [
            ("workers_running", "Workers holding a slot, by role."),
            (
                "grant_queue_length",
                "Claims waiting for a worker slot, by role.",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            metric_head(out, name, "gauge", help);
            for (role, (running, queued)) in by_role.iter() {
                let n = if i == 0 { running } else { queued };
                let _ = writeln!(out, "{PREFIX}{name}{{role=\"{}\"}} {n}", label(role));
            }
        }
    }
}
