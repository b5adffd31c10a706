//! The driver of `scripts/bigevent-bench.sh` (not part of the orchestrator):
//! subscribes to the artefact events of `SETT_INSTANCE_NAME` on `REDIS_URL`
//! (and `SETT_REDIS_CA_FILE`) with the streaming subscriber, prints `ready`,
//! then one line per event (`event <id>`, or `malformed <bytes> <reason>`),
//! so the script can read this process's peak RSS after each one.

use std::process::ExitCode;
use std::time::Duration;

use sett_orchestrator::blackboard::Keys;
use sett_orchestrator::config::Config;
use sett_orchestrator::redis_io::subscriber::{self, Body, Decode, Frame};

fn main() -> ExitCode {
    match smol::block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("bigevent_driver: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let target = subscriber::target(&config)?;
    let channels = [(
        Keys::new(&config.instance).artefact_events(),
        Decode::ArtefactEvent,
    )];
    let (mut reader, _writer) = subscriber::connect(&target, &channels, Duration::from_secs(5))
        .await
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    println!("ready");
    loop {
        match reader.next().await.map_err(|e| e.to_string())? {
            Frame::Message {
                body: Body::Event(Ok(id)),
                ..
            } => println!("event {id}"),
            Frame::Message {
                body: Body::Event(Err(m)),
                ..
            } => println!("malformed {} {}", m.bytes, m.reason),
            _ => {}
        }
    }
}
