//! The registry client: the parts of the OCI distribution API manifold needs.
//!
//! [`RegistryClient`] reads manifests and image configs, and on the push side checks for blobs,
//! copies blobs registry to registry (mount or stream) and writes manifests. A request names an
//! image and an [`Access`] (the client's credentials, their [`CredentialPolicy`] and its TLS
//! choice); the client first resolves that to [`Route`]s (see [`route`]): the allow-list, prefix
//! rewrites, mirrors, TLS mode and the credential for each place. Methods ending in `_at` take
//! a route that was resolved already (the cache and push resolve once and keep it). Client
//! credentials are never stored; configured ones live in the configuration and, for helper
//! answers, briefly in memory; tokens only in memory, keyed by salted hashes. The submodules
//! each do one job:
//!
//! - [`route`]: the allow-list, rewrites, mirrors and the choice of credential (the one place
//!   every request is resolved).
//! - `configured`: manifold's configured credentials (`[registry.credentials]`,
//!   `credential_helper`, `auth_file`).
//! - [`challenge`]: `WWW-Authenticate` parsing (pure).
//! - `transport`: requests in layers, one concern each: logging (the HTTP clients), the scheme
//!   (the ping, HTTPS or for insecure registries HTTP fallback), authentication (tokens, the retry
//!   after a 401) and the one retry loop (`push.retries`, `push.retry_backoff_ms`,
//!   `Retry-After`), for single requests and whole steps alike.
//! - `blobs`: blob existence checks and blob copies (cross-repository mount, or a verified
//!   GET-to-PUT stream); `verified`: the check of that stream on its way.
//! - `errors`: registry error bodies and transport failures as composer errors, in
//!   containers/image's words.
//! - `content`: size-capped body reads and digest checks.
//! - `tls`: the TLS settings of registry connections (ring named explicitly, so the library needs
//!   no process-wide rustls provider).
//!
//! Every request is retried on connection errors, `408`, `429` and `5xx` (see `transport`), and a
//! bearer token the registry refuses is replaced once by a fresh one.
//!
//! Error texts follow containers/image so that podman clients see familiar messages, e.g.
//! `reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown` (cause `manifest unknown`)
//! or `pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": http: server
//! gave HTTP response to HTTPS client`.

mod blobs;
pub mod challenge;
mod configured;
mod content;
mod errors;
pub mod route;
mod tls;
mod transport;
mod verified;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use manifold_config::Config;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

#[cfg(doc)]
use crate::credentials::CredentialPolicy;
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{self, RawManifest};
use crate::reference::ImageRef;
use route::{Candidate, Router};
pub use route::{CredentialSource, Route};
use transport::{Target, Transport};

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

/// One attempt at one place, for [`RegistryClient::first_answer`].
pub(crate) type AttemptFuture<'a, T> = Pin<Box<dyn Future<Output = Result<Option<T>>> + Send + 'a>>;

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

/// The error of a blob that no place (primary or mirror) has.
pub(crate) fn blob_unknown(digest: &str) -> Error {
    Error::new(
        ErrorKind::RegistryNotFound,
        format!("{digest}: blob unknown"),
    )
}

/// How [`RegistryClient::copy_blob`] got a blob into the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobCopy {
    /// The registry linked the blob from the source repository (cross-repository mount); no
    /// bytes moved.
    Mounted,
    /// The bytes were streamed from the source into the destination and verified on the way.
    Uploaded,
    /// The destination already had it ([`RegistryClient::copy_blob_if_missing`]); nothing moved.
    Present,
}

