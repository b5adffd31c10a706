//! Time limits: every wait on the network is bounded, and this is the one
//! way to bound it.
//!
//! The bound is a plain future holding the bounded one once. Written as an
//! `async fn` wrapping an `async` block, it held that future three times over
//! (the argument, the block's capture, the running await): the session's
//! connect future is 19 KB, and the start-up's bounded connect was 57 KB,
//! copied whole when moved (docs/performance.md, "Idle memory").

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `fut`, or gives up after `limit` (counted from this call).
pub fn within<F: Future>(limit: Duration, fut: F) -> Unless<F, smol::Timer> {
    unless(fut, smol::Timer::after(limit))
}

/// Runs `fut`, or gives up as soon as `stop` completes (`fut` is polled
/// first, so an answer ready at the same time wins).
pub fn unless<F: Future, S: Future>(fut: F, stop: S) -> Unless<F, S> {
    Unless { fut, stop }
}

/// The future of [`unless`] (and [`within`]): `Some(output)`, or `None`.
pub struct Unless<F, S> {
    fut: F,
    stop: S,
}

impl<F: Future, S: Future> Future for Unless<F, S> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: both fields are pinned with `self` (structurally): they
        // are never moved out of it, `Unless` has no `Drop`, and it is
        // `Unpin` only when both fields are.
        let this = unsafe { self.get_unchecked_mut() };
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if let Poll::Ready(out) = fut.poll(cx) {
            return Poll::Ready(Some(out));
        }
        let stop = unsafe { Pin::new_unchecked(&mut this.stop) };
        stop.poll(cx).map(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounded_future_is_held_once() {
        let big = async {
            let buffer = [7u8; 4096];
            smol::future::yield_now().await;
            buffer[4095]
        };
        let size = std::mem::size_of_val(&big);
        let bounded = within(Duration::from_secs(1), big);
        assert!(std::mem::size_of_val(&bounded) < size + 256);
        assert_eq!(smol::block_on(bounded), Some(7));
    }

    #[test]
    fn the_first_ready_wins_and_the_future_is_polled_first() {
        assert_eq!(smol::block_on(within(Duration::ZERO, async { 1 })), Some(1));
        let never = std::future::pending::<u8>();
        assert_eq!(
            smol::block_on(within(Duration::from_millis(10), never)),
            None
        );
        assert_eq!(smol::block_on(unless(async { 2 }, async {})), Some(2));
        assert_eq!(smol::block_on(unless(never_ready(), async {})), None);
    }

    async fn never_ready() -> u8 {
        std::future::pending().await
    }
}
