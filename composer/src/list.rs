//! The manifest-list model and its pure operations: add, remove, annotate, and serialise with
//! podman's media-type rule (`docs/libpod-api.md#list-semantics`).
//!
//! A [`ManifestList`] is both the in-memory model and the record the store writes to disk. It
//! holds one view of every instance (podman keeps a Docker view and an OCI view side by side);
//! [`ManifestList::serialize`] projects it onto either format. Nothing here does I/O, so every
//! rule is unit-tested below.
//!
//! Where podman loses information, this model keeps it and only the *output* drops it:
//! * Docker `features` have no place in an OCI index. podman stores a list as OCI as soon as
//!   anything OCI-only is present and then forgets the features for good. manifold keeps them in
//!   the model, never emits them in OCI output, and [`ManifestList::shows_features`] tells inspect
//!   whether podman would still show them. (So if every OCI-only item later disappears, for
//!   example by removing the one annotated instance, manifold serialises a Docker list with the
//!   features again where podman would not.)
//! * Annotations, `artifactType`, `data` and the subject have no place in a Docker list; forcing
//!   [`ListFormat::Docker`] drops them from the output only.
//! * podman writes `"manifests":null` for a list that has never held an instance; manifold always
//!   writes `[]`, which every client and registry accepts.
//! * An OCI entry whose platform fields are all empty gets no `platform` (podman does the same for
//!   entries it created; entries it re-read from a stored Docker list keep an empty one).
//! * Output is compact JSON in a fixed field order with sorted map keys, like Go's
//!   `encoding/json`, except that `<`, `>` and `&` are not escaped as `\u003c` etc.

use std::borrow::Cow;
use std::collections::BTreeMap;

use manifold_gocompat::strconv::quote;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::oci::{
    sha256_digest, Descriptor, IndexEntry, Platform, RawManifest, DOCKER_LIST, OCI_INDEX,
};

/// Length of a list ID in hex characters.
pub const LIST_ID_LEN: usize = 64;

/// go-digest's error for an instance digest that is not in a list, wrapped by c/common.
const DIGEST_NOT_FOUND: &str =
    "no image instance matching the specified digest was found in the list or index";

/// A manifest list as manifold stores it: identity, names, index-level fields and instances.
///
/// Serde gives the on-disk record (the store adds a format version around it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestList {
    /// 64 lowercase hex characters, random at creation, never changes.
    pub id: String,
    /// Normalised names, e.g. `localhost/ml:v1`. Unique across the store.
    #[serde(default)]
    pub names: Vec<String>,
    /// Creation time, unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The principal of the identity that created the list (`uid:1000`, `cert:CN=runner`,
    /// `local`, `anonymous`); `None` for lists stored before owners were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The group of a unix-socket owner when it created the list, so that `gid:` rules can
    /// share the lists of their members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_gid: Option<u32>,
    /// Index-level `artifactType` (OCI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Index-level annotations (OCI only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The index's subject (OCI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// The entries, in list order.
    #[serde(default)]
    pub instances: Vec<Instance>,
}

/// One entry of a list: a descriptor of an image or artifact manifest plus where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Media type of the instance manifest.
    pub media_type: String,
    /// Digest of the instance manifest (`sha256:…`).
    pub digest: String,
    /// Size in bytes of the instance manifest.
    pub size: i64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Platform, including the Docker-only `features`.
    #[serde(default, skip_serializing_if = "Platform::is_empty")]
    pub platform: Platform,
    /// Per-instance annotations (OCI only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `artifactType` of the entry (OCI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Embedded content, base64 (OCI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `registry/repository@digest` the instance was added from; push reads its blobs there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Overrides and annotations for one instance (`manifest add`/`annotate` options,
/// `docs/libpod-api.md#adding-an-image`, `docs/libpod-api.md#annotate-targets`).
///
/// Empty values mean "not set", as in podman: `Some("")` and `Some(vec![])` change nothing,
/// except that a non-empty `arch` always sets the variant too, clearing it when `variant` is
/// unset or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceUpdate {
    /// Architecture override.
    pub arch: Option<String>,
    /// OS override.
    pub os: Option<String>,
    /// OS version override.
    pub os_version: Option<String>,
    /// Variant override.
    pub variant: Option<String>,
    /// Docker-only platform `features` (replaces the existing ones).
    pub features: Option<Vec<String>>,
    /// Annotations merged into the instance's annotations.
    pub annotations: BTreeMap<String, String>,
}

impl InstanceUpdate {
    /// True when applying this update changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.changes_platform() && self.annotations.is_empty()
    }

    fn changes_platform(&self) -> bool {
        set(&self.arch).is_some()
            || set(&self.os).is_some()
            || set(&self.os_version).is_some()
            || set(&self.variant).is_some()
            || self.features.as_ref().is_some_and(|f| !f.is_empty())
    }
}

