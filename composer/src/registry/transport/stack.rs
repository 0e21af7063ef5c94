//! The layers assembled: [`Transport`] stacks retries over authentication over schemes over
//! HTTP, and [`Tried`] is what one try through the lower layers looks like to the retry loop.

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use reqwest::{Method, RequestBuilder, Response};

use super::super::watch::RetryReason;
use super::auth::Authenticator;
use super::log::Http;
use super::retry::{self, Failure, Policy, Retry, Transient};
use super::scheme::Schemes;
use super::target::{Dest, Target};
use crate::error::Result;

/// One try at a single request, as the retry layer sees it.
enum Tried {
    /// No usable response: a transport, ping or token failure.
    Failed(Failure),
    /// A response saying "not now" (`408`, `429`, `5xx`); after the last retry it is the answer.
    Busy(Response),
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tried::Failed(failure) => failure.fmt(f),
            Tried::Busy(resp) => write!(f, "HTTP status {}", resp.status()),
        }
    }
}

impl Transient for Tried {
    fn retry(&self) -> Retry {
        match self {
            Tried::Failed(failure) => failure.retry,
            Tried::Busy(resp) => Retry::Backoff(retry::retry_after(
                resp.status(),
                resp.headers(),
                SystemTime::now(),
            )),
        }
    }

    fn reason(&self) -> RetryReason {
        match self {
            Tried::Failed(failure) => failure.reason(),
            Tried::Busy(resp) => RetryReason::Status(resp.status().as_u16()),
        }
    }
}

/// `METHOD /v2/…`: a request as retry logs and notices name it, written out only for a retry.
struct RequestLine<'a>(&'a Method, &'a str);

impl fmt::Display for RequestLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// The layers, stacked: retries over authentication over schemes over HTTP.
#[derive(Debug)]
pub(crate) struct Transport {
    auth: Authenticator,
    policy: Policy,
}

impl Transport {
    /// The stack, retrying under `policy`.
    pub(crate) fn new(policy: Policy) -> Result<Self> {
        Ok(Transport {
            auth: Authenticator::new(Schemes::new(Http::new()?)),
            policy,
        })
    }

    /// The scheme a registry was reached with, if it has been pinged (for tests and logs).
    pub(crate) fn known_scheme(&self, registry: &str, insecure: bool) -> Option<String> {
        self.auth.schemes().known_scheme(registry, insecure)
    }

    /// Sends `method path` (path starting `/v2/`) to the target's registry through every
    /// layer. `build` adds headers and body; it may run several times, so it must not consume
    /// a one-shot body. Any status comes back as a response (a retryable one once the retries
    /// are used up); errors are transport, ping and token failures.
    pub(crate) async fn send(
        &self,
        target: &Target<'_>,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let (method, build) = (&method, &build);
        let what = RequestLine(method, path);
        let tried = self
            .retry(target.registry, &what, move || async move {
                match self
                    .auth
                    .send(target, method, Dest::Path(path), build)
                    .await
                {
                    Ok(resp) if retry::retryable_status(resp.status()) => Err(Tried::Busy(resp)),
                    Ok(resp) => Ok(resp),
                    Err(failure) => Err(Tried::Failed(failure)),
                }
            })
            .await;
        match tried {
            Ok(resp) | Err(Tried::Busy(resp)) => Ok(resp),
            Err(Tried::Failed(failure)) => Err(failure.error),
        }
    }

    /// The auth layer and what is below it, without retries: for steps that retry as a whole
    /// ([`Authenticator::send`] for one authenticated attempt at a request with a replayable
    /// body, [`Authenticator::send_once`] for a body that cannot be sent twice).
    pub(crate) fn authenticated(&self) -> &Authenticator {
        &self.auth
    }

    /// Runs `op` (one request, or a step of several) under the retry policy; see
    /// [`retry::run`]. `registry` and `what` name it in logs and retry notices.
    pub(crate) async fn retry<T, E, F, Fut, W>(
        &self,
        registry: &str,
        what: &W,
        op: F,
    ) -> Result<T, E>
    where
        W: fmt::Display + ?Sized,
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry::run(&self.policy, registry, what, op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use std::time::Duration;

    fn busy(status: u16, retry_after: Option<&str>) -> Tried {
        let mut resp = http::Response::builder().status(status);
        if let Some(after) = retry_after {
            resp = resp.header(reqwest::header::RETRY_AFTER, after);
        }
        Tried::Busy(Response::from(resp.body("").expect("a response")))
    }

    #[test]
    fn busy_answers_wait_as_asked_and_failures_as_classified() {
        assert_eq!(busy(503, None).reason(), RetryReason::Status(503));
        assert_eq!(
            busy(503, Some("2")).retry(),
            Retry::Backoff(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            busy(429, Some("1")).retry(),
            Retry::Backoff(Some(Duration::from_secs(1)))
        );
        // Only 429 and 503 carry a Retry-After worth honouring; the rest back off as computed.
        assert_eq!(busy(502, Some("2")).retry(), Retry::Backoff(None));
        assert_eq!(busy(500, None).retry(), Retry::Backoff(None));
        assert_eq!(
            busy(503, None).to_string(),
            "HTTP status 503 Service Unavailable"
        );
        let refused = Tried::Failed(Failure::fatal(Error::new(ErrorKind::Registry, "x509")));
        assert_eq!(refused.retry(), Retry::Never);
        assert_eq!(refused.to_string(), "x509");
        let reset = Tried::Failed(Failure::transient(
            Error::new(ErrorKind::Registry, "connection reset by peer"),
            None,
        ));
        assert_eq!(reset.retry(), Retry::Backoff(None));
        assert_eq!(
            reset.reason(),
            RetryReason::Failed(Error::new(ErrorKind::Registry, "connection reset by peer"))
        );
    }
}
