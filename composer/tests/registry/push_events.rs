//! The events a push sends: their order, what each says, and that the last one is the outcome,
//! whether the push succeeds or fails.

use std::collections::HashSet;

use manifold_composer::cache::ManifestCache;
use manifold_composer::credentials::Credentials;
use manifold_composer::list::{Instance, ManifestList};
use manifold_composer::push::events::{ChildDone, PushEvent};
use manifold_composer::push::{execute::push_list, PushOptions};
use manifold_composer::registry::{BlobCopy, RegistryClient};
use manifold_tests::fake_registry::FakeRegistry;
use manifold_tests::{ImageSpec, PushedImage};

use crate::support::{access, image, insecure_entry, load, runtime};

/// A cache over a client that reads and writes `reg` over plain HTTP, without retries.
fn cache(reg: &FakeRegistry) -> ManifestCache {
    let config = load(
        &format!("{}[push]\nretries = 0\n", insecure_entry(&reg.host(), "")),
        &[],
    );
    let client = RegistryClient::new(config.clone()).expect("a registry client");
    ManifestCache::new(client, &config.cache)
}

/// Three linux images in `reg`'s `app` that share a base layer.
fn three_images(reg: &FakeRegistry) -> Vec<PushedImage> {
    ["amd64", "arm64", "s390x"]
        .iter()
        .zip(1..)
        .map(|(arch, seed)| {
            reg.seed_image("app", arch, &ImageSpec::linux(arch).seed(seed).base(100))
        })
        .collect()
}

/// A list entry for the manifest `digest`, to be copied from `source`.
fn instance(media_type: &str, digest: &str, size: u64, source: String) -> Instance {
    Instance {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: size as i64,
        source: Some(source),
        ..Default::default()
    }
}

fn list_of(images: &[PushedImage]) -> ManifestList {
    let mut list = ManifestList::default();
    for img in images {
        let source = img.digest_reference();
        list.add_instance(instance(&img.media_type, &img.digest, img.size, source));
    }
    list
}

/// Pushes `list` (with its children) to `dest` and returns every event, in order, after checking
/// that the outcome is the last one and comes once.
fn push(cache: &ManifestCache, list: &ManifestList, dest: &str) -> Vec<PushEvent> {
    let opts = PushOptions {
        destination: image(dest),
        all: true,
        format: None,
    };
    let credentials = Credentials::anonymous();
    let access = access(&credentials, None);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = runtime().block_on(push_list(cache, list, &opts, access, access, 4, &tx));
    drop(tx);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert_eq!(
        events.last(),
        Some(&PushEvent::Finished(result)),
        "the outcome is the last event"
    );
    let finished = events
        .iter()
        .filter(|e| matches!(e, PushEvent::Finished(_)))
        .count();
    assert_eq!(finished, 1, "{events:#?}");
    events
}

fn children(events: &[PushEvent]) -> Vec<&ChildDone> {
    events
        .iter()
        .filter_map(|e| match e {
            PushEvent::Child(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn a_push_reports_each_blob_once_before_its_children_then_the_index() {
    let reg = FakeRegistry::anonymous();
    let images = three_images(&reg);
    let list = list_of(&images);
    let cache = cache(&reg);
    let dest = format!("{}/pushed:v1", reg.host());

    let events = push(&cache, &list, &dest);
    let PushEvent::Started {
        index_digest,
        children: Some(3),
    } = &events[0]
    else {
        panic!("{events:#?}")
    };
    let mut blobs_seen = HashSet::new();
    for event in &events {
        match event {
            PushEvent::Blob(b) => {
                assert!(blobs_seen.insert(b.digest.clone()), "{} twice", b.digest);
                // Same registry, another repository: mounted from where the child was added.
                assert_eq!(b.copy, BlobCopy::Mounted, "{b:?}");
                assert_eq!(b.source.name(), format!("{}/app", reg.host()));
            }
            PushEvent::Child(c) => {
                assert!(c.written, "{c:?}");
                for blob in &c.blobs {
                    assert!(
                        blobs_seen.contains(&blob.digest),
                        "{} before its child {}",
                        blob.digest,
                        c.digest
                    );
                }
            }
            _ => {}
        }
    }
    let every_blob: HashSet<String> = images.iter().flat_map(|i| i.blob_digests()).collect();
    assert_eq!(blobs_seen, every_blob, "each blob once");
    let mut positions: Vec<(usize, usize)> = children(&events)
        .iter()
        .map(|c| (c.position, c.total))
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, [(0, 3), (1, 3), (2, 3)]);
    let n = events.len();
    assert_eq!(
        &events[n - 3..n - 1],
        [
            PushEvent::IndexStarted {
                digest: index_digest.clone()
            },
            PushEvent::IndexDone {
                digest: index_digest.clone(),
                written: true
            }
        ]
    );
    assert_eq!(events[n - 1], PushEvent::Finished(Ok(index_digest.clone())));

    // Again: the destination has everything, so no blob moves and nothing is written.
    let again = push(&cache, &list, &dest);
    assert!(!again.iter().any(|e| matches!(e, PushEvent::Blob(_))));
    assert!(children(&again).iter().all(|c| !c.written));
    assert!(again.contains(&PushEvent::IndexDone {
        digest: index_digest.clone(),
        written: false
    }));
}

#[test]
fn a_failed_push_ends_with_its_error() {
    let reg = FakeRegistry::anonymous();
    let images = three_images(&reg);
    let mut list = list_of(&images[..1]);
    // A child the source does not have: the push fails reading it.
    let missing = format!("sha256:{}", "0".repeat(64));
    let source = format!("{}/app@{missing}", reg.host());
    list.add_instance(instance(&images[1].media_type, &missing, 1, source));
    let events = push(&cache(&reg), &list, &format!("{}/failed:v1", reg.host()));
    assert!(
        matches!(events[0], PushEvent::Started { .. }),
        "{events:#?}"
    );
    let PushEvent::Finished(Err(e)) = &events[events.len() - 1] else {
        panic!("{events:#?}")
    };
    assert!(e.message().contains(&missing), "{e}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PushEvent::IndexStarted { .. })),
        "{events:#?}"
    );
}
