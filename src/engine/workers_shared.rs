//! What the worker tasks share: the Docker client, the worker settings and
//! calls, the registry, the metrics, the wake-up channels and whether Docker
//! answers now. Apart from the tasks (`workers/`) so that `Shared` holds it
//! without importing them: they report through `outcome`, which reads `Shared`.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use smol::channel::{Receiver, Sender};

use crate::config::registry::Registry;
use crate::docker::{Docker, DockerError};
use crate::engine::workers::granted::Granted;
use crate::log::Line;
use crate::metrics::inc;
use crate::metrics::workers::WorkerMetrics;
use crate::workers::scripts::Calls;
use crate::workers::spec::Settings;

/// Most container ids an [`Ids`] keeps: one more is not noted (a later
/// pass finds what it would have said).
const MAX_IDS: usize = 1024;

/// Container ids noted by one task for the reconciliation pass, at most
/// [`MAX_IDS`], each once.
#[derive(Default)]
struct Ids(Mutex<Vec<String>>);

impl Ids {
    fn note(&self, id: &str) {
        let mut ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ids.len() < MAX_IDS && !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    fn take_all(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether `id` was noted; forgotten once asked.
    fn take(&self, id: &str) -> bool {
        let mut ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let at = ids.iter().position(|i| i == id);
        at.map(|at| ids.swap_remove(at)).is_some()
    }
}

/// What the worker tasks share.
pub struct Workers {
    pub docker: Docker,
    pub settings: Settings,
    pub calls: Calls,
    pub registry: Registry,
    pub metrics: WorkerMetrics,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    /// Wakes the launcher (`workers::launcher`): a slot was granted here.
    grant_tx: Sender<()>,
    grant_rx: Receiver<()>,
    /// Why the last Docker call failed, while it is still failing.
    docker_error: Mutex<Option<String>>,
    /// Transient Docker errors since the last call that answered (back-off).
    failures: AtomicU32,
    /// The slots this process granted, until their workers start.
    pub(super) granted: Granted,
    /// Containers whose `die` event came since the last pass took them:
    /// Docker's list still calls such a container `running` for a while
    /// after the event, so the pass asks them.
    died: Ids,
    /// Containers whose start call got no answer (Docker went away while it
    /// was asked): Docker may have started them, and a pass that finds one
    /// started counts it launched then, once.
    unanswered: Ids,
    /// Held by the launcher while it launches a batch: a pass waits for it
    /// before it lists (never the other way round), so a list and a batch
    /// of launches do not hold their buffers at once.
    pub(super) launcher_busy: smol::lock::Mutex<()>,
}

impl Workers {
    /// The shared state of a Docker that has just answered.
    pub(super) fn new(
        docker: Docker,
        settings: Settings,
        calls: Calls,
        registry: Registry,
    ) -> Workers {
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        let (grant_tx, grant_rx) = smol::channel::bounded(1);
        let metrics = WorkerMetrics::default();
        metrics.docker_up.store(1, Relaxed);
        Workers {
            docker,
            settings,
            calls,
            registry,
            metrics,
            wake_tx,
            wake_rx,
            grant_tx,
            grant_rx,
            docker_error: Mutex::new(None),
            failures: AtomicU32::new(0),
            granted: Granted::default(),
            died: Ids::default(),
            unanswered: Ids::default(),
            launcher_busy: smol::lock::Mutex::new(()),
        }
    }

    /// Container `id` died (its event): the next pass asks it, then wakes.
    pub fn died(&self, id: &str) {
        self.died.note(id);
        self.wake();
    }

    /// The containers that died since the last call.
    pub(super) fn take_died(&self) -> Vec<String> {
        self.died.take_all()
    }

    /// Container `id`'s start call got no answer: a pass that finds it
    /// started counts it then ([`Workers::take_unanswered`]).
    pub(super) fn start_unanswered(&self, id: &str) {
        self.unanswered.note(id);
    }

    /// Whether container `id`'s start got no answer; forgotten once asked.
    pub(super) fn take_unanswered(&self, id: &str) -> bool {
        self.unanswered.take(id)
    }

    /// Asks for a reconciliation pass now (requests coalesce).
    pub fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    /// How long the next pass may wait: `base`, doubled per transient Docker
    /// error in a row up to 4 times `base` (back-off while Docker is away).
    pub(super) fn period(&self, base: Duration) -> Duration {
        base * (1 << self.failures.load(Relaxed).min(2))
    }

    /// Notes that `claim` was given a slot of `role` now (this process's
    /// grant, seen in the script's answer): the launcher starts its worker.
    pub fn granted(&self, claim: &str, role: &str) {
        self.granted.note(claim, role);
        let _ = self.grant_tx.try_send(());
    }

    /// Waits until a slot is granted here (grants coalesce).
    pub(super) async fn grants(&self) {
        let _ = self.grant_rx.recv().await;
    }

    /// Waits for a wake-up or `period`.
    pub(super) async fn woken(&self, period: Duration) {
        let rx = self.wake_rx.clone();
        futures_lite::future::or(
            async {
                let _ = rx.recv().await;
            },
            async {
                smol::Timer::after(period).await;
            },
        )
        .await;
    }

    /// Why Docker is unusable now, or `None`.
    pub fn docker_down(&self) -> Option<String> {
        self.docker_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn docker_ok(&self) {
        self.failures.store(0, Relaxed);
        self.metrics.docker_up.store(1, Relaxed);
        let mut e = self.docker_error.lock().unwrap_or_else(|p| p.into_inner());
        if e.take().is_some() {
            Line::info("docker_available").emit();
        }
    }

    /// A transient Docker error: logged once while it lasts, retried later.
    pub(super) fn docker_failed(&self, operation: &str, err: &DockerError) {
        inc(&self.metrics.docker_errors);
        self.failures.fetch_add(1, Relaxed);
        self.metrics.docker_up.store(0, Relaxed);
        let mut e = self.docker_error.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            Line::error("docker_unavailable")
                .str("operation", operation)
                .str("error", err.message())
                .emit();
        }
        *e = Some(err.message().to_string());
    }
}
