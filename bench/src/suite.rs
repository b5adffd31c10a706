//! `make bench`: every scenario on one Redis and one orchestrator, medians of
//! repeated short runs, one table with each figure next to its budget.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{Mode, Options};
use crate::lcsuite::{self, LcSuite};
use crate::report::RunReport;
use crate::scenario::{med, median, verdict, Scenario};
use crate::startup::{self, StartupRun};
use crate::{procstat, run};
use sett_orchestrator::phase1::PER_CALL;

// The rows "burst / ceiling'' (claims/s, 32 artefacts a call)" name it.
const _: () = assert!(PER_CALL == 32);

const COUNT: usize = 10_000;
const IN_FLIGHT: usize = 256;

#[derive(Serialize)]
pub struct SuiteReport {
    pub idle_rss_kb: u64,
    pub idle_threads: Vec<String>,
    pub scenarios: Vec<Scenario>,
    pub startup: Vec<StartupRun>,
    /// With `--lifecycle-pid`: the lifecycle orchestrator's scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<LcSuite>,
}

fn repeat(name: &str, runs: usize, o: &Options) -> Result<Scenario, String> {
    let mut out = Vec::new();
    for i in 0..runs {
        eprintln!("sett-bench: {name}, run {}/{runs}", i + 1);
        out.push(match o.mode {
            Mode::Limit {
                count,
                in_flight,
                per_call,
                per_script,
            } => run::limit(o, count, in_flight, per_call, per_script)?,
            _ => run::load(o)?,
        });
    }
    Ok(Scenario {
        name: name.into(),
        runs: out,
    })
}

pub fn run(o: &Options) -> Result<SuiteReport, String> {
    let pid = o.pid.ok_or("suite needs --pid")?;
    let bin = o.bin.clone().ok_or("suite needs --bin")?;
    let runs = if o.runs == 0 { 3 } else { o.runs };
    let idle = procstat::snapshot(pid)?;
    let idle_threads = procstat::thread_names(pid);
    let lc_idle = lcsuite::idle(o)?;
    let with = |mode: Mode, payload_bytes: usize| Options {
        mode,
        payload_bytes,
        ..o.clone()
    };
    // The claim script's ceiling, 256 B artefacts.
    let limit = |per_call: bool, per_script: usize| {
        with(
            Mode::Limit {
                count: COUNT,
                in_flight: IN_FLIGHT,
                per_call,
                per_script,
            },
            256,
        )
    };
    let scenarios = vec![
        repeat(
            "ceiling: pipelined EVALSHA, 256 in flight",
            runs,
            &limit(false, 1),
        )?,
        repeat(
            &format!("ceiling'': pipelined EVALSHA of {PER_CALL} artefacts a call, 256 in flight"),
            runs,
            &limit(false, PER_CALL),
        )?,
        repeat(
            "ceiling': claim_artefact x 256 in flight",
            runs,
            &limit(true, 1),
        )?,
        repeat(
            "burst 10k x 256 B",
            runs,
            &with(Mode::Burst { count: COUNT }, 256),
        )?,
        repeat(
            "paced 10k at 1000/s",
            1,
            &with(
                Mode::Paced {
                    rate: 1000.0,
                    count: COUNT,
                },
                256,
            ),
        )?,
        repeat(
            "burst 10k x 4 KiB",
            runs,
            &with(Mode::Burst { count: COUNT }, 4096),
        )?,
        repeat(
            "burst 10k x 64 KiB",
            runs,
            &with(Mode::Burst { count: COUNT }, 65536),
        )?,
    ];
    eprintln!("sett-bench: start-up and SIGTERM, 5 fresh processes");
    let mut instance = format!("{}-startup", o.instance);
    instance.truncate(63);
    let startup = startup::measure(&bin, &o.redis_url, &instance, &[], 5)?;
    let lifecycle = match lc_idle {
        Some(idle) => Some(lcsuite::run(o, runs, idle)?),
        None => None,
    };
    Ok(SuiteReport {
        idle_rss_kb: idle.rss_kb,
        idle_threads,
        scenarios,
        startup,
        lifecycle,
    })
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The one table `make bench` prints.
pub fn table(r: &SuiteReport) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<42} {:>4} {:>6} {:>6} {:>5} {:>4} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>22} {:>8} {:>4}",
        "scenario", "runs", "sent", "claim", "miss", "dup", "claims/s", "Redis%", "p50 ms", "p90", "p99", "p99.9", "max", "RSS KiB before/peak/aft", "CPU us/c", "thr"
    );
    let lifecycle = r.lifecycle.iter().flat_map(|l| &l.scenarios);
    for s in r.scenarios.iter().chain(lifecycle) {
        let sum = |f: fn(&RunReport) -> u64| s.runs.iter().map(f).sum::<u64>();
        let lat = |f: fn(&crate::report::Latency) -> f64| med(s, |r| r.latency.as_ref().map(f));
        let proc_ =
            |f: fn(&crate::report::ProcReport) -> f64| med(s, |r| r.process.as_ref().map(f));
        let peak_max = s
            .runs
            .iter()
            .filter_map(|r| r.process.as_ref().map(|p| p.rss_peak_kb))
            .max();
        let rss = match (
            proc_(|p| p.rss_before_kb as f64),
            peak_max,
            proc_(|p| p.rss_after_kb as f64),
        ) {
            (Some(b), Some(p), Some(a)) => format!("{b:.0}/{p}/{a:.0}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            t,
            "{:<42} {:>4} {:>6} {:>6} {:>5} {:>4} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>22} {:>8} {:>4}",
            s.name,
            s.runs.len(),
            sum(|r| r.tally.sent),
            sum(|r| r.tally.claimed),
            sum(|r| r.tally.missing),
            sum(|r| r.tally.duplicated),
            cell(med(s, |r| Some(r.claims_per_s)), 0),
            cell(med(s, |r| (r.elapsed_s > 0.0).then(|| 100.0 * r.redis_cpu_s / r.elapsed_s)), 0),
            cell(lat(|l| l.p50_ms), 3),
            cell(lat(|l| l.p90_ms), 3),
            cell(lat(|l| l.p99_ms), 3),
            cell(lat(|l| l.p999_ms), 3),
            cell(lat(|l| l.max_ms), 3),
            rss,
            cell(proc_(|p| p.cpu_us_per_claim.unwrap_or(f64::NAN)), 1),
            cell(proc_(|p| p.threads as f64), 0),
        );
    }
    let _ = writeln!(
        t,
        "(sent/claimed/missing/dup: sums over runs; peak RSS: max over runs; other figures: medians. \
         Redis%: redis-server CPU time / elapsed, 100 = one core saturated)"
    );
    if let Some(lc) = &r.lifecycle {
        let _ = writeln!(
            t,
            "(lifecycle, agents {}: claim = claims complete (waiting: still collecting bids); \
             dup = a claim event, grant or deliverable more than once; latency as the scenario says)",
            lc.agents.join(", ")
        );
    }
    t.push_str(&budgets(r));
    t
}