/// The two list formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// OCI image index.
    Oci,
    /// Docker manifest list (schema 2).
    Docker,
}

impl ListFormat {
    /// The format's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ListFormat::Oci => OCI_INDEX,
            ListFormat::Docker => DOCKER_LIST,
        }
    }
}

/// `Some(s)` when `s` is set and non-empty.
fn set(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.is_empty())
}

/// True for a full list ID: 64 lowercase hex characters.
pub fn is_list_id(s: &str) -> bool {
    s.len() == LIST_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new random list ID.
pub fn new_list_id() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Instance {
    /// An instance from an index or list entry (for `add --all`, remote inspect, ...).
    /// A missing platform becomes an empty one.
    pub fn from_entry(e: &IndexEntry, source: Option<String>) -> Self {
        Instance {
            media_type: e.media_type.clone(),
            digest: e.digest.clone(),
            size: e.size,
            urls: e.urls.clone(),
            platform: e.platform.clone().unwrap_or_default(),
            annotations: e.annotations.clone(),
            artifact_type: e.artifact_type.clone(),
            data: e.data.clone(),
            source,
        }
    }

    /// True when this entry carries something only an OCI index can hold.
    fn is_oci_only(&self) -> bool {
        !self.annotations.is_empty()
            || set(&self.artifact_type).is_some()
            || set(&self.data).is_some()
    }
}

/// podman's test for an OCI platform worth writing: any field but `features` set.
fn oci_platform_present(p: &Platform) -> bool {
    !(p.architecture.is_empty()
        && p.os.is_empty()
        && p.os_version.is_empty()
        && p.variant.is_empty()
        && p.os_features.is_empty())
}

impl ManifestList {
    /// A new empty list named `name` (already normalised) with a random ID, created now.
    pub fn new(name: impl Into<String>) -> Self {
        ManifestList {
            id: new_list_id(),
            names: vec![name.into()],
            created: now_unix(),
            ..Default::default()
        }
    }

    /// A view of a registry index or Docker list (remote inspect): its entries, index
    /// annotations, subject and artifactType. `id` and `names` are empty, `created` is 0.
    pub fn from_index(raw: &RawManifest) -> Result<ManifestList> {
        if !raw.is_list() {
            return Err(Error::new(
                ErrorKind::BadContent,
                format!(
                    "{} {} is not a manifest list or image index",
                    raw.digest, raw.media_type
                ),
            ));
        }
        let index = raw.index()?;
        Ok(ManifestList {
            artifact_type: index.artifact_type.filter(|a| !a.is_empty()),
            annotations: index.annotations,
            subject: index.subject,
            instances: index
                .manifests
                .iter()
                .map(|e| Instance::from_entry(e, None))
                .collect(),
            ..Default::default()
        })
    }

    /// True when `name` (normalised) is one of the list's names.
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Adds an entry at the end. An entry with the same digest is removed first, so re-adding
    /// moves it to the end and drops its earlier annotations and overrides
    /// (`docs/libpod-api.md#adding-an-image`).
    pub fn add_instance(&mut self, instance: Instance) {
        self.instances.retain(|i| i.digest != instance.digest);
        self.instances.push(instance);
    }

    /// Removes the entry with this digest (`docs/libpod-api.md#removing-an-instance`).
    ///
    /// Error (kind [`ErrorKind::InstanceNotFound`]): message
    /// `no instance matching digest "<d>" found in manifest list: file does not exist`, cause
    /// `file does not exist`.
    pub fn remove_instance(&mut self, digest: &str) -> Result<()> {
        let before = self.instances.len();
        self.instances.retain(|i| i.digest != digest);
        if self.instances.len() == before {
            return Err(Error::with_message(
                ErrorKind::InstanceNotFound,
                format!(
                    "no instance matching digest {} found in manifest list: file does not exist",
                    quote(digest)
                ),
                "file does not exist",
            ));
        }
        Ok(())
    }

    /// Applies overrides and annotations to the entry with this digest, as c/common's
    /// `AnnotateInstance` does (`docs/libpod-api.md#adding-an-image`,
    /// `docs/libpod-api.md#annotate-targets`): os, os.version, features, arch; the variant whenever
    /// arch or variant is set (so a new arch without a variant clears it); annotations merged.
    ///
    /// An update that changes nothing succeeds even for an unknown digest (podman checks the
    /// digest only when it sets something). Otherwise an unknown digest is an
    /// [`ErrorKind::InstanceNotFound`] error with c/common's text: `no Docker manifest matching
    /// digest "<d>" was found in list: no image instance matching the specified digest was found
    /// in the list or index` when a platform field is set, `no OCI manifest …` when only
    /// annotations are; the cause is the part after the colon.
    pub fn update_instance(&mut self, digest: &str, update: &InstanceUpdate) -> Result<()> {
        let Some(instance) = self.instances.iter_mut().find(|i| i.digest == digest) else {
            let which = if update.changes_platform() {
                "Docker"
            } else if !update.annotations.is_empty() {
                "OCI"
            } else {
                return Ok(());
            };
            return Err(Error::with_message(
                ErrorKind::InstanceNotFound,
                format!(
                    "no {which} manifest matching digest {} was found in list: {DIGEST_NOT_FOUND}",
                    quote(digest)
                ),
                DIGEST_NOT_FOUND,
            ));
        };
        let p = &mut instance.platform;
        if let Some(os) = set(&update.os) {
            p.os = os.to_string();
        }
        if let Some(v) = set(&update.os_version) {
            p.os_version = v.to_string();
        }
        if let Some(f) = update.features.as_ref().filter(|f| !f.is_empty()) {
            p.features = f.clone();
        }
        let arch = set(&update.arch);
        if let Some(a) = arch {
            p.architecture = a.to_string();
        }
        let variant = set(&update.variant);
        if arch.is_some() || variant.is_some() {
            p.variant = variant.unwrap_or_default().to_string();
        }
        instance.annotations.extend(
            update
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Ok(())
    }

    /// Merges index annotations and, when given, replaces the subject
    /// (`docs/libpod-api.md#annotate-targets`, `docs/libpod-api.md#index-subject`).
    pub fn annotate_index(
        &mut self,
        annotations: &BTreeMap<String, String>,
        subject: Option<Descriptor>,
    ) {
        self.annotations
            .extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        if subject.is_some() {
            self.subject = subject;
        }
    }

    /// podman's `preferOCI` (`docs/libpod-api.md#list-media-type`).
    fn prefers_oci(&self) -> bool {
        if set(&self.artifact_type).is_some()
            || self.subject.is_some()
            || !self.annotations.is_empty()
            || self.instances.iter().any(Instance::is_oci_only)
        {
            return true;
        }
        if self
            .instances
            .iter()
            .any(|i| !i.platform.features.is_empty())
        {
            return false;
        }
        !self.instances.is_empty()
    }

    /// The format the list is stored, inspected and (without `format`) pushed as
    /// (`docs/libpod-api.md#list-media-type`).
    pub fn format(&self) -> ListFormat {
        if self.prefers_oci() {
            ListFormat::Oci
        } else {
            ListFormat::Docker
        }
    }

    /// The media type of [`ManifestList::format`]: OCI index if anything OCI-only is present
    /// (index artifactType, subject or annotations; any entry's annotations, artifactType or
    /// data); else a Docker list if any entry has Docker `features`; else a Docker list when the
    /// list is empty and an OCI index when it is not.
    pub fn media_type(&self) -> &'static str {
        self.format().media_type()
    }

    /// Whether podman would still show the entries' Docker `features`: only while the list is
    /// stored as a Docker list. Inspect should hide them otherwise: once podman saved a list as an
    /// OCI index, its features are gone for good (`docs/libpod-api.md#list-media-type`).
    pub fn shows_features(&self) -> bool {
        self.format() == ListFormat::Docker
    }

    /// The list's manifest bytes in `format` (or [`ManifestList::format`] when `None`) and
    /// their media type. Deterministic: compact JSON, fixed field order, sorted annotations.
    pub fn serialize(&self, format: Option<ListFormat>) -> (Vec<u8>, &'static str) {
        let format = format.unwrap_or_else(|| self.format());
        let bytes = match format {
            ListFormat::Oci => to_json(&OciIndexOut {
                schema_version: 2,
                media_type: OCI_INDEX,
                artifact_type: set(&self.artifact_type),
                manifests: self.instances.iter().map(OciDescOut::entry).collect(),
                subject: self.subject.as_ref().map(OciDescOut::descriptor),
                annotations: sorted_map(&self.annotations),
            }),
            ListFormat::Docker => to_json(&DockerListOut {
                schema_version: 2,
                media_type: DOCKER_LIST,
                manifests: self.instances.iter().map(DockerDescOut::entry).collect(),
            }),
        };
        (bytes, format.media_type())
    }

    /// The digest of [`ManifestList::serialize`]`(None)`: what podman records as the list
    /// image's digest.
    pub fn digest(&self) -> String {
        sha256_digest(&self.serialize(None).0)
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // The output types hold only strings, integers, slices and string-keyed maps, for which
    // serde_json cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// A map in key order, as Go's `encoding/json` writes maps; `None` when it is empty.
fn sorted_map<'a>(
    m: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Option<BTreeMap<&'a str, &'a str>> {
    let sorted: BTreeMap<&str, &str> = m
        .into_iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    (!sorted.is_empty()).then_some(sorted)
}

fn non_empty_slice(s: &[String]) -> Option<&[String]> {
    (!s.is_empty()).then_some(s)
}

/// `v1.Index` field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciIndexOut<'a> {
    schema_version: u32,
    media_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    manifests: Vec<OciDescOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<OciDescOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<&'a str, &'a str>>,
}

/// `v1.Descriptor` field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
///
/// The subject is an oci-spec [`Descriptor`], but it is written here rather than by oci-spec's
/// serialiser, which puts `data` last, writes annotations in no fixed order and names the
/// platform's keys `os_version` and `os_features`.
struct OciDescOut<'a> {
    media_type: &'a str,
    digest: &'a str,
    /// An instance's size is signed as in Go, an oci-spec descriptor's unsigned.
    size: serde_json::Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<&'a str, &'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "oci_platform"
    )]
    platform: Option<Cow<'a, Platform>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
}

