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

/// `algorithm:hex` of `bytes` for the algorithms go-digest knows, or None for others.
pub(crate) fn digest_with(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let hex = match algorithm {
        "sha256" => hex::encode(Sha256::digest(bytes)),
        "sha384" => hex::encode(Sha384::digest(bytes)),
        "sha512" => hex::encode(Sha512::digest(bytes)),
        _ => return None,
    };
    Some(format!("{algorithm}:{hex}"))
}

/// Checks that `bytes` hash to `expected` (a validated digest). `what` names the content in the
/// error: `manifest`, `blob`.
pub(crate) fn verify(expected: &str, bytes: &[u8], what: &str) -> Result<()> {
    validate_digest(expected)?;
    let algorithm = expected.split_once(':').map_or("", |(a, _)| a);
    let actual = digest_with(algorithm, bytes)
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "unsupported digest algorithm"))?;
    if actual == expected {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::BadContent,
            format!("{what} digest {actual} does not match the expected digest {expected}"),
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
