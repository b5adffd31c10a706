//! sett-sim's `Swarm`, the simulated agents of `sett-bench` and `sett-demo`
//! (no orchestrator here): once `Swarm::stop` returns, no agent does
//! anything more, even with many messages' work under way when it is
//! called. Its tasks run on smol's global executor beside their connections
//! (sim/src/swarm.rs), so the stop has to wait for them to be dropped there.
//! Without that wait (`54a88a7`'s swarm, which a review found wanting) this
//! test failed five runs of five, 59 to 380 callbacks after the stop: the
//! bench could read and clean the board while an agent still wrote to it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sett_sim::{commands, wire, Act, Artefact, Heard, Keys, Spec, Swarm, Watch, Work};
use sett_test_support as support;
use support::{RedisServer, PATIENCE};

/// How many claim events are published at once: enough for many of the
/// agent's reads and writes to be under way when the stop comes.
const EVENTS: usize = 2000;

/// Counts what the agent does, and what it does after `stopped` is set: a
/// callback that starts, or is still running, once `stop` has returned.
#[derive(Default)]
struct Counting {
    stopped: AtomicBool,
    heard: AtomicUsize,
    sending: AtomicUsize,
    sent: AtomicUsize,
    after_stop: AtomicUsize,
}

/// How long each `sending` callback holds the executor's thread: the stop
/// then comes, most likely, while one runs (the agents' tasks share that
/// one thread), and a stop that returned before the agents' tasks were
/// dropped would return in the middle of it.
const SENDING_TAKES: Duration = Duration::from_millis(2);

impl Counting {
    fn saw(&self) {
        if self.stopped.load(Ordering::SeqCst) {
            self.after_stop.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Watch for Counting {
    fn heard(&self, _: &str, _: &Heard) {
        self.saw();
        self.heard.fetch_add(1, Ordering::SeqCst);
    }
    fn sending(&self, _: &str, _: &Act) {
        self.saw();
        self.sending.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(SENDING_TAKES);
        self.saw();
    }
    fn sent(&self, _: &str, _: &Act) {
        self.saw();
        self.sent.fetch_add(1, Ordering::SeqCst);
    }
    fn failed(&self, _: &str, _: &redis::RedisError) {
        self.saw();
    }
}

/// `n` artefacts the user wrote (the agent bids on each), and the
/// `claim_events` message of a claim on each, the claims named `{name}-{i}`.
fn publish_claims(conn: &mut redis::Connection, keys: &Keys, name: &str, n: usize) {
    let mut pipe = redis::pipe();
    let mut events = Vec::new();
    for i in 0..n {
        let artefact = Artefact::new("Standard", "Goal", "a goal", "user");
        artefact.write(keys, &mut pipe);
        events.push(wire::claim_event(&format!("{name}-{i}"), &artefact.id));
    }
    for event in &events {
        pipe.add_command(commands::publish(keys, event)).ignore();
    }
    pipe.query::<()>(conn).unwrap();
}

/// Bids stored for the claims `{name}-0` to `{name}-{n-1}`.
fn bids_stored(conn: &mut redis::Connection, keys: &Keys, name: &str, n: usize) -> usize {
    (0..n)
        .map(|i| {
            let stored: usize = redis::cmd("HLEN")
                .arg(keys.bids(&format!("{name}-{i}")))
                .query(conn)
                .unwrap();
            stored
        })
        .sum()
}

#[test]
fn nothing_is_heard_sent_or_reported_after_stop_returns() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let keys = Keys::new("sett:swarmstop");
    let watch = Arc::new(Counting::default());
    let coder = Spec::new("Coder", "exclusive", Work::new("Standard", "Code", "code"));
    let swarm = Swarm::start(&redis.url(), keys.prefix(), vec![coder], watch.clone()).unwrap();

    publish_claims(&mut conn, &keys, "claim", EVENTS);
    // Stopped in the middle of the work: a few bids on their way (each
    // SENDING_TAKES), the rest not yet. Tasks already woken may still run
    // before the stop returns; none may after.
    let began = Instant::now();
    while watch.sending.load(Ordering::SeqCst) < 10 {
        assert!(began.elapsed() < PATIENCE, "no bid sent");
        std::thread::sleep(Duration::from_millis(1));
    }
    let under_way = EVENTS - watch.sending.load(Ordering::SeqCst);
    assert!(under_way > 0, "every bid was on its way before the stop");
    // On a thread of its own: a stop that never returned fails the test.
    let (stopped, stop_returned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        swarm.stop();
        let _ = stopped.send(());
    });
    stop_returned
        .recv_timeout(PATIENCE)
        .expect("Swarm::stop did not return");
    watch.stopped.store(true, Ordering::SeqCst);
    let heard = watch.heard.load(Ordering::SeqCst);
    let sending = watch.sending.load(Ordering::SeqCst);
    let sent = watch.sent.load(Ordering::SeqCst);

    // More messages after the stop: nobody listens any more.
    publish_claims(&mut conn, &keys, "late", 100);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(watch.after_stop.load(Ordering::SeqCst), 0);
    assert_eq!(watch.heard.load(Ordering::SeqCst), heard);
    assert_eq!(watch.sending.load(Ordering::SeqCst), sending);
    assert_eq!(watch.sent.load(Ordering::SeqCst), sent);
    // Every bid acknowledged is stored, and each one stored was announced
    // by `sending` first; none for the claims published after the stop.
    let bids = bids_stored(&mut conn, &keys, "claim", EVENTS);
    assert!(
        (sent..=sending).contains(&bids),
        "{bids} bids stored, {sent} acknowledged, {sending} on their way"
    );
    assert_eq!(bids_stored(&mut conn, &keys, "late", 100), 0);
}

/// Panics in the last agent's `heard` (its reader) or `sending` (a task of
/// its reader's), once, having said so; the others only listen and bid.
struct PanicsInLast {
    in_sending: bool,
    panicked: AtomicBool,
}

impl PanicsInLast {
    fn panic_if(&self, agent: &str, here: bool) {
        if agent == "Zed" && here && !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("Zed's watch panicked");
        }
    }
}