impl<'a> OciDescOut<'a> {
    fn entry(i: &'a Instance) -> Self {
        OciDescOut {
            media_type: &i.media_type,
            digest: &i.digest,
            size: i.size.into(),
            urls: non_empty_slice(&i.urls),
            annotations: sorted_map(&i.annotations),
            data: set(&i.data),
            platform: oci_platform_present(&i.platform).then_some(Cow::Borrowed(&i.platform)),
            artifact_type: set(&i.artifact_type),
        }
    }

    /// A descriptor as given (the subject): its platform is written whenever it has one.
    fn descriptor(d: &'a Descriptor) -> Self {
        OciDescOut {
            media_type: d.media_type().as_ref(),
            digest: d.digest().as_ref(),
            size: d.size().into(),
            urls: d.urls().as_deref().and_then(non_empty_slice),
            annotations: d.annotations().as_ref().and_then(sorted_map),
            data: set(d.data()),
            platform: d.platform().as_ref().map(|p| Cow::Owned(Platform::from(p))),
            artifact_type: d
                .artifact_type()
                .as_ref()
                .map(AsRef::as_ref)
                .filter(|a| !a.is_empty()),
        }
    }
}

fn oci_platform<S: serde::Serializer>(
    platform: &Option<Cow<'_, Platform>>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    platform
        .as_deref()
        .map(OciPlatformOut::of)
        .serialize(serializer)
}

