//! The command line of sett-bench: hand-parsed `--flag value` pairs.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
sett-bench: load generator and meter for sett-orchestrator

  sett-bench --burst N | --rate R --count N  [load options]   one load run
  sett-bench --limit [--count N] [--in-flight M] [--per-call] [--artefacts-per-call K]
                                                              the claim-script ceiling (pipelined
                                                              EVALSHA of K artefacts each, default 1;
                                                              --per-call: claim_artefact calls)
  sett-bench startup --bin PATH [--runs 5]                    start-up to healthy, SIGTERM to exit
  sett-bench suite --bin PATH --pid P [--runs 3] [--out FILE]  everything `make bench` reports
        [--lifecycle-pid Q --registry FILE]                   ... and the lifecycle scenarios on Q
  sett-bench lifecycle --registry FILE --burst N | --rate R --count N | --waiting N
                                                              the lifecycle with simulated agents
  sett-bench workers --bin PATH --worker-bin PATH             controller workers on the real Docker
                                                              engine (own redis-server, image, networks)

Common:   --redis-url URL (default $REDIS_URL)  --instance NAME (default $SETT_INSTANCE_NAME or 'bench')
          --json (machine-readable output instead of the table)
Load:     --payload-bytes B (256)  --duplicates K (1: each event published K times)
          --structural-type T (Standard)  --pid P (orchestrator: RSS, CPU, threads from /proc)
          --wait-ms MS (10000: how long to wait for claims after the last send)
          --settle-ms MS (300: extra listening for late duplicates)
Lifecycle: --registry FILE (the orchestrator's agent registry: the first agent bids exclusive, the
          others ignore; --waiting: none bids)  --lifecycle-instance NAME (suite; default <instance>-lc)
";

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Burst {
        count: usize,
    },
    Paced {
        rate: f64,
        count: usize,
    },
    /// `per_call`: one `claim_artefact` call per claim (the orchestrator's client
    /// path); else pipelined EVALSHA batches (what Redis itself sustains), each
    /// call deciding `per_script` artefacts (1: the ceiling the budgets name;
    /// `phase1::PER_CALL`: as the orchestrator sends them in a burst).
    Limit {
        count: usize,
        in_flight: usize,
        per_call: bool,
        per_script: usize,
    },
    Startup,
    Suite,
    /// A lifecycle scenario (simulated agents, `--registry`).
    Lifecycle(LcLoad),
    /// The controller workers' budgets (`--worker-bin`: sett-test-worker).
    Workers,
}

/// The load of a lifecycle scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LcLoad {
    /// N artefacts at once: artefact -> bids -> exclusive grant -> delivery -> complete.
    Burst { count: usize },
    /// One artefact every 1/R s: last bid -> grant latency.
    Paced { rate: f64, count: usize },
    /// N artefacts whose claims wait for bids that never come.
    Waiting { count: usize },
}

