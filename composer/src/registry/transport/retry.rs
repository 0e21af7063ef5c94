//! The retry layer: the one loop that tries a failed registry operation again
//! (`docs/registry-protocol.md#retries`).
//!
//! Transient failures are retried: connection errors (refused, reset, closed early, timeouts),
//! `408`, `429` and `5xx`. The first retry waits `push.retry_backoff_ms`, each further one twice
//! as long (plus up to a quarter of jitter, so many clients that failed together do not return
//! together), at most `push.retries` times after the first attempt. A `Retry-After` on a `429` or
//! `503` (delta-seconds or an HTTP-date) replaces the computed delay, capped at
//! [`MAX_RETRY_AFTER`] so a registry cannot park a push for hours.
//!
//! A request whose cached bearer token was refused is a different case ([`Retry::Reauth`]): the
//! token has been dropped, and one immediate new attempt fetches a fresh one. That attempt does not
//! count against `push.retries`, because it fixes a known cause rather than hoping for better luck.
//!
//! Everything else (other 4xx, TLS failures, digest mismatches) is final.
//!
//! [`run`] retries an operation given as a closure, so the same loop, with the same count, serves
//! a single request (the transport's `send`) and a step of several requests that must be repeated
//! as a whole (a blob copy: a new upload session, a new source GET, a new PUT).
//!
//! Every retry is logged and told to the task's retry watcher, if it has one (see the registry's
//! `watch` module): a push reports them as events.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use super::super::watch::{self, RetryNotice, RetryReason};
use crate::error::Error;

/// The longest a `Retry-After` is honoured.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The longest computed backoff, however many retries are configured.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What may be done about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Final: retrying cannot help.
    Never,
    /// Transient: try again after the backoff, or after the registry's `Retry-After` when given.
    Backoff(Option<Duration>),
    /// A cached bearer token was refused and has been dropped: try again now with a fresh one.
    Reauth,
}

/// A failed attempt: the error to report if it is the last, and whether another may follow.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// What went wrong, in the words the caller reports.
    pub error: Error,
    /// Whether and when to try again.
    pub retry: Retry,
    /// The status of a registry that answered "not now", the reason a retry gives.
    pub status: Option<StatusCode>,
}

impl Failure {
    /// A failure retrying cannot fix.
    pub(crate) fn fatal(error: Error) -> Self {
        Failure {
            error,
            retry: Retry::Never,
            status: None,
        }
    }

    /// A transient failure before any answer, with the registry's `Retry-After` if it sent one.
    pub(crate) fn transient(error: Error, after: Option<Duration>) -> Self {
        Failure {
            error,
            retry: Retry::Backoff(after),
            status: None,
        }
    }

    /// A registry that answered `status` (`408`, `429` or `5xx`), with its `Retry-After`.
    pub(crate) fn busy(status: StatusCode, error: Error, after: Option<Duration>) -> Self {
        Failure {
            status: Some(status),
            ..Failure::transient(error, after)
        }
    }

    /// A cached bearer token was refused (and dropped): `error` unless a fresh one helps.
    pub(crate) fn reauth(error: Error) -> Self {
        Failure {
            error,
            retry: Retry::Reauth,
            status: None,
        }
    }

