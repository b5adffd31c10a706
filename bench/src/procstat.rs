//! The orchestrator as seen from `/proc/<pid>`: resident memory, its peak,
//! threads and CPU time.

use std::fs;

#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    pub rss_kb: u64,
    /// Peak resident set (VmHWM) since start or since [`reset_peak`].
    pub hwm_kb: u64,
    pub threads: u64,
    /// On-CPU time of all live threads, ns (`/proc/<pid>/task/*/schedstat`).
    pub cpu_ns: u64,
}

fn status_kb(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

pub fn snapshot(pid: i32) -> Result<Snapshot, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |f: &str| status_kb(&status, f).ok_or(format!("/proc/{pid}/status has no {f}"));
    Ok(Snapshot {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
        threads: field("Threads:")?,
        cpu_ns: cpu_ns(pid)?,
    })
}

fn cpu_ns(pid: i32) -> Result<u64, String> {
    let tasks =
        fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("/proc/{pid}/task: {e}"))?;
    let mut total = 0;
    for task in tasks.flatten() {
        // A thread may exit between listing and reading: skip it.
        if let Ok(s) = fs::read_to_string(task.path().join("schedstat")) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// CPU time (user + sys) of this process so far, all threads, seconds.
pub fn self_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Resets VmHWM to the current RSS (`echo 5 > clear_refs`); false if not allowed.
pub fn reset_peak(pid: i32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The threads' names (`comm`), sorted, e.g. `["async-io", "sett-orchestrat"]`.
pub fn thread_names(pid: i32) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = snapshot(std::process::id() as i32).unwrap();
        assert!(
            s.rss_kb > 0 && s.hwm_kb >= s.rss_kb && s.threads >= 1 && s.cpu_ns > 0,
            "{s:?}"
        );
        assert!(!thread_names(std::process::id() as i32).is_empty());
        assert_eq!(status_kb("VmRSS:\t  1234 kB\n", "VmRSS:"), Some(1234));
    }
}
