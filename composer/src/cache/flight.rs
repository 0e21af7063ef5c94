//! Single flight: concurrent callers with the same key share one run of the work.
//!
//! The first caller starts the work; callers arriving while it runs await the same result
//! (success or error); the flight is forgotten as soon as it finishes, so nothing, errors
//! least of all, outlives it here: what should be remembered, the caller writes to the cache.
//!
//! The work is a `'static` future polled by whichever waiter is polling, so a caller that
//! gives up (its client went away) does not stop it for the others. Only a weak handle is kept
//! in the table: when every waiter has given up, the work is dropped, and the next caller
//! starts afresh instead of finding a flight nobody drives.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures_util::future::{BoxFuture, FutureExt as _, Shared, WeakShared};

use crate::error::Result;

type Work<T> = Shared<BoxFuture<'static, Result<T>>>;
/// A flight as the table keeps it: its id, and a handle that does not keep it alive.
type Entry<T> = (u64, WeakShared<BoxFuture<'static, Result<T>>>);

/// Flights in progress by key.
pub(crate) struct Flights<K, T> {
    next_id: AtomicU64,
    running: Mutex<HashMap<K, Entry<T>>>,
}

impl<K, T> Default for Flights<K, T> {
    fn default() -> Self {
        Flights {
            next_id: AtomicU64::new(0),
            running: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, T> Flights<K, T>
where
    K: Hash + Eq + Clone,
    T: Clone + Send + Sync + 'static,
{
    /// Runs `start()`'s future, or joins the run already in flight for `key`, and returns its
    /// result. `start` is called only when this caller leads.
    pub(crate) async fn run<F>(&self, key: K, start: F) -> Result<T>
    where
        F: FnOnce() -> BoxFuture<'static, Result<T>>,
    {
        let (id, work) = self.join_or_start(&key, start);
        let out = work.await;
        self.finish(&key, id);
        out
    }

    fn join_or_start<F>(&self, key: &K, start: F) -> (u64, Work<T>)
    where
        F: FnOnce() -> BoxFuture<'static, Result<T>>,
    {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((id, weak)) = running.get(key) {
            if let Some(work) = weak.upgrade() {
                return (*id, work);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let work = start().shared();
        // `downgrade` is None only for a finished future; this one has not been polled.
        if let Some(weak) = work.downgrade() {
            running.insert(key.clone(), (id, weak));
        }
        (id, work)
    }

    /// Forgets flight `id` of `key` (once; later waiters find it gone or replaced).
    fn finish(&self, key: &K, id: u64) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.get(key).is_some_and(|(current, _)| *current == id) {
            running.remove(key);
        }
    }

    /// Flights in the table (finished ones are removed by their waiters).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use super::*;
    use crate::error::{Error, ErrorKind};

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let flights: Arc<Flights<&'static str, u32>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", move || {
                        async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            gate.notified().await;
                            Ok(7)
                        }
                        .boxed()
                    })
                    .await
            }));
        }
        // Let every task join before the work may finish.
        while flights.len() == 0 || runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.expect("task").expect("result"), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let flights: Flights<u8, u32> = Flights::default();
        let e = flights
            .run(1, || {
                async { Err(Error::new(ErrorKind::Registry, "down")) }.boxed()
            })
            .await;
        assert_eq!(e.map_err(|e| e.cause().to_string()), Err("down".into()));
        assert_eq!(flights.len(), 0);
        let ok = flights.run(1, || async { Ok(2) }.boxed()).await;
        assert_eq!(ok, Ok(2));
    }

    #[tokio::test]
    async fn an_abandoned_flight_is_started_again() {
        let flights: Flights<u8, u32> = Flights::default();
        // Started and dropped before completing: nobody drives it any more.
        {
            let pending = flights.run(1, || futures_util::future::pending().boxed());
            let _ = futures_util::poll!(Box::pin(pending));
        }
        let ok = flights.run(1, || async { Ok(3) }.boxed()).await;
        assert_eq!(ok, Ok(3));
    }

    #[tokio::test]
    async fn different_keys_run_separately() {
        let flights: Flights<u8, u32> = Flights::default();
        let (a, b) = tokio::join!(
            flights.run(1, || async { Ok(1) }.boxed()),
            flights.run(2, || async { Ok(2) }.boxed())
        );
        assert_eq!((a, b), (Ok(1), Ok(2)));
    }
}