/// `v1.Platform` field order (no `features`).
#[derive(Serialize)]
struct OciPlatformOut<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "str::is_empty")]
    os_version: &'a str,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
}

impl<'a> OciPlatformOut<'a> {
    fn of(p: &'a Platform) -> Self {
        OciPlatformOut {
            architecture: &p.architecture,
            os: &p.os,
            os_version: &p.os_version,
            os_features: non_empty_slice(&p.os_features),
            variant: &p.variant,
        }
    }
}

/// `manifest.Schema2List` field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerListOut<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<DockerDescOut<'a>>,
}

/// `manifest.Schema2ManifestDescriptor` field order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerDescOut<'a> {
    media_type: &'a str,
    size: i64,
    digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    urls: Option<&'a [String]>,
    platform: DockerPlatformOut<'a>,
}

impl<'a> DockerDescOut<'a> {
    fn entry(i: &'a Instance) -> Self {
        let p = &i.platform;
        DockerDescOut {
            media_type: &i.media_type,
            size: i.size,
            digest: &i.digest,
            urls: non_empty_slice(&i.urls),
            platform: DockerPlatformOut {
                architecture: &p.architecture,
                os: &p.os,
                os_version: &p.os_version,
                os_features: non_empty_slice(&p.os_features),
                variant: &p.variant,
                features: non_empty_slice(&p.features),
            },
        }
    }
}

