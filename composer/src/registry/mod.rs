//! The registry client: the parts of the OCI distribution API manifold needs.
//!
//! [`RegistryClient`] reads manifests and image configs, and on the push side checks for blobs,
//! copies blobs registry to registry (mount or stream) and writes manifests, with credentials
//! passed per call in an [`Access`]; it keeps nothing of them except salted hashes as token-cache
//! keys. The submodules each do one job:
//!
//! - [`challenge`]: `WWW-Authenticate` parsing (pure).
//! - `token`: bearer token requests and the token cache.
//! - `transport`: scheme selection (HTTPS, or for insecure registries HTTP fallback), the ping,
//!   authentication, the retry after a 401 and retries of transient failures.
//! - `retry`: the retry policy (`push.retries`, `push.retry_backoff_ms`), `Retry-After`, and
//!   whole-step retries.
//! - `blobs`: blob existence checks and blob copies (cross-repository mount, or a verified
//!   GET-to-PUT stream).
//! - `errors`: registry error bodies and transport failures as composer errors, in
//!   containers/image's words.
//! - `content`: size-capped body reads and digest checks.
//!
//! Every request is retried on connection errors, `408`, `429` and `5xx` (see `retry`), and a
//! bearer token the registry refuses is replaced once by a fresh one.
//!
//! Error texts follow containers/image so that podman clients see familiar messages, e.g.
//! `reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown` (cause `manifest unknown`)
//! or `pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": http: server
//! gave HTTP response to HTTPS client`.

mod blobs;
pub mod challenge;
mod content;
mod errors;
mod retry;
mod token;
mod transport;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use manifold_config::Config;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{self, RawManifest};
use crate::reference::ImageRef;
use transport::{Target, Transport};

/// The credentials and TLS choice of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The request's credentials; the one for the image's registry is used.
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
    transport: Transport,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens live in the transport; print nothing of it.
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

