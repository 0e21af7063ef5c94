//! The source of a streamed blob copy, verified on its way into the destination.
//!
//! The source GET's body becomes the upload PUT's body chunk by chunk. The bytes are hashed and
//! counted as they pass, and the last chunk is held back until the source has ended and the
//! digest and size have been checked; on a mismatch the body ends with an error instead, so the
//! destination never receives `Content-Length` bytes and cannot commit the blob, whether or not
//! it verifies digests itself. Nothing is buffered beyond the chunk in flight and the one held
//! back.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::{Method, Url};

use super::content::{self, Hasher};
use super::errors;
use crate::error::{Error, ErrorKind, Result};

/// Why a streamed body was cut off; read after the PUT fails, because the HTTP client reports
/// an aborted body only as a generic request error.
#[derive(Debug, Clone)]
pub(crate) enum Abort {
    /// The source's bytes are not the blob: final.
    Content(Error),
    /// Reading the source failed (a reset, a timeout): transient.
    Source(Error),
}

pub(crate) type AbortSlot = Arc<Mutex<Option<Abort>>>;

/// The source GET's body as a PUT body: hashed and counted on the way, the last chunk held back
/// until the digest and size are known to match.
pub(crate) struct Verified<S> {
    inner: S,
    hasher: Hasher,
    expected: String,
    size: u64,
    seen: u64,
    /// The chunk most recently read, not yet passed on.
    held: Option<Bytes>,
    /// The source has ended and the content was checked.
    finished: bool,
    /// The body was cut off; nothing more is produced.
    failed: bool,
    source_url: Url,
    /// The source's name, for the context of a content error.
    source_name: String,
    abort: AbortSlot,
}

impl<S> Verified<S> {
    /// `inner`, the body of a GET of `source_url` (the blob at `source_name`), to be checked
    /// against `digest` (validated) and `size`; the slot tells why it was cut off, if it was.
    pub(crate) fn new(
        inner: S,
        digest: &str,
        size: u64,
        source_url: Url,
        source_name: String,
    ) -> Result<(Self, AbortSlot)> {
        let abort: AbortSlot = Arc::new(Mutex::new(None));
        let verified = Verified {
            inner,
            hasher: Hasher::for_digest(digest)?,
            expected: digest.to_string(),
            size,
            seen: 0,
            held: None,
            finished: false,
            failed: false,
            source_url,
            source_name,
            abort: Arc::clone(&abort),
        };
        Ok((verified, abort))
    }

    fn fail(&mut self, abort: Abort) -> Poll<Option<std::io::Result<Bytes>>> {
        self.failed = true;
        self.held = None;
        let text = match &abort {
            Abort::Content(e) | Abort::Source(e) => e.cause().to_string(),
        };
        *self.abort.lock().unwrap_or_else(|e| e.into_inner()) = Some(abort);
        Poll::Ready(Some(Err(std::io::Error::other(text))))
    }

    /// Cuts the body off because the source's bytes are not the blob.
    fn reject(&mut self, problem: String) -> Poll<Option<std::io::Result<Bytes>>> {
        let e = Error::new(ErrorKind::BadContent, problem)
            .context(format!("reading blob from {}", self.source_name));
        self.fail(Abort::Content(e))
    }
}

impl<S> Stream for Verified<S>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if this.finished {
            // The content checked out: release the held chunk, then end.
            return Poll::Ready(this.held.take().map(Ok));
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    this.seen = this.seen.saturating_add(chunk.len() as u64);
                    if this.seen > this.size {
                        let problem = format!(
                            "blob is larger than its expected size of {} bytes",
                            this.size
                        );
                        return this.reject(problem);
                    }
                    this.hasher.update(&chunk);
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = errors::transport(&Method::GET, &this.source_url, &e);
                    return this.fail(Abort::Source(e));
                }
                Poll::Ready(None) => {
                    if this.seen != this.size {
                        let problem = format!(
                            "blob ended after {} bytes, short of its expected size of {} bytes",
                            this.seen, this.size
                        );
                        return this.reject(problem);
                    }
                    let actual = this.hasher.finish();
                    if actual != this.expected {
                        return this.reject(content::mismatch("blob", &actual, &this.expected));
                    }
                    this.finished = true;
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci;
    use futures_util::StreamExt as _;

    fn verified(
        chunks: Vec<&'static [u8]>,
        expected: &str,
        size: u64,
    ) -> (
        Verified<futures_util::stream::Iter<std::vec::IntoIter<reqwest::Result<Bytes>>>>,
        AbortSlot,
    ) {
        let items: Vec<reqwest::Result<Bytes>> = chunks
            .into_iter()
            .map(|c| Ok(Bytes::from_static(c)))
            .collect();
        Verified::new(
            futures_util::stream::iter(items),
            expected,
            size,
            Url::parse("http://127.0.0.1:1/v2/a/blobs/x").expect("url"),
            "127.0.0.1:1/a".to_string(),
        )
        .expect("a known algorithm")
    }

    async fn collect(mut s: impl Stream<Item = std::io::Result<Bytes>> + Unpin) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut failed = false;
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        (out, failed)
    }

    #[tokio::test]
    async fn matching_content_passes_through_whole() {
        let digest = oci::sha256_digest(b"hello world");
        let (v, abort) = verified(vec![b"hello", b"", b" ", b"world"], &digest, 11);
        let (out, failed) = collect(v).await;
        assert!(!failed);
        assert_eq!(out, b"hello world");
        assert!(abort.lock().expect("lock").is_none());
        let sha512 = content::digest_with("sha512", b"xy").expect("known");
        let (v, _) = verified(vec![b"x", b"y"], &sha512, 2);
        assert_eq!(collect(v).await, (b"xy".to_vec(), false));
    }

    #[tokio::test]
    async fn a_mismatch_withholds_the_last_chunk() {
        let digest = oci::sha256_digest(b"hello world");
        let (v, abort) = verified(vec![b"hello", b" ", b"WORLD"], &digest, 11);
        let (out, failed) = collect(v).await;
        assert!(failed);
        // The receiver never gets all Content-Length bytes, so it cannot commit.
        assert_eq!(out, b"hello ");
        let taken = abort.lock().expect("lock").take();
        match taken {
            Some(Abort::Content(e)) => {
                assert_eq!(e.kind(), ErrorKind::BadContent);
                assert!(
                    e.cause().starts_with("blob digest sha256:"),
                    "{}",
                    e.cause()
                );
                assert!(e
                    .cause()
                    .ends_with(&format!("does not match the expected digest {digest}")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn sizes_are_enforced() {
        let digest = oci::sha256_digest(b"abc");
        let (v, abort) = verified(vec![b"ab", b"cd"], &digest, 3);
        let (out, failed) = collect(v).await;
        assert!(failed);
        assert!(out.len() < 3);
        assert!(matches!(
            abort.lock().expect("lock").take(),
            Some(Abort::Content(_))
        ));
        let (v, abort) = verified(vec![b"ab"], &digest, 3);
        let (out, failed) = collect(v).await;
        assert!(failed);
        assert!(out.is_empty());
        let taken = abort.lock().expect("lock").take();
        match taken {
            Some(Abort::Content(e)) => assert_eq!(
                e.cause(),
                "blob ended after 2 bytes, short of its expected size of 3 bytes"
            ),
            other => panic!("{other:?}"),
        }
    }
}
