//! The events a push sends: their order, what each says, the retries of its registry
//! operations on sources and the destination, and that the last one is the outcome, whether the
//! push succeeds or fails.

use std::collections::HashSet;
use std::time::Duration;

use manifold_composer::cache::ManifestCache;
use manifold_composer::credentials::Credentials;
use manifold_composer::list::{Instance, ManifestList};
use manifold_composer::push::events::{ChildDone, PushEvent};
use manifold_composer::push::{execute::push_list, PushOptions};
use manifold_composer::registry::{BlobCopy, RetryNotice, RetryReason};
use manifold_tests::fake_registry::{FakeRegistry, Fault, RetryAfter};
use manifold_tests::{ImageSpec, PushedImage};

use crate::support::{self, access, image, insecure_entry, load, retries, runtime};

/// A cache over a client that reads and writes `registries` over plain HTTP, retrying `retry`
/// times after a millisecond's backoff.
fn cache(registries: &[&FakeRegistry], retry: u32) -> ManifestCache {
    let entries: String = registries
        .iter()
        .map(|reg| insecure_entry(&reg.host(), ""))
        .collect();
    support::cache(&load(&format!("{entries}{}", retries(retry, 1)), &[]))
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
    let cache = cache(&[&reg], 0);
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
    let events = push(
        &cache(&[&reg], 0),
        &list,
        &format!("{}/failed:v1", reg.host()),
    );
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

#[test]
fn retries_on_sources_and_the_destination_are_reported_before_the_outcome() {
    let (source, destination) = (FakeRegistry::anonymous(), FakeRegistry::anonymous());
    let images = three_images(&source);
    let list = list_of(&images);
    let cache = cache(&[&source, &destination], 3);
    // A child's manifest read answers 429 asking for a second's wait; the first upload session
    // of a blob copy 503; the index PUT 500 twice.
    let wait = Fault::TooManyRequests(RetryAfter::Seconds(1));
    source.inject("GET", "/v2/app/manifests/sha256:*", 1, wait);
    destination.inject("POST", "/v2/pushed/blobs/uploads/", 1, Fault::Status(503));
    destination.inject("PUT", "/v2/pushed/manifests/v1", 2, Fault::Status(500));

    let events = push(&cache, &list, &format!("{}/pushed:v1", destination.host()));
    assert_eq!(source.faults_left() + destination.faults_left(), 0);
    assert!(
        matches!(events.last(), Some(PushEvent::Finished(Ok(_)))),
        "{events:#?}"
    );
    let retries: Vec<(usize, &RetryNotice)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            PushEvent::Retry(notice) => Some((i, notice)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 4, "{events:#?}");
    let position = |wanted: &dyn Fn(&PushEvent) -> bool| {
        events
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("{events:#?}"))
    };

    // The source read, with the registry's own delay, before any blob moved.
    let [(at, read)] = retries_where(&retries, |n| n.registry == source.host())[..] else {
        panic!("{retries:#?}")
    };
    assert!(
        read.what.starts_with("GET /v2/app/manifests/sha256:"),
        "{read:?}"
    );
    assert_eq!(
        (read.attempt, read.delay, &read.reason),
        (1, Duration::from_secs(1), &RetryReason::Status(429))
    );
    assert!(at < position(&|e| matches!(e, PushEvent::Blob(_))));

    // The blob copy, retried as a whole step, before its blob is reported.
    let [(at, copy)] = retries_where(&retries, |n| n.what.starts_with("copying blob "))[..] else {
        panic!("{retries:#?}")
    };
    assert_eq!(copy.registry, destination.host());
    let route = format!(
        " from {}/app to {}/pushed",
        source.host(),
        destination.host()
    );
    assert!(copy.what.ends_with(&route), "{copy:?}");
    assert_eq!((copy.attempt, &copy.reason), (1, &RetryReason::Status(503)));
    let digest = copy.what.split(' ').nth(2).expect("the blob's digest");
    assert!(at < position(&|e| matches!(e, PushEvent::Blob(b) if b.digest == digest)));

    // The index PUT, twice, between the index's start and its end.
    let index_put = "PUT /v2/pushed/manifests/v1";
    let puts = retries_where(&retries, |n| n.what == index_put);
    let attempts: Vec<(u32, &RetryReason)> =
        puts.iter().map(|(_, n)| (n.attempt, &n.reason)).collect();
    assert_eq!(
        attempts,
        [
            (1, &RetryReason::Status(500)),
            (2, &RetryReason::Status(500))
        ]
    );
    assert!(puts.iter().all(|(_, n)| n.registry == destination.host()));
    let started = position(&|e| matches!(e, PushEvent::IndexStarted { .. }));
    let done = position(&|e| matches!(e, PushEvent::IndexDone { .. }));
    assert!(puts.iter().all(|(at, _)| started < *at && *at < done));
}

/// The retries among `retries` that `keep` selects, with their positions among the events.
fn retries_where<'a>(
    retries: &[(usize, &'a RetryNotice)],
    keep: impl Fn(&RetryNotice) -> bool,
) -> Vec<(usize, &'a RetryNotice)> {
    retries.iter().copied().filter(|(_, n)| keep(n)).collect()
}