#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    pub redis_url: String,
    pub instance: String,
    pub payload_bytes: usize,
    pub duplicates: usize,
    pub structural_type: String,
    pub pid: Option<i32>,
    pub wait: Duration,
    pub settle: Duration,
    pub json: bool,
    pub bin: Option<PathBuf>,
    pub runs: usize,
    /// `suite`: also write the full results as JSON here.
    pub out: Option<PathBuf>,
    /// The agent registry the lifecycle orchestrator runs with.
    pub registry: Option<PathBuf>,
    /// `suite`: the lifecycle orchestrator (on `lifecycle_instance`).
    pub lifecycle_pid: Option<i32>,
    pub lifecycle_instance: String,
    /// `workers`: the static test worker put in the workers' image.
    pub worker_bin: Option<PathBuf>,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut args = args.into_iter().peekable();
    let sub = match args.peek().map(String::as_str) {
        Some("startup") | Some("suite") | Some("lifecycle") | Some("workers") => args.next(),
        _ => None,
    };
    let mut o = Options {
        mode: Mode::Suite,
        redis_url: std::env::var("REDIS_URL").unwrap_or_default(),
        instance: std::env::var("SETT_INSTANCE_NAME").unwrap_or_else(|_| "bench".into()),
        payload_bytes: 256,
        duplicates: 1,
        structural_type: "Standard".into(),
        pid: None,
        wait: Duration::from_secs(10),
        settle: Duration::from_millis(300),
        json: false,
        bin: None,
        runs: 0,
        out: None,
        registry: None,
        lifecycle_pid: None,
        lifecycle_instance: String::new(),
        worker_bin: None,
    };
    let (mut burst, mut rate, mut count, mut limit, mut in_flight, mut per_call) =
        (None, None, None, false, 256, false);
    let mut per_script = 1;
    let mut waiting = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--json" => o.json = true,
            "--limit" => limit = true,
            "--per-call" => per_call = true,
            "--help" | "-h" => return Err(String::new()),
            "--burst" => burst = Some(number(&flag, &value()?)?),
            "--rate" => rate = Some(number::<f64>(&flag, &value()?)?),
            "--count" => count = Some(number(&flag, &value()?)?),
            "--in-flight" => in_flight = number(&flag, &value()?)?,
            "--artefacts-per-call" => match number::<usize>(&flag, &value()?)? {
                0 => return Err("--artefacts-per-call takes 1 or more".into()),
                k => per_script = k,
            },
            "--redis-url" => o.redis_url = value()?,
            "--instance" => o.instance = value()?,
            "--payload-bytes" => o.payload_bytes = number(&flag, &value()?)?,
            "--duplicates" => o.duplicates = number(&flag, &value()?)?,
            "--structural-type" => o.structural_type = value()?,
            "--pid" => o.pid = Some(number(&flag, &value()?)?),
            "--wait-ms" => o.wait = Duration::from_millis(number(&flag, &value()?)?),
            "--settle-ms" => o.settle = Duration::from_millis(number(&flag, &value()?)?),
            "--bin" => o.bin = Some(PathBuf::from(value()?)),
            "--runs" => o.runs = number(&flag, &value()?)?,
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--registry" => o.registry = Some(PathBuf::from(value()?)),
            "--lifecycle-pid" => o.lifecycle_pid = Some(number(&flag, &value()?)?),
            "--lifecycle-instance" => o.lifecycle_instance = value()?,
            "--waiting" => waiting = Some(number(&flag, &value()?)?),
            "--worker-bin" => o.worker_bin = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if per_script > 1 && (!limit || sub.is_some() || per_call) {
        return Err("--artefacts-per-call is for the pipelined --limit".into());
    }
    o.mode = match (sub.as_deref(), burst, rate, count, limit) {
        (Some("startup"), ..) => Mode::Startup,
        (Some("suite"), ..) => Mode::Suite,
        (Some("workers"), ..) => Mode::Workers,
        (Some("lifecycle"), b, r, c, false) => Mode::Lifecycle(match (b, r, c, waiting) {
            (Some(n), None, None, None) => LcLoad::Burst { count: n },
            (None, Some(r), Some(n), None) if r > 0.0 => LcLoad::Paced { rate: r, count: n },
            (None, None, None, Some(n)) => LcLoad::Waiting { count: n },
            _ => {
                return Err(
                    "lifecycle: choose one of --burst N, --rate R --count N, --waiting N".into(),
                )
            }
        }),
        (Some(other), ..) => return Err(format!("'{other}' takes no --limit")),
        (None, None, None, count, true) => Mode::Limit {
            count: count.unwrap_or(10_000),
            in_flight,
            per_call,
            per_script,
        },
        (None, Some(n), None, None, false) => Mode::Burst { count: n },
        (None, None, Some(r), Some(n), false) if r > 0.0 => Mode::Paced { rate: r, count: n },
        _ => {
            return Err(
                "choose one of: --burst N, --rate R --count N, --limit, startup, suite".into(),
            )
        }
    };
    if o.mode == Mode::Workers {
        if o.bin.is_none() || o.worker_bin.is_none() {
            return Err("workers needs --bin PATH and --worker-bin PATH".into());
        }
        return Ok(o);
    }
    if o.redis_url.is_empty() {
        return Err("--redis-url (or REDIS_URL) is required".into());
    }
    sett_orchestrator::config::check_instance_name(&o.instance)
        .map_err(|e| format!("--instance: {e}"))?;
    if o.structural_type.is_empty() || !o.structural_type.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(
            "--structural-type: letters and digits only, e.g. Standard, Review, Terminal".into(),
        );
    }
    if o.duplicates == 0 {
        return Err("--duplicates must be at least 1".into());
    }
    if matches!(o.mode, Mode::Startup | Mode::Suite) && o.bin.is_none() {
        return Err("startup and suite need --bin PATH (the orchestrator binary)".into());
    }
    if o.mode == Mode::Suite && o.pid.is_none() {
        return Err("suite needs --pid P (the running orchestrator on --redis-url)".into());
    }
    let lifecycle = matches!(o.mode, Mode::Lifecycle(_)) || o.lifecycle_pid.is_some();
    if lifecycle && o.registry.is_none() {
        return Err(
            "the lifecycle needs --registry FILE (the orchestrator's agent registry)".into(),
        );
    }
    if o.lifecycle_instance.is_empty() {
        o.lifecycle_instance = format!("{}-lc", o.instance);
        o.lifecycle_instance.truncate(63);
    }
    sett_orchestrator::config::check_instance_name(&o.lifecycle_instance)
        .map_err(|e| format!("--lifecycle-instance: {e}"))?;
    Ok(o)
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, String> {
        parse(
            format!("--redis-url redis://x {s}")
                .split_whitespace()
                .map(String::from),
        )
    }

    #[test]
    fn modes() {
        assert_eq!(p("--burst 10").unwrap().mode, Mode::Burst { count: 10 });
        assert_eq!(
            p("--rate 1000 --count 5").unwrap().mode,
            Mode::Paced {
                rate: 1000.0,
                count: 5
            }
        );
        assert_eq!(
            p("--limit --in-flight 8").unwrap().mode,
            Mode::Limit {
                count: 10_000,
                in_flight: 8,
                per_call: false,
                per_script: 1
            }
        );
        assert_eq!(
            p("--limit --per-call").unwrap().mode,
            Mode::Limit {
                count: 10_000,
                in_flight: 256,
                per_call: true,
                per_script: 1
            }
        );
        assert!(p("--limit --per-call --artefacts-per-call 2").is_err());
        assert!(p("--limit --artefacts-per-call 0").is_err());
        assert!(p("--burst 10 --artefacts-per-call 2").is_err());
        assert!(p("lifecycle --burst 10 --artefacts-per-call 2").is_err());
        assert_eq!(
            p("--limit --artefacts-per-call 32").unwrap().mode,
            Mode::Limit {
                count: 10_000,
                in_flight: 256,
                per_call: false,
                per_script: 32
            }
        );
        let o =
            p("--burst 3 --duplicates 2 --payload-bytes 4096 --structural-type Terminal --json")
                .unwrap();
        assert_eq!(
            (
                o.duplicates,
                o.payload_bytes,
                o.structural_type.as_str(),
                o.json
            ),
            (2, 4096, "Terminal", true)
        );
        assert!(p("--burst 3 --rate 5").is_err());
        assert!(p("--rate 5").is_err());
        assert!(p("--burst 3 --duplicates 0").is_err());
        assert!(p("--burst x").is_err());
        assert!(p("--burst 3 --instance Bad_Name").is_err());
        assert!(parse([
            "suite".to_string(),
            "--redis-url".into(),
            "redis://x".into()
        ])
        .is_err());
    }

    fn lc(s: &str) -> Result<Options, String> {
        parse(
            format!("lifecycle --redis-url redis://x --instance b {s}")
                .split_whitespace()
                .map(String::from),
        )
    }

    #[test]
    fn lifecycle_modes() {
        let o = lc("--registry r.yml --waiting 7").unwrap();
        assert_eq!(o.mode, Mode::Lifecycle(LcLoad::Waiting { count: 7 }));
        assert_eq!(o.lifecycle_instance, "b-lc");
        assert_eq!(
            lc("--registry r.yml --burst 5").unwrap().mode,
            Mode::Lifecycle(LcLoad::Burst { count: 5 })
        );
        assert_eq!(
            lc("--registry r.yml --rate 100 --count 9").unwrap().mode,
            Mode::Lifecycle(LcLoad::Paced {
                rate: 100.0,
                count: 9
            })
        );
        assert!(lc("--burst 5").is_err(), "no registry");
        assert!(lc("--registry r.yml --burst 5 --waiting 3").is_err());
        assert!(lc("--registry r.yml --limit").is_err());
        assert!(p("--burst 3 --lifecycle-pid 9").is_err(), "no registry");
    }

    #[test]
    fn workers_mode() {
        let args = |s: &str| parse(s.split_whitespace().map(String::from));
        let o = args("workers --bin o --worker-bin w").unwrap();
        assert_eq!(o.mode, Mode::Workers);
        assert_eq!(o.worker_bin, Some(PathBuf::from("w")));
        assert!(args("workers --bin o").is_err(), "no worker binary");
    }
}
