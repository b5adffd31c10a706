//! Time limits: every wait on the network is bounded, and this is the one
//! way to bound it.

use std::future::Future;
use std::time::Duration;

use futures_lite::FutureExt as _;

/// Runs `fut`, or gives up after `limit`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            smol::Timer::after(limit).await;
            None
        })
        .await
}
