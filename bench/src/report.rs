//! What one run reports, as a human table or as JSON.

use serde::Serialize;

use crate::tally::Tally;

/// Publish → claim-event latency, milliseconds, from an HDR histogram (3 significant digits).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_nanos(samples: &[u64]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        let mut h =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1_000, 600_000_000_000, 3).ok()?;
        for &s in samples {
            h.saturating_record(s.max(1_000));
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Some(Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// The orchestrator's process during the run (`--pid`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcReport {
    pub rss_before_kb: u64,
    /// VmHWM: reset just before the run when `peak_reset`, else the lifetime peak.
    pub rss_peak_kb: u64,
    pub rss_after_kb: u64,
    pub peak_reset: bool,
    pub cpu_ms: f64,
    pub cpu_us_per_claim: Option<f64>,
    pub threads: u64,
    pub thread_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RunReport {
    pub mode: String,
    pub payload_bytes: usize,
    pub duplicates: usize,
    pub structural_type: String,
    pub events_published: u64,
    #[serde(flatten)]
    pub tally: Tally,
    /// First send to last first-claim event, seconds.
    pub elapsed_s: f64,
    /// Claimed artefacts per second over `elapsed_s`.
    pub claims_per_s: f64,
    /// Artefacts written per second (send side only).
    pub sent_per_s: f64,
    pub latency: Option<Latency>,
    pub process: Option<ProcReport>,
    /// redis-server CPU time (user + sys) spent during the sending/claiming phase
    /// (for load runs: until the claims were in, settle time included).
    pub redis_cpu_s: f64,
    /// sett-bench's own CPU time over the same phase (it shares the machine).
    pub bench_cpu_s: f64,
    /// Lifecycle scenarios only: what the simulated agents saw and did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LcReport>,
}

/// A lifecycle run, beyond the Phase-1 counts (`claimed` there counts the
/// claims that reached the scenario's end state: `complete`, or still waiting
/// for bids).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LcReport {
    /// Registry names and how each bid.
    pub agents: Vec<String>,
    /// Artefact published -> its claim `complete` (seen as the deliverable's
    /// own claim event, published by the script that completed the claim).
    pub artefact_to_complete: Option<Latency>,
    /// The agent's clock: the claim's last bid sent -> the exclusive grant received.
    pub last_bid_to_grant: Option<Latency>,
    pub bids_sent: u64,
    /// Grants received for the run's claims (one each expected).
    pub grants: u64,
    /// Deliverables written (one per granted claim expected).
    pub deliverables: u64,
    /// Claims of deliverables still collecting bids at the end (0 expected:
    /// the agents bid `ignore` on agents' work, so they go dormant).
    pub deliverable_claims_bidding: u64,
    /// Redis errors the agents met.
    pub agent_errors: u64,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

impl RunReport {
    /// `label  value` lines for one run.
    pub fn table(&self) -> String {
        let t = &self.tally;
        let mut rows: Vec<(&str, String)> = vec![
            (
                "mode",
                format!(
                    "{} ({} B payload, {} x {})",
                    self.mode, self.payload_bytes, self.structural_type, self.duplicates
                ),
            ),
            ("sent (artefacts)", t.sent.to_string()),
            ("events published", self.events_published.to_string()),
            (
                "claimed",
                format!("{} of {} expected", t.claimed, t.expected),
            ),
            ("missing", t.missing.to_string()),
            (
                "duplicated",
                format!(
                    "{} ({} extra claim events, {} claim ids)",
                    t.duplicated, t.extra_claim_events, t.claim_ids_announced
                ),
            ),
            ("unexpected claims", t.unexpected_claims.to_string()),
            ("no claim hash on board", t.board_unclaimed.to_string()),
            ("foreign claim events", t.foreign_events.to_string()),
            (
                "claims/s",
                format!("{:.0} (over {:.3} s)", self.claims_per_s, self.elapsed_s),
            ),
            ("sent/s", format!("{:.0}", self.sent_per_s)),
            (
                "redis-server / sett-bench CPU",
                format!("{:.3} s / {:.3} s", self.redis_cpu_s, self.bench_cpu_s),
            ),
        ];
        if let Some(l) = &self.latency {
            rows.push((
                "latency ms p50/p90/p99/p99.9/max",
                format!(
                    "{:.3} / {:.3} / {:.3} / {:.3} / {:.3}",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
                ),
            ));
        }
        if let Some(lc) = &self.lifecycle {
            let lat = |l: &Option<Latency>| {
                l.as_ref().map_or("-".into(), |l| {
                    format!(
                        "{:.3} / {:.3} / {:.3} / {:.3} / {:.3}",
                        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
                    )
                })
            };
            rows.push(("agents", lc.agents.join(", ")));
            rows.push(("artefact -> complete ms", lat(&lc.artefact_to_complete)));
            rows.push(("last bid -> grant ms", lat(&lc.last_bid_to_grant)));
            rows.push((
                "bids / grants / deliverables",
                format!("{} / {} / {}", lc.bids_sent, lc.grants, lc.deliverables),
            ));
            rows.push((
                "deliverable claims still bidding",
                lc.deliverable_claims_bidding.to_string(),
            ));
            rows.push(("agent Redis errors", lc.agent_errors.to_string()));
        }
        if let Some(p) = &self.process {
            let peak = if p.peak_reset {
                "peak (VmHWM, reset before run)"
            } else {
                "peak (VmHWM, since start)"
            };
            rows.push((
                "RSS before / peak / after",
                format!(
                    "{} / {} / {} KiB ({peak})",
                    p.rss_before_kb, p.rss_peak_kb, p.rss_after_kb
                ),
            ));
            rows.push((
                "CPU",
                format!(
                    "{:.1} ms, {} us/claim",
                    p.cpu_ms,
                    opt(p.cpu_us_per_claim, 2)
                ),
            ));
            rows.push((
                "threads",
                format!("{} ({})", p.threads, p.thread_names.join(", ")),
            ));
        }
        rows.iter().map(|(k, v)| format!("{k:<34} {v}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_samples() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1_000_000).collect(); // 1..1000 ms
        let l = Latency::from_nanos(&samples).unwrap();
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_ms - 990.0).abs() < 1.0, "{l:?}");
        assert!((l.max_ms - 1000.0).abs() < 1.0, "{l:?}");
        assert!(Latency::from_nanos(&[]).is_none());
    }
}
