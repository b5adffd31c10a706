//! Entry point: dispatch the command line; everything else lives in the library.
//!
//! The threads of a running orchestrator, and no others:
//! - `sett-orchestrat` (main): waits for `app::run` to finish, then flushes the log.
//! - `smol-1`: the one executor thread; every task (claims, HTTP, signals) runs
//!   here, and while no task is ready it mostly waits in epoll itself (it
//!   holds the reactor), so a socket becoming readable wakes the thread that
//!   runs its task. `SMOL_THREADS` is pinned to 1 below, so the environment
//!   cannot add executor threads.
//! - `async-io`: async-io's fallback for the reactor (epoll and timers): it
//!   sleeps (50 µs growing to 10 ms) and takes the reactor when nobody ticked
//!   it during a sleep; it then wakes `smol-1` through a futex for every event
//!   until `smol-1` takes the reactor back (2-33% of the epoll waits of a 10k
//!   claim burst; `docs/performance.md`, "Fewer thread hand-offs").
//! - `log-writer`: does the blocking writes to stdout (`log`), so a stuck
//!   stdout never stalls the executor. Woken only when it waits for lines;
//!   after a write it gathers lines for 5 ms (`log::sink`), so a burst of
//!   claims costs the executor few futex calls.
//! - `blocking-N`: only while a host name in `REDIS_URL` is being resolved
//!   (smol resolves names on its `blocking` pool; they exit when idle). None
//!   with a numeric host.

use std::process::ExitCode;

use sett_orchestrator::cli::{self, Command};
use sett_orchestrator::config::Config;
use sett_orchestrator::{alloc_cache, app, log, VERSION};

/// musl's allocator with a few freed mid-size blocks kept for reuse (see `alloc_cache`).
#[global_allocator]
static ALLOCATOR: alloc_cache::Cached = alloc_cache::Cached;

fn main() -> ExitCode {
    // Read once, when the first task is spawned: set it before anything spawns.
    std::env::set_var("SMOL_THREADS", "1");
    match cli::parse(std::env::args().skip(1)) {
        Command::Help => print!("{}", cli::help()),
        Command::Version => println!("sett-orchestrator {VERSION}"),
        Command::Healthcheck => {
            if let Err(why) = cli::healthcheck(std::env::var("SETT_HTTP_ADDR").ok().as_deref()) {
                eprintln!("unhealthy: {why}");
                return ExitCode::from(1);
            }
            println!("healthy");
        }
        Command::Unknown(args) => {
            eprintln!("sett-orchestrator: unknown arguments '{args}' (see --help)");
            return ExitCode::from(2);
        }
        Command::Run => {
            // The files are read before the runtime starts: a bad one exits 1 like a bad variable.
            let config = Config::from_env().and_then(|mut c| c.load_files().map(|()| c));
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("sett-orchestrator: {e}");
                    return ExitCode::from(1);
                }
            };
            let status = smol::block_on(smol::spawn(app::run(config)));
            // Bounded: a stuck stdout must not hold the exit. A second signal
            // meanwhile still exits at once (the listener outlives `app::run`).
            log::flush(log::EXIT_FLUSH);
            return ExitCode::from(status as u8);
        }
    }
    ExitCode::SUCCESS
}
