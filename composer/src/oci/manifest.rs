//! A fetched manifest's exact bytes ([`RawManifest`]) and the two ways to read them: an image
//! manifest through oci-spec's [`ImageManifest`], an index or Docker list as an [`Index`].

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use oci_spec::image::{Descriptor, Digest, ImageManifest, MediaType};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::digest::{sha256_digest, validate_digest};
use super::media_type::{is_list_type, OCI_INDEX, OCI_MANIFEST};
use super::platform::Platform;
use crate::error::{Error, ErrorKind, Result};

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

/// What decides a manifest's media type when the registry's header does not.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<IgnoredAny>,
}

impl RawManifest {
    /// Wraps fetched bytes, computing the digest and choosing the media type.
    ///
    /// `content_type` is the registry's header; generic values (`application/json`,
    /// `text/plain`) defer to the document's own `mediaType`, and a schema-2 document without
    /// any is sniffed: `manifests` makes it an OCI index, otherwise an OCI manifest. The bytes
    /// must be a JSON object; the rest is read when it is needed.
    pub fn new(bytes: Bytes, content_type: Option<&str>) -> Result<Self> {
        let shape: Shape = read_json(&bytes, "manifest")?;
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
        let media_type = header.or(shape.media_type).unwrap_or_else(|| {
            if shape.manifests.is_some() {
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

    /// Reads an image manifest (OCI, or Docker schema 2): its config, layers and artifact type.
    ///
    /// go-containerregistry writes `"layers":null` for an image without layers (its empty base
    /// image has none), where oci-spec wants an array; that reads as no layers.
    pub fn image_manifest(&self) -> Result<ImageManifest> {
        let mut doc: serde_json::Value = read_json(&self.bytes, "image manifest")?;
        if let Some(layers) = doc.get_mut("layers").filter(|l| l.is_null()) {
            *layers = serde_json::Value::Array(Vec::new());
        }
        serde_json::from_value(doc).map_err(|e| {
            Error::new(
                ErrorKind::BadContent,
                format!("parsing image manifest: {e}"),
            )
        })
    }

    /// Reads an index or Docker manifest list.
    pub fn index(&self) -> Result<Index> {
        read_json(&self.bytes, "image index")
    }

    /// The descriptor that points at this manifest: its media type, digest and size.
    pub fn descriptor(&self) -> Result<Descriptor> {
        let digest = Digest::try_from(self.digest.as_str()).map_err(|e| {
            Error::new(
                ErrorKind::BadContent,
                format!("manifest digest {}: {e}", self.digest),
            )
        })?;
        Ok(Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.bytes.len() as u64,
            digest,
        ))
    }
}

/// Parses JSON content, with an error that names what was read and what is wrong.
fn read_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::new(ErrorKind::BadContent, format!("parsing {what}: {e}")))
}

/// An OCI image index or a Docker manifest list, as read from a registry.
///
/// Read as leniently as podman reads one: every field may be missing and `null` means empty
/// (podman itself writes `"manifests":null` for a list that never held an instance). Only the
/// subject is oci-spec's strict [`Descriptor`]; its producers write complete ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// `artifactType` (OCI only).
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The entries, in order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub manifests: Vec<IndexEntry>,
    /// The manifest this index refers to (OCI only).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Index annotations (OCI only).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One entry of an index or Docker list: a manifest's descriptor with its platform, every field
/// kept as written (the digest is checked where it is used, so the error can say which entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// Media type of the manifest.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the manifest.
    #[serde(default)]
    pub digest: String,
    /// Size in bytes of the manifest.
    #[serde(default)]
    pub size: i64,
    /// Alternative download locations.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub urls: Vec<String>,
    /// Annotations (OCI only).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Embedded content, base64 (OCI only).
    #[serde(default)]
    pub data: Option<String>,
    /// The platform the manifest is for, Docker's `features` included.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// `artifactType` (OCI only).
    #[serde(default)]
    pub artifact_type: Option<String>,
}

