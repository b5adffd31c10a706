//! Shutdown: one signal, cloned into every task, that says "stop now", and
//! the SIGTERM/SIGINT listener that raises it.
//!
//! It is a closed channel: waiting on it costs nothing, and once triggered
//! every present and future waiter returns at once.

use futures_lite::StreamExt as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use smol::channel::{Receiver, Sender};

use crate::deadline;
use crate::log::{self, Line};

/// Exit status when a second signal cuts the graceful shutdown short.
pub const FORCED_EXIT: i32 = 1;

/// Handed to every task; `wait()` completes once shutdown has begun.
#[derive(Clone)]
pub struct Shutdown {
    rx: Receiver<()>,
}

/// Owned by whoever may begin the shutdown (the signal handler, fatal errors).
#[derive(Clone)]
pub struct Trigger {
    tx: Sender<()>,
}

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = smol::channel::bounded(1);
    (Trigger { tx }, Shutdown { rx })
}

impl Trigger {
    pub fn trigger(&self) {
        self.tx.close();
    }
}

impl Shutdown {
    pub fn is_triggered(&self) -> bool {
        self.rx.is_closed()
    }

    pub async fn wait(&self) {
        // Nothing is ever sent: recv returns only when the channel is closed.
        let _ = self.rx.recv().await;
    }

    /// Runs `fut` to completion, or returns `None` as soon as shutdown begins.
    pub fn unless_triggered<F: std::future::Future>(
        &self,
        fut: F,
    ) -> deadline::Unless<F, impl std::future::Future<Output = ()> + '_> {
        deadline::unless(fut, self.wait())
    }
}

fn signal_name(signal: i32) -> &'static str {
    if signal == SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    }
}

/// Installs the SIGTERM/SIGINT handlers. The first signal triggers shutdown;
/// a second one exits at once (after at most [`log::FORCED_EXIT_FLUSH`] for
/// the log). The listener is detached: it outlives `app::run`, so a second
/// signal also cuts short the final log flush in `main`.
pub fn listen_for_signals(trigger: Trigger) -> std::io::Result<()> {
    let mut signals = signal_hook_async_std::Signals::new([SIGTERM, SIGINT])?;
    smol::spawn(async move {
        if let Some(first) = signals.next().await {
            Line::info("shutdown_requested")
                .str("signal", signal_name(first))
                .emit();
            trigger.trigger();
        }
        if let Some(second) = signals.next().await {
            Line::warn("orchestrator_shutdown")
                .str("signal", signal_name(second))
                .bool("forced", true)
                .emit();
            log::flush(log::FORCED_EXIT_FLUSH);
            std::process::exit(FORCED_EXIT);
        }
    })
    .detach();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn waiters_wake_once_triggered() {
        let (trigger, shutdown) = super::channel();
        assert!(!shutdown.is_triggered());
        let waiter = shutdown.clone();
        trigger.trigger();
        smol::block_on(waiter.wait());
        assert!(shutdown.is_triggered());
    }
}
