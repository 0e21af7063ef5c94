//! The registry client: the parts of the OCI distribution API manifold needs, as one method per
//! verb on a resolved place.
//!
//! # Resolve once, then act
//!
//! A request names an image and an [`Access`] (the client's credentials, their
//! [`CredentialPolicy`] and its TLS choice). Resolution turns that into [`Route`]s, each one
//! place (the effective reference after the allow-list, prefix rewrites and mirrors; its TLS
//! mode; the credential chosen for it): see `route`. Callers resolve once and keep the route:
//!
//! - a write goes to the one [`RegistryClient::write_route`] (the primary location);
//! - a read goes to [`RegistryClient::first_answer`], which runs the read at each read route in
//!   order (mirrors, then the primary location) until one answers, and returns the answer with
//!   the route that gave it (children and configs are then read at that same route).
//!
//! [`crate::cache::ManifestCache`] serves the two read verbs (`manifest_get`, `blob_get`) from
//! memory where it may, on the same routes.
//!
//! # The verbs
//!
//! Modelled on regclient's scheme interface, each verb is one method taking a resolved route:
//!
//! | verb | method | result |
//! | --- | --- | --- |
//! | manifest HEAD | [`RegistryClient::manifest_head`] | [`ManifestHead`] (digest, media type, size), or `None` |
//! | manifest GET | [`RegistryClient::manifest_get`] | the exact bytes, as a [`RawManifest`] |
//! | manifest PUT | [`RegistryClient::manifest_put`] | the digest written |
//! | blob HEAD | [`RegistryClient::blob_head`] | the size, or `None` |
//! | blob GET | [`RegistryClient::blob_get`] | a small blob's verified bytes |
//! | blob PUT (and mount) | [`RegistryClient::blob_put`] | how the blob got there: [`BlobCopy`] |
//! | tag list | `repository_exists` | whether the repository exists |
//!
//! A blob put takes its bytes from memory or from another route ([`BlobSource`]). From a route
//! on the destination's registry it first tries a cross-repository mount, as regclient's blob
//! put does; otherwise the bytes are streamed source to destination and verified on the way.
//!
//! # Layers below the verbs
//!
//! Every request goes through the `transport` stack, one concern per layer: logging (the HTTP
//! clients), the scheme (ping, HTTPS or for insecure registries HTTP, remembered per registry),
//! authentication (bearer tokens cached per scope and credential, Basic, the one new try after a
//! 401 that teaches something) and retries (the one loop: connection errors, `408`, `429` and
//! `5xx`, with backoff and `Retry-After`, at most `push.retries` times). A single request is
//! retried by that loop alone; a blob copy, whose streamed body cannot be replayed, is retried
//! as a whole step by the same loop, counted the same way.
//!
//! # The submodules
//!
//! - `route` and `configured`: resolution (the allow-list, rewrites, mirrors, the choice of
//!   credential; manifold's configured credentials).
//! - `manifests` and `blobs`: the verbs; `verified`: the checked source stream of a blob put.
//! - `transport`: the layers above.
//! - `challenge`: `WWW-Authenticate` parsing (pure).
//! - `errors`: registry error bodies and transport failures as composer errors, in
//!   containers/image's words.
//! - `content`: size-capped body reads and digest checks.
//! - `tls`: the TLS settings of registry connections (ring named explicitly, so the library needs
//!   no process-wide rustls provider).
//!
//! Client credentials are never stored; configured ones live in the configuration and, for
//! helper answers, briefly in memory; tokens only in memory, keyed by salted hashes.
//!
//! Error texts follow containers/image so that podman clients see familiar messages, e.g.
//! `reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown` (cause `manifest unknown`)
//! or `pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": http: server
//! gave HTTP response to HTTPS client`.

mod blobs;
mod challenge;
mod configured;
mod content;
mod errors;
mod manifests;
mod route;
mod tls;
mod transport;
mod verified;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use manifold_config::Config;