/// `repository:NAME:pull`, the scope every read needs.
fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// `repository:NAME:pull,push`, the scope of every write (uploads need pull as well).
fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// How [`RegistryClient::copy_blob`] got a blob into the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobCopy {
    /// The registry linked the blob from the source repository (cross-repository mount); no
    /// bytes moved.
    Mounted,
    /// The bytes were streamed from the source into the destination and verified on the way.
    Uploaded,
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
    /// and the retry policy (`push.retries`, `push.retry_backoff_ms`). Installs rustls' ring
    /// provider if the program has not installed one.
    pub fn new(config: Arc<Config>) -> Result<Self> {
        let policy = retry::Policy::from_settings(&config.push);
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                config,
                transport: Transport::new(policy)?,
            }),
        })
    }

    /// True when `registry/repository` may be reached without certificate verification or over
    /// plain HTTP: the client's `tls_verify` when given, otherwise the configuration's
    /// `[[registry]] insecure` (the way containers/image lets `--tls-verify` override
    /// registries.conf).
    pub fn is_insecure(&self, registry: &str, repository: &str, tls_verify: Option<bool>) -> bool {
        match tls_verify {
            Some(verify) => !verify,
            None => self
                .inner
                .config
                .registry_entry(registry, repository)
                .is_some_and(|e| e.insecure),
        }
    }

    /// The scheme (`https` or `http`) this client reached `registry` with, once it has; for
    /// diagnostics and tests.
    pub fn known_scheme(&self, registry: &str, insecure: bool) -> Option<String> {
        self.inner.transport.known_scheme(registry, insecure)
    }

    fn max_manifest_size(&self) -> u64 {
        self.inner.config.limits.max_manifest_size.0
    }

    fn pull_target<'a>(&self, image: &'a ImageRef, access: &Access<'a>) -> Target<'a> {
        Target {
            registry: &image.registry,
            insecure: self.is_insecure(&image.registry, &image.repository, access.tls_verify),
            auth: access.credentials.for_registry(&image.registry),
            scopes: vec![pull_scope(&image.repository)],
        }
    }

    /// Who a write to `image`'s repository goes to: its registry's credential, scope
    /// `pull,push` on the repository.
    fn push_target<'a>(&self, image: &'a ImageRef, access: &Access<'a>) -> Target<'a> {
        Target {
            registry: &image.registry,
            insecure: self.is_insecure(&image.registry, &image.repository, access.tls_verify),
            auth: access.credentials.for_registry(&image.registry),
            scopes: vec![push_scope(&image.repository)],
        }
    }

    /// GETs a manifest by tag or digest, asking for every type in
    /// [`oci::ACCEPTED_MANIFEST_TYPES`]. The bytes are kept exactly; a digest reference is
    /// verified against them; more than `limits.max_manifest_size` is refused.
    pub async fn get_manifest(&self, image: &ImageRef, access: &Access<'_>) -> Result<RawManifest> {
        let reference = image.reference();
        let context = format!("reading manifest {reference} in {}", image.name());
        let target = self.pull_target(image, access);
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

    /// HEADs a manifest: `Some((digest, media_type, size))`, or `None` when the registry says
    /// 404 (unknown tag, digest or repository).
    ///
    /// The digest is the registry's `Docker-Content-Digest`; a registry that does not send it
    /// (or sends a digest that is not sha256 for a tag) costs one GET to compute it.
    pub async fn head_manifest(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
    ) -> Result<Option<(String, String, u64)>> {
        let reference = image.reference();
        let context = format!("reading manifest {reference} in {}", image.name());
        let target = self.pull_target(image, access);
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
                let m = self.get_manifest(image, access).await?;
                let size = m.bytes.len() as u64;
                Ok(Some((m.digest, m.media_type, size)))
            }
        }
    }

    /// PUTs a manifest, exactly `bytes` with `Content-Type: media_type`, by tag or digest
    /// (`dest.reference()`). Returns the digest the registry reports (`Docker-Content-Digest`),
    /// or the sha256 of the bytes when it reports none. A digest reference is checked against
    /// the bytes before anything is sent. Transient failures are retried under the push policy.
    ///
    /// Errors read `writing manifest REFERENCE to REGISTRY/REPOSITORY: CAUSE`, with the registry's
    /// words as cause (`manifest blob unknown: blob unknown to registry`).
    pub async fn put_manifest(
        &self,
        dest: &ImageRef,
        bytes: Bytes,
        media_type: &str,
        access: &Access<'_>,
    ) -> Result<String> {
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
        let target = self.push_target(dest, access);
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

    /// GETs a small blob (an image config) into memory, verifying its digest and refusing more
    /// than `limits.max_manifest_size`.
    pub async fn get_blob(
        &self,
        image: &ImageRef,
        digest: &str,
        access: &Access<'_>,
    ) -> Result<Bytes> {
        oci::validate_digest(digest)?;
        let context = format!("reading blob {digest} in {}", image.name());
        let target = self.pull_target(image, access);
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
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = RegistryClient::new(config).expect("client");
        assert_eq!(format!("{client:?}"), "RegistryClient { .. }");
    }

    fn test_config() -> Config {
        Config::from_file(
            manifold_config::FileConfig::default(),
            "<test>",
            &manifold_config::Overrides::default(),
            &manifold_config::Environment {
                is_root: false,
                xdg_runtime_dir: None,
                xdg_data_home: None,
                home: None,
            },
        )
        .unwrap_or_else(|e| panic!("config: {e:?}"))
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_and_futures_can_cross_threads() {
        fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        send_sync_clone::<RegistryClient>();
        let _ = rustls::crypto::ring::default_provider().install_default();
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
        assert_send(&client.blob_exists(&image, "sha256:00", &access));
        assert_send(&client.copy_blob(&image, &image, "sha256:00", 1, &access, &access));
        assert_send(&client.put_manifest(
            &image,
            Bytes::from_static(b"{}"),
            oci::OCI_INDEX,
            &access,
        ));
    }

    #[test]
    fn tls_verify_overrides_configuration() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = test_config();
        config.registries.push(manifold_config::RegistryEntry {
            location: "127.0.0.1:5000".into(),
            insecure: true,
        });
        let client = RegistryClient::new(Arc::new(config)).expect("client");
        assert!(client.is_insecure("127.0.0.1:5000", "app", None));
        assert!(client.is_insecure("127.0.0.1:5000", "app", Some(false)));
        assert!(!client.is_insecure("127.0.0.1:5000", "app", Some(true)));
        assert!(!client.is_insecure("127.0.0.1:5001", "app", None));
        assert!(client.is_insecure("127.0.0.1:5001", "app", Some(false)));
    }
}
