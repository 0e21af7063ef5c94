//! Digests: computing one and checking one the way go-digest, and so podman, does.

use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks a digest string the way go-digest's `digest.Parse` does.
///
/// Errors carry go-digest's own words, which clients see: `invalid checksum digest format` and
/// `unsupported digest algorithm`.
pub fn validate_digest(digest: &str) -> Result<()> {
    let invalid = || Error::new(ErrorKind::InvalidInput, "invalid checksum digest format");
    let (algorithm, encoded) = digest.split_once(':').ok_or_else(invalid)?;
    if algorithm.is_empty() || encoded.is_empty() {
        return Err(invalid());
    }
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ if algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b)) =>
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "unsupported digest algorithm",
            ))
        }
        _ => return Err(invalid()),
    };
    let lower_hex = encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if encoded.len() != hex_len || !lower_hex {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_validated_like_go_digest() {
        let good = sha256_digest(b"x");
        assert!(validate_digest(&good).is_ok());
        let bad = |d: &str| {
            validate_digest(d)
                .expect_err("must fail")
                .cause()
                .to_string()
        };
        assert_eq!(bad("bogus"), "invalid checksum digest format");
        assert_eq!(bad("!234"), "invalid checksum digest format");
        assert_eq!(bad("sha256:abc"), "invalid checksum digest format");
        assert_eq!(bad(&good.to_uppercase()), "invalid checksum digest format");
        assert_eq!(bad("md5:abcd"), "unsupported digest algorithm");
        // oci-spec's digest takes what go-digest refuses, so it cannot stand in for this check.
        assert!(oci_spec::image::Digest::try_from("md5:abcd").is_ok());
    }
}
