//! The process from start to exit: start-up order, running, shutdown order.
//!
//! Start-up: connect, PING and subscribe (fail fast, exit 1 within 5 s), bind
//! HTTP (exit 1 naming `SETT_HTTP_ADDR`), serve, log `orchestrator_startup`
//! (with the mode, and the agents when a registry makes it the lifecycle).
//! Shutdown: stop reading events, let in-flight claims finish (5 s at most),
//! close the listener, log `orchestrator_shutdown`, exit 0 (`main` then waits
//! at most `log::EXIT_FLUSH` for the log to reach stdout).
//!
//! Threads: `main.rs` lists them; every task here runs on the one executor thread.

use std::sync::Arc;
use std::time::Duration;

use crate::blackboard::Keys;
use crate::config::{format_duration, format_optional_duration, Config, VERSION};
use crate::engine::{self, Shared};
use crate::lifecycle::Lifecycle;
use crate::log::Line;
use crate::{health, http, metrics, redis_io, shutdown};

/// How long start-up keeps trying to reach Redis before exiting 1.
pub const STARTUP_REDIS_BUDGET: Duration = Duration::from_secs(4);

/// Runs the orchestrator; returns the process exit status.
pub async fn run(config: Config) -> i32 {
    crate::log::set_level(config.log_level);
    raise_open_files_limit();
    let keys = Keys::with_namespace(config.namespace, &config.instance);
    let clients = match engine::clients(&config, &keys) {
        Ok(c) => c,
        Err(e) => return fail_start("redis_client", &e),
    };
    let (trigger, stop) = shutdown::channel();
    if let Err(e) = shutdown::listen_for_signals(trigger) {
        return fail_start("signals", &format!("cannot install signal handlers: {e}"));
    }
    let first = match redis_io::connect_at_startup(&clients, STARTUP_REDIS_BUDGET).await {
        Ok(s) => s,
        Err(e) => {
            let why = format!("cannot reach Redis at {}: {e}", config.redis_display());
            return fail_start("redis_connect", &why);
        }
    };
    let listener = match smol::net::TcpListener::bind(config.http_addr).await {
        Ok(l) => l,
        Err(e) => {
            return fail_start(
                "http_bind",
                &format!("SETT_HTTP_ADDR: cannot listen on {}: {e}", config.http_addr),
            )
        }
    };
    let http_addr = listener.local_addr().map_or(config.http_addr, |a| a);
    let mut registry = config.registry.clone();
    let workers = match registry.as_mut() {
        Some(r) => match engine::workers::startup(&config, &keys, r).await {
            Ok(w) => w,
            Err(e) => return fail_start("docker", &e),
        },
        None => None,
    };
    let lifecycle = registry.map(|registry| {
        let mut lc = Lifecycle::new(&keys, registry, config.bid_timeout, config.phase_timeout);
        lc.bid_overdue = config.bid_overdue;
        lc
    });
    let shared = Arc::new(Shared {
        config,
        keys,
        lifecycle,
        workers,
        metrics: metrics::Metrics::default(),
        health: health::Health::default(),
        shutdown: stop,
        bids_walk_owed: Default::default(),
    });
    let (close_http, http_stop) = shutdown::channel();
    let http = smol::spawn(http::serve(listener, shared.clone(), http_stop));
    startup_line(&shared.config, http_addr).emit();
    let result = engine::run(shared.clone(), clients, first).await;
    close_http.trigger();
    http.await;
    match result {
        Ok(()) => {
            Line::info("orchestrator_shutdown")
                .bool("forced", false)
                .emit();
            0
        }
        Err(engine::GaveUp(last_error)) => {
            // Said on stderr too, as every other reason to exit 1 is.
            eprintln!(
                "sett-orchestrator: Redis at {} was unreachable for longer than SETT_REDIS_RETRY_TIMEOUT ({}); exiting (last error: {last_error})",
                shared.config.redis_display(),
                format_duration(shared.config.retry_timeout)
            );
            1
        }
    }
}

/// `orchestrator_startup`: what runs, and in lifecycle mode with which agents.
fn startup_line(config: &Config, http_addr: std::net::SocketAddr) -> Line {
    let line = Line::info("orchestrator_startup")
        .str("instance", &config.instance)
        .str("namespace", config.namespace.as_str())
        .str("mode", config.mode())
        .str("version", VERSION)
        .display("http_addr", http_addr)
        .str("redis", &config.redis_display())
        .bool("reconcile", config.reconcile)
        .str("log_level", config.log_level.as_str());
    let Some(registry) = &config.registry else {
        return line;
    };
    let line = line
        .str("registry", &config.registry_file.display())
        .raw_json("agents", &registry.roles_json());
    let line = match registry.controllers().next() {
        Some(_) => line.raw_json("controllers", &registry.controllers_json()),
        None => line,
    };
    line.num(
        "max_review_iterations",
        u64::from(registry.max_review_iterations),
    )
    .str("bid_timeout", &format_optional_duration(config.bid_timeout))
    .str("bid_overdue", &format_optional_duration(config.bid_overdue))
    .str(
        "phase_timeout",
        &format_optional_duration(config.phase_timeout),
    )
}

/// A start-up failure: one JSON line on stdout, one plain line on stderr, exit 1.
fn fail_start(stage: &str, why: &str) -> i32 {
    Line::error("startup_failed")
        .str("stage", stage)
        .str("error", why)
        .emit();
    eprintln!("sett-orchestrator: {why}");
    1
}

/// Idle probe connections and a burst of clients need descriptors; the soft
/// limit is often 1024 while the hard limit is far higher (Go does the same).
fn raise_open_files_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