/// `manifest.Schema2PlatformSpec` field order.
#[derive(Serialize)]
struct DockerPlatformOut<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "str::is_empty")]
    os_version: &'a str,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "str::is_empty")]
    variant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<&'a [String]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{MediaType, OCI_MANIFEST};
    use bytes::Bytes;
    use oci_spec::image::{Digest, PlatformBuilder};

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// A descriptor of an image manifest, as a subject.
    fn subject(c: char, size: u64) -> Descriptor {
        Descriptor::new(
            MediaType::ImageManifest,
            size,
            Digest::try_from(d(c)).expect("a digest"),
        )
    }

    fn image(c: char, arch: &str) -> Instance {
        Instance {
            media_type: OCI_MANIFEST.into(),
            digest: d(c),
            size: 495,
            platform: Platform {
                architecture: arch.into(),
                os: "linux".into(),
                ..Default::default()
            },
            source: Some(format!("127.0.0.1:5000/app@{}", d(c))),
            ..Default::default()
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn json(list: &ManifestList, format: Option<ListFormat>) -> String {
        String::from_utf8(list.serialize(format).0).expect("utf-8")
    }

    /// The digests of the entries, in list order.
    fn digests(list: &ManifestList) -> Vec<&str> {
        list.instances.iter().map(|i| i.digest.as_str()).collect()
    }

    #[test]
    fn empty_list_is_a_docker_list() {
        let list = ManifestList::new("localhost/ml:v1");
        assert!(is_list_id(&list.id));
        assert_eq!(list.names, ["localhost/ml:v1"]);
        assert!(list.created > 0);
        assert_eq!(list.media_type(), DOCKER_LIST);
        assert_eq!(
            json(&list, None),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#
        );
        assert_eq!(
            json(&list, Some(ListFormat::Oci)),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        );
        assert_eq!(list.serialize(Some(ListFormat::Oci)).1, OCI_INDEX);
    }

    #[test]
    fn one_plain_image_is_an_oci_index() {
        let mut list = ManifestList::default();
        list.add_instance(image('a', "amd64"));
        let (bytes, mt) = list.serialize(None);
        assert_eq!(mt, OCI_INDEX);
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf-8"),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":495,"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
                d('a')
            )
        );
        assert_eq!(list.digest(), sha256_digest(&bytes));
        assert_eq!(
            json(&list, Some(ListFormat::Docker)),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":495,"digest":"{}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
                d('a')
            )
        );
    }

    #[test]
    fn features_make_a_docker_list_and_are_dropped_from_oci() {
        let mut list = ManifestList::default();
        let mut i = image('a', "amd64");
        i.platform.features = vec!["f1".into(), "f2".into()];
        i.platform.variant = "v1".into();
        i.platform.os_version = "10.0".into();
        list.add_instance(i);
        assert_eq!(list.media_type(), DOCKER_LIST);
        assert!(list.shows_features());
        assert_eq!(
            json(&list, None),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":495,"digest":"{}","platform":{{"architecture":"amd64","os":"linux","os.version":"10.0","variant":"v1","features":["f1","f2"]}}}}]}}"#,
                d('a')
            )
        );
        // An index annotation wins: OCI, and the features are not emitted (but kept).
        list.annotate_index(&map(&[("ik", "iv")]), None);
        assert_eq!(list.media_type(), OCI_INDEX);
        assert!(!list.shows_features());
        assert_eq!(
            json(&list, None),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":495,"platform":{{"architecture":"amd64","os":"linux","os.version":"10.0","variant":"v1"}}}}],"annotations":{{"ik":"iv"}}}}"#,
                d('a')
            )
        );
        assert_eq!(list.instances[0].platform.features, ["f1", "f2"]);
    }

    #[test]
    fn every_oci_only_field_selects_oci() {
        let base = {
            let mut l = ManifestList::default();
            let mut i = image('a', "amd64");
            i.platform.features = vec!["f".into()];
            l.add_instance(i);
            l
        };
        assert_eq!(base.media_type(), DOCKER_LIST);
        type Tweak = fn(&mut ManifestList);
        let tweaks: [(&str, Tweak); 6] = [
            ("index artifactType", |l| {
                l.artifact_type = Some("application/x".into())
            }),
            ("subject", |l| l.subject = Some(subject('c', 7))),
            ("index annotations", |l| l.annotations = map(&[("a", "b")])),
            ("instance annotations", |l| {
                l.instances[0].annotations = map(&[("a", "b")])
            }),
            ("instance artifactType", |l| {
                l.instances[0].artifact_type = Some("application/x".into())
            }),
            ("instance data", |l| {
                l.instances[0].data = Some("e30=".into())
            }),
        ];
        for (what, tweak) in tweaks {
            let mut l = base.clone();
            tweak(&mut l);
            assert_eq!(l.media_type(), OCI_INDEX, "{what}");
            // The same on an empty list.
            let mut e = ManifestList::default();
            if what.starts_with("instance") {
                e.add_instance(image('b', "arm64"));
            }
            tweak(&mut e);
            assert_eq!(e.media_type(), OCI_INDEX, "{what} (no features)");
        }
        // Empty strings are "unset", as Go's "" checks.
        let mut l = base.clone();
        l.artifact_type = Some(String::new());
        l.instances[0].artifact_type = Some(String::new());
        l.instances[0].data = Some(String::new());
        assert_eq!(l.media_type(), DOCKER_LIST);
    }

    #[test]
    fn full_oci_index_is_byte_exact() {
        let mut list = ManifestList {
            artifact_type: Some("application/x-index".into()),
            annotations: map(&[("z", "1"), ("a", "2")]),
            subject: Some({
                let mut s = subject('c', 7);
                s.set_artifact_type(Some("application/x-sub".into()));
                s
            }),
            ..Default::default()
        };
        let mut i = image('a', "arm64");
        i.urls = vec!["https://example.com/a".into()];
        i.annotations = map(&[("k", "v")]);
        i.data = Some("e30=".into());
        i.artifact_type = Some("application/x-art".into());
        i.platform.variant = "v8".into();
        i.platform.os_features = vec!["sse4".into()];
        list.add_instance(i);
        let artifact = Instance {
            media_type: OCI_MANIFEST.into(),
            digest: d('b'),
            size: 665,
            artifact_type: Some("application/x-test".into()),
            ..Default::default()
        };
        list.add_instance(artifact);
        assert_eq!(
            json(&list, None),
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x-index","manifests":["#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{a}","size":495,"urls":["https://example.com/a"],"annotations":{{"k":"v"}},"data":"e30=","platform":{{"architecture":"arm64","os":"linux","os.features":["sse4"],"variant":"v8"}},"artifactType":"application/x-art"}},"#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":665,"artifactType":"application/x-test"}}],"#,
                    r#""subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{c}","size":7,"artifactType":"application/x-sub"}},"#,
                    r#""annotations":{{"a":"2","z":"1"}}}}"#
                ),
                a = d('a'),
                b = d('b'),
                c = d('c')
            )
        );
        // Forced Docker: OCI-only data is dropped, the empty platform is still written.
        assert_eq!(
            json(&list, Some(ListFormat::Docker)),
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":["#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":495,"digest":"{a}","urls":["https://example.com/a"],"platform":{{"architecture":"arm64","os":"linux","os.features":["sse4"],"variant":"v8"}}}},"#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":665,"digest":"{b}","platform":{{"architecture":"","os":""}}}}]}}"#
                ),
                a = d('a'),
                b = d('b')
            )
        );
    }

    #[test]
    fn a_full_subject_is_written_in_go_order_with_sorted_annotations() {
        let mut s = subject('c', 7);
        s.set_annotations(Some(
            [("b", "2"), ("a", "1"), ("c", "3")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        s.set_data(Some("e30=".into()));
        s.set_urls(Some(Vec::new()));
        s.set_platform(Some(
            PlatformBuilder::default()
                .architecture("amd64")
                .os("windows")
                .os_version("10.0.17763.1234")
                .build()
                .expect("a platform"),
        ));
        s.set_artifact_type(Some("application/x-sub".into()));
        let mut list = ManifestList::default();
        list.annotate_index(&BTreeMap::new(), Some(s));
        assert_eq!(
            json(&list, None),
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"#,
                    r#""subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{c}","size":7,"annotations":{{"a":"1","b":"2","c":"3"}},"data":"e30=","platform":{{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234"}},"artifactType":"application/x-sub"}}}}"#
                ),
                c = d('c')
            )
        );
    }

    #[test]
    fn readding_moves_to_the_end_and_forgets_old_data() {
        let mut list = ManifestList::default();
        let mut first = image('a', "amd64");
        first.annotations = map(&[("foo", "bar")]);
        list.add_instance(first);
        list.add_instance(image('b', "arm64"));
        let mut again = image('a', "amd64");
        again.annotations = map(&[("hoge", "fuga")]);
        list.add_instance(again);
        assert_eq!(digests(&list), [d('b').as_str(), d('a').as_str()]);
        let a = list
            .instances
            .iter()
            .find(|i| i.digest == d('a'))
            .expect("present");
        assert_eq!(a.annotations, map(&[("hoge", "fuga")]));
        assert!(digests(&list).contains(&d('b').as_str()));
        assert!(!digests(&list).contains(&d('c').as_str()));
    }

    #[test]
    fn remove_then_add_appends() {
        let mut list = ManifestList::default();
        for c in ['a', 'b', 'c'] {
            list.add_instance(image(c, "amd64"));
        }
        list.remove_instance(&d('a')).expect("present");
        list.add_instance(image('a', "amd64"));
        assert_eq!(
            digests(&list),
            [d('b').as_str(), d('c').as_str(), d('a').as_str()]
        );
        list.remove_instance(&d('b')).expect("present");
        list.remove_instance(&d('c')).expect("present");
        list.remove_instance(&d('a')).expect("present");
        assert!(list.instances.is_empty());
        // Empty again: back to the Docker type, "manifests":[] (never null).
        assert_eq!(list.media_type(), DOCKER_LIST);
        assert!(json(&list, None).contains(r#""manifests":[]"#));
    }

    #[test]
    fn removing_an_unknown_digest_says_file_does_not_exist() {
        let mut list = ManifestList::default();
        list.add_instance(image('a', "amd64"));
        let e = list.remove_instance(&d('b')).expect_err("absent");
        assert_eq!(e.kind(), ErrorKind::InstanceNotFound);
        assert_eq!(
            e.message(),
            format!(
                "no instance matching digest \"{}\" found in manifest list: file does not exist",
                d('b')
            )
        );
        assert_eq!(e.cause(), "file does not exist");
        assert_eq!(list.instances.len(), 1);
    }

    #[test]
    fn overrides_follow_annotate_instance() {
        let mut list = ManifestList::default();
        let mut i = image('a', "arm");
        i.platform.variant = "v7".into();
        i.annotations = map(&[("keep", "1"), ("over", "old")]);
        list.add_instance(i);
        let u = InstanceUpdate {
            os: Some("foo".into()),
            os_version: Some("10.0".into()),
            features: Some(vec!["f1".into()]),
            annotations: map(&[("over", "new"), ("add", "2")]),
            ..Default::default()
        };
        list.update_instance(&d('a'), &u).expect("present");
        let p = &list.instances[0].platform;
        assert_eq!(
            (
                p.os.as_str(),
                p.os_version.as_str(),
                p.architecture.as_str()
            ),
            ("foo", "10.0", "arm")
        );
        assert_eq!(p.variant, "v7", "variant untouched without arch/variant");
        assert_eq!(p.features, ["f1"]);
        assert_eq!(
            list.instances[0].annotations,
            map(&[("keep", "1"), ("over", "new"), ("add", "2")])
        );

        // Setting arch without a variant clears the variant.
        let u = InstanceUpdate {
            arch: Some("arm64".into()),
            ..Default::default()
        };
        list.update_instance(&d('a'), &u).expect("present");
        assert_eq!(list.instances[0].platform.architecture, "arm64");
        assert_eq!(list.instances[0].platform.variant, "");

        // Arch with an empty variant clears it too; arch with a variant sets both.
        list.instances[0].platform.variant = "v9".into();
        let u = InstanceUpdate {
            arch: Some("amd64".into()),
            variant: Some(String::new()),
            ..Default::default()
        };
        list.update_instance(&d('a'), &u).expect("present");
        assert_eq!(list.instances[0].platform.variant, "");
        let u = InstanceUpdate {
            arch: Some("arm64".into()),
            variant: Some("v8".into()),
            ..Default::default()
        };
        list.update_instance(&d('a'), &u).expect("present");
        assert_eq!(
            (
                list.instances[0].platform.architecture.as_str(),
                list.instances[0].platform.variant.as_str()
            ),
            ("arm64", "v8")
        );

        // A variant alone sets the variant only.
        let u = InstanceUpdate {
            variant: Some("v9".into()),
            ..Default::default()
        };
        list.update_instance(&d('a'), &u).expect("present");
        assert_eq!(list.instances[0].platform.architecture, "arm64");
        assert_eq!(list.instances[0].platform.variant, "v9");

        // Empty values change nothing.
        let before = list.clone();
        let u = InstanceUpdate {
            arch: Some(String::new()),
            os: Some(String::new()),
            os_version: Some(String::new()),
            features: Some(Vec::new()),
            ..Default::default()
        };
        assert!(u.is_empty());
        list.update_instance(&d('a'), &u).expect("present");
        assert_eq!(list, before);
    }

    #[test]
    fn updating_an_unknown_digest_uses_c_common_text() {
        let mut list = ManifestList::default();
        list.add_instance(image('a', "amd64"));
        let u = InstanceUpdate {
            os: Some("foo".into()),
            ..Default::default()
        };
        let e = list.update_instance(&d('b'), &u).expect_err("absent");
        assert_eq!(e.kind(), ErrorKind::InstanceNotFound);
        assert_eq!(
            e.message(),
            format!(
                "no Docker manifest matching digest \"{}\" was found in list: no image instance matching the specified digest was found in the list or index",
                d('b')
            )
        );
        assert_eq!(
            e.cause(),
            "no image instance matching the specified digest was found in the list or index"
        );
        let u = InstanceUpdate {
            annotations: map(&[("a", "b")]),
            ..Default::default()
        };
        let e = list.update_instance(&d('b'), &u).expect_err("absent");
        assert!(e.message().starts_with("no OCI manifest matching digest"));
        // Nothing to set: podman never looks the digest up.
        list.update_instance(&d('b'), &InstanceUpdate::default())
            .expect("no-op");
    }

    #[test]
    fn annotate_index_merges_and_sets_subject() {
        let mut list = ManifestList::default();
        list.annotate_index(&map(&[("a", "1"), ("b", "1")]), None);
        list.annotate_index(&map(&[("b", "2")]), None);
        assert_eq!(list.annotations, map(&[("a", "1"), ("b", "2")]));
        assert!(list.subject.is_none());
        let s = subject('c', 3);
        list.annotate_index(&BTreeMap::new(), Some(s.clone()));
        assert_eq!(list.subject.as_ref(), Some(&s));
        // No subject given: the old one stays.
        list.annotate_index(&BTreeMap::new(), None);
        assert_eq!(list.subject, Some(s));
    }

    #[test]
    fn from_index_reads_entries_and_index_fields() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{a}","size":10,"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"k":"v"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":11}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{c}","size":1}},"annotations":{{"ia":"ib"}}}}"#,
            a = d('a'),
            b = d('b'),
            c = d('c')
        );
        let raw = RawManifest::new(Bytes::from(body), None).expect("parses");
        let list = ManifestList::from_index(&raw).expect("a list");
        assert!(list.id.is_empty() && list.names.is_empty());
        assert_eq!(list.artifact_type.as_deref(), Some("application/x"));
        assert_eq!(list.annotations, map(&[("ia", "ib")]));
        assert_eq!(list.subject.as_ref().map(|s| s.size()), Some(1));
        assert_eq!(digests(&list), [d('a').as_str(), d('b').as_str()]);
        assert_eq!(list.instances[0].platform.architecture, "amd64");
        assert_eq!(list.instances[0].annotations, map(&[("k", "v")]));
        assert!(list.instances[1].platform.is_empty());
        assert!(list.instances.iter().all(|i| i.source.is_none()));

        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":5,"digest":"{a}","platform":{{"architecture":"arm64","os":"linux","variant":"v8","features":["x"]}}}}]}}"#,
            a = d('a')
        );
        let raw = RawManifest::new(Bytes::from(docker), None).expect("parses");
        let list = ManifestList::from_index(&raw).expect("a list");
        assert_eq!(list.instances[0].platform.features, ["x"]);
        assert_eq!(list.media_type(), DOCKER_LIST);

        let single = Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        );
        let raw = RawManifest::new(single, None).expect("parses");
        let e = ManifestList::from_index(&raw).expect_err("not a list");
        assert_eq!(e.kind(), ErrorKind::BadContent);
    }

    #[test]
    fn descriptors_round_trip_through_instances() {
        let mut i = image('a', "amd64");
        i.platform.features = vec!["f".into()];
        i.annotations = map(&[("k", "v")]);
        let empty = Instance {
            digest: d('b'),
            ..Default::default()
        };
        let mut list = ManifestList::default();
        list.add_instance(i.clone());
        list.add_instance(empty);
        let (bytes, _) = list.serialize(Some(ListFormat::Oci));
        let raw = RawManifest::new(Bytes::from(bytes), None).expect("parses");
        let desc = raw.index().expect("an index").manifests;
        assert_eq!(desc[0].platform.as_ref().map(|p| p.features.len()), Some(0));
        let back = ManifestList::from_index(&raw).expect("a list");
        assert_eq!(back.instances[0].digest, i.digest);
        assert_eq!(back.instances[0].annotations, i.annotations);
        assert!(back.instances[0].platform.features.is_empty());
        assert!(desc[1].platform.is_none());
    }

    #[test]
    fn record_round_trips_through_serde() {
        let mut list = ManifestList::new("localhost/ml:v1");
        let mut i = image('a', "amd64");
        i.platform.features = vec!["f".into()];
        i.annotations = map(&[("k", "v")]);
        list.add_instance(i);
        list.add_instance(Instance {
            digest: d('b'),
            media_type: OCI_MANIFEST.into(),
            ..Default::default()
        });
        list.annotate_index(&map(&[("a", "b")]), Some(subject('c', 1)));
        let text = serde_json::to_string(&list).expect("serialises");
        let back: ManifestList = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, list);
    }

    #[test]
    fn ids_and_quoting() {
        assert!(is_list_id(&"a".repeat(64)));
        assert!(!is_list_id(&"A".repeat(64)));
        assert!(!is_list_id(&"a".repeat(63)));
        assert!(!is_list_id("../../etc/passwd"));
        assert_ne!(new_list_id(), new_list_id());
    }
}
