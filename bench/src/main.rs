//! sett-bench: plays the Go producer against a running orchestrator and
//! measures what comes back (see `--help` and notes/issue4-bench.md).
//!
//! Modules: `cli` (arguments), `producer` (HSET + PUBLISH), `listener`
//! (`claim_events`), `tally` (sent vs claimed, missing, duplicated), `board`
//! (claim hashes on the blackboard, cleanup), `procstat` (`/proc`), `run`
//! (one measured run, and the `--limit` ceiling), `startup`, `suite`
//! (`make bench`) and `report` (table and JSON); for the claim lifecycle,
//! `agents` (who the agents are; sett-sim simulates them), `track` (what
//! they saw) and `lifecycle` (its scenarios), gathered for `make bench` by
//! `lcsuite`; for controller workers on the real Docker engine, `workers`
//! (its scenarios) on `workerlab` (Redis, image, orchestrators, the engine).

mod agents;
mod board;
mod cli;
mod lcsuite;
mod lifecycle;
mod listener;
mod procstat;
mod producer;
mod report;
mod run;
mod scenario;
mod startup;
mod suite;
mod tally;
mod track;
mod workerlab;
mod workers;

use std::process::ExitCode;

use cli::Mode;

/// The bench's allocator: glibc's malloc was about 30% of the bench's CPU
/// samples in the lifecycle burst, CPU taken from the two cores Redis and
/// the orchestrator share with it (docs/performance.md, "The simulated
/// agents on the connections' thread"). The orchestrator keeps its own
/// (`src/alloc_cache.rs`); this changes only what measures it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One thread for smol's global executor, whatever the environment says:
    // the simulated agents' tasks and their connections' drivers share it
    // (sett-sim's swarm), as the orchestrator's own tasks share its one.
    std::env::set_var("SMOL_THREADS", "1");
    let o = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sett-bench: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match execute(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sett-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    table: impl FnOnce() -> String,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", table());
    }
    Ok(())
}

fn execute(o: &cli::Options) -> Result<(), String> {
    match o.mode {
        Mode::Burst { .. } | Mode::Paced { .. } => {
            let r = run::load(o)?;
            print(o.json, &r, || r.table())
        }
        Mode::Limit {
            count,
            in_flight,
            per_call,
            per_script,
        } => {
            let r = run::limit(o, count, in_flight, per_call, per_script)?;
            print(o.json, &r, || r.table())
        }
        Mode::Lifecycle(load) => {
            let r = lifecycle::run(o, load)?;
            print(o.json, &r, || r.table())
        }
        Mode::Startup => {
            let bin = o.bin.as_deref().ok_or("--bin is required")?;
            let registry = o
                .registry
                .as_ref()
                .map(|r| r.to_string_lossy().into_owned());
            let env: Vec<(&str, &str)> = registry
                .iter()
                .map(|r| ("SETT_CONFIG_FILE", r.as_str()))
                .collect();
            let runs = startup::measure(
                bin,
                &o.redis_url,
                &o.instance,
                &env,
                if o.runs == 0 { 5 } else { o.runs },
            )?;
            print(o.json, &runs, || {
                runs.iter()
                    .map(|r| {
                        format!(
                            "healthy {:.2} ms  SIGTERM->exit {:.2} ms (code {:?})  idle RSS {} KiB  threads {}\n",
                            r.healthy_ms, r.sigterm_to_exit_ms, r.exit_code, r.idle_rss_kb, r.threads
                        )
                    })
                    .collect()
            })
        }
        Mode::Workers => {
            let (bin, worker) = (o.bin.as_deref(), o.worker_bin.as_deref());
            let (Some(bin), Some(worker)) = (bin, worker) else {
                return Err("workers needs --bin and --worker-bin".into());
            };
            let r = workers::run(bin, worker)?;
            let command = format!(
                "sett-bench workers --bin {} --worker-bin {}",
                bin.display(),
                worker.display()
            );
            print(o.json, &r, || workers::table(&r, &command))
        }
        Mode::Suite => {
            let r = suite::run(o)?;
            if let Some(path) = &o.out {
                let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
                std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            print(o.json, &r, || suite::table(&r))
        }
    }
}