    /// Prefixes the error's message, keeping the retry decision.
    #[must_use]
    pub(crate) fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.error = self.error.context(context);
        self
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::fatal(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// A failed attempt as the retry loop sees it: what to log, whether another may follow, and
/// why.
pub(crate) trait Transient: fmt::Display {
    /// Whether and when the operation may be tried again.
    fn retry(&self) -> Retry;

    /// Why the attempt failed, for the retry watcher.
    fn reason(&self) -> RetryReason;
}

impl Transient for Failure {
    fn retry(&self) -> Retry {
        self.retry
    }

    fn reason(&self) -> RetryReason {
        match self.status {
            Some(status) => RetryReason::Status(status.as_u16()),
            None => RetryReason::Failed(self.error.clone()),
        }
    }
}

/// True for statuses that say "not now" rather than "no": `408`, `429` and every `5xx`.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// The delay a `429` or `503` response asks for in `Retry-After` (delta-seconds or an HTTP-date),
/// capped at [`MAX_RETRY_AFTER`]; `None` for other statuses or an unreadable header.
pub(crate) fn retry_after(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        // A date in the past means "now".
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// How many retries and how long between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first retry's delay; each further retry doubles it.
    pub backoff: Duration,
}

impl Policy {
    /// The policy of `[push]` in the configuration.
    pub(crate) fn from_settings(push: &manifold_config::PushSettings) -> Self {
        Policy {
            retries: push.retries,
            backoff: Duration::from_millis(push.retry_backoff_ms),
        }
    }

    /// The wait before retry number `retry` (1 for the first): the registry's `Retry-After` when
    /// given, otherwise the exponential backoff with jitter.
    pub(crate) fn delay(&self, retry: u32, after: Option<Duration>) -> Duration {
        if let Some(after) = after {
            return after.min(MAX_RETRY_AFTER);
        }
        let factor = 1u32 << retry.saturating_sub(1).min(16);
        let base = self.backoff.saturating_mul(factor).min(MAX_BACKOFF);
        // Up to +25 %: never shorter than the configured backoff.
        let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
        (base + jitter).min(MAX_BACKOFF)
    }
}

/// Runs `op` until it succeeds, fails for good, or the retries `policy` allows are used up, and
/// returns the last failure. `registry` and `what` name the operation in logs and in what the
/// task's retry watcher is told; `what` is written out only when there is a retry to tell of.
/// Whatever a failure holds (a response, and with it a connection) is released before the wait.
pub(crate) async fn run<T, E, F, Fut, W>(
    policy: &Policy,
    registry: &str,
    what: &W,
    mut op: F,
) -> Result<T, E>
where
    W: fmt::Display + ?Sized,
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut used = 0;
    let mut reauthenticated = false;
    loop {
        let failure = match op().await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        let after = match failure.retry() {
            Retry::Never => return Err(failure),
            Retry::Reauth if !reauthenticated => {
                reauthenticated = true;
                tracing::debug!(
                    registry,
                    what = what.to_string().as_str(),
                    "token refused; retrying with a fresh token"
                );
                continue;
            }
            // A fresh token was refused as well: only worth more tries if retries are left.
            Retry::Reauth => None,
            Retry::Backoff(after) => after,
        };
        if used >= policy.retries {
            return Err(failure);
        }
        used += 1;
        let delay = policy.delay(used, after);
        let what = what.to_string();
        tracing::warn!(
            registry,
            what = what.as_str(),
            retry = used,
            of = policy.retries,
            delay_ms = delay.as_millis() as u64,
            error = %failure,
            "registry operation failed; retrying"
        );
        watch::tell(|| RetryNotice {
            registry: registry.to_string(),
            what,
            attempt: used,
            delay,
            reason: failure.reason(),
        });
        drop(failure);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::watch::watch_retries;
    use super::*;
    use crate::error::ErrorKind;
    use reqwest::header::HeaderValue;
    use std::sync::{Arc, Mutex};
    use std::time::UNIX_EPOCH;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(retry_after).expect("header"),
        );
        h
    }

