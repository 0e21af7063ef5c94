//! The blob verbs: HEAD and GET of a blob at a resolved route, and PUT (with mount) of a blob into
//! a destination route, registry to registry or from memory (`docs/registry-protocol.md#blobs`,
//! `docs/registry-protocol.md#cross-repository-mount`).
//!
//! A put from a route on the destination's registry first tries a cross-repository mount (`POST
//! /v2/<dest>/blobs/uploads/?mount=<digest>&from=<source>`) with one token that carries `pull` on
//! the source and `pull,push` on the destination. `201` means mounted. `202` means the registry
//! declined but opened an upload session, which the put then uses. Any other refusal (a `401`
//! because the credentials cannot pull the source, a `404`, ...) falls back to a plain upload.
//!
//! A put otherwise streams: `POST uploads/` for a session, `GET` the source blob, and one
//! monolithic `PUT <location>?digest=` whose body is the GET's body, chunk by chunk, with
//! `Content-Length` set (some storage back ends refuse chunked transfer encoding on a PUT). Nothing
//! is buffered beyond the chunk in flight plus one held back, nothing goes to disk: the stream is
//! verified on its way (see `verified`), and a mismatch fails the put with
//! [`ErrorKind::BadContent`], not retried, without the destination ever committing the blob.
//!
//! A streamed body cannot be sent twice, so a put is retried as a whole step (new session, new
//! GET, new PUT) by the transport's retry loop, under the same policy and count as single
//! requests; a `401` on the PUT drops the cached token and the step is repeated at once with a
//! fresh one. A session left behind by a failed step is cancelled (`DELETE`) on a best-effort
//! basis.

use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use super::client::RegistryClient;
use super::route::Route;
use super::transport::retry::{self, Failure, Retry};
use super::transport::{Dest, Target};
use super::verified::{Abort, Verified};
use super::{content, errors};
use crate::error::{Error, ErrorKind, Result};
use crate::oci;
use crate::reference::ImageRef;

/// How long cancelling an abandoned upload session may take; it is only tidying up.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a query value keeps unescaped: RFC 3986's unreserved characters and `/` (repository
/// names keep their slashes, as containers/image sends them).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `s` percent-encoded as a query value.
fn query_value(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// The upload session URL of a `202` response: its `Location`, resolved against the URL the
/// request went to (it may be relative, absolute, or on another host).
fn session_location(resp: &Response) -> Result<Url, Failure> {
    let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
    resolve_location(resp.url(), location).ok_or_else(|| {
        Failure::fatal(Error::new(
            ErrorKind::Registry,
            "the registry opened an upload session without a usable Location header",
        ))
    })
}

/// `location` resolved against `base`; `None` when missing, unparsable or not http(s).
fn resolve_location(base: &Url, location: Option<&str>) -> Option<Url> {
    let location = location.map(str::trim).filter(|v| !v.is_empty())?;
    let url = base.join(location).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// How [`RegistryClient::blob_put`] got a blob into the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobCopy {
    /// The registry linked the blob from the source repository (cross-repository mount); no
    /// bytes moved.
    Mounted,
    /// The bytes were sent to the destination (streamed from the source and verified on the
    /// way, or from memory).
    Uploaded,
    /// The destination already had it (a put that checks first); nothing moved.
    Present,
}

/// Where the bytes of a [`RegistryClient::blob_put`] come from.
#[derive(Debug, Clone)]
pub enum BlobSource<'a> {
    /// The blob in the repository of this (read) route: mounted from there when it is on the
    /// destination's registry, streamed from a GET otherwise.
    Route(&'a Route),
    /// Verified bytes already in memory (an image config read when its image was added), read
    /// from `from`.
    Memory {
        /// The bytes.
        bytes: Bytes,
        /// Where they were read, for messages.
        from: &'a ImageRef,
    },
}

impl BlobSource<'_> {
    /// The repository the bytes were (or are) read from.
    fn image(&self) -> &ImageRef {
        match self {
            BlobSource::Route(route) => route.image(),
            BlobSource::Memory { from, .. } => from,
        }
    }
}

/// What a mount attempt came to.
enum Mount {
    /// The registry linked the blob: done.
    Mounted,
    /// The registry declined but opened an upload session at this URL.
    Session(Url),
    /// The registry refused; upload instead.
    Refused,
}

/// A blob's bytes on their way into an upload session's PUT.
enum Body {
    /// The source GET's response, its body not read yet, and the source's name.
    Streamed(Response, String),
    /// Verified bytes in memory.
    Memory(Bytes),
}

