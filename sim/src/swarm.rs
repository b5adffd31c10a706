//! Simulated agents as tasks, every message handled by a task of its own,
//! so that any number of claims are in flight at once on one multiplexed
//! connection: sett-bench's load, and sett-demo's agents beside its
//! timeline. [`run`] gives the future to drive (on any executor); [`Swarm`]
//! starts it from a thread of its own and stops it.
//!
//! The tasks run on smol's global executor, where redis-rs (`smol-comp`)
//! also runs every connection's driver: an agent's command or message is
//! no longer handed between its task's thread and its connection's
//! (docs/performance.md, "The simulated agents on the connections'
//! thread"). A message's task belongs to its agent's reader: dropping the
//! future [`run`] returns drops every reader, and with it the work in
//! progress; [`Swarm::stop`] returns once all of it is dropped.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_lite::{future, FutureExt as _, Stream, StreamExt as _};
use redis::aio::MultiplexedConnection;
use smol::Task;

use crate::agent::{Agent, Heard, Next, Watch};
use crate::keys::Keys;
use crate::spec::Spec;

type Messages = Pin<Box<dyn Stream<Item = redis::Msg> + Send>>;

/// A reader first prunes its finished tasks when it holds this many, then
/// each time it holds twice as many as the last pruning left.
const PRUNE_AT: usize = 256;

/// Held by every reader and every message's task, so that [`Swarm::stop`]
/// can wait until all of them are dropped (its receiver then reads the
/// channel closed). Nothing is sent on it.
type Alive = smol::channel::Sender<()>;

/// The first panic of an agent's task or reader, kept to be raised where
/// the agents are awaited or stopped (a task's would otherwise be dropped
/// with it when its reader is), and the waker of the future that awaits
/// the readers: a panic ends it at once, a task's too (nothing else would
/// wake it: the task's reader goes on listening).
#[derive(Clone, Default)]
struct Panics(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    first: Option<Box<dyn Any + Send>>,
    waker: Option<Waker>,
}

impl Panics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, panic: Box<dyn Any + Send>) {
        let waker = {
            let mut kept = self.lock();
            kept.first.get_or_insert(panic);
            kept.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether a panic is kept; if not, `waker` is woken when one is.
    fn any(&self, waker: &Waker) -> bool {
        let mut kept = self.lock();
        if kept.first.is_some() {
            return true;
        }
        kept.waker = Some(waker.clone());
        false
    }

    /// `work`, its panic kept here instead of raised.
    async fn keeping(self, work: impl Future<Output = ()>) {
        if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
            self.keep(panic);
        }
    }

    /// Raises the first panic kept, if any.
    fn raise(&self) {
        let first = self.lock().first.take();
        if let Some(panic) = first {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Subscribes every agent of `specs` (its `claim_events` and its own
/// channel) and returns the future that runs them all: nothing published
/// after this returns is missed. The future ends when Redis goes away, or
/// as soon as an agent's reader or task panics; it then raises the first
/// panic of an agent's reader or task.
pub async fn run(
    client: &redis::Client,
    keys: &Keys,
    specs: Vec<Spec>,
    watch: Arc<dyn Watch>,
) -> redis::RedisResult<impl Future<Output = ()>> {
    let (alive, _) = smol::channel::bounded(1);
    let panics = Panics::default();
    let agents = run_alive(client, keys, specs, watch, alive, panics.clone()).await?;
    Ok(async move {
        agents.await;
        panics.raise();
    })
}

/// [`run`], every reader and task holding a clone of `alive`; a reader's
/// or task's panic is kept in `panics` and ends the future.
async fn run_alive(
    client: &redis::Client,
    keys: &Keys,
    specs: Vec<Spec>,
    watch: Arc<dyn Watch>,
    alive: Alive,
    panics: Panics,
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
        let mut readers: Vec<Task<()>> = agents
            .into_iter()
            .map(|(agent, messages)| {
                let reader = read(
                    agent,
                    messages,
                    (conn.clone(), watch.clone()),
                    alive.clone(),
                    panics.clone(),
                );
                // A reader's panic is kept in the poll that raised it, so
                // that a stop coming at once cannot drop it with the reader.
                smol::spawn(panics.clone().keeping(reader))
            })
            .collect();
        // All at once, not in order: a reader's panic ends them all as soon
        // as it happens, whichever agent's it is.
        future::poll_fn(|cx| {
            readers.retain_mut(|reader| Pin::new(reader).poll(cx).is_pending());
            if readers.is_empty() || panics.any(cx.waker()) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    })
}

/// One agent's subscription: each message becomes a task, held here (so
/// that dropping the reader drops it) until it is done. When the messages
/// end (Redis went away) the tasks under way finish, or fail and say so.
async fn read(
    agent: Arc<Agent>,
    mut messages: Messages,
    (conn, watch): (MultiplexedConnection, Arc<dyn Watch>),
    alive: Alive,
    panics: Panics,
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
                // A finished task has nothing more to give (its panic is
                // kept in `panics`, raised where the agents end).
                tasks.retain(|t| !t.is_finished());
                prune_at = PRUNE_AT.max(2 * tasks.len());
            }
            let (alive, job) = (alive.clone(), panics.clone().keeping(job));
            tasks.push(smol::spawn(async move {
                job.await;
                drop(alive);
            }));
        }
    }
    for task in tasks {
        task.await;
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

/// Agents started from a thread of their own, running until [`Swarm::stop`].
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
        let (alive, all_dropped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            smol::block_on(async {
                let panics = Panics::default();
                match run_alive(&client, &keys, specs, watch, alive, panics.clone()).await {
                    Ok(agents) => {
                        let _ = ready_tx.send(Ok(()));
                        let stopped = async {
                            let _ = stopped.recv().await;
                        };
                        // The readers and tasks keep their panics: the wait
                        // below comes first, then the first one is raised.
                        agents.or(stopped).await
                    }
                    Err(e) => drop(ready_tx.send(Err(e.to_string()))),
                }
                // The readers and their tasks are dropped on the executor's
                // thread, after the future above: wait until they all are.
                let _ = all_dropped.recv().await;
                panics.raise();
            })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Swarm { stop, thread }),
            Ok(Err(e)) => Err(format!("agents: subscribe: {e}")),
            Err(_) => Err("the agents' thread died".into()),
        }
    }

    /// The agents' thread has ended by itself: Redis went away, or an
    /// agent's reader or task panicked (then [`Swarm::stop`] raises the
    /// panic).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Stops every agent: returns once every reader and every task under
    /// way is dropped (a command already handed to the connection may
    /// still reach Redis). The first panic of an agent's reader or task
    /// (e.g. a `Watch` asserting) is raised here, after that, unless this
    /// thread is panicking already (a stop in a destructor while unwinding).
    pub fn stop(self) {
        let _ = self.stop.try_send(());
        if let Err(panic) = self.thread.join() {
            if !std::thread::panicking() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}