    #[test]
    fn statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                retryable_status(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
        for s in [200, 201, 202, 400, 401, 403, 404, 405, 409, 416] {
            assert!(
                !retryable_status(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_reads_every_http_date_form_and_nothing_else() {
        // 5 s after `now`, as IMF-fixdate, RFC 850 and asctime, the three forms RFC 9110 has
        // recipients accept.
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let s503 = StatusCode::SERVICE_UNAVAILABLE;
        for date in [
            "Sun, 06 Nov 1994 08:49:42 GMT",
            "Sunday, 06-Nov-94 08:49:42 GMT",
            "Sun Nov  6 08:49:42 1994",
        ] {
            assert_eq!(
                retry_after(s503, &headers(date), now),
                Some(Duration::from_secs(5)),
                "{date:?}"
            );
        }
        for bad in [
            "",
            "soon",
            "1.5",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(retry_after(s503, &headers(bad), now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_seconds_dates_and_caps() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let s429 = StatusCode::TOO_MANY_REQUESTS;
        let s503 = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(
            retry_after(s429, &headers("2"), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(s503, &headers(" 0 "), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(s503, &headers("86400"), now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            retry_after(s429, &headers("Sun, 06 Nov 1994 08:49:42 GMT"), now),
            Some(Duration::from_secs(5))
        );
        // In the past: now.
        assert_eq!(
            retry_after(s429, &headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(s429, &headers("-1"), now), None);
        assert_eq!(retry_after(s429, &HeaderMap::new(), now), None);
        // Only 429 and 503 carry a meaningful Retry-After for us.
        assert_eq!(
            retry_after(StatusCode::BAD_GATEWAY, &headers("2"), now),
            None
        );
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let p = Policy {
            retries: 5,
            backoff: Duration::from_millis(100),
        };
        for (retry, base) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            let d = p.delay(retry, None);
            assert!(d >= Duration::from_millis(base), "{retry}: {d:?}");
            assert!(d <= Duration::from_millis(base * 5 / 4), "{retry}: {d:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(300))), MAX_RETRY_AFTER);
        assert!(p.delay(40, None) <= MAX_BACKOFF);
        let zero = Policy {
            retries: 1,
            backoff: Duration::ZERO,
        };
        assert_eq!(zero.delay(3, None), Duration::ZERO);
    }

    fn err(text: &str) -> Error {
        Error::new(ErrorKind::Registry, text)
    }

    #[tokio::test]
    async fn run_retries_transient_failures_then_gives_up() {
        let p = Policy {
            retries: 2,
            backoff: Duration::from_millis(1),
        };
        let mut calls = 0;
        let r: Result<(), Failure> = run(&p, "registry", "test", || {
            calls += 1;
            let n = calls;
            async move { Err(Failure::transient(err(&format!("attempt {n}")), None)) }
        })
        .await;
        assert_eq!(calls, 3);
        assert_eq!(r.expect_err("fails").error.message(), "attempt 3");

        let mut calls = 0;
        let r = run(&p, "registry", "test", || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(Failure::transient(err("later"), None))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.expect("succeeds"), 3);
    }

    #[tokio::test]
    async fn each_retry_is_told_to_the_watcher_but_a_fresh_token_is_not() {
        let p = Policy {
            retries: 2,
            backoff: Duration::ZERO,
        };
        let heard = Arc::new(Mutex::new(Vec::new()));
        let record = heard.clone();
        let mut calls = 0;
        let op = || {
            calls += 1;
            let n = calls;
            async move {
                Err::<(), _>(match n {
                    1 => Failure::reauth(err("unauthorized")),
                    2 => Failure::busy(StatusCode::BAD_GATEWAY, err("bad gateway"), None),
                    _ => Failure::transient(err("connection reset"), None),
                })
            }
        };
        let watcher = move |notice| record.lock().expect("lock").push(notice);
        let r = watch_retries(watcher, run(&p, "127.0.0.1:5000", "GET /v2/", op)).await;
        assert_eq!(r.expect_err("fails").error.message(), "connection reset");
        let heard = heard.lock().expect("lock");
        let told: Vec<(u32, &RetryReason)> = heard.iter().map(|n| (n.attempt, &n.reason)).collect();
        assert_eq!(
            told,
            [
                (1, &RetryReason::Status(502)),
                (2, &RetryReason::Failed(err("connection reset")))
            ]
        );
        assert!(heard
            .iter()
            .all(|n| n.registry == "127.0.0.1:5000" && n.what == "GET /v2/"));
    }

    #[tokio::test]
    async fn run_stops_at_fatal_and_reauthenticates_once_for_free() {
        let none = Policy {
            retries: 0,
            backoff: Duration::from_millis(1),
        };
        let mut calls = 0;
        let r: Result<(), Failure> = run(&none, "registry", "test", || {
            calls += 1;
            async { Err(Failure::fatal(err("no"))) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(r.is_err());

        // With no retries configured, a refused cached token still gets its one fresh attempt,
        // but not a second.
        let mut calls = 0;
        let r: Result<(), Failure> = run(&none, "registry", "test", || {
            calls += 1;
            async { Err(Failure::reauth(err("unauthorized"))) }
        })
        .await;
        assert_eq!(calls, 2);
        assert!(r.is_err());

        let mut calls = 0;
        let r = run(&none, "registry", "test", || {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    Err(Failure::reauth(err("unauthorized")))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(calls, 2);
    }
}
