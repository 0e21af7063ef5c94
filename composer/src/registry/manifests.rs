//! The manifest verbs: HEAD, GET and PUT of a manifest at a resolved route, and the tag list
//! that tells whether a repository exists (`docs/registry-protocol.md#manifests`,
//! `docs/registry-protocol.md#repository-existence`).

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::client::RegistryClient;
use super::route::Route;
use super::transport::Target;
use super::{content, errors};
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{self, RawManifest};

/// What a manifest HEAD tells: enough to know a manifest without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

impl ManifestHead {
    /// What a HEAD of `manifest` would tell.
    pub(crate) fn of(manifest: &RawManifest) -> Self {
        ManifestHead {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            size: manifest.bytes.len() as u64,
        }
    }
}

/// The registry's `Docker-Content-Digest` header.
const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

fn header_str(resp: &Response, name: HeaderName) -> Option<String> {
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

/// Asks for every type in [`oci::ACCEPTED_MANIFEST_TYPES`], one header per type, as
/// containers/image sends them.
fn accept_manifests(request: RequestBuilder) -> RequestBuilder {
    oci::ACCEPTED_MANIFEST_TYPES
        .iter()
        .fold(request, |r, t| r.header(ACCEPT, *t))
}

/// `/v2/<repository>/manifests/<tag or digest>` of the route.
fn manifest_path(route: &Route) -> String {
    let image = route.image();
    format!("/v2/{}/manifests/{}", image.repository, image.reference())
}

/// The context of a read's errors: `reading manifest REFERENCE in REGISTRY/REPOSITORY`.
fn reading(route: &Route) -> String {
    let image = route.image();
    format!("reading manifest {} in {}", image.reference(), image.name())
}

impl RegistryClient {
    /// GETs the manifest the route names, by tag or digest, asking for every type in
    /// [`oci::ACCEPTED_MANIFEST_TYPES`]. The bytes are kept exactly; a digest reference is
    /// verified against them; more than `limits.max_manifest_size` is refused.
    pub async fn manifest_get(&self, route: &Route) -> Result<RawManifest> {
        let context = reading(route);
        let mut resp = self.manifest_request(route, Method::GET).await?;
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let content_type = header_str(&resp, CONTENT_TYPE);
        let bytes = content::read_capped(&mut resp, self.max_manifest_size())
            .await
            .map_err(|e| e.context(&context))?;
        if let Some(digest) = &route.image().digest {
            content::verify(digest, &bytes, "manifest").map_err(|e| e.context(&context))?;
        }
        RawManifest::new(bytes, content_type.as_deref()).map_err(|e| e.context(&context))
    }

    /// HEADs the manifest the route names: what it is, or `None` when the registry says 404
    /// (unknown tag, digest or repository).
    ///
    /// The digest is the registry's `Docker-Content-Digest`; a registry that does not send it
    /// (or sends a digest that is not sha256 for a tag), or leaves the type or size out, costs
    /// one GET to compute it.
    pub async fn manifest_head(&self, route: &Route) -> Result<Option<ManifestHead>> {
        let resp = self.manifest_request(route, Method::HEAD).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(reading(route)));
        }
        let digest = header_str(&resp, DOCKER_CONTENT_DIGEST)
            .filter(|d| oci::validate_digest(d).is_ok() && d.starts_with("sha256:"));
        let media_type = header_str(&resp, CONTENT_TYPE).map(|c| media_type_of(&c));
        let size = content::declared_length(&resp);
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size))
                if media_type != "application/json" && media_type != "text/plain" =>
            {
                Ok(Some(ManifestHead {
                    digest,
                    media_type,
                    size,
                }))
            }
            // Something is missing or generic: the bytes tell.
            _ => {
                drop(resp);
                let m = self.manifest_get(route).await?;
                Ok(Some(ManifestHead::of(&m)))
            }
        }
    }

    /// PUTs a manifest at the route, exactly `bytes` with `Content-Type: media_type`, by tag or
    /// digest (the route's `reference()`). Returns the digest the registry reports
    /// (`Docker-Content-Digest`), or the sha256 of the bytes when it reports none. A digest
    /// reference is checked against the bytes before anything is sent. Transient failures are
    /// retried under the push policy.
    ///
    /// Errors read `writing manifest REFERENCE to REGISTRY/REPOSITORY: CAUSE`, with the registry's
    /// words as cause (`manifest blob unknown: blob unknown to registry`).
    pub async fn manifest_put(
        &self,
        route: &Route,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<String> {
        let dest = route.image();
        let context = format!("writing manifest {} to {}", dest.reference(), dest.name());
        if let Some(digest) = &dest.digest {
            content::verify(digest, &bytes, "manifest").map_err(|e| e.context(&context))?;
        }
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid manifest media type {media_type:?}"),
            )
            .context(&context)
        })?;
        let resp = self
            .transport()
            .send(
                &Target::push(route),
                Method::PUT,
                &manifest_path(route),
                |request| {
                    // `Bytes` clones share the buffer, so a retry re-sends the same bytes
                    // cheaply.
                    request
                        .header(CONTENT_TYPE, content_type.clone())
                        .body(bytes.clone())
                },
            )
            .await
            .map_err(|e| e.context(&context))?;
        if !resp.status().is_success() {
            return Err(errors::from_response(resp).await.context(&context));
        }
        let computed = oci::sha256_digest(&bytes);
        let reported =
            header_str(&resp, DOCKER_CONTENT_DIGEST).filter(|d| oci::validate_digest(d).is_ok());
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

    /// A GET or HEAD of the manifest the route names, asking for every accepted type.
    async fn manifest_request(&self, route: &Route, method: Method) -> Result<Response> {
        self.transport()
            .send(
                &Target::pull(route),
                method,
                &manifest_path(route),
                accept_manifests,
            )
            .await
    }

    /// Whether the route's repository exists: `GET /v2/<repo>/tags/list?n=1` answers 404
    /// (`NAME_UNKNOWN`) for a repository the registry has never seen. A push uses it to skip
    /// checking each blob of a brand-new repository. Any answer other than 404 counts as
    /// "exists", so a registry that does not answer the question is simply checked blob by blob.
    pub(crate) async fn repository_exists(&self, route: &Route) -> Result<bool> {
        let repo = route.image();
        let path = format!("/v2/{}/tags/list?n=1", repo.repository);
        let resp = self
            .transport()
            .send(&Target::pull(route), Method::GET, &path, |request| request)
            .await
            .map_err(|e| e.context(format!("listing the tags of {}", repo.name())))?;
        Ok(resp.status() != StatusCode::NOT_FOUND)
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
}
