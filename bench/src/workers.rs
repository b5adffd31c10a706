//! `sett-bench workers` (part of `make bench` when Docker answers): the
//! controller workers' budgets (issue 16) on the machine's real engine,
//! with `sett-test-worker` in a `FROM scratch` image:
//! - one orchestrator whose controller may run 100 workers that wait until
//!   released (`wait_key`): its idle RSS; 50 claims one at a time, each
//!   worker's `worker_launched` line giving the grant -> started time
//!   (`since_grant_ms`, measured in the orchestrator from its grant to
//!   Docker's start answer) and Docker's part of it (`docker_create_ms` +
//!   `docker_start_ms`: the two calls); then 50 more at once, its RSS with
//!   the 100 running; then all released, and every claim complete;
//! - one whose controller runs at most 8 workers that exit at once: 200
//!   claims at once, the engine polled for the workers alive, the queue's
//!   order from the log (`grant_paused_for_queue` against
//!   `grant_resumed_from_queue`), claims/s from the first write to the
//!   last claim complete.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sett_orchestrator::docker::Docker;
use sett_sim::worker_image::WorkerImage;

use crate::procstat;
use crate::scenario::verdict;
use crate::workerlab::{alive, connect, containers, registry, Instance, Redis, PATIENCE};

/// Claims launched one at a time for the latency.
const PACED: usize = 50;
/// Workers running at once for the RSS.
const RUNNING: usize = 100;
/// The queue scenario: claims, and the controller's limit.
const QUEUED: usize = 200;
const LIMIT: usize = 8;

#[derive(Serialize, Default)]
pub struct WorkersReport {
    pub idle_rss_kb: u64,
    /// Per paced launch: (since grant, Docker create + start), ms.
    pub launches: Vec<(f64, f64)>,
    /// Paced launches without `since_grant_ms` (granted by no one here?).
    pub launches_unmeasured: usize,
    pub running_seen: usize,
    pub running_rss_kb: u64,
    pub running_hwm_kb: u64,
    pub running_complete: usize,
    pub queue_complete: usize,
    pub queue_max_alive: usize,
    /// Engine polls that failed (not counted in `queue_max_alive`).
    pub queue_polls_failed: u64,
    pub queue_paused: usize,
    pub queue_fifo: bool,
    pub queue_claims_per_s: f64,
    pub exit_codes: Vec<Option<i32>>,
    pub containers_left: usize,
}

fn ms(v: &serde_json::Value, field: &str) -> Option<f64> {
    v.get(field).and_then(serde_json::Value::as_f64)
}

/// Nearest-rank percentile `p` (0-100) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

