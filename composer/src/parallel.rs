//! Bounded parallelism for registry requests.

use std::future::Future;

use futures_util::future::try_join_all;
use tokio::sync::Semaphore;

use crate::error::Result;

/// Runs `futures` with at most `concurrency` of them in flight, keeping their order, and stops
/// at the first error.
///
/// (A semaphore over `try_join_all` rather than a buffered stream: stream combinators over
/// borrowed data make futures whose `Send` bound the compiler cannot prove for a spawned push.)
pub(crate) async fn bounded<T>(
    concurrency: usize,
    futures: impl IntoIterator<Item = impl Future<Output = Result<T>>>,
) -> Result<Vec<T>> {
    let gate = Semaphore::new(concurrency.max(1));
    try_join_all(futures.into_iter().map(|f| async {
        let _permit = gate.acquire().await;
        f.await
    }))
    .await
}
