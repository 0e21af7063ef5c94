//! OCI and Docker manifest vocabulary: media types, digests, descriptors, platforms, and the
//! exact bytes of a fetched manifest.
//!
//! Fetched content is kept as [`RawManifest`] bytes and only *read* through the structs here;
//! it is never re-serialised, because re-encoding changes bytes and therefore digests.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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

/// True for the two image config types whose platform fields are meaningful.
pub fn is_image_config_type(media_type: &str) -> bool {
    media_type == OCI_CONFIG || media_type == DOCKER_CONFIG
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

/// A manifest exactly as a registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    /// The bytes as received.
    pub bytes: Bytes,
    /// `sha256:` of `bytes`.
    pub digest: String,
    /// The media type: the Content-Type header, or the body's `mediaType` when that is absent.
    pub media_type: String,
}

impl RawManifest {
    /// Wraps fetched bytes, computing the digest and choosing the media type.
    ///
    /// `content_type` is the registry's header; generic values (`application/json`,
    /// `text/plain`) defer to the document's own `mediaType`, and a schema-2 document without
    /// any is sniffed: `manifests` makes it an OCI index, otherwise an OCI manifest.
    pub fn new(bytes: Bytes, content_type: Option<&str>) -> Result<Self> {
        let doc = ManifestDoc::parse(&bytes)?;
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
        let media_type = header
            .or_else(|| doc.media_type.clone())
            .unwrap_or_else(|| {
                if doc.manifests.is_some() {
                    OCI_INDEX.to_string()
                } else {
                    OCI_MANIFEST.to_string()
                }
            });
        Ok(RawManifest {
            digest: sha256_digest(&bytes),
            bytes,
            media_type,
        })
    }

    /// True when this manifest is an index or a Docker list.
    pub fn is_list(&self) -> bool {
        is_list_type(&self.media_type)
    }

    /// Reads the document.
    pub fn doc(&self) -> Result<ManifestDoc> {
        ManifestDoc::parse(&self.bytes)
    }
}

/// A platform as it appears in descriptors and image configs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`, `windows`, ...).
    #[serde(default)]
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Docker-only CPU features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl Platform {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Platform::default()
    }
}

/// A content descriptor as read from a fetched manifest (OCI or Docker).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content.
    #[serde(default)]
    pub digest: String,
    /// Size in bytes of the referenced content.
    #[serde(default)]
    pub size: i64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Embedded content (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The fields manifold reads from any manifest: an index/list or an image manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDoc {
    /// `schemaVersion`.
    #[serde(default)]
    pub schema_version: Option<i64>,
    /// `mediaType`, when the document states it.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Entries of an index or list.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    /// The config of an image manifest.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// The layers of an image manifest.
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    /// OCI artifact type.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// OCI subject.
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Top-level annotations.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ManifestDoc {
    /// Parses manifest JSON, with an error that says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::BadContent, format!("parsing manifest: {e}")))
    }
}

/// The platform fields of an image config blob.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", default)]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(default)]
    pub variant: String,
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::new(ErrorKind::BadContent, format!("parsing image config: {e}")))
    }

    /// The platform this config describes.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            features: Vec::new(),
        }
    }
}

/// Go's name for the architecture manifold runs on (`GOARCH`).
pub fn go_arch() -> &'static str {
    go_arch_of(std::env::consts::ARCH)
}

fn go_arch_of(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => {
            if cfg!(target_endian = "little") {
                "ppc64le"
            } else {
                "ppc64"
            }
        }
        "loongarch64" => "loong64",
        "mips64" => {
            if cfg!(target_endian = "little") {
                "mips64le"
            } else {
                "mips64"
            }
        }
        // arm, riscv64, s390x and most others are spelled alike.
        other => other,
    }
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
    }

    #[test]
    fn media_type_prefers_header_then_body_then_shape() {
        let index = Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#);
        let m = RawManifest::new(index.clone(), Some("application/json")).expect("parses");
        assert_eq!(m.media_type, OCI_INDEX);
        assert!(m.is_list());
        let m = RawManifest::new(index, Some(DOCKER_LIST)).expect("parses");
        assert_eq!(m.media_type, DOCKER_LIST);
        let body = Bytes::from_static(
            br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
        );
        let m = RawManifest::new(body.clone(), None).expect("parses");
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.digest, sha256_digest(&body));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let e = RawManifest::new(Bytes::from_static(b"\xff{"), None).expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::BadContent);
    }

    #[test]
    fn arch_names() {
        assert_eq!(go_arch_of("x86_64"), "amd64");
        assert_eq!(go_arch_of("aarch64"), "arm64");
        assert_eq!(go_arch_of("s390x"), "s390x");
        assert_eq!(go_arch_of("riscv64"), "riscv64");
        assert_eq!(go_arch_of("arm"), "arm");
    }
}
