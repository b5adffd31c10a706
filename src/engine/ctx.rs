//! What every task of one session holds: the shared state, the session's
//! command connection, its stop signal, and the two ways back to the session
//! (end it; ask for a catch-up pass).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use smol::channel::{Receiver, Sender};

use super::decisions::Report;
use super::shared::Shared;
use crate::shutdown::{self, Shutdown, Trigger};

/// What every task of one session holds.
#[derive(Clone)]
pub struct SessionCtx {
    pub shared: Arc<Shared>,
    /// The session's command connection.
    pub conn: MultiplexedConnection,
    /// Raised when the session ends: tasks return at their next batch boundary.
    pub stop: Shutdown,
    end: Sender<String>,
    catch_up: Sender<()>,
    /// A catch-up pass started in this session has completed (or passes are
    /// off): what was delivered while no session listened has been replayed.
    caught_up: Arc<AtomicBool>,
    /// Raised when the session's first catch-up pass ends, completed or
    /// failed, or the catch-up waits for WALK_HOLD or longer with no pass
    /// under way (a long back-off, the periodic interval);
    /// raised from the start when passes are off. The sweep's first walk
    /// over the claims collecting bids waits until then (engine::sweep).
    /// A shutdown channel used as a one-shot latch: raising it again does
    /// nothing, and every waiter returns once it is raised.
    first_pass_end: Trigger,
    first_pass: Shutdown,
}

/// The session's ends of a [`SessionCtx`]'s two ways back.
pub struct Requests {
    /// Why the session must end (the first reason given).
    pub end: Receiver<String>,
    /// Catch-up passes asked for (they coalesce).
    pub catch_up: Receiver<()>,
}

impl SessionCtx {
    pub fn new(
        shared: Arc<Shared>,
        conn: MultiplexedConnection,
        stop: Shutdown,
    ) -> (SessionCtx, Requests) {
        let (end, end_rx) = smol::channel::bounded::<String>(1);
        let (catch_up, catch_up_rx) = smol::channel::bounded::<()>(1);
        let (first_pass_end, first_pass) = shutdown::channel();
        if !shared.config.reconcile {
            first_pass_end.trigger();
        }
        let ctx = SessionCtx {
            caught_up: Arc::new(AtomicBool::new(!shared.config.reconcile)),
            first_pass_end,
            first_pass,
            shared,
            conn,
            stop,
            end,
            catch_up,
        };
        let requests = Requests {
            end: end_rx,
            catch_up: catch_up_rx,
        };
        (ctx, requests)
    }

    pub fn stopping(&self) -> bool {
        self.stop.is_triggered()
    }

    /// Ends the session (the first reason given wins).
    pub fn end(&self, reason: String) {
        let _ = self.end.try_send(reason);
    }

    /// Asks for a catch-up pass (requests coalesce; ignored when it is off).
    pub fn request_catch_up(&self) {
        let _ = self.catch_up.try_send(());
    }

    /// Has a pass that started in this session completed with nothing
    /// failed, and with nothing left to replay or followed by a second such
    /// pass (true when passes are off)? Until then no phase times out: a
    /// delivery made in time while no session listened is still to be
    /// replayed (the sweep, `expired_phases`).
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    pub fn mark_caught_up(&self) {
        self.caught_up.store(true, Ordering::Relaxed);
    }

    /// Has the session's first catch-up pass ended, completed or failed,
    /// or is the catch-up waiting WALK_HOLD or longer with no pass under
    /// way (true when passes are off)?
    pub fn first_pass_over(&self) -> bool {
        self.first_pass.is_triggered()
    }

    /// Completes once [`SessionCtx::first_pass_over`] is true.
    pub async fn first_pass_ended(&self) {
        self.first_pass.wait().await
    }

    /// A catch-up pass of this session ended, or the catch-up waits
    /// WALK_HOLD or longer with none under way (the first time raises the
    /// latch).
    pub fn mark_pass_ended(&self) {
        self.first_pass_end.trigger();
    }

    /// Acts on a batch's report; true when the task must return (session over).
    pub fn after_batch(&self, report: Report) -> bool {
        if let Some(reason) = report.end_session {
            self.end(reason);
            return true;
        }
        if report.failed > 0 || report.catch_up {
            // Not lost: the catch-up scan retries what Redis refused, and
            // adopts a claim someone else made that a decision met.
            self.request_catch_up();
        }
        false
    }
}
