//! Reading response bodies under a size cap, and checking content against its digest.
//!
//! Manifests and configs are small and held in memory, so a registry (or something pretending
//! to be one) must not be able to make manifold buffer an arbitrary amount: the declared
//! `Content-Length` is checked first, and reading stops as soon as the cap is passed.

use bytes::{Bytes, BytesMut};
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, Response};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use super::errors;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::validate_digest;

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::BadContent,
        format!("exceeded maximum allowed size of {limit} bytes (limits.max_manifest_size)"),
    )
}

/// The `Content-Length` header, read directly: reqwest's `content_length()` is the body's size
/// hint, which is 0 for HEAD responses.
pub(crate) fn declared_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads the whole body of a GET, refusing more than `limit` bytes.
pub(crate) async fn read_capped(resp: &mut Response, limit: u64) -> Result<Bytes> {
    let declared = declared_length(resp);
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let url = resp.url().clone();
    let capacity = usize::try_from(declared.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(capacity);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| errors::transport(&Method::GET, &url, &e))?
    {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The running hash of one of the algorithms go-digest knows.
pub(crate) enum Hasher {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    /// The hasher for `algorithm` (`sha256`, ...), or None for one go-digest does not know.
    fn for_algorithm(algorithm: &str) -> Option<Self> {
        match algorithm {
            "sha256" => Some(Hasher::Sha256(Sha256::new())),
            "sha384" => Some(Hasher::Sha384(Sha384::new())),
            "sha512" => Some(Hasher::Sha512(Sha512::new())),
            _ => None,
        }
    }

    /// The hasher for a validated digest's algorithm.
    pub(crate) fn for_digest(digest: &str) -> Result<Self> {
        digest
            .split_once(':')
            .and_then(|(algorithm, _)| Hasher::for_algorithm(algorithm))
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "unsupported digest algorithm"))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// `algorithm:hex`.
    pub(crate) fn finish(&mut self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize_reset())),
            Hasher::Sha384(h) => format!("sha384:{}", hex::encode(h.finalize_reset())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize_reset())),
        }
    }
}

/// `algorithm:hex` of `bytes` for the algorithms go-digest knows, or None for others: for
/// tests, which make digests of every algorithm.
#[cfg(test)]
pub(crate) fn digest_with(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let mut hasher = Hasher::for_algorithm(algorithm)?;
    hasher.update(bytes);
    Some(hasher.finish())
}

/// The text of content `what` (`manifest`, `blob`) that hashed to `actual`, not `expected`.
pub(crate) fn mismatch(what: &str, actual: &str, expected: &str) -> String {
    format!("{what} digest {actual} does not match the expected digest {expected}")
}

/// Checks that `bytes` hash to `expected` (a validated digest). `what` names the content in the
/// error: `manifest`, `blob`.
pub(crate) fn verify(expected: &str, bytes: &[u8], what: &str) -> Result<()> {
    validate_digest(expected)?;
    let mut hasher = Hasher::for_digest(expected)?;
    hasher.update(bytes);
    let actual = hasher.finish();
    if actual == expected {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::BadContent,
            mismatch(what, &actual, expected),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_matching_and_rejects_others() {
        let bytes = b"{}";
        let good = crate::oci::sha256_digest(bytes);
        assert!(verify(&good, bytes, "manifest").is_ok());
        let e = verify(&good, b"{} ", "manifest").expect_err("mismatch");
        assert_eq!(e.kind(), ErrorKind::BadContent);
        assert!(
            e.cause().starts_with("manifest digest sha256:"),
            "{}",
            e.cause()
        );
        assert!(e
            .cause()
            .ends_with(&format!("does not match the expected digest {good}")));
        let e = verify("sha256:abc", bytes, "blob").expect_err("malformed");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let sha512 = digest_with("sha512", bytes).expect("known");
        assert!(verify(&sha512, bytes, "blob").is_ok());
        let sha384 = digest_with("sha384", bytes).expect("known");
        assert!(verify(&sha384, bytes, "blob").is_ok());
        assert!(digest_with("md5", bytes).is_none());
    }
}
