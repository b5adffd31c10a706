//! sett-demo: the claim lifecycle, played by four simulated agents against a
//! running orchestrator (`make demo` starts both; see scripts/demo.sh) and
//! printed as a timeline.
//!
//! Modules: `agents` (the registry and what each agent bids and writes;
//! sett-sim plays them), `timeline` (everything published, plus status
//! changes, as readable lines, with `ids` shortened), `board` (what the
//! timeline saw) and `stories` (what the user writes, and how each story is
//! judged), `workers` (the controller story: workers in containers), `options`
//! (the command line). The stories and the timeline run on the main
//! thread, the agents' future polled beside them (`agents::alongside`: an
//! agent's panic ends the demo at once); the agents' readers and tasks run
//! on smol's global executor, beside their connections (sett-sim's swarm).

mod agents;
mod board;
mod ids;
mod options;
mod stories;
mod timeline;
mod workers;

use std::process::ExitCode;
use std::time::Instant;

use agents::{PlayError, AGENTS, REGISTRY};
use options::{parse, Options};
use sett_sim::{Artefact, Keys};
use stories::STORIES;
use timeline::Timeline;

const USAGE: &str = "\
sett-demo: the claim lifecycle, played by simulated agents

  sett-demo registry      print the agent registry the orchestrator must run with
  sett-demo [--redis-url URL] [--instance NAME] [--timeout SECS]
                          play three stories against a running orchestrator
                          (URL: $REDIS_URL; NAME: demo; SECS per story: 20);
                          exit 0 when all three end as they should
  sett-demo worker-image BIN TAG
                          build TAG: BIN (sett-test-worker) alone in a FROM
                          scratch image; prints the image id
  sett-demo registry --workers IMAGE
                          the controllers' registry, their workers on IMAGE
  sett-demo workers [--redis-url URL] [--instance NAME] [--timeout SECS]
                          play the controller story (two more stories) against
                          an orchestrator running that registry
";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs[..] {
        ["registry"] => {
            print!("{REGISTRY}");
            return ExitCode::SUCCESS;
        }
        ["registry", "--workers", image] => {
            print!("{}", workers::registry(image));
            return ExitCode::SUCCESS;
        }
        ["worker-image", bin, tag] => {
            return match sett_sim::worker_image::build(bin.as_ref(), tag, &[]) {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sett-demo: {e}");
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
    let controllers = args.first().map(String::as_str) == Some("workers");
    if controllers {
        args.remove(0);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sett-demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let played = if controllers {
        smol::block_on(workers::play(&o))
    } else {
        smol::block_on(play(&o))
    };
    match played {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sett-demo: {e}");
            ExitCode::from(1)
        }
    }
}

/// Plays the stories; `Ok(true)` when every one ended as it should.
async fn play(o: &Options) -> Result<bool, PlayError> {
    let client = redis::Client::open(o.redis_url.as_str())?;
    let keys = Keys::new(&format!("sett:{}", o.instance));
    let names = AGENTS.iter().map(|a| a.name().to_string()).collect();
    let stories = async |t: &mut Timeline| tell(&client, &keys, t, o).await;
    agents::stage(&client, &keys, agents::specs(), names, stories).await
}

/// The three stories, one after the other, while the agents run.
async fn tell(
    client: &redis::Client,
    keys: &Keys,
    timeline: &mut Timeline,
    o: &Options,
) -> redis::RedisResult<bool> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    println!(
        "Simulated agents on {p}:*, with one registry for all three stories:\n\
         - Reviewer reviews goals and patches; it approves ({{}}) unless the request\n  \
           asks for a rejection: [reject v1] (the first version) or [reject all];\n\
         - WorkerA and WorkerB join goals in the parallel phase; Coder bids\n  \
           exclusive on goals and bug reports, and reworks what is rejected;\n\
         - max_review_iterations 1: a rejected v1 is reworked once (a feedback claim);\n  \
           a rejected v2 is the limit (a Failure artefact, no more feedback).\n\
         Each line: the time since the story's first write, then what was published\n\
         or, for status changes (nothing announces them), read from the claim hash.",
        p = keys.prefix()
    );
    let mut outcomes = Vec::new();
    for (n, story) in STORIES.iter().enumerate() {
        println!("\n== {}. \"{}\": {}", n + 1, story.payload, story.title);
        timeline.restart_clock();
        let goal = Artefact::new("Standard", story.kind, story.payload, "user");
        let mut write = redis::pipe();
        goal.write(keys, &mut write);
        write.query_async::<()>(&mut conn).await?;
        let settled = timeline.run_until_settled(Instant::now() + o.timeout).await;
        outcomes.push(settled.and_then(|()| story.judge(&timeline.board, &goal.id)));
        if outcomes.last().is_some_and(Result::is_err) {
            break;
        }
    }
    let labels: Vec<String> = STORIES
        .iter()
        .map(|s| format!("\"{}\"", s.payload))
        .collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    Ok(stories::report(1, &labels, &outcomes))
}