fn header_str(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)?
        .to_str()
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The media type from a Content-Type header, without parameters.
fn media_type_of(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

impl RegistryClient {
    /// A client with its own connection pools, using `config` for insecure registries, limits
    /// and the retry policy (`push.retries`, `push.retry_backoff_ms`).
    pub fn new(config: Arc<Config>) -> Result<Self> {
        let policy = transport::retry::Policy::from_settings(&config.push);
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                router: Router::new(config.clone()),
                config,
                transport: Transport::new(policy)?,
            }),
        })
    }

    /// The route of one candidate place: its credential chosen under the request's policy.
    pub(crate) async fn route(&self, candidate: &Candidate, access: &Access<'_>) -> Result<Route> {
        self.inner.router.route(candidate, access).await
    }

    /// The effective reference a write to `image` goes to (after rewrites), without choosing a
    /// credential: the place the cache keys what manifold writes there by.
    pub(crate) fn write_image(&self, image: &ImageRef) -> Result<ImageRef> {
        let candidate = self.inner.router.write_candidate(image, None)?;
        Ok(candidate.image)
    }

    /// The route every write to `image` goes to (the primary location, after rewrites), or a
    /// [`ErrorKind::Forbidden`] error when the configuration does not allow the registry.
    pub async fn write_route(&self, image: &ImageRef, access: &Access<'_>) -> Result<Route> {
        self.inner.router.write_route(image, access).await
    }

    /// Reads `image` from the first place that has it: `attempt` runs for each read route in
    /// order until one answers `Some`; `None` (the place does not have it) and errors move on
    /// to the next place. The last place's `None` is the answer; when every place fails, the
    /// last one's error is returned with the others' in front.
    pub(crate) async fn first_answer<'a, T>(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
        mut attempt: impl FnMut(Route) -> AttemptFuture<'a, T>,
    ) -> Result<Option<(T, Route)>> {
        let candidates = self
            .inner
            .router
            .read_candidates(image, access.tls_verify)?;
        let mut failures = Failures::default();
        let count = candidates.len();
        let mut last_error = None;
        for (i, c) in candidates.iter().enumerate() {
            let is_last = i + 1 == count;
            let outcome = match self.route(c, access).await {
                Ok(route) => attempt(route.clone()).await.map(|t| t.map(|t| (t, route))),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) if is_last => return Ok(None),
                Ok(None) => {}
                Err(e) if is_last => last_error = Some(e),
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

    /// [`RegistryClient::get_manifest_at`] at the first read route that answers (mirrors, then
    /// the primary location).
    pub async fn get_manifest(&self, image: &ImageRef, access: &Access<'_>) -> Result<RawManifest> {
        let found = self
            .first_answer(image, access, |route| {
                Box::pin(async move { self.get_manifest_at(&route).await.map(Some) })
            })
            .await?;
        found.map(|(m, _)| m).ok_or_else(|| {
            Error::new(
                ErrorKind::RegistryNotFound,
                format!("{image}: manifest unknown"),
            )
        })
    }

    /// GETs a manifest by tag or digest from the route's place, asking for every type in
    /// [`oci::ACCEPTED_MANIFEST_TYPES`]. The bytes are kept exactly; a digest reference is
    /// verified against them; more than `limits.max_manifest_size` is refused.
    pub async fn get_manifest_at(&self, route: &Route) -> Result<RawManifest> {
        let image = route.image();
        let reference = image.reference();
        let context = format!("reading manifest {reference} in {}", image.name());
        let target = Target::pull(route);
        let path = format!("/v2/{}/manifests/{reference}", image.repository);
        let mut resp = self
            .inner
            .transport
            .send(&target, Method::GET, &path, |request| {
                // One header per type, as containers/image sends them.
                oci::ACCEPTED_MANIFEST_TYPES
                    .iter()
                    .fold(request, |r, t| r.header(ACCEPT, *t))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let content_type = header_str(&resp, CONTENT_TYPE);
        let bytes = content::read_capped(&mut resp, self.max_manifest_size())
            .await
            .map_err(|e| e.context(&context))?;
        if let Some(digest) = &image.digest {
            content::verify(digest, &bytes, "manifest").map_err(|e| e.context(&context))?;
        }
        RawManifest::new(bytes, content_type.as_deref()).map_err(|e| e.context(&context))
    }

    /// [`RegistryClient::head_manifest_at`] at `image`'s primary location (after rewrites),
    /// never a mirror: existence checks answer what a push destination has.
    pub async fn head_manifest(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
    ) -> Result<Option<(String, String, u64)>> {
        let route = self.write_route(image, access).await?;
        self.head_manifest_at(&route).await
    }

    /// HEADs a manifest at the route's place: `Some((digest, media_type, size))`, or `None`
    /// when the registry says 404 (unknown tag, digest or repository).
    ///
    /// The digest is the registry's `Docker-Content-Digest`; a registry that does not send it
    /// (or sends a digest that is not sha256 for a tag) costs one GET to compute it.
    pub async fn head_manifest_at(&self, route: &Route) -> Result<Option<(String, String, u64)>> {
        let image = route.image();
        let reference = image.reference();
        let context = format!("reading manifest {reference} in {}", image.name());
        let target = Target::pull(route);
        let path = format!("/v2/{}/manifests/{reference}", image.repository);
        let resp = self
            .inner
            .transport
            .send(&target, Method::HEAD, &path, |request| {
                oci::ACCEPTED_MANIFEST_TYPES
                    .iter()
                    .fold(request, |r, t| r.header(ACCEPT, *t))
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let digest = header_str(
            &resp,
            reqwest::header::HeaderName::from_static("docker-content-digest"),
        )
        .filter(|d| oci::validate_digest(d).is_ok() && d.starts_with("sha256:"));
        let media_type = header_str(&resp, CONTENT_TYPE).map(|c| media_type_of(&c));
        let size = content::declared_length(&resp);
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size))
                if media_type != "application/json" && media_type != "text/plain" =>
            {
                Ok(Some((digest, media_type, size)))
            }
            // Something is missing or generic: the bytes tell.
            _ => {
                drop(resp);
                let m = self.get_manifest_at(route).await?;
                let size = m.bytes.len() as u64;
                Ok(Some((m.digest, m.media_type, size)))
            }
        }
    }

    /// Whether the route's repository exists: `GET /v2/<repo>/tags/list?n=1` answers 404
    /// (`NAME_UNKNOWN`) for a repository the registry has never seen. A push uses it to skip
    /// checking each blob of a brand-new repository. Any answer other than 404 counts as
    /// "exists", so a registry that does not answer the question is simply checked blob by blob.
    pub async fn repository_exists_at(&self, route: &Route) -> Result<bool> {
        let repo = route.image();
        let target = Target::pull(route);
        let path = format!("/v2/{}/tags/list?n=1", repo.repository);
        let resp = self
            .inner
            .transport
            .send(&target, Method::GET, &path, |request| request)
            .await
            .map_err(|e| e.context(format!("listing the tags of {}", repo.name())))?;
        Ok(resp.status() != StatusCode::NOT_FOUND)
    }

    /// [`RegistryClient::put_manifest_at`] at `dest`'s write route.
    pub async fn put_manifest(
        &self,
        dest: &ImageRef,
        bytes: Bytes,
        media_type: &str,
        access: &Access<'_>,
    ) -> Result<String> {
        let route = self.write_route(dest, access).await?;
        self.put_manifest_at(&route, bytes, media_type).await
    }

    /// PUTs a manifest, exactly `bytes` with `Content-Type: media_type`, by tag or digest
    /// (the route's `reference()`). Returns the digest the registry reports
    /// (`Docker-Content-Digest`), or the sha256 of the bytes when it reports none. A digest
    /// reference is checked against the bytes before anything is sent. Transient failures are
    /// retried under the push policy.
    ///
    /// Errors read `writing manifest REFERENCE to REGISTRY/REPOSITORY: CAUSE`, with the registry's
    /// words as cause (`manifest blob unknown: blob unknown to registry`).
    pub async fn put_manifest_at(
        &self,
        route: &Route,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<String> {
        let dest = route.image();
        let reference = dest.reference();
        let context = format!("writing manifest {reference} to {}", dest.name());
        if let Some(digest) = &dest.digest {
            content::verify(digest, &bytes, "manifest").map_err(|e| e.context(&context))?;
        }
        let content_type = reqwest::header::HeaderValue::from_str(media_type).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid manifest media type {media_type:?}"),
            )
            .context(&context)
        })?;
        let target = Target::push(route);
        let path = format!("/v2/{}/manifests/{reference}", dest.repository);
        let resp = self
            .inner
            .transport
            .send(&target, Method::PUT, &path, |request| {
                // `Bytes` clones share the buffer, so a retry re-sends the same bytes cheaply.
                request
                    .header(CONTENT_TYPE, content_type.clone())
                    .body(bytes.clone())
            })
            .await
            .map_err(|e| e.context(&context))?;
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let computed = oci::sha256_digest(&bytes);
        let reported = header_str(
            &resp,
            reqwest::header::HeaderName::from_static("docker-content-digest"),
        )
        .filter(|d| oci::validate_digest(d).is_ok());
        match reported {
            Some(d) => {
                if d.starts_with("sha256:") && d != computed {
                    tracing::warn!(reported = %d, computed = %computed, "registry reports another digest for the manifest written");
                }
                Ok(d)
            }
            None => Ok(computed),
        }
    }

    /// [`RegistryClient::get_blob_at`] at the first read route of `image` that answers.
    pub async fn get_blob(
        &self,
        image: &ImageRef,
        digest: &str,
        access: &Access<'_>,
    ) -> Result<Bytes> {
        oci::validate_digest(digest)?;
        let found = self
            .first_answer(image, access, |route| {
                Box::pin(async move { self.get_blob_at(&route, digest).await.map(Some) })
            })
            .await?;
        found.map(|(b, _)| b).ok_or_else(|| blob_unknown(digest))
    }

    /// GETs a small blob (an image config) of the route's repository into memory, verifying its
    /// digest and refusing more than `limits.max_manifest_size`.
    pub async fn get_blob_at(&self, route: &Route, digest: &str) -> Result<Bytes> {
        oci::validate_digest(digest)?;
        let image = route.image();
        let context = format!("reading blob {digest} in {}", image.name());
        let target = Target::pull(route);
        let path = format!("/v2/{}/blobs/{digest}", image.repository);
        let mut resp = self
            .inner
            .transport
            .send(&target, Method::GET, &path, |request| request)
            .await?;
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let bytes = content::read_capped(&mut resp, self.max_manifest_size())
            .await
            .map_err(|e| e.context(&context))?;
        content::verify(digest, &bytes, "blob").map_err(|e| e.context(&context))?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_lose_parameters() {
        assert_eq!(
            media_type_of("application/json; charset=utf-8"),
            "application/json"
        );
        assert_eq!(media_type_of(oci::OCI_INDEX), oci::OCI_INDEX);
    }

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
        assert_send(&client.get_manifest(&image, &access));
        assert_send(&client.head_manifest(&image, &access));
        assert_send(&client.get_blob(&image, "sha256:00", &access));
        assert_send(&client.write_route(&image, &access));
        let route = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(client.write_route(&image, &access))
            .expect("a route for an allowed registry");
        assert_send(&client.blob_exists_at(&route, "sha256:00"));
        assert_send(&client.copy_blob(&image, &route, "sha256:00", 1, &access));
        let config = Bytes::from_static(b"{}");
        assert_send(&client.write_blob(&image, &route, "sha256:00", config, false));
        assert_send(&client.put_manifest(
            &image,
            Bytes::from_static(b"{}"),
            oci::OCI_INDEX,
            &access,
        ));
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
