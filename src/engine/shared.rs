//! State every task shares, read-mostly, behind one `Arc`: the configuration,
//! the keys, the deciders' settings and counters, health and the stop signal.

use std::sync::atomic::AtomicBool;

use crate::blackboard::Keys;
use crate::config::Config;
use crate::health::Health;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// State every task shares.
pub struct Shared {
    pub config: Config,
    pub keys: Keys,
    /// Present in lifecycle mode (an agent registry was found).
    pub lifecycle: Option<Lifecycle>,
    pub metrics: Metrics,
    /// Present when the registry has controller agents (Docker answered at start-up).
    pub workers: Option<super::workers_shared::Workers>,
    pub health: Health,
    pub shutdown: Shutdown,
    /// A session's sweep held its first walk over the claims collecting
    /// bids back, and no walk has reached the end of the set since (the
    /// session ended first): the next session's first walk does not wait
    /// (engine::sweep).
    pub bids_walk_owed: AtomicBool,
}

impl Shared {
    /// Every metric of the process as Prometheus text: Phase 1's, then the
    /// lifecycle's when it runs.
    pub fn metrics_text(&self) -> String {
        let mut out = self.metrics.render();
        if let Some(lc) = &self.lifecycle {
            lc.metrics.render(&mut out);
        }
        if let Some(w) = &self.workers {
            w.metrics.render(&mut out);
        }
        out
    }
}
