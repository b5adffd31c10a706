//! Simulated agents as tasks, every message handled by a task of its own,
//! so that any number of claims are in flight at once on one multiplexed
//! connection: sett-bench's load, and sett-demo's agents beside its
//! timeline. [`run`] gives the future to drive (on any executor); [`Swarm`]
//! drives it on a thread of its own.
//!
//! The tasks run on smol's global executor, the thread where redis-rs
//! drives every connection it opens (`smol-comp` spawns there): a command
//! or a message then crosses no thread on its way between an agent and
//! Redis (docs/performance.md, "The simulated agents on the connections'
//! thread"). A message's task belongs to its agent's reader: dropping the
//! future [`run`] returns stops every agent and drops the work in progress.

use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::{FutureExt as _, Stream, StreamExt as _};
use redis::aio::MultiplexedConnection;
use smol::Task;

use crate::agent::{Agent, Heard, Next, Watch};
use crate::keys::Keys;
use crate::spec::Spec;

type Messages = Pin<Box<dyn Stream<Item = redis::Msg> + Send>>;

/// A reader first prunes its finished tasks when it holds this many, then
/// each time it holds twice as many as the last pruning left.
const PRUNE_AT: usize = 256;

/// Subscribes every agent of `specs` (its `claim_events` and its own
/// channel) and returns the future that runs them all: nothing published
/// after this returns is missed. The future ends when Redis goes away.
pub async fn run(
    client: &redis::Client,
    keys: &Keys,
    specs: Vec<Spec>,
    watch: Arc<dyn Watch>,
) -> redis::RedisResult<impl Future<Output = ()>> {
    // No response timeout: under a burst, a reply may take seconds.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(None);
    let conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let mut agents = Vec::new();
    for spec in specs {
        let mut pubsub = client.get_async_pubsub().await?;
        let channels = [keys.channel("claim_events"), keys.agent_events(&spec.name)];
        pubsub.subscribe(&channels).await?;
        let messages: Messages = Box::pin(pubsub.into_on_message());
        agents.push((Arc::new(Agent::new(spec, keys.clone())), messages));
    }
    Ok(async move {
        let readers: Vec<_> = agents
            .into_iter()
            .map(|(agent, messages)| {
                smol::spawn(read(agent, messages, conn.clone(), watch.clone()))
            })
            .collect();
        for reader in readers {
            reader.await;
        }
    })
}

/// One agent's subscription: each message becomes a task, held here (so
/// that dropping the reader drops it) until it is done.
async fn read(
    agent: Arc<Agent>,
    mut messages: Messages,
    conn: MultiplexedConnection,
    watch: Arc<dyn Watch>,
) {
    let claims = agent.keys.channel("claim_events");
    let mut tasks: Vec<Task<()>> = Vec::new();
    let mut prune_at = PRUNE_AT;
    while let Some(msg) = messages.next().await {
        let on_claims = msg.get_channel_name() == claims;
        if let Some(heard) = Heard::parse(on_claims, msg.get_payload_bytes()) {
            watch.heard(&agent.spec.name, &heard);
            let job = handle(agent.clone(), conn.clone(), watch.clone(), heard);
            if tasks.len() >= prune_at {
                tasks.retain(|t| !t.is_finished());
                prune_at = PRUNE_AT.max(2 * tasks.len());
            }
            tasks.push(smol::spawn(job));
        }
    }
}

/// Everything `agent` does about `heard`.
async fn handle(
    agent: Arc<Agent>,
    mut conn: MultiplexedConnection,
    watch: Arc<dyn Watch>,
    heard: Heard,
) {
    let name = agent.spec.name.as_str();
    let mut next = agent.on(heard);
    loop {
        next = match next {
            Next::Read(job) => {
                let values: redis::RedisResult<Vec<Option<String>>> =
                    job.read().query_async(&mut conn).await;
                match values {
                    Ok(values) => job.resume(&agent, values),
                    Err(e) => return watch.failed(name, &e),
                }
            }
            Next::Write(act, pipe) => {
                watch.sending(name, &act);
                return match pipe.query_async::<()>(&mut conn).await {
                    Ok(()) => watch.sent(name, &act),
                    Err(e) => watch.failed(name, &e),
                };
            }
            Next::Done => return,
        }
    }
}

/// Agents running on a thread of their own until [`Swarm::stop`].
pub struct Swarm {
    stop: smol::channel::Sender<()>,
    thread: JoinHandle<()>,
}

impl Swarm {
    /// Starts `specs` on `url` under `prefix` (e.g. `sett:lc`); returns
    /// once every agent is subscribed.
    pub fn start(
        url: &str,
        prefix: &str,
        specs: Vec<Spec>,
        watch: Arc<dyn Watch>,
    ) -> Result<Swarm, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let keys = Keys::new(prefix);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            smol::block_on(async {
                match run(&client, &keys, specs, watch).await {
                    Ok(agents) => {
                        let _ = ready_tx.send(Ok(()));
                        let stopped = async {
                            let _ = stopped.recv().await;
                        };
                        agents.or(stopped).await
                    }
                    Err(e) => drop(ready_tx.send(Err(e.to_string()))),
                }
            })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Swarm { stop, thread }),
            Ok(Err(e)) => Err(format!("agents: subscribe: {e}")),
            Err(_) => Err("the agents' thread died".into()),
        }
    }

    /// Stops every agent (work in progress is dropped).
    pub fn stop(self) {
        let _ = self.stop.try_send(());
        let _ = self.thread.join();
    }
}