impl Watch for PanicsInLast {
    fn heard(&self, agent: &str, _: &Heard) {
        self.panic_if(agent, !self.in_sending);
    }
    fn sending(&self, agent: &str, _: &Act) {
        self.panic_if(agent, self.in_sending);
    }
}

/// The panic `stop` raised, as text.
fn stop_panic(swarm: Swarm) -> String {
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| swarm.stop()));
    let panic = stopped.expect_err("stop returned as if nothing had panicked");
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Ann, Bob and Zed (who panics `in_sending` or in `heard`) on a Redis of
/// their own, one claim event published to them.
fn three_agents(prefix: &str, in_sending: bool) -> (RedisServer, Swarm, Arc<PanicsInLast>) {
    let redis = RedisServer::start();
    let keys = Keys::new(prefix);
    let watch = Arc::new(PanicsInLast {
        in_sending,
        panicked: AtomicBool::new(false),
    });
    let spec = |name: &str| Spec::new(name, "ignore", Work::new("Standard", "Code", "code"));
    let agents = vec![spec("Ann"), spec("Bob"), spec("Zed")];
    let swarm = Swarm::start(&redis.url(), keys.prefix(), agents, watch.clone()).unwrap();
    publish_claims(&mut redis.conn(), &keys, "c", 1);
    (redis, swarm, watch)
}

/// A panic in any agent's reader, the last one's included, is raised by
/// `stop` (it was lost: the readers were awaited in order, so the first,
/// still listening, held the others back, and the stop dropped the
/// panicked reader with its panic; and the stop ignored the thread's end).
#[test]
fn a_panic_in_any_agents_reader_is_raised_by_stop() {
    let (_redis, swarm, _) = three_agents("sett:swarmpanic", false);
    // Zed's panic ends the agents' thread by itself, while Ann and Bob
    // still listen (with the readers awaited in order it never ended).
    assert!(
        support::wait_until(PATIENCE, || swarm.is_finished()),
        "the agents' thread went on after Zed's reader panicked"
    );
    assert_eq!(stop_panic(swarm), "Zed's watch panicked");
}

/// A panic in a task of an agent's (the work on one message) ends the
/// agents' thread by itself too, and is raised by `stop` (it was dropped
/// with the task when the stop dropped its reader; then it was kept, but
/// nothing woke the agents' future, whose readers all went on listening,
/// until the stop).
#[test]
fn a_panic_in_an_agents_task_is_raised_by_stop() {
    let (_redis, swarm, watch) = three_agents("sett:swarmtaskpanic", true);
    assert!(support::wait_until(PATIENCE, || watch
        .panicked
        .load(Ordering::SeqCst)));
    assert!(
        support::wait_until(PATIENCE, || swarm.is_finished()),
        "the agents' thread went on after Zed's task panicked"
    );
    assert_eq!(stop_panic(swarm), "Zed's watch panicked");
}
