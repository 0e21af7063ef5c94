//! OCI and Docker manifest vocabulary: media types, digests, descriptors, platforms, and the
//! exact bytes of a fetched manifest.
//!
//! Fetched content is kept as [`RawManifest`] bytes and only *read* through the types here; it
//! is never re-serialised, because re-encoding changes bytes and therefore digests.
//!
//! The OCI types are `oci-spec`'s wherever they read what registries really serve:
//! * image manifests are read as [`ImageManifest`] (Docker schema-2 manifests too: their media
//!   types round-trip exactly as [`MediaType::Other`]), and their descriptors are
//!   [`Descriptor`]s, whose digests are checked as they are read;
//! * a list's subject is a [`Descriptor`], so the artifact manifests of a later change can be
//!   built with oci-spec's builders (`ImageManifestBuilder`, `DescriptorBuilder`, with
//!   `MediaType::EmptyJSON` for the empty config) from the same types. oci-spec serialises
//!   annotations from a `HashMap`, in no fixed order, and writes a descriptor's `data` last where
//!   Go writes it before `platform`: bytes whose digest matters must be written with sorted maps.
//!
//! manifold keeps its own types where oci-spec 0.10 does not read real content faithfully:
//! * index entries ([`IndexEntry`]) and their [`Platform`]: oci-spec's `Platform` calls its keys
//!   `os_version` and `os_features` where the image spec, Docker and every registry write
//!   `os.version` and `os.features` (Windows images carry `os.version`), so it would drop them
//!   without a word; it also requires `architecture` and `os`, defaults to the host's platform
//!   rather than an empty one, and its `Arch` reads `armbe` as `arm64be`. manifold's platform
//!   keeps every string exactly, Docker's `features` included;
//! * image configs ([`ImageConfig`]): only the platform is read. oci-spec's `ImageConfiguration`
//!   requires `rootfs.diff_ids`, which Docker omits for an image without layers and
//!   go-containerregistry writes as `null`, and it types the whole container config, so an odd
//!   field elsewhere would fail a read that needs four strings;
//! * digests are checked by [`validate_digest`] with go-digest's rules and words, which podman's
//!   clients see: oci-spec's `Digest` accepts any algorithm name, go-digest only sha256, sha384
//!   and sha512;
//! * the media types are `&'static str` constants, because they go into HTTP headers; a test
//!   holds them to oci-spec's spellings;
//! * the index manifold composes is written by [`crate::list`] in podman's field order.

mod manifest;
mod platform;

use sha2::{Digest as _, Sha256};

pub use manifest::{Index, IndexEntry, RawManifest};
pub use oci_spec::image::{Descriptor, ImageManifest, MediaType};
pub use platform::{go_arch, ImageConfig, Platform};

use crate::error::{Error, ErrorKind, Result};

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list (schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest type manifold can read, in the order it asks registries for them.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] =
    &[OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST, OCI_INDEX];

/// True for the two list types (OCI index, Docker manifest list).
pub fn is_list_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// True for the two image config types, whose platform fields are meaningful.
pub fn is_image_config(media_type: &MediaType) -> bool {
    *media_type == MediaType::ImageConfig || media_type.as_ref() == DOCKER_CONFIG
}

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

/// Parses JSON content, with an error that names what was read and what is wrong.
fn read_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::new(ErrorKind::BadContent, format!("parsing {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ToDockerV2S2 as _;

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

    #[test]
    fn media_types_are_oci_specs_spellings() {
        assert_eq!(MediaType::ImageIndex.as_ref(), OCI_INDEX);
        assert_eq!(MediaType::ImageManifest.as_ref(), OCI_MANIFEST);
        assert_eq!(MediaType::ImageConfig.as_ref(), OCI_CONFIG);
        assert_eq!(MediaType::ImageIndex.to_docker_v2s2(), Ok(DOCKER_LIST));
        assert_eq!(
            MediaType::ImageManifest.to_docker_v2s2(),
            Ok(DOCKER_MANIFEST)
        );
        assert_eq!(MediaType::ImageConfig.to_docker_v2s2(), Ok(DOCKER_CONFIG));
        // Every type, known to oci-spec or not, reads back as the same string.
        for t in [
            OCI_INDEX,
            DOCKER_LIST,
            DOCKER_MANIFEST,
            "application/x-anything",
        ] {
            assert_eq!(MediaType::from(t).as_ref(), t);
        }
    }

    #[test]
    fn image_config_types() {
        assert!(is_image_config(&MediaType::from(OCI_CONFIG)));
        assert!(is_image_config(&MediaType::from(DOCKER_CONFIG)));
        assert!(!is_image_config(&MediaType::EmptyJSON));
        assert!(!is_image_config(&MediaType::from(
            "application/vnd.cncf.helm.config.v1+json"
        )));
    }
}
