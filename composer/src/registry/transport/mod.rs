//! Sending requests to a registry, in layers with one concern each, stacked the way
//! go-containerregistry's `remote/transport` stacks its round-trippers:
//!
//! - [`log`], at the bottom: the HTTP clients (verified and unverified TLS, with the settings of
//!   the registry's `tls` module) and a debug line for every request sent.
//! - [`scheme`]: where a registry's API is. The first request to a registry pings it to learn
//!   the scheme that works (HTTPS; for insecure registries unverified HTTPS, then HTTP) and its
//!   `WWW-Authenticate` challenges; a connection failure makes it be pinged again.
//! - [`auth`]: credentials on every request to the registry's own origin (a bearer token from
//!   [`token`]'s cache, or Basic), and the one new try after a 401 that teaches something (a
//!   refused cached token, a resource that needs authentication the ping did not ask for).
//! - [`retry`], on top: the one retry loop. Transient failures (connection errors, `408`, `429`,
//!   `5xx`) are retried with backoff, at most `push.retries` times, honouring `Retry-After`.
//!
//! [`Transport::send`] runs a request with a replayable body through all of them. A step made
//! of several requests (a blob copy: upload session, source GET, streamed PUT) takes single
//! authenticated attempts from the layers below the retries ([`Transport::authenticated`]) and
//! is retried as a whole by the same loop ([`Transport::retry`]).
//!
//! Credentials only ever travel in the `Authorization` header of the one request that needs
//! them; nothing here stores them. reqwest drops that header on redirects to another host, port
//! or scheme (blob downloads are often redirected to storage), and that is relied on; absolute
//! URLs the registry hands out (upload `Location`s) get credentials only on the registry's own
//! origin.

mod auth;
mod log;
pub(crate) mod retry;
mod scheme;
mod token;

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use reqwest::{Method, RequestBuilder, Response, Url};

use super::route::Route;
use crate::credentials::Auth;
use crate::error::Result;
pub(crate) use auth::Authenticator;
use log::Http;
use retry::{Failure, Policy, Retry, Transient};
use scheme::Schemes;

/// Who a request goes to, with what credential, needing which token scopes.
pub(crate) struct Target<'a> {
    /// The registry as named in the reference (`docker.io`, `127.0.0.1:5001`).
    pub registry: &'a str,
    /// Unverified TLS, then plain HTTP, are allowed.
    pub insecure: bool,
    /// The credential for this registry, if the request has one.
    pub auth: Option<&'a Auth>,
    /// Token scopes: `repository:NAME:pull` (and later `...:pull,push`).
    pub scopes: Vec<String>,
}

impl<'a> Target<'a> {
    /// A read of the route's repository: scope `pull` on it.
    pub(crate) fn pull(route: &'a Route) -> Self {
        Self::at(route, vec![pull_scope(&route.image().repository)])
    }

    /// A write to the route's repository: scope `pull,push` on it (uploads need pull as well).
    pub(crate) fn push(route: &'a Route) -> Self {
        Self::at(route, vec![push_scope(&route.image().repository)])
    }

    /// A cross-repository mount into the route's repository from `from` on the same registry:
    /// one token for both, because the registry checks pull on `from` and push on the
    /// destination in the same request.
    pub(crate) fn mount(route: &'a Route, from: &str) -> Self {
        Self::at(
            route,
            vec![pull_scope(from), push_scope(&route.image().repository)],
        )
    }

    fn at(route: &'a Route, scopes: Vec<String>) -> Self {
        Target {
            registry: &route.image().registry,
            insecure: route.insecure(),
            auth: route.auth(),
            scopes,
        }
    }
}

/// `repository:NAME:pull`, the scope every read needs.
fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// `repository:NAME:pull,push`, the scope of every write.
fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// Where a request goes.
#[derive(Clone, Copy)]
pub(crate) enum Dest<'a> {
    /// A path (and query) on the registry's API, starting `/v2/`.
    Path(&'a str),
    /// An absolute URL the registry handed out, such as an upload `Location`; it may point to
    /// another host (blob storage), which then gets no credentials.
    Url(&'a Url),
}

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
        let what = format!("{method} {path} at {}", target.registry);
        let (method, build) = (&method, &build);
        let tried = self
            .retry(&what, move || async move {
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
    /// [`retry::run`]. `what` names it in logs.
    pub(crate) async fn retry<T, E, F, Fut>(&self, what: &str, op: F) -> Result<T, E>
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry::run(&self.policy, what, op).await
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
    }
}
