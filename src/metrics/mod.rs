//! Metrics: counters and gauges in atomics, rendered as Prometheus text 0.0.4.
//!
//! Scraping reads memory only; it never touches Redis.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub mod lifecycle;
pub mod workers;

pub const PREFIX: &str = "sett_orchestrator_";
/// Upper bounds (seconds) of the claim-duration histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
pub struct Metrics {
    pub claims_created: AtomicU64,
    pub terminal_skipped: AtomicU64,
    pub duplicate_events: AtomicU64,
    pub malformed_events: AtomicU64,
    pub artefacts_not_found: AtomicU64,
    pub artefacts_invalid: AtomicU64,
    pub index_conflicts: AtomicU64,
    pub key_conflicts: AtomicU64,
    pub redis_errors: AtomicU64,
    pub redis_reconnects: AtomicU64,
    pub events_dropped: AtomicU64,
    pub reconcile_runs: AtomicU64,
    pub reconcile_scanned: AtomicU64,
    pub reconcile_claimed: AtomicU64,
    pub http_connections_refused: AtomicU64,
    pub redis_stalls: AtomicU64,
    pub redis_up: AtomicI64,
    pub claims_in_flight: AtomicI64,
    claim_duration: Histogram<{ BUCKETS.len() }>,
}

pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Metrics {
    /// Records one claim-script round trip (event received to script answered).
    pub fn observe_claim(&self, took: Duration) {
        self.claim_duration.observe(&BUCKETS, took);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &AtomicU64, &str); 16] = [
            (
                "claims_created_total",
                &self.claims_created,
                "Claims created by this process.",
            ),
            (
                "terminal_skipped_total",
                &self.terminal_skipped,
                "Terminal artefacts seen (no claim).",
            ),
            (
                "duplicate_events_total",
                &self.duplicate_events,
                "Events for artefacts that already had a claim.",
            ),
            (
                "malformed_events_total",
                &self.malformed_events,
                "Artefact events rejected as malformed.",
            ),
            (
                "artefacts_not_found_total",
                &self.artefacts_not_found,
                "Events whose artefact hash was absent.",
            ),
            (
                "artefacts_invalid_total",
                &self.artefacts_invalid,
                "Stored artefacts that could not be judged.",
            ),
            (
                "index_conflicts_total",
                &self.index_conflicts,
                "Artefacts whose claim_by_artefact key is not a string (no claim made).",
            ),
            (
                "key_conflicts_total",
                &self.key_conflicts,
                "Decisions that wrote nothing: a key they write holds another type.",
            ),
            (
                "redis_errors_total",
                &self.redis_errors,
                "Failed Redis operations.",
            ),
            (
                "redis_reconnects_total",
                &self.redis_reconnects,
                "Sessions re-established after Redis was lost.",
            ),
            (
                "events_dropped_total",
                &self.events_dropped,
                "Events not queued (queue full); left to catch-up.",
            ),
            (
                "reconcile_runs_total",
                &self.reconcile_runs,
                "Completed catch-up scans.",
            ),
            (
                "reconcile_scanned_total",
                &self.reconcile_scanned,
                "Artefact keys examined by catch-up scans.",
            ),
            (
                "reconcile_claimed_total",
                &self.reconcile_claimed,
                "Claims created by catch-up scans.",
            ),
            (
                "http_connections_refused_total",
                &self.http_connections_refused,
                "HTTP connections closed at once: their peer address had 64 open.",
            ),
            (
                "redis_stalls_total",
                &self.redis_stalls,
                "PINGs Redis answered later than 2 s (stalled, not lost).",
            ),
        ];
        for (name, value, help) in counters {
            metric_head(&mut out, name, "counter", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", value.load(Relaxed));
        }
        // The log's own counters are process-wide (the log has no `Shared`).
        let log_counters = [
            (
                "log_lines_dropped_total",
                crate::log::dropped_total(),
                "Log lines dropped: stdout did not keep up and the log buffer was full.",
            ),
            (
                "log_lines_suppressed_total",
                crate::log::suppressed_total(),
                "Log lines suppressed by the per-kind rate limit (50 a second).",
            ),
        ];
        for (name, value, help) in log_counters {
            metric_head(&mut out, name, "counter", help);
            let _ = writeln!(out, "{PREFIX}{name} {value}");
        }
        let gauges: [(&str, &AtomicI64, &str); 2] = [
            (
                "redis_up",
                &self.redis_up,
                "1 while connected and subscribed, else 0.",
            ),
            (
                "claims_in_flight",
                &self.claims_in_flight,
                "Artefacts whose claim decision was sent and not yet answered.",
            ),
        ];
        for (name, value, help) in gauges {
            metric_head(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", value.load(Relaxed));
        }
        self.claim_duration.render(
            &mut out,
            &BUCKETS,
            "claim_duration_seconds",
            "Event received to claim script answered.",
        );
        metric_head(&mut out, "build_info", "gauge", "Build information.");
        let _ = writeln!(
            out,
            "{PREFIX}build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// A Prometheus histogram in atomics; its bucket bounds (seconds) are given
/// by its owner at each call, so it needs no allocation and derives Default.
pub struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    pub fn observe(&self, bounds: &[f64; N], took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = bounds.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(took.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }

    pub fn render(&self, out: &mut String, bounds: &[f64; N], name: &str, help: &str) {
        metric_head(out, name, "histogram", help);
        let mut cumulative = 0;
        for (bound, count) in bounds.iter().zip(&self.buckets) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{PREFIX}{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Relaxed);
        let _ = writeln!(out, "{PREFIX}{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{PREFIX}{name}_sum {sum}");
        let _ = writeln!(out, "{PREFIX}{name}_count {total}");
    }
}

pub fn metric_head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        inc(&m.claims_created);
        inc(&m.claims_created);
        m.observe_claim(Duration::from_micros(300));
        m.observe_claim(Duration::from_secs(10));
        let text = m.render();
        assert!(text.contains("\nsett_orchestrator_claims_created_total 2\n"));
        assert!(
            text.contains("sett_orchestrator_claim_duration_seconds_bucket{le=\"0.00025\"} 0\n")
        );
        assert!(text.contains("sett_orchestrator_claim_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("sett_orchestrator_claim_duration_seconds_bucket{le=\"2.5\"} 1\n"));
        assert!(text.contains("sett_orchestrator_claim_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("sett_orchestrator_claim_duration_seconds_count 2\n"));
        assert!(text.contains("sett_orchestrator_build_info{version=\""));
        assert!(text.contains("\nsett_orchestrator_log_lines_dropped_total "));
        assert!(text.contains("\nsett_orchestrator_log_lines_suppressed_total "));
        assert!(text.contains("\nsett_orchestrator_http_connections_refused_total 0\n"));
    }
}