fn budgets(r: &SuiteReport) -> String {
    let find = |prefix: &str| r.scenarios.iter().find(|s| s.name.starts_with(prefix));
    let rate = |prefix: &str| {
        find(prefix)
            .and_then(|s| med(s, |r| Some(r.claims_per_s)))
            .unwrap_or(f64::NAN)
    };
    let peak = |prefix: &str| {
        find(prefix)
            .and_then(|s| {
                s.runs
                    .iter()
                    .filter_map(|r| r.process.as_ref().map(|p| p.rss_peak_kb))
                    .max()
            })
            .unwrap_or(u64::MAX)
    };
    let (ceiling, per_call, burst) = (rate("ceiling:"), rate("ceiling':"), rate("burst 10k x 256"));
    let batched = rate("ceiling'':");
    let ratio = burst / batched;
    let lost: u64 = r
        .scenarios
        .iter()
        .flat_map(|s| &s.runs)
        .map(|r| r.tally.missing + r.tally.duplicated)
        .sum();
    let p99 = find("paced")
        .and_then(|s| med(s, |r| r.latency.as_ref().map(|l| l.p99_ms)))
        .unwrap_or(f64::NAN);
    let healthy = median(r.startup.iter().map(|s| s.healthy_ms).collect());
    let healthy_max = r.startup.iter().map(|s| s.healthy_ms).fold(0.0, f64::max);
    let exit = median(r.startup.iter().map(|s| s.sigterm_to_exit_ms).collect());
    let exit_max = r
        .startup
        .iter()
        .map(|s| s.sigterm_to_exit_ms)
        .fold(0.0, f64::max);
    let fresh_idle = median(r.startup.iter().map(|s| s.idle_rss_kb as f64).collect());
    let clean_exits = r.startup.iter().all(|s| s.exit_code == Some(0));
    let burst_cpu = find("burst 10k x 256")
        .and_then(|s| med(s, |r| r.process.as_ref().and_then(|p| p.cpu_us_per_claim)))
        .unwrap_or(f64::NAN);
    // Who spends the machine's two cores per claim in the 256 B burst.
    let per_claim = |f: fn(&RunReport) -> f64| {
        find("burst 10k x 256")
            .and_then(|s| {
                med(s, |r| {
                    (r.tally.claimed > 0).then(|| f(r) * 1e6 / r.tally.claimed as f64)
                })
            })
            .unwrap_or(f64::NAN)
    };
    let (redis_us, bench_us) = (per_claim(|r| r.redis_cpu_s), per_claim(|r| r.bench_cpu_s));
    let mut rows = vec![
        // The budget (issue 15) against the ceiling of the calls as the
        // orchestrator sends them in a burst (32 artefacts a call); the
        // ceiling of one artefact a call (what the issue measured) reported.
        (
            "burst / ceiling'' (claims/s, 32 artefacts a call)",
            format!("{burst:.0} / {batched:.0} = {ratio:.2}"),
            ">= 0.75",
            verdict(ratio >= 0.75),
        ),
        (
            "burst / ceiling (one artefact a call)",
            format!("{burst:.0} / {ceiling:.0} = {:.2}", burst / ceiling),
            "report",
            "-",
        ),
        (
            "burst / ceiling' (claim_artefact calls)",
            format!("{burst:.0} / {per_call:.0} = {:.2}", burst / per_call),
            "report",
            "-",
        ),
        (
            "missing + duplicated, all runs",
            lost.to_string(),
            "0",
            verdict(lost == 0),
        ),
        (
            "p99 publish -> claim at 1000/s",
            format!("{p99:.3} ms"),
            "<= 1 ms",
            verdict(p99 <= 1.0),
        ),
        (
            "RSS idle (bench orchestrator / fresh median)",
            format!("{} / {fresh_idle:.0} KiB", r.idle_rss_kb),
            "<= 2048 KiB",
            verdict(r.idle_rss_kb <= 2048 && fresh_idle <= 2048.0),
        ),
        (
            "RSS peak, 4 KiB burst",
            format!("{} KiB", peak("burst 10k x 4 KiB")),
            "<= 12288 KiB",
            verdict(peak("burst 10k x 4 KiB") <= 12 * 1024),
        ),
        (
            "RSS peak, 64 KiB burst",
            format!("{} KiB", peak("burst 10k x 64 KiB")),
            "<= 16384 KiB",
            verdict(peak("burst 10k x 64 KiB") <= 16 * 1024),
        ),
        (
            "start-up to healthy (median / max of 5)",
            format!("{healthy:.1} / {healthy_max:.1} ms"),
            "<= 20 ms",
            verdict(healthy <= 20.0),
        ),
        (
            "SIGTERM to exit (median / max of 5)",
            format!(
                "{exit:.1} / {exit_max:.1} ms{}",
                if clean_exits { "" } else { ", NOT all exit 0" }
            ),
            "<= 50 ms",
            verdict(exit <= 50.0 && clean_exits),
        ),
        (
            "orchestrator CPU/claim, 256 B burst",
            format!("{burst_cpu:.1} us"),
            "<= 8 us",
            verdict(burst_cpu <= 8.0),
        ),
        (
            "CPU/claim, 256 B burst: orch / Redis / bench",
            format!("{burst_cpu:.1} / {redis_us:.1} / {bench_us:.1} us"),
            "report",
            "-",
        ),
        (
            "threads",
            format!("{} ({})", r.idle_threads.len(), r.idle_threads.join(", ")),
            "report",
            "-",
        ),
    ];
    if let Some(lc) = &r.lifecycle {
        rows.extend(lcsuite::budget_rows(lc));
    }
    let mut t = String::from("\n");
    let _ = writeln!(
        t,
        "{:<42} {:>30} {:>14} {:>7}",
        "budget", "measured", "budget", "verdict"
    );
    for (name, measured, budget, v) in rows {
        let _ = writeln!(t, "{name:<42} {measured:>30} {budget:>14} {v:>7}");
    }
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median(vec![]).is_nan());
    }
}