fn wait(what: &str, mut done: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while !done()? {
        if Instant::now() > deadline {
            return Err(format!("{what}: not after {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

pub fn run(bin: &Path, worker_bin: &Path) -> Result<WorkersReport, String> {
    let base = format!("benchw-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let label = format!("sett.bench.run={base}");
    let dir = std::env::temp_dir().join(&base);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| -> Result<WorkersReport, String> {
        let image = WorkerImage::build(worker_bin, &format!("sett-bench-worker:{base}"), &label)?;
        let redis = Redis::start(&dir)?;
        let docker = Docker::from_env()?;
        let mut r = WorkersReport::default();
        let lab = Lab {
            bin,
            dir: &dir,
            redis: &redis,
            docker: &docker,
            image: &image,
            base: &base,
            label: &label,
        };
        running(&lab, &mut r)?;
        queue(&lab, &mut r)?;
        r.containers_left = containers(&docker, &format!("{base}-run"))?
            + containers(&docker, &format!("{base}-queue"))?;
        Ok(r)
    })();
    match result {
        Ok(r) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(r)
        }
        Err(e) => Err(format!("{e} (logs kept in {})", dir.display())),
    }
}

/// What both scenarios run on.
struct Lab<'a> {
    bin: &'a Path,
    dir: &'a Path,
    redis: &'a Redis,
    docker: &'a Docker,
    image: &'a WorkerImage,
    /// The run's name (`benchw-<8 hex>`); instances are `{base}-run`, `{base}-queue`.
    base: &'a str,
    /// `sett.bench.run={base}`, on the image and the networks.
    label: &'a str,
}

impl Lab<'_> {
    fn instance(&self, name: &str, registry: &str) -> Result<Instance, String> {
        Instance::start(self.bin, self.dir, self.redis, name, registry, self.label)
    }
}

fn running(lab: &Lab, r: &mut WorkersReport) -> Result<(), String> {
    let (redis, docker, image) = (lab.redis, lab.docker, lab.image);
    let name = format!("{}-run", lab.base);
    let release = format!("sett:{name}:bench:release");
    let yaml = registry(&image.tag, &format!("'wait_key={release}'"), RUNNING as u32);
    let mut orch = lab.instance(&name, &yaml)?;
    let mut conn = connect(&redis.url())?;
    eprintln!("sett-bench: workers: idle, then {PACED} launches one at a time");
    std::thread::sleep(Duration::from_secs(1));
    r.idle_rss_kb = procstat::snapshot(orch.pid)?.rss_kb;
    let mut goals = Vec::new();
    for i in 0..PACED {
        goals.extend(orch.goals(&mut conn, 1)?);
        wait("worker_launched", || {
            Ok(orch.lines("worker_launched").len() > i)
        })?;
        std::thread::sleep(Duration::from_millis(20));
    }
    for l in orch.lines("worker_launched") {
        let docker_ms = ms(&l, "docker_create_ms").unwrap_or(f64::NAN)
            + ms(&l, "docker_start_ms").unwrap_or(f64::NAN);
        match ms(&l, "since_grant_ms") {
            Some(since) => r.launches.push((since, docker_ms)),
            None => r.launches_unmeasured += 1,
        }
    }
    eprintln!(
        "sett-bench: workers: {} more at once, to {RUNNING} running",
        RUNNING - PACED
    );
    goals.extend(orch.goals(&mut conn, RUNNING - PACED)?);
    wait("workers running", || {
        r.running_seen = alive(docker, &name)?;
        Ok(r.running_seen >= RUNNING)
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let snap = procstat::snapshot(orch.pid)?;
    (r.running_rss_kb, r.running_hwm_kb) = (snap.rss_kb, snap.hwm_kb);
    let mut push = redis::cmd("RPUSH");
    push.arg(&release);
    for _ in 0..RUNNING {
        push.arg("go");
    }
    smol::block_on(push.query_async::<()>(&mut conn)).map_err(|e| e.to_string())?;
    orch.wait_complete(&mut conn, &goals)?;
    let s = orch.statuses(&mut conn)?;
    r.running_complete = goals
        .iter()
        .filter(|g| s.get(*g).map(String::as_str) == Some("complete"))
        .count();
    wait("workers removed", || Ok(containers(docker, &name)? == 0))?;
    r.exit_codes.push(orch.stop());
    Ok(())
}

fn queue(lab: &Lab, r: &mut WorkersReport) -> Result<(), String> {
    let (redis, docker, image) = (lab.redis, lab.docker, lab.image);
    let name = format!("{}-queue", lab.base);
    let yaml = registry(&image.tag, "'exit=0'", LIMIT as u32);
    let mut orch = lab.instance(&name, &yaml)?;
    let mut conn = connect(&redis.url())?;
    eprintln!("sett-bench: workers: {QUEUED} claims at once, at most {LIMIT} workers");
    let (stop, max) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let poller = std::thread::spawn({
        let (stop, max, name) = (stop.clone(), max.clone(), name.clone());
        let docker = Docker::from_env()?;
        // A list that fails (Docker busy: its calls time out) is counted, not fatal.
        move || -> u64 {
            let mut failed = 0;
            while !stop.load(Relaxed) {
                match alive(&docker, &name) {
                    Ok(n) => {
                        max.fetch_max(n, Relaxed);
                    }
                    Err(_) => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            failed
        }
    });
    let began = Instant::now();
    let goals = orch.goals(&mut conn, QUEUED)?;
    let done = orch.wait_complete(&mut conn, &goals);
    let elapsed = began.elapsed().as_secs_f64();
    stop.store(true, Relaxed);
    r.queue_polls_failed = poller
        .join()
        .map_err(|_| "the poller panicked".to_string())?;
    done?;
    r.queue_claims_per_s = QUEUED as f64 / elapsed;
    r.queue_max_alive = max.load(Relaxed);
    let s = orch.statuses(&mut conn)?;
    r.queue_complete = goals
        .iter()
        .filter(|g| s.get(*g).map(String::as_str) == Some("complete"))
        .count();
    let claims = |event: &str| -> Vec<String> {
        orch.lines(event)
            .iter()
            .filter_map(|l| l.get("claim_id")?.as_str().map(str::to_string))
            .collect()
    };
    let (paused, resumed) = (
        claims("grant_paused_for_queue"),
        claims("grant_resumed_from_queue"),
    );
    r.queue_paused = paused.len();
    r.queue_fifo = !paused.is_empty() && paused == resumed;
    wait("workers removed", || Ok(containers(docker, &name)? == 0))?;
    r.exit_codes.push(orch.stop());
    Ok(())
}

/// The rows: (what, measured, budget, verdict).
pub fn rows(r: &WorkersReport) -> Vec<(String, String, String, &'static str)> {
    let ours: Vec<f64> = r.launches.iter().map(|(s, d)| s - d).collect();
    let theirs: Vec<f64> = r.launches.iter().map(|(_, d)| *d).collect();
    let ours_p99 = percentile(&ours, 99.0);
    let measured = r.launches.len() == PACED && r.launches_unmeasured == 0;
    let clean = r.exit_codes.iter().all(|c| *c == Some(0)) && r.containers_left == 0;
    vec![
        (
            format!("worker grant -> started, ours, p99 of {PACED}"),
            format!(
                "{ours_p99:.3} ms (p50 {:.3}, max {:.3})",
                percentile(&ours, 50.0),
                percentile(&ours, 100.0)
            ),
            "<= 5 ms".into(),
            verdict(measured && ours_p99 <= 5.0),
        ),
        (
            "worker grant -> started, Docker create+start".into(),
            format!(
                "p50 {:.1} / p99 {:.1} ms",
                percentile(&theirs, 50.0),
                percentile(&theirs, 99.0)
            ),
            "report".into(),
            "-",
        ),
        (
            format!("controller max {LIMIT}: {QUEUED} claims complete"),
            format!(
                "{} of {QUEUED}, {:.1} claims/s",
                r.queue_complete, r.queue_claims_per_s
            ),
            "all".into(),
            verdict(r.queue_complete == QUEUED),
        ),
        (
            format!("controller max {LIMIT}: workers alive (engine)"),
            format!(
                "at most {} ({} polls failed)",
                r.queue_max_alive, r.queue_polls_failed
            ),
            format!("<= {LIMIT}"),
            verdict(r.queue_max_alive <= LIMIT && r.queue_max_alive > 0),
        ),
        (
            format!("controller max {LIMIT}: queue order"),
            format!(
                "{} queued, {}",
                r.queue_paused,
                if r.queue_fifo {
                    "resumed FIFO"
                } else {
                    "NOT FIFO"
                }
            ),
            "FIFO".into(),
            verdict(r.queue_fifo),
        ),
        (
            "RSS idle, controller registry".into(),
            format!("{} KiB", r.idle_rss_kb),
            "<= 2816 KiB".into(),
            verdict(r.idle_rss_kb > 0 && r.idle_rss_kb <= 2816),
        ),
        (
            format!("RSS, {RUNNING} workers running"),
            format!(
                "{} KiB (peak {}; {} of {RUNNING} complete after)",
                r.running_rss_kb, r.running_hwm_kb, r.running_complete
            ),
            "<= 4096 KiB".into(),
            verdict(
                r.running_rss_kb > 0
                    && r.running_rss_kb <= 4096
                    && r.running_seen >= RUNNING
                    && r.running_complete == RUNNING,
            ),
        ),
        (
            "workers: SIGTERM exit codes, containers left".into(),
            format!("{:?}, {}", r.exit_codes, r.containers_left),
            "0, none".into(),
            verdict(clean),
        ),
    ]
}

/// The rows as `make bench` prints them, each with `command`.
pub fn table(r: &WorkersReport, command: &str) -> String {
    let mut t = String::new();
    for (name, measured, budget, v) in rows(r) {
        let _ = writeln!(
            t,
            "{name:<42} {measured:>30} {budget:>14} {v:>7}  {command}"
        );
    }
    t
}