impl RegistryClient {
    /// HEADs blob `digest` in the route's repository: its size when the registry has it there,
    /// `None` on 404. Transient failures are retried under the push policy.
    pub async fn blob_head(&self, route: &Route, digest: &str) -> Result<Option<u64>> {
        let repo = route.image();
        let context = format!("checking whether a blob {digest} exists in {}", repo.name());
        oci::validate_digest(digest).map_err(|e| e.context(&context))?;
        let path = format!("/v2/{}/blobs/{digest}", repo.repository);
        let resp = self
            .transport()
            .send(&Target::pull(route), Method::HEAD, &path, |request| request)
            .await
            .map_err(|e| e.context(&context))?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match content::declared_length(&resp) {
                Some(size) => Ok(Some(size)),
                None => Err(Error::new(
                    ErrorKind::Registry,
                    "the registry did not report the blob's size (no Content-Length)",
                )
                .context(&context)),
            },
            _ => Err(errors::from_response(resp).await.context(&context)),
        }
    }

    /// GETs a small blob (an image config) of the route's repository into memory, verifying its
    /// digest and refusing more than `limits.max_manifest_size`.
    pub async fn blob_get(&self, route: &Route, digest: &str) -> Result<Bytes> {
        oci::validate_digest(digest)?;
        let image = route.image();
        let context = format!("reading blob {digest} in {}", image.name());
        let path = format!("/v2/{}/blobs/{digest}", image.repository);
        let mut resp = self
            .transport()
            .send(&Target::pull(route), Method::GET, &path, |request| request)
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

    /// Puts blob `digest` of `size` bytes from `source` into `dest`'s repository (a write
    /// route, resolved once per push).
    ///
    /// From a route on the destination's registry a cross-repository mount is tried first
    /// ([`BlobCopy::Mounted`]); otherwise, or when the registry declines, the bytes are sent in
    /// one monolithic PUT ([`BlobCopy::Uploaded`]): streamed from a GET on the source route,
    /// verified against `digest` and `size` on the way (a mismatch aborts the PUT, so the
    /// destination never commits the blob, and fails with [`ErrorKind::BadContent`]), or from
    /// memory. Memory use is bounded by a few stream chunks, whatever the size.
    ///
    /// With `check_first`, the destination is asked whether it has the blob
    /// ([`BlobCopy::Present`]) instead of trying a mount: the HEAD, the upload session and the
    /// source GET start together, so a missing blob costs one round trip before its bytes flow
    /// instead of three; when the blob is there, the session is cancelled and the unread source
    /// response dropped.
    ///
    /// Transient failures repeat the whole put under the push retry policy; errors read
    /// `copying blob DIGEST from SOURCE to DEST: CAUSE`.
    pub async fn blob_put(
        &self,
        dest: &Route,
        digest: &str,
        size: u64,
        source: BlobSource<'_>,
        check_first: bool,
    ) -> Result<BlobCopy> {
        let (from, to) = (source.image(), dest.image());
        let context = format!(
            "copying blob {digest} from {} to {}",
            from.name(),
            to.name()
        );
        oci::validate_digest(digest).map_err(|e| e.context(&context))?;
        let source = &source;
        let put = self
            .transport()
            .retry(&to.registry, &context, || async move {
                if check_first {
                    self.put_if_missing_once(source, dest, digest, size).await
                } else {
                    self.put_once(source, dest, digest, size).await
                }
            })
            .await
            .map_err(|f| f.error.context(&context))?;
        tracing::debug!(%digest, from = %from.name(), to = %to.name(), ?put, "blob put");
        Ok(put)
    }

    /// One whole attempt at a put: mount, or session + GET + PUT.
    async fn put_once(
        &self,
        source: &BlobSource<'_>,
        dest: &Route,
        digest: &str,
        size: u64,
    ) -> Result<BlobCopy, Failure> {
        let mut session = None;
        if let BlobSource::Route(from) = source {
            let from = from.image();
            if from.registry == dest.image().registry {
                match self.blob_mount(dest, &from.repository, digest).await? {
                    Mount::Mounted => return Ok(BlobCopy::Mounted),
                    Mount::Session(url) => session = Some(url),
                    Mount::Refused => {}
                }
            }
        }
        let dest_target = Target::push(dest);
        let dest_image = dest.image();
        let session = match session {
            Some(url) => url,
            None => self.start_upload(&dest_target, dest_image).await?,
        };
        let body = self.open_body(source, digest, size).await;
        self.upload_or_cancel(body, &dest_target, dest_image, &session, digest, size)
            .await
    }

    /// One attempt of a put that checks first: HEAD, session and source GET at once, then the
    /// PUT when the blob is missing.
    async fn put_if_missing_once(
        &self,
        source: &BlobSource<'_>,
        dest: &Route,
        digest: &str,
        size: u64,
    ) -> Result<BlobCopy, Failure> {
        let dest_target = Target::push(dest);
        let dest_image = dest.image();
        let (exists, session, opened) = tokio::join!(
            self.blob_head(dest, digest),
            self.start_upload(&dest_target, dest_image),
            self.open_body(source, digest, size),
        );
        let missing = match exists {
            Ok(Some(_)) => false,
            Ok(None) => true,
            // Already retried inside; not worth a second round of retries here.
            Err(e) => {
                if let Ok(url) = &session {
                    self.cancel_upload(&dest_target, url).await;
                }
                return Err(Failure::fatal(e));
            }
        };
        if !missing {
            if let Ok(url) = &session {
                self.cancel_upload(&dest_target, url).await;
            }
            return Ok(BlobCopy::Present);
        }
        let session = session?;
        self.upload_or_cancel(opened, &dest_target, dest_image, &session, digest, size)
            .await
    }

    /// Sends the opened `body` into the upload session with one PUT, and cancels the session
    /// when the body could not be opened or the PUT failed.
    async fn upload_or_cancel(
        &self,
        body: Result<Body, Failure>,
        dest_target: &Target<'_>,
        dest: &ImageRef,
        session: &Url,
        digest: &str,
        size: u64,
    ) -> Result<BlobCopy, Failure> {
        let uploaded = match body {
            Ok(body) => {
                self.put_from(body, dest_target, dest, session, digest, size)
                    .await
            }
            Err(f) => Err(f),
        };
        if uploaded.is_err() {
            self.cancel_upload(dest_target, session).await;
        }
        uploaded.map(|()| BlobCopy::Uploaded)
    }

    /// The mount: `POST /v2/<dest>/blobs/uploads/?mount=<digest>&from=<from_repo>` with a token
    /// for both repositories.
    async fn blob_mount(
        &self,
        dest_route: &Route,
        from_repo: &str,
        digest: &str,
    ) -> Result<Mount, Failure> {
        let dest = dest_route.image();
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            dest.repository,
            query_value(digest),
            query_value(from_repo)
        );
        let resp = match self
            .transport()
            .authenticated()
            .send(
                &Target::mount(dest_route, from_repo),
                &Method::POST,
                Dest::Path(&path),
                |r| r.header(CONTENT_LENGTH, HeaderValue::from_static("0")),
            )
            .await
        {
            Ok(resp) => resp,
            // The registry is unreachable or overloaded: the step fails and is retried.
            Err(f) if f.retry != Retry::Never => return Err(f),
            Err(f) => {
                // E.g. a token server that will not issue the combined scopes: upload instead.
                tracing::debug!(%digest, error = %f.error, "mount not possible; uploading instead");
                return Ok(Mount::Refused);
            }
        };
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => match session_location(&resp) {
                Ok(url) => Ok(Mount::Session(url)),
                Err(_) => Ok(Mount::Refused),
            },
            s if retry::retryable_status(s) => Err(errors::failure_from_response(resp)
                .await
                .context(format!("mounting blob into {}", dest.name()))),
            s => {
                // 401/403 (the credentials may not pull the source), 404, 405: refused.
                let why = errors::from_response(resp).await;
                tracing::debug!(%digest, status = s.as_u16(), error = %why, "mount refused; uploading instead");
                Ok(Mount::Refused)
            }
        }
    }

    /// `POST /v2/<dest>/blobs/uploads/`: the URL of a new upload session.
    async fn start_upload(&self, target: &Target<'_>, dest: &ImageRef) -> Result<Url, Failure> {
        let path = format!("/v2/{}/blobs/uploads/", dest.repository);
        let resp = self
            .transport()
            .authenticated()
            .send(target, &Method::POST, Dest::Path(&path), |r| {
                r.header(CONTENT_LENGTH, HeaderValue::from_static("0"))
            })
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            let failure = if resp.status().is_success() {
                Failure::fatal(Error::new(
                    ErrorKind::Registry,
                    format!(
                        "unexpected status {} starting an upload (expected 202 Accepted)",
                        resp.status()
                    ),
                ))
            } else {
                errors::failure_from_response(resp).await
            };
            return Err(failure.context(format!("starting an upload to {}", dest.name())));
        }
        session_location(&resp)
    }

    /// The body of a copy: the source GET's response when the bytes are in a registry.
    async fn open_body(
        &self,
        source: &BlobSource<'_>,
        digest: &str,
        size: u64,
    ) -> Result<Body, Failure> {
        match source {
            BlobSource::Route(route) => self
                .open_source(route, digest, size)
                .await
                .map(|resp| Body::Streamed(resp, route.image().name())),
            BlobSource::Memory { bytes, .. } => Ok(Body::Memory(bytes.clone())),
        }
    }

    /// GETs the source blob: a response whose body has not been read yet, its declared size
    /// checked.
    async fn open_source(
        &self,
        source_route: &Route,
        digest: &str,
        size: u64,
    ) -> Result<reqwest::Response, Failure> {
        let source = source_route.image();
        let source_target = Target::pull(source_route);
        let path = format!("/v2/{}/blobs/{digest}", source.repository);
        let resp = self
            .transport()
            .authenticated()
            .send(&source_target, &Method::GET, Dest::Path(&path), |r| r)
            .await?;
        let reading = || format!("reading blob from {}", source.name());
        if !resp.status().is_success() {
            return Err(errors::failure_from_response(resp).await.context(reading()));
        }
        if let Some(declared) = content::declared_length(&resp) {
            if declared != size {
                // Known before a byte is sent: no need to start the PUT at all.
                return Err(Failure::fatal(
                    Error::new(
                        ErrorKind::BadContent,
                        format!(
                            "blob size {declared} does not match its expected size of {size} bytes"
                        ),
                    )
                    .context(reading()),
                ));
            }
        }
        Ok(resp)
    }

    /// Sends `body` into the upload session with one PUT; a streamed body is verified (digest
    /// and size) on the way.
    async fn put_from(
        &self,
        body: Body,
        dest_target: &Target<'_>,
        dest: &ImageRef,
        session: &Url,
        digest: &str,
        size: u64,
    ) -> Result<(), Failure> {
        let (body, abort) = match body {
            Body::Streamed(resp, source_name) => {
                let source_url = resp.url().clone();
                let (verified, abort) =
                    Verified::new(resp.bytes_stream(), digest, size, source_url, source_name)?;
                (reqwest::Body::wrap_stream(verified), Some(abort))
            }
            Body::Memory(bytes) => (reqwest::Body::from(bytes), None),
        };
        let mut url = session.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let sent = self
            .transport()
            .authenticated()
            .send_once(dest_target, &Method::PUT, Dest::Url(&url), |r| {
                r.header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(body)
            })
            .await;
        // Our own abort explains a failed PUT better than the HTTP client's error does.
        let aborted = abort.and_then(|a| a.lock().unwrap_or_else(|e| e.into_inner()).take());
        match aborted {
            Some(Abort::Content(e)) => return Err(Failure::fatal(e)),
            Some(Abort::Source(e)) => return Err(Failure::transient(e, None)),
            None => {}
        }
        let resp = sent?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            s if s.is_success() => {
                // A registry may answer 204; the blob is committed either way.
                tracing::debug!(
                    status = s.as_u16(),
                    "blob upload completed with an unusual status"
                );
                Ok(())
            }
            _ => Err(errors::failure_from_response(resp)
                .await
                .context(format!("writing blob to {}", dest.name()))),
        }
    }

    /// Best-effort `DELETE` of an upload session a failed step leaves behind, so the registry
    /// does not keep its partial data until its purge runs.
    async fn cancel_upload(&self, target: &Target<'_>, session: &Url) {
        let cancel = self.transport().authenticated().send_once(
            target,
            &Method::DELETE,
            Dest::Url(session),
            |r| r,
        );
        match tokio::time::timeout(CANCEL_TIMEOUT, cancel).await {
            Ok(Ok(resp)) => {
                tracing::debug!(status = resp.status().as_u16(), "upload session cancelled")
            }
            Ok(Err(f)) => tracing::debug!(error = %f.error, "cancelling an upload session failed"),
            Err(_) => tracing::debug!("cancelling an upload session timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let base = Url::parse("https://reg.example:5000/v2/app/blobs/uploads/").expect("url");
        let r = |l: &str| resolve_location(&base, Some(l)).map(|u| u.to_string());
        assert_eq!(
            r("/v2/app/blobs/uploads/u1?_state=x").as_deref(),
            Some("https://reg.example:5000/v2/app/blobs/uploads/u1?_state=x")
        );
        assert_eq!(
            r("u2").as_deref(),
            Some("https://reg.example:5000/v2/app/blobs/uploads/u2")
        );
        assert_eq!(
            r("https://storage.example/up?sig=1").as_deref(),
            Some("https://storage.example/up?sig=1")
        );
        assert_eq!(r("ftp://storage.example/up"), None);
        assert_eq!(r("  "), None);
        assert_eq!(resolve_location(&base, None), None);
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            query_value("sha256:abc"),
            "sha256%3Aabc",
            "as containers/image sends it"
        );
        assert_eq!(query_value("team/app-1_x.y"), "team/app-1_x.y");
        assert_eq!(query_value("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(query_value("ü~"), "%C3%BC~");
    }
}