impl IndexEntry {
    /// The entry's digest, checked before anything is asked for it: an index may hold any
    /// string there, registries and podman know only go-digest's digests. A bad one is the
    /// content's fault ([`ErrorKind::BadContent`]), said of the entry of index `list`.
    pub fn checked_digest(&self, list: &impl fmt::Display) -> Result<&str> {
        validate_digest(&self.digest).map_err(|e| {
            e.with_kind(ErrorKind::BadContent).context(format!(
                "manifest list {list} has an entry with digest {:?}",
                self.digest
            ))
        })?;
        Ok(&self.digest)
    }
}

/// A missing or `null` value as the type's empty value.
fn null_as_empty<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::super::media_type::{DOCKER_LIST, DOCKER_MANIFEST};
    use super::*;
    use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder};

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn raw(body: String) -> RawManifest {
        RawManifest::new(Bytes::from(body), None).expect("a JSON object")
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
        let empty = RawManifest::new(Bytes::from_static(br#"{"manifests":null}"#), None);
        assert_eq!(empty.expect("parses").media_type, OCI_MANIFEST);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let e = RawManifest::new(Bytes::from_static(b"\xff{"), None).expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::BadContent);
        assert!(e.message().starts_with("parsing manifest: "), "{e}");
    }

    #[test]
    fn docker_lists_keep_every_platform_field() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":5,"digest":"{a}","platform":{{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"],"variant":"v3","features":["sse4"]}}}}]}}"#,
            a = d('a')
        );
        let index = raw(body.clone()).index().expect("an index");
        let entry = &index.manifests[0];
        assert_eq!(entry.media_type, DOCKER_MANIFEST);
        assert_eq!((entry.digest.as_str(), entry.size), (d('a').as_str(), 5));
        let p = entry.platform.as_ref().expect("a platform");
        assert_eq!(
            (
                p.architecture.as_str(),
                p.os.as_str(),
                p.os_version.as_str(),
                p.variant.as_str()
            ),
            ("amd64", "windows", "10.0.17763.1234", "v3")
        );
        assert_eq!(
            (&p.os_features[..], &p.features[..]),
            (&["win32k".to_string()][..], &["sse4".to_string()][..])
        );
        // Why entries are not oci-spec descriptors: its platform loses `os.version` and
        // `os.features` without an error. (Should this start failing, oci-spec reads them now.)
        let theirs: oci_spec::image::ImageIndex = serde_json::from_str(&body).expect("reads");
        let platform = theirs.manifests()[0]
            .platform()
            .clone()
            .expect("a platform");
        assert_eq!(platform.os_version(), &None);
        assert_eq!(platform.os_features(), &None);
    }

    #[test]
    fn indexes_read_leniently() {
        // podman's never-filled list, entries with nulls, an entry without a platform, `data`.
        let index = raw(r#"{"schemaVersion":2,"manifests":null,"annotations":null}"#.into())
            .index()
            .expect("an index");
        assert_eq!(index, Index::default());
        let body = format!(
            r#"{{"schemaVersion":2,"artifactType":"application/x","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{a}","size":3,"urls":null,"annotations":null,"data":"e30="}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{b}","size":9}},"annotations":{{"k":"v"}}}}"#,
            a = d('a'),
            b = d('b')
        );
        let index = raw(body).index().expect("an index");
        assert_eq!(index.artifact_type.as_deref(), Some("application/x"));
        assert_eq!(index.manifests[0].data.as_deref(), Some("e30="));
        assert!(index.manifests[0].platform.is_none());
        assert!(index.manifests[0].urls.is_empty());
        let subject = index.subject.expect("a subject");
        assert_eq!(
            (subject.digest().as_ref(), subject.size()),
            (d('b').as_str(), 9)
        );
        assert_eq!(index.annotations.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn a_broken_subject_is_bad_content() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:abc","size":9}}}}"#
        );
        let e = raw(body).index().expect_err("a broken digest");
        assert_eq!(e.kind(), ErrorKind::BadContent);
        assert!(e.message().starts_with("parsing image index: "), "{e}");
    }

    #[test]
    fn entry_digests_are_checked_like_go_digest() {
        let good = IndexEntry {
            digest: d('a'),
            ..IndexEntry::default()
        };
        assert_eq!(good.checked_digest(&"r/app"), Ok(d('a').as_str()));
        let md5 = IndexEntry {
            digest: "md5:abc".into(),
            ..IndexEntry::default()
        };
        let e = md5.checked_digest(&"r/app").expect_err("not go-digest's");
        assert_eq!(e.kind(), ErrorKind::BadContent);
        assert_eq!(
            e.message(),
            r#"manifest list r/app has an entry with digest "md5:abc": unsupported digest algorithm"#
        );
    }

    #[test]
    fn docker_image_manifests_read_through_oci_spec() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{c}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":9,"digest":"{l}","urls":["https://example.com/l"]}}]}}"#,
            c = d('c'),
            l = d('9')
        );
        let m = raw(body).image_manifest().expect("an image manifest");
        assert_eq!(
            m.media_type().as_ref().map(AsRef::as_ref),
            Some(DOCKER_MANIFEST)
        );
        assert_eq!(m.config().digest().as_ref(), d('c'));
        assert_eq!(
            m.config().media_type().as_ref(),
            "application/vnd.docker.container.image.v1+json"
        );
        let layer = &m.layers()[0];
        assert_eq!(layer.size(), 9);
        assert_eq!(
            layer.urls().as_deref(),
            Some(&["https://example.com/l".to_string()][..])
        );
        assert!(m.artifact_type().is_none());
    }

    #[test]
    fn an_image_without_layers_may_say_null() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{c}"}},"layers":null}}"#,
            c = d('c')
        );
        let m = raw(body).image_manifest().expect("an image manifest");
        assert!(m.layers().is_empty());
    }

    #[test]
    fn broken_image_manifests_are_bad_content_saying_why() {
        let cases = [
            (
                r#"{"schemaVersion":2,"layers":[]}"#.to_string(),
                "missing field `config`",
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_MANIFEST}","size":1,"digest":"sha256:abc"}},"layers":[]}}"#
                ),
                "digest",
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_MANIFEST}","size":-1,"digest":"{c}"}},"layers":[]}}"#,
                    c = d('c')
                ),
                "invalid value: integer `-1`",
            ),
            (
                r#"{"schemaVersion":2,"config":"c","layers":[]}"#.to_string(),
                "invalid type: string",
            ),
        ];
        for (body, why) in cases {
            let e = raw(body.clone()).image_manifest().expect_err("broken");
            assert_eq!(e.kind(), ErrorKind::BadContent, "{body}");
            assert!(e.message().starts_with("parsing image manifest: "), "{e}");
            assert!(e.message().contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn artifact_manifests_built_with_oci_spec_read_back() {
        // What the artifacts change builds: an image manifest with an artifactType, the empty
        // config and one layer per file.
        let empty = b"{}";
        let config = DescriptorBuilder::default()
            .media_type(MediaType::EmptyJSON)
            .digest(Digest::try_from(sha256_digest(empty)).expect("a digest"))
            .size(empty.len() as u64)
            .data("e30=")
            .build()
            .expect("a descriptor");
        let layer = DescriptorBuilder::default()
            .media_type("text/plain")
            .digest(Digest::try_from(d('f')).expect("a digest"))
            .size(12_u64)
            .annotations([(
                "org.opencontainers.image.title".to_string(),
                "notes.txt".to_string(),
            )])
            .build()
            .expect("a descriptor");
        let built = ImageManifestBuilder::default()
            .schema_version(2_u32)
            .media_type(MediaType::ImageManifest)
            .artifact_type("application/x-notes")
            .config(config)
            .layers(vec![layer])
            .build()
            .expect("a manifest");
        let bytes = serde_json::to_vec(&built).expect("serialises");
        let read = RawManifest::new(Bytes::from(bytes), None).expect("a manifest");
        assert_eq!(read.media_type, OCI_MANIFEST);
        let back = read.image_manifest().expect("reads back");
        assert_eq!(back, built);
        assert_eq!(
            back.artifact_type().as_ref().map(AsRef::as_ref),
            Some("application/x-notes")
        );
        let pointer = read.descriptor().expect("a descriptor");
        assert_eq!(*pointer.media_type(), MediaType::ImageManifest);
        assert_eq!(pointer.digest().as_ref(), read.digest);
        assert_eq!(pointer.size(), read.bytes.len() as u64);
    }
}
