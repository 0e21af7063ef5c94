//! The registry client: the parts of the OCI distribution API manifold needs.
//!
//! [`RegistryClient`] reads manifests and image configs (and, next, writes blobs and
//! manifests) with credentials passed per call in an [`Access`]; it keeps nothing of them
//! except salted hashes as token-cache keys. The submodules each do one job:
//!
//! - [`challenge`]: `WWW-Authenticate` parsing (pure).
//! - `token`: bearer token requests and the token cache.
//! - `transport`: scheme selection (HTTPS, or for insecure registries HTTP fallback), the ping,
//!   authentication and the one retry after a 401.
//! - `errors`: registry error bodies and transport failures as composer errors, in
//!   containers/image's words.
//! - `content`: size-capped body reads and digest checks.
//!
//! Error texts follow containers/image so that podman clients see familiar messages, e.g.
//! `reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown` (cause `manifest unknown`)
//! or `pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": http: server
//! gave HTTP response to HTTPS client`.

pub mod challenge;
mod content;
mod errors;
mod token;
mod transport;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use manifold_config::Config;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use crate::credentials::Credentials;
use crate::error::Result;
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
    /// A client with its own connection pools, using `config` for insecure registries and
    /// limits. Installs rustls' ring provider if the program has not installed one.
    pub fn new(config: Arc<Config>) -> Result<Self> {
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                config,
                transport: Transport::new()?,
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
