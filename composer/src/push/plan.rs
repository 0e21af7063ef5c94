//! The push planner: from what the children need and what the destination already has, decide
//! for every blob and manifest what to do. Pure: no I/O, so every case is unit-tested.
//!
//! The plan keeps round trips few, because a push is a chain of them:
//! - a child manifest the destination already has needs nothing more: a registry accepts a
//!   manifest only once every blob it references is in that repository, so its blobs are there;
//! - a blob of a missing child on the destination's own registry is mounted straight away (a
//!   mount of a blob the repository already has is answered 201 as well), with no HEAD first;
//! - a blob from another registry is checked with a HEAD inside its own copy task, and streamed
//!   only when missing — unless the destination repository does not exist yet, when there is
//!   nothing to check.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;

use crate::error::{ErrorKind, Result};
use crate::oci::{validate_digest, Descriptor, RawManifest};
use crate::reference::ImageRef;

/// A blob a child manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Digest.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is an image config (only for progress wording).
    pub is_config: bool,
}

/// A manifest to write at the destination, with the blobs it needs, read from its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceManifest {
    /// Where it lives (repository and digest).
    pub source: ImageRef,
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its exact bytes.
    pub bytes: Bytes,
    /// Blobs it references (configs and layers), in manifest order.
    pub blobs: Vec<Blob>,
    /// Whether it is itself a list (written after the manifests it references).
    pub is_list: bool,
}

impl SourceManifest {
    /// Reads a manifest fetched from `source`: an image manifest with the blobs it needs (its
    /// config, then every layer that is not foreign), or a list with the digests of its
    /// entries, returned so they are read next.
    ///
    /// A digest is checked before anything is asked for it: oci-spec reads any algorithm,
    /// registries and podman know only go-digest's.
    pub fn read(source: &ImageRef, raw: RawManifest) -> Result<(SourceManifest, Vec<String>)> {
        let mut blobs = Vec::new();
        let mut children = Vec::new();
        if raw.is_list() {
            let index = raw
                .index()
                .map_err(|e| e.context(format!("manifest list {source}")))?;
            for entry in &index.manifests {
                children.push(entry.checked_digest(source)?.to_string());
            }
        } else {
            let manifest = raw
                .image_manifest()
                .map_err(|e| e.context(format!("manifest {source}")))?;
            blobs.push(Blob::of(manifest.config(), true, source)?);
            for layer in manifest.layers() {
                // Foreign layers (Windows base layers) live elsewhere and are never copied.
                let has_urls = layer.urls().as_ref().is_some_and(|u| !u.is_empty());
                if has_urls || layer.media_type().as_ref().contains("foreign") {
                    continue;
                }
                blobs.push(Blob::of(layer, false, source)?);
            }
        }
        let manifest = SourceManifest {
            source: source.clone(),
            digest: raw.digest.clone(),
            is_list: raw.is_list(),
            media_type: raw.media_type,
            bytes: raw.bytes,
            blobs,
        };
        Ok((manifest, children))
    }
}

impl Blob {
    /// The blob a descriptor in image manifest `manifest` points at.
    fn of(d: &Descriptor, is_config: bool, manifest: &ImageRef) -> Result<Blob> {
        let digest = d.digest().as_ref();
        validate_digest(digest).map_err(|e| {
            e.with_kind(ErrorKind::BadContent)
                .context(format!("manifest {manifest} references blob {digest:?}"))
        })?;
        Ok(Blob {
            digest: digest.to_string(),
            size: d.size(),
            is_config,
        })
    }
}

/// What to do with one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    /// Mount it from the source repository on the same registry.
    Mount,
    /// Ask the destination for it, and stream it from its source registry when missing.
    CheckThenCopy,
    /// Stream it from its source registry without asking: the destination repository is new.
    Copy,
}

/// One blob step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStep {
    /// The blob.
    pub blob: Blob,
    /// Where it is read from (repository; the digest is the blob's).
    pub source: ImageRef,
    /// What to do.
    pub action: BlobAction,
}

