//! Retries as the caller of registry operations hears of them: each time the retry loop decides
//! to try an operation again, it tells the watcher of the task it runs in, if that task has
//! one, with a [`RetryNotice`]. [`watch_retries`] runs a future with a watcher.
//!
//! Why a task-local watcher and not a parameter: the retry loop sits below every verb, below
//! route resolution and below the cache's single flights, and a push reaches it through all of
//! them (blob HEADs, mounts and copies, manifest reads and PUTs, on the source registries and
//! the destination). Threading an observer through every verb, or carrying one in the
//! [`Route`](super::Route)s that the cache keys its entries and flights by, would change every
//! signature for one concern that only pushes have. Instead a push runs its whole future inside
//! [`watch_retries`]: every future that future polls hears of it, and its parallel work (blob
//! copies and manifest writes joined under semaphores) runs inside it, polled by the push's own
//! task, never `tokio::spawn`ed. Nothing outside the push hears of it. The one limit: a read the
//! cache shares with another request's identical read (a single flight) reports its retries to
//! whichever of the two is driving it when they happen.
//!
//! A refused cached token's immediate new attempt with a fresh token is authentication, not a
//! retry after a failure; it is not told.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::error::Error;

/// What hears of the retries inside [`watch_retries`].
type Watcher = Box<dyn Fn(RetryNotice) + Send + Sync>;

tokio::task_local! {
    static WATCHER: Watcher;
}

/// A registry operation that failed for a reason worth another attempt and is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryNotice {
    /// The registry (`host[:port]`) the operation goes to; for a blob copy, the destination.
    pub registry: String,
    /// The request (`METHOD /v2/…`) or the operation (`copying blob … from … to …`).
    pub what: String,
    /// Which retry this is: 1 for the first.
    pub attempt: u32,
    /// How long the caller waits before it.
    pub delay: Duration,
    /// Why the last attempt failed.
    pub reason: RetryReason,
}

/// Why an attempt is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// The registry (or its token server) answered this status: 408, 429 or a 5xx.
    Status(u16),
    /// The attempt failed before a status came back (connection refused or reset, timeout, a
    /// source stream cut short).
    Failed(Error),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryReason::Status(status) => write!(f, "status {status}"),
            RetryReason::Failed(error) => error.fmt(f),
        }
    }
}

/// Runs `work`, telling `watcher` of every retry of a registry operation that `work` makes.
pub async fn watch_retries<F: Future>(
    watcher: impl Fn(RetryNotice) + Send + Sync + 'static,
    work: F,
) -> F::Output {
    WATCHER.scope(Box::new(watcher), work).await
}

/// Tells the current task's watcher, if it has one, of the retry `notice` describes.
pub(crate) fn tell(notice: impl FnOnce() -> RetryNotice) {
    // Outside `watch_retries` there is nobody to tell, and that is fine.
    let _ = WATCHER.try_with(|watcher| watcher(notice()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::{Arc, Mutex};

    fn notice(attempt: u32) -> RetryNotice {
        RetryNotice {
            registry: "127.0.0.1:5000".into(),
            what: "GET /v2/app/manifests/v1".into(),
            attempt,
            delay: Duration::ZERO,
            reason: RetryReason::Status(503),
        }
    }

    #[tokio::test]
    async fn only_the_watched_future_is_heard() {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let record = heard.clone();
        tell(|| notice(1));
        let inner = watch_retries(
            move |n| record.lock().expect("lock").push(n.attempt),
            async {
                // Joined work is polled by the watched future, so it is heard too.
                futures_util::future::join(async { tell(|| notice(2)) }, async {
                    tell(|| notice(3))
                })
                .await;
                7
            },
        )
        .await;
        tell(|| notice(4));
        assert_eq!(inner, 7);
        assert_eq!(*heard.lock().expect("lock"), [2, 3]);
    }

    #[test]
    fn reasons_read_as_a_status_or_the_error() {
        assert_eq!(RetryReason::Status(429).to_string(), "status 429");
        let reset = Error::new(ErrorKind::Registry, "connection reset by peer");
        assert_eq!(
            RetryReason::Failed(reset).to_string(),
            "connection reset by peer"
        );
    }
}