#[cfg(doc)]
use crate::credentials::CredentialPolicy;
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
#[cfg(doc)]
use crate::oci::RawManifest;
use crate::reference::ImageRef;
pub use blobs::{BlobCopy, BlobSource};
pub use manifests::ManifestHead;
use route::Router;
pub use route::{CredentialSource, Route};
use transport::retry::Policy;
use transport::Transport;

/// The credentials and TLS choice of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The request's credentials and their policy; per registry the client's credential for it
    /// or a configured one is used (see [`CredentialPolicy`]).
    pub credentials: &'a Credentials,
    /// The client's `tlsVerify`: `Some(false)` makes the registry insecure, `Some(true)` makes it
    /// secure even when the configuration marks it insecure, `None` defers to the configuration.
    pub tls_verify: Option<bool>,
}

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci;
    use bytes::Bytes;

    #[test]
    fn debug_prints_nothing_inside() {
        let config = Arc::new(test_config());
        let client = RegistryClient::new(config).expect("client");
        assert_eq!(format!("{client:?}"), "RegistryClient { .. }");
    }

    fn test_config() -> Config {
        Config::from_file(
            manifold_config::FileConfig::default(),
            "<test>",
            &manifold_config::Overrides::default(),
            &manifold_config::Environment::default(),
        )
        .unwrap_or_else(|e| panic!("config: {e:?}"))
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_and_futures_can_cross_threads() {
        fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        send_sync_clone::<RegistryClient>();
        let client = RegistryClient::new(Arc::new(test_config())).expect("client");
        let creds = Credentials::anonymous();
        let access = Access {
            credentials: &creds,
            tls_verify: None,
        };
        let image = ImageRef::parse("127.0.0.1:1/app:v1").expect("reference");
        // Built, checked for Send, dropped unpolled: no I/O happens.
        assert_send(&client.write_route(&image, &access));
        assert_send(&client.first_answer(&image, &access, |route| {
            let client = &client;
            async move { client.manifest_get(&route).await }
        }));
        let route = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(client.write_route(&image, &access))
            .expect("a route for an allowed registry");
        assert_send(&client.manifest_head(&route));
        assert_send(&client.manifest_put(&route, Bytes::from_static(b"{}"), oci::OCI_INDEX));
        assert_send(&client.repository_exists(&route));
        assert_send(&client.blob_head(&route, "sha256:00"));
        assert_send(&client.blob_get(&route, "sha256:00"));
        assert_send(&client.blob_put(&route, "sha256:00", 1, BlobSource::Route(&route), false));
        let memory = BlobSource::Memory {
            bytes: Bytes::from_static(b"{}"),
            from: &image,
        };
        assert_send(&client.blob_put(&route, "sha256:00", 2, memory, true));
    }

    #[test]
    fn tls_verify_overrides_configuration() {
        let mut config = test_config();
        config.registries.push(manifold_config::RegistryEntry {
            location: "127.0.0.1:5000".into(),
            insecure: true,
            ..Default::default()
        });
        // 127.0.0.1:5001 has no entry: reachable, and secure unless the client says otherwise.
        config.allow_unlisted_registries = true;
        let client = RegistryClient::new(Arc::new(config)).expect("client");
        let is_insecure = |reference: &str, tls_verify: Option<bool>| {
            let image = ImageRef::parse(reference).expect("reference");
            let router = &client.inner.router;
            let read = router.read_candidates(&image, tls_verify).expect("allowed");
            let write = router.write_candidate(&image, tls_verify).expect("allowed");
            let modes: Vec<bool> = read.iter().chain([&write]).map(|c| c.insecure).collect();
            assert_eq!(
                modes.len(),
                2,
                "{reference}: one place to read, one to write"
            );
            assert!(
                modes.iter().all(|&m| m == modes[0]),
                "{reference}: {modes:?}"
            );
            modes[0]
        };
        assert!(is_insecure("127.0.0.1:5000/app", None));
        assert!(is_insecure("127.0.0.1:5000/app", Some(false)));
        assert!(!is_insecure("127.0.0.1:5000/app", Some(true)));
        assert!(!is_insecure("127.0.0.1:5001/app", None));
        assert!(is_insecure("127.0.0.1:5001/app", Some(false)));
    }
}