/// One manifest step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestStep {
    /// The manifest.
    pub manifest: SourceManifest,
    /// False when the destination already has it.
    pub write: bool,
    /// The blob steps (indices into [`Plan::blobs`]) that must be done before it is written:
    /// its own blobs, so it goes as soon as they are in place rather than after every blob of
    /// every child. Empty for a manifest not written and for nested lists, which wait for the
    /// images instead.
    pub needs: Vec<usize>,
}

/// The whole plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Blobs of the children the destination lacks, deduplicated, in first-use order.
    pub blobs: Vec<BlobStep>,
    /// Image manifests (each written as soon as the blobs it [needs](ManifestStep::needs) are
    /// done).
    pub images: Vec<ManifestStep>,
    /// Nested lists (written after the images, in order).
    pub lists: Vec<ManifestStep>,
    /// Whether the index must be written (false when the tag already points at it).
    pub write_index: bool,
}

/// What the destination already holds.
#[derive(Debug, Clone, Default)]
pub struct DestinationState {
    /// Manifest digests present in the destination repository.
    pub manifests: HashSet<String>,
    /// The digest the destination tag points at now, if any.
    pub tag_digest: Option<String>,
    /// The destination repository does not exist yet, so it holds no blob.
    pub new_repository: bool,
}

/// Plans a push of `manifests` and an index with digest `index_digest` to `destination`.
///
/// A blob is mounted when some child's source is on the destination's registry (preferring
/// such a source over others), and streamed otherwise.
pub fn plan(
    manifests: &[SourceManifest],
    destination: &ImageRef,
    state: &DestinationState,
    index_digest: &str,
) -> Plan {
    // Deduplicate the blobs of missing children, remembering the best source for each.
    let mut order: Vec<String> = Vec::new();
    let mut chosen: BTreeMap<String, (Blob, ImageRef)> = BTreeMap::new();
    for m in manifests
        .iter()
        .filter(|m| !state.manifests.contains(&m.digest))
    {
        for b in &m.blobs {
            let same_registry = m.source.registry == destination.registry;
            match chosen.get(&b.digest) {
                None => {
                    order.push(b.digest.clone());
                    chosen.insert(b.digest.clone(), (b.clone(), m.source.clone()));
                }
                Some((_, existing))
                    if same_registry && existing.registry != destination.registry =>
                {
                    chosen.insert(b.digest.clone(), (b.clone(), m.source.clone()));
                }
                Some(_) => {}
            }
        }
    }
    let blobs: Vec<BlobStep> = order
        .into_iter()
        .filter_map(|d| chosen.remove(&d))
        .map(|(blob, source)| {
            let action = if source.registry == destination.registry
                && source.repository != destination.repository
            {
                BlobAction::Mount
            } else if state.new_repository {
                BlobAction::Copy
            } else {
                BlobAction::CheckThenCopy
            };
            BlobStep {
                blob,
                source,
                action,
            }
        })
        .collect();
    let step_of: BTreeMap<&str, usize> = blobs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.blob.digest.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut images = Vec::new();
    let mut lists = Vec::new();
    for m in manifests {
        if !seen.insert(m.digest.clone()) {
            continue;
        }
        let write = !state.manifests.contains(&m.digest);
        let mut needs: Vec<usize> = if write {
            m.blobs
                .iter()
                .filter_map(|b| step_of.get(b.digest.as_str()).copied())
                .collect()
        } else {
            Vec::new()
        };
        needs.sort_unstable();
        needs.dedup();
        let step = ManifestStep {
            manifest: m.clone(),
            write,
            needs,
        };
        if m.is_list {
            lists.push(step);
        } else {
            images.push(step);
        }
    }
    Plan {
        blobs,
        images,
        lists,
        write_index: state.tag_digest.as_deref() != Some(index_digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST};

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn read(body: String) -> Result<(SourceManifest, Vec<String>)> {
        let raw = RawManifest::new(Bytes::from(body), None).expect("JSON");
        SourceManifest::read(&dest("r1:5000/app"), raw)
    }

    fn descriptor(media_type: &str, c: char, size: u64) -> String {
        format!(
            r#"{{"mediaType":"{media_type}","size":{size},"digest":"{}"}}"#,
            d(c)
        )
    }

    #[test]
    fn an_image_needs_its_config_and_layers_but_not_foreign_ones() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{},"layers":[{},{},{}]}}"#,
            descriptor("application/vnd.docker.container.image.v1+json", 'c', 7),
            descriptor(
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                'f',
                8
            ),
            r#"{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","size":5,"digest":"sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","urls":["https://example.com/e"]}"#,
            descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", '9', 9),
        );
        let (m, children) = read(body.clone()).expect("an image");
        assert!(children.is_empty());
        assert!(!m.is_list);
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.bytes, body.as_bytes(), "the exact bytes");
        assert_eq!(
            m.blobs,
            [
                Blob {
                    digest: d('c'),
                    size: 7,
                    is_config: true
                },
                Blob {
                    digest: d('9'),
                    size: 9,
                    is_config: false
                }
            ]
        );
    }

    #[test]
    fn a_list_names_its_entries() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{},{}]}}"#,
            descriptor(DOCKER_MANIFEST, 'a', 1),
            descriptor(DOCKER_MANIFEST, 'b', 2)
        );
        let (m, children) = read(body).expect("a list");
        assert!(m.is_list && m.blobs.is_empty());
        assert_eq!(children, [d('a'), d('b')]);
    }

    #[test]
    fn broken_digests_and_manifests_are_bad_content_naming_the_manifest() {
        let image = |config: String| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config},"layers":[]}}"#
            )
        };
        let cases = [
            (
                image(r#"{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"md5:abcd"}"#.into()),
                r#"manifest r1:5000/app references blob "md5:abcd": unsupported digest algorithm"#,
            ),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
                "manifest r1:5000/app: parsing image manifest: missing field `config`",
            ),
            (
                format!(
                    r#"{{"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"sha256:abc"}}]}}"#
                ),
                r#"manifest list r1:5000/app has an entry with digest "sha256:abc": invalid checksum digest format"#,
            ),
        ];
        for (body, message) in cases {
            let e = read(body).expect_err("broken");
            assert_eq!(e.kind(), ErrorKind::BadContent, "{e}");
            assert_eq!(e.message(), message);
        }
    }

    fn image(repo: &str, digest: &str, blobs: &[&str]) -> SourceManifest {
        let source = ImageRef::parse(&format!("{repo}@sha256:{}", "a".repeat(64))).expect("ref");
        SourceManifest {
            source,
            digest: digest.into(),
            media_type: crate::oci::OCI_MANIFEST.into(),
            bytes: Bytes::from_static(b"{}"),
            blobs: blobs
                .iter()
                .enumerate()
                .map(|(i, d)| Blob {
                    digest: (*d).into(),
                    size: 10,
                    is_config: i == 0,
                })
                .collect(),
            is_list: false,
        }
    }

    fn dest(s: &str) -> ImageRef {
        ImageRef::parse(s).expect("ref")
    }

    /// Counts of blob actions: (mounted, checked then copied, copied).
    fn blob_counts(p: &Plan) -> (usize, usize, usize) {
        let count = |a| p.blobs.iter().filter(|s| s.action == a).count();
        (
            count(BlobAction::Mount),
            count(BlobAction::CheckThenCopy),
            count(BlobAction::Copy),
        )
    }

    #[test]
    fn same_registry_mounts_other_registry_checks_then_copies() {
        let ms = vec![
            image("r1:5000/app", "m1", &["c1", "base", "l1"]),
            image("r1:5000/app", "m2", &["c2", "base", "l2"]),
        ];
        let state = DestinationState::default();
        let p = plan(&ms, &dest("r1:5000/new:v1"), &state, "idx");
        let digests: Vec<&str> = p.blobs.iter().map(|b| b.blob.digest.as_str()).collect();
        assert_eq!(
            digests,
            ["c1", "base", "l1", "c2", "l2"],
            "deduplicated, first-use order"
        );
        assert_eq!(blob_counts(&p), (5, 0, 0));
        let p = plan(&ms, &dest("r2:5000/new:v1"), &state, "idx");
        assert_eq!(blob_counts(&p), (0, 5, 0));
        let fresh = DestinationState {
            new_repository: true,
            ..Default::default()
        };
        let p = plan(&ms, &dest("r2:5000/new:v1"), &fresh, "idx");
        assert_eq!(
            blob_counts(&p),
            (0, 0, 5),
            "a new repository has no blob to ask about"
        );
        assert!(p.images.iter().all(|s| s.write));
        assert!(p.write_index);
    }

    #[test]
    fn each_child_waits_only_for_its_own_blobs() {
        let ms = vec![
            image("r1:5000/app", "m1", &["c1", "base", "l1"]),
            image("r1:5000/app", "m2", &["c2", "base", "l2", "l2"]),
        ];
        let p = plan(
            &ms,
            &dest("r1:5000/new"),
            &DestinationState::default(),
            "idx",
        );
        let needs = |i: usize| -> Vec<&str> {
            p.images[i]
                .needs
                .iter()
                .map(|&b| p.blobs[b].blob.digest.as_str())
                .collect()
        };
        assert_eq!(needs(0), ["c1", "base", "l1"]);
        assert_eq!(
            needs(1),
            ["base", "c2", "l2"],
            "the shared base once, a repeated layer once"
        );
        let state = DestinationState {
            manifests: HashSet::from(["m1".to_string()]),
            ..Default::default()
        };
        let p = plan(&ms, &dest("r1:5000/new"), &state, "idx");
        assert!(
            p.images[0].needs.is_empty(),
            "a child that is there waits for nothing"
        );
        assert_eq!(p.images[1].needs.len(), 3);
    }

    #[test]
    fn a_child_already_at_the_destination_needs_none_of_its_blobs() {
        let ms = vec![
            image("r1:5000/app", "m1", &["c1", "base", "l1"]),
            image("r1:5000/app", "m2", &["c2", "base", "l2"]),
        ];
        let state = DestinationState {
            manifests: HashSet::from(["m1".to_string()]),
            ..Default::default()
        };
        let p = plan(&ms, &dest("r2:5000/new:v1"), &state, "idx");
        let digests: Vec<&str> = p.blobs.iter().map(|b| b.blob.digest.as_str()).collect();
        assert_eq!(
            digests,
            ["c2", "base", "l2"],
            "the shared base is still needed by m2"
        );
        let writes: Vec<bool> = p.images.iter().map(|s| s.write).collect();
        assert_eq!(writes, [false, true]);
    }

    #[test]
    fn a_source_on_the_destination_registry_is_preferred() {
        let ms = vec![
            image("far:5000/app", "m1", &["c1", "shared"]),
            image("near:5000/app", "m2", &["c2", "shared"]),
        ];
        let p = plan(
            &ms,
            &dest("near:5000/new"),
            &DestinationState::default(),
            "idx",
        );
        let shared = p
            .blobs
            .iter()
            .find(|b| b.blob.digest == "shared")
            .expect("planned");
        assert_eq!(shared.action, BlobAction::Mount);
        assert_eq!(shared.source.registry, "near:5000");
    }

    #[test]
    fn an_unchanged_destination_needs_no_writes() {
        let ms = vec![image("r1:5000/app", "m1", &["c1", "l1"])];
        let state = DestinationState {
            manifests: HashSet::from(["m1".to_string()]),
            tag_digest: Some("idx".into()),
            new_repository: false,
        };
        let p = plan(&ms, &dest("r2:5000/new"), &state, "idx");
        assert!(p.blobs.is_empty());
        assert!(p.images.iter().all(|s| !s.write));
        assert!(!p.write_index);
    }

    #[test]
    fn the_same_repository_never_mounts_onto_itself() {
        let ms = vec![image("r1:5000/app", "m1", &["c1"])];
        let p = plan(
            &ms,
            &dest("r1:5000/app:list"),
            &DestinationState::default(),
            "idx",
        );
        assert_eq!(p.blobs[0].action, BlobAction::CheckThenCopy);
    }

    #[test]
    fn lists_are_written_after_images_and_duplicates_once() {
        let mut nested = image("r1:5000/app", "n1", &[]);
        nested.is_list = true;
        let ms = vec![
            image("r1:5000/app", "m1", &["c1"]),
            image("r1:5000/app", "m1", &["c1"]),
            nested,
        ];
        let p = plan(&ms, &dest("r1:5000/x"), &DestinationState::default(), "idx");
        assert_eq!(p.images.len(), 1);
        assert_eq!(p.lists.len(), 1);
        assert_eq!(p.blobs.len(), 1);
    }
}
