//! [`RegistryClient`], the handle every registry operation starts from: it owns the
//! configuration, the [`Router`] that resolves references into [`Route`]s, and the
//! [`Transport`] stack (HTTP pools, scheme and token caches) that the verbs send through.
//! Cloning it shares all of them.
//!
//! This module holds the client and the two ways to a route: [`RegistryClient::write_route`]
//! for writes and [`RegistryClient::first_answer`] for reads that try mirrors first. The verbs
//! themselves are methods added by the `manifests` and `blobs` modules.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use manifold_config::Config;

use super::route::{Access, Route, Router};
use super::transport::retry::Policy;
use super::transport::Transport;
use crate::error::{Error, ErrorKind, Result};
use crate::reference::ImageRef;

/// A registry client; cheap to clone (the HTTP pools, token cache and scheme cache are shared).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    router: Router,
    transport: Transport,
}

/// Errors of the places a read tried before the last one, for the last one's error.
#[derive(Default)]
struct Failures(Vec<Error>);

impl Failures {
    /// The error of the read: the last place's, with every earlier place's message in front,
    /// as containers/image words it.
    fn finish(self, last: Error) -> Error {
        if self.0.is_empty() {
            return last;
        }
        let earlier: Vec<&str> = self.0.iter().map(Error::message).collect();
        last.context(format!("(mirrors also failed: {})", earlier.join("; ")))
    }
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens live in the transport; print nothing of it.
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client with its own connection pools, using `config` for routing, limits and the retry
    /// policy (`push.retries`, `push.retry_backoff_ms`).
    pub fn new(config: Arc<Config>) -> Result<Self> {
        let policy = Policy::from_settings(&config.push);
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                router: Router::new(config.clone()),
                config,
                transport: Transport::new(policy)?,
            }),
        })
    }

    /// The route every write to `image` goes to (the primary location, after rewrites), or a
    /// [`ErrorKind::Forbidden`] error when the configuration does not allow the registry.
    pub async fn write_route(&self, image: &ImageRef, access: &Access<'_>) -> Result<Route> {
        self.inner.router.write_route(image, access).await
    }

    /// Reads `image` from the first place that has it: `read` runs at each read route in order
    /// (mirrors, then the primary location) until one succeeds, and its answer comes back with
    /// the route that gave it. When every place fails, the last one's error is returned with the
    /// others' in front. A place's credential is chosen only when the place is tried.
    pub async fn first_answer<T, F, Fut>(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
        mut read: F,
    ) -> Result<(T, Route)>
    where
        F: FnMut(Route) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let candidates = self
            .inner
            .router
            .read_candidates(image, access.tls_verify)?;
        let mut failures = Failures::default();
        let count = candidates.len();
        let mut last_error = None;
        for (i, c) in candidates.iter().enumerate() {
            let outcome = match self.inner.router.route(c, access).await {
                Ok(route) => read(route.clone()).await.map(|t| (t, route)),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(found) => return Ok(found),
                Err(e) if i + 1 == count => last_error = Some(e),
                Err(e) => {
                    tracing::debug!(place = %c.image, error = %e, "mirror failed; trying the next place");
                    failures.0.push(e);
                }
            }
        }
        Err(failures.finish(last_error.unwrap_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("no place to read {image} from"),
            )
        })))
    }

    /// The scheme (`https` or `http`) this client reached `registry` with, once it has; for
    /// diagnostics and tests.
    pub fn known_scheme(&self, registry: &str, insecure: bool) -> Option<String> {
        self.inner.transport.known_scheme(registry, insecure)
    }

    /// The most bytes a manifest or an image config read into memory may have.
    pub(crate) fn max_manifest_size(&self) -> u64 {
        self.inner.config.limits.max_manifest_size.0
    }

    /// The transport stack every verb sends its requests through.
    pub(super) fn transport(&self) -> &Transport {
        &self.inner.transport
    }
}
