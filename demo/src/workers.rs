//! The controller story (`make demo` plays it when Docker answers): two
//! controller agents whose claims run in worker containers that the
//! orchestrator starts through the Docker Engine (`sett-test-worker` in a
//! `FROM scratch` image: `sett-demo worker-image`, sett_sim's builder).
//! A controller only bids; sett-demo plays those bids.
//!
//! - Coder's workers (`max_concurrent: 2`) write code for three goals
//!   written at once: two run, the third waits in Coder's grant queue until
//!   one of them ends.
//! - Tester's worker exits 3: the orchestrator writes a `WorkerFailure`
//!   Failure artefact with the worker's logs and terminates the claim.

use std::time::Instant;

use sett_sim::{Artefact, Keys, Spec, Work};

use crate::agents::{stage, PlayError};
use crate::board::{Board, Claim};
use crate::options::Options;
use crate::stories::report;
use crate::timeline::Timeline;

/// The controllers, in registry order.
pub const CONTROLLERS: [&str; 2] = ["Coder", "Tester"];

/// The registry, its workers running `image`. Coder's workers take a
/// second and a half (so that two run at once), Tester's fail.
pub fn registry(image: &str) -> String {
    format!(
        "\
version: '1.0'
agents:
  Coder:
    mode: controller
    bidding_strategy: exclusive
    worker:
      image: '{image}'
      command: ['sleep_ms=1500', 'type=Code', 'lines=1']
      max_concurrent: 2
  Tester:
    mode: controller
    bidding_strategy: exclusive
    worker:
      image: '{image}'
      command: ['exit=3', 'lines=2']
      max_concurrent: 1
"
    )
}

/// What a controller bids: `exclusive` on the user's goals it is for.
fn bidder(name: &'static str, kind: &'static str) -> Spec {
    Spec::new(name, "ignore", Work::new("Standard", "Never", ""))
        .with_bid(move |t| {
            let wanted = t.role == "user" && t.kind == kind;
            Some(if wanted { "exclusive" } else { "ignore" }.to_string())
        })
        .with_work(|_| None)
}

const GOALS: [&str; 3] = ["build the bridge", "build the door", "build the roof"];

/// Plays both parts; `Ok(true)` when both ended as they should.
pub async fn play(o: &Options) -> Result<bool, PlayError> {
    let client = redis::Client::open(o.redis_url.as_str())?;
    let keys = Keys::new(&format!("sett:{}", o.instance));
    let names = CONTROLLERS.iter().map(|n| n.to_string()).collect();
    let specs = vec![
        bidder("Coder", "GoalDefined"),
        bidder("Tester", "TestRequest"),
    ];
    let stories = async |t: &mut Timeline| tell(&client, &keys, t, o).await;
    stage(&client, &keys, specs, names, stories).await
}

/// Both parts, one after the other, while the controllers run.
async fn tell(
    client: &redis::Client,
    keys: &Keys,
    timeline: &mut Timeline,
    o: &Options,
) -> redis::RedisResult<bool> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    println!(
        "Controllers on {p}:* (they only bid; each claim they win runs in a worker\n\
         container the orchestrator starts, on network holt-network-{i}):\n\
         - Coder bids exclusive on goals; its workers (max_concurrent 2) take 1.5 s\n  \
           and write Code;\n\
         - Tester bids exclusive on test requests; its worker exits 3.",
        p = keys.prefix(),
        i = o.instance
    );
    let labels = [
        "three goals, Coder's max_concurrent 2",
        "a Tester worker that exits 3",
    ];
    let mut outcomes = Vec::new();

    println!(
        "\n== 4. {}: two workers run, the third goal waits in the queue",
        labels[0]
    );
    timeline.restart_clock();
    let goals: Vec<Artefact> = (GOALS.iter())
        .map(|g| Artefact::new("Standard", "GoalDefined", g, "user"))
        .collect();
    let mut write = redis::pipe();
    for goal in &goals {
        goal.write(keys, &mut write);
    }
    write.query_async::<()>(&mut conn).await?;
    let settled = timeline.run_until_settled(Instant::now() + o.timeout).await;
    outcomes.push(settled.and_then(|()| limit(&timeline.board, &goals)));

    if outcomes.iter().all(Result::is_ok) {
        println!(
            "\n== 5. {}: a WorkerFailure artefact, the claim terminated",
            labels[1]
        );
        timeline.restart_clock();
        let request = Artefact::new("Standard", "TestRequest", "test the bridge", "user");
        let mut write = redis::pipe();
        request.write(keys, &mut write);
        write.query_async::<()>(&mut conn).await?;
        let settled = timeline.run_until_settled(Instant::now() + o.timeout).await;
        outcomes.push(settled.and_then(|()| failed(&timeline.board, &request)));
    }
    Ok(report(4, &labels, &outcomes))
}

/// Every goal's claim complete, by one Coder worker each, writing one Code
/// artefact; two granted before any ended, the third queued and granted
/// after one ended.
fn limit(b: &Board, goals: &[Artefact]) -> Result<String, String> {
    let mut claims: Vec<&Claim> = Vec::new();
    for goal in goals {
        let c = b
            .claim_of(&goal.id, false)
            .ok_or(format!("no claim for {}", b.name(&goal.id)))?;
        let by_coder =
            c.grants.len() == 1 && c.grants[0].0 == "exclusive" && c.grants[0].1 == "Coder";
        if c.status != "complete" || !by_coder {
            return Err(format!(
                "{}: {} with grants {:?}",
                b.name(&goal.id),
                c.status,
                c.grants
            ));
        }
        let code = (b.artefacts.values())
            .filter(|a| a.role == "Coder" && a.kind == "Code" && a.sources == [goal.id.clone()])
            .count();
        if code != 1 {
            return Err(format!("{} Code artefacts for {}", code, b.name(&goal.id)));
        }
        claims.push(c);
    }
    let first_end = claims.iter().filter_map(|c| c.ended_at).min().unwrap_or(0);
    let (queued, ran): (Vec<&Claim>, Vec<&Claim>) = claims.iter().partition(|c| c.queued);
    let at_once = ran
        .iter()
        .filter(|c| c.granted_at < Some(first_end))
        .count();
    if queued.len() != 1 || at_once != 2 || queued[0].granted_at <= Some(first_end) {
        return Err(format!(
            "{} queued, {at_once} granted before the first end (line {first_end}); the queued one granted at {:?}",
            queued.len(),
            queued.first().and_then(|c| c.granted_at)
        ));
    }
    Ok("two Coder workers at once, the third goal queued and granted when one ended: three claims complete, one Code each".into())
}

/// The test request's claim terminated for the exit code, and the
/// orchestrator's Failure artefact carrying the worker's logs.
fn failed(b: &Board, request: &Artefact) -> Result<String, String> {
    let c = (b.claim_of(&request.id, false)).ok_or("no claim for the test request")?;
    let reason = "Worker failed with exit code 3";
    if c.status != "terminated" || c.reason != reason {
        return Err(format!("the claim is {} ({:?})", c.status, c.reason));
    }
    let failure = (b.artefacts.values())
        .find(|a| a.structural_type == "Failure" && a.kind == "WorkerFailure" && a.role == "Tester")
        .ok_or("no Failure artefact WorkerFailure")?;
    let head = "Worker container exited with code 3\n\nLogs:\n";
    if !failure.payload.starts_with(head) || !failure.payload.contains("err 2") {
        return Err(format!("the Failure's payload: {:?}", failure.payload));
    }
    Ok(format!(
        "terminated ({reason}); Failure WorkerFailure with the worker's logs"
    ))
}
