//! `make bench`, the lifecycle part: a second orchestrator, started with an
//! agent registry (`--lifecycle-pid`, `--registry`, `SETT_BID_TIMEOUT=0`),
//! on its own instance; its scenarios are reported in the same table as
//! Phase 1's, with their budgets.

use serde::Serialize;

use crate::cli::{LcLoad, Mode, Options};
use crate::report::RunReport;
use crate::scenario::{med, median, verdict, Scenario};
use crate::startup::{self, StartupRun};
use crate::{lifecycle, procstat};

const BURST: usize = 10_000;
const PACED_RATE: f64 = 100.0;
const PACED: usize = 2_000;
const WAITING: usize = 10_000;

#[derive(Serialize)]
pub struct LcSuite {
    pub agents: Vec<String>,
    pub idle_rss_kb: u64,
    pub idle_threads: Vec<String>,
    pub scenarios: Vec<Scenario>,
    /// Fresh processes with the registry.
    pub startup: Vec<StartupRun>,
}

/// The lifecycle orchestrator before any load: RSS and threads.
pub fn idle(o: &Options) -> Result<Option<(u64, Vec<String>)>, String> {
    o.lifecycle_pid
        .map(|pid| procstat::snapshot(pid).map(|s| (s.rss_kb, procstat::thread_names(pid))))
        .transpose()
}

fn repeat(name: &str, runs: usize, o: &Options, load: LcLoad) -> Result<Scenario, String> {
    let mut out = Vec::new();
    for i in 0..runs {
        eprintln!("sett-bench: {name}, run {}/{runs}", i + 1);
        out.push(lifecycle::run(o, load)?);
    }
    Ok(Scenario {
        name: name.into(),
        runs: out,
    })
}

/// The lifecycle scenarios (`runs` bursts), then 5 fresh start-ups with the registry.
pub fn run(o: &Options, runs: usize, idle: (u64, Vec<String>)) -> Result<LcSuite, String> {
    let registry = lifecycle::registry(o)?;
    let lc = Options {
        instance: o.lifecycle_instance.clone(),
        pid: o.lifecycle_pid,
        payload_bytes: 256,
        duplicates: 1,
        wait: o.wait.max(std::time::Duration::from_secs(60)),
        mode: Mode::Suite,
        ..o.clone()
    };
    let agents = lifecycle::specs(&registry, LcLoad::Burst { count: 0 })
        .iter()
        .map(|s| format!("{} ({:?})", s.name, s.behaviour))
        .collect();
    let scenarios = vec![
        repeat(
            "lifecycle burst 10k: artefact -> complete",
            runs,
            &lc,
            LcLoad::Burst { count: BURST },
        )?,
        repeat(
            "lifecycle 2k at 100/s: last bid -> grant",
            1,
            &lc,
            LcLoad::Paced {
                rate: PACED_RATE,
                count: PACED,
            },
        )?,
        repeat(
            "lifecycle 10k claims waiting for bids",
            1,
            &lc,
            LcLoad::Waiting { count: WAITING },
        )?,
    ];
    eprintln!("sett-bench: start-up with the registry and SIGTERM, 5 fresh processes");
    let bin = o.bin.clone().ok_or("suite needs --bin")?;
    let registry_path = o
        .registry
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut instance = format!("{}-startup", lc.instance);
    instance.truncate(63);
    let startup = startup::measure(
        &bin,
        &o.redis_url,
        &instance,
        &[
            ("SETT_CONFIG_FILE", registry_path.as_str()),
            ("SETT_BID_TIMEOUT", "0"),
        ],
        5,
    )?;
    Ok(LcSuite {
        agents,
        idle_rss_kb: idle.0,
        idle_threads: idle.1,
        scenarios,
        startup,
    })
}

/// The lifecycle's budget rows: (what, measured, budget, verdict).
pub fn budget_rows(r: &LcSuite) -> Vec<(&'static str, String, &'static str, &'static str)> {
    let find = |prefix: &str| r.scenarios.iter().find(|s| s.name.starts_with(prefix));
    let value = |prefix: &str, f: &dyn Fn(&RunReport) -> Option<f64>| {
        find(prefix).and_then(|s| med(s, f)).unwrap_or(f64::NAN)
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
    let rate = value("lifecycle burst", &|r| Some(r.claims_per_s));
    let p99 = value("lifecycle 2k", &|r| r.latency.as_ref().map(|l| l.p99_ms));
    let fresh = median(r.startup.iter().map(|s| s.idle_rss_kb as f64).collect());
    let healthy = median(r.startup.iter().map(|s| s.healthy_ms).collect());
    let lost: u64 = r
        .scenarios
        .iter()
        .flat_map(|s| &s.runs)
        .map(|r| r.tally.missing + r.tally.duplicated)
        .sum();
    let cpu = value("lifecycle burst", &|r| {
        r.process.as_ref().and_then(|p| p.cpu_us_per_claim)
    });
    let per_claim = |f: fn(&RunReport) -> f64| {
        value("lifecycle burst", &|r| {
            (r.tally.claimed > 0).then(|| f(r) * 1e6 / r.tally.claimed as f64)
        })
    };
    let waiting_peak = peak("lifecycle 10k claims waiting");
    let redis_us = per_claim(|r| r.redis_cpu_s);
    vec![
        (
            "lifecycle claims/s, burst, 3 agents",
            format!("{rate:.0} claims/s"),
            ">= 2000",
            verdict(rate >= 2000.0),
        ),
        // Issue 15's budgets for the same burst.
        (
            "lifecycle burst (issue 15)",
            format!("{rate:.0} claims/s"),
            ">= 6000",
            verdict(rate >= 6000.0),
        ),
        (
            "Redis CPU/claim, lifecycle burst",
            format!("{redis_us:.1} us"),
            "<= 120 us",
            verdict(redis_us <= 120.0),
        ),
        (
            "lifecycle last bid -> grant p99 at 100/s",
            format!("{p99:.3} ms"),
            "<= 5 ms",
            verdict(p99 <= 5.0),
        ),
        (
            "lifecycle: not reached + duplicated, all",
            lost.to_string(),
            "0",
            verdict(lost == 0),
        ),
        (
            "RSS idle, registry (bench orch / fresh)",
            format!("{} / {fresh:.0} KiB", r.idle_rss_kb),
            "<= 2560 KiB",
            verdict(r.idle_rss_kb <= 2560 && fresh <= 2560.0),
        ),
        (
            "RSS peak, 10k claims waiting for bids",
            format!("{waiting_peak} KiB"),
            "<= 8192 KiB",
            verdict(waiting_peak <= 8192),
        ),
        (
            "RSS peak, lifecycle burst",
            format!("{} KiB", peak("lifecycle burst")),
            "report",
            "-",
        ),
        (
            "orchestrator CPU/claim, lifecycle burst",
            format!("{cpu:.1} us"),
            "<= 60 us",
            verdict(cpu <= 60.0),
        ),
        (
            "CPU/claim, lifecycle: orch / Redis / bench",
            format!(
                "{cpu:.1} / {redis_us:.1} / {:.1} us",
                per_claim(|r| r.bench_cpu_s)
            ),
            "report",
            "-",
        ),
        (
            "start-up to healthy with a registry",
            format!("{healthy:.1} ms median of 5"),
            "report",
            "-",
        ),
    ]
}
