//! Entry point: dispatch the command line; everything else lives in the library.

use std::process::ExitCode;

use sett_orchestrator::cli::{self, Command};
use sett_orchestrator::config::Config;
use sett_orchestrator::{app, VERSION};

fn main() -> ExitCode {
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
            // The registry is read before the runtime starts: a bad one exits 1 like a bad variable.
            let config = Config::from_env().and_then(|mut c| c.load_registry().map(|()| c));
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("sett-orchestrator: {e}");
                    return ExitCode::from(1);
                }
            };
            // All tasks run on smol's one global executor thread; main only waits.
            let status = smol::block_on(smol::spawn(app::run(config)));
            return ExitCode::from(status as u8);
        }
    }
    ExitCode::SUCCESS
}
