//! The push executor: reads the children from their sources, asks the destination what it has,
//! runs the plan ([`super::plan`]) with bounded parallelism, and sends a [`PushEvent`] for every
//! step done.

use futures_util::future::{try_join_all, BoxFuture, FutureExt as _, Shared};
use tokio::sync::Semaphore;

use super::events::{emit, BlobDone, ChildDone, PushEvent, PushEventSender};
use super::plan::{self, BlobAction, BlobStep, DestinationState, ManifestStep, SourceManifest};
use super::PushOptions;
use crate::cache::ManifestCache;
use crate::error::{Error, ErrorKind, Result};
use crate::list::ManifestList;
use crate::oci::sha256_digest;
use crate::parallel::bounded;
use crate::reference::ImageRef;
use crate::registry::{watch_retries, Access, BlobCopy, BlobSource, RegistryClient, Route};

/// Nested lists inside a list are followed this deep.
const MAX_NESTING: usize = 2;

/// Pushes `list` as `opts` says and returns the digest of the index written (or found) at the
/// destination. Every step is reported to `events`, and the outcome last
/// ([`PushEvent::Finished`]). A receiver that went away does not stop the push: the
/// destination is left consistent either way, because the index is written last.
///
/// Sources are read through the cache (children are immutable by digest); everything about the
/// destination goes to the registry itself, uncached, because it must reflect what is there now.
pub async fn push_list(
    cache: &ManifestCache,
    list: &ManifestList,
    opts: &PushOptions,
    source: Access<'_>,
    dest: Access<'_>,
    concurrency: usize,
    events: &PushEventSender,
) -> Result<String> {
    // The whole push, whose outcome is the last event. Every retry of a registry operation
    // inside it, on a source or the destination, is an event too: the retry loop tells the
    // watcher of the task it runs in (see `registry::watch` for why a task-local watcher), and
    // all of the push's parallel work is joined in this future, none of it spawned.
    let sender = events.clone();
    let retried = move |notice| emit(&sender, PushEvent::Retry(notice));
    let result = watch_retries(retried, async {
        let client = cache.client();
        let concurrency = concurrency.max(1);
        // Every request to the destination goes to this one place with this one credential.
        let route = client.write_route(&opts.destination, &dest).await?;
        let (index_bytes, index_type) = list.serialize(opts.format);
        let index_digest = sha256_digest(&index_bytes);
        emit(
            events,
            PushEvent::Started {
                index_digest: index_digest.clone(),
                children: opts.all.then_some(list.instances.len()),
            },
        );
        let manifests = if opts.all {
            read_children(cache, list, source, concurrency).await?
        } else {
            Vec::new()
        };
        let state =
            destination_state(client, &manifests, &route, &index_digest, concurrency).await?;
        // Planned against where the requests go: sources are recorded where they were read.
        let plan = plan::plan(&manifests, route.image(), &state, &index_digest);
        let to = Destination {
            client,
            image: &opts.destination,
            route: &route,
            events,
        };
        let from = Source {
            cache,
            access: source,
        };
        copy_children(&to, &plan, &from, concurrency).await?;
        // Nested lists reference images written above and each other in order: one at a time.
        let lists = plan.lists.len();
        for (i, step) in plan.lists.iter().enumerate() {
            write_list(&to, step, i, lists).await?;
        }
        emit(
            events,
            PushEvent::IndexStarted {
                digest: index_digest.clone(),
            },
        );
        if plan.write_index {
            client
                .manifest_put(&route, bytes::Bytes::from(index_bytes), index_type)
                .await?;
        }
        // The tag now names this index; a cached resolution of it would be stale.
        cache.invalidate_tag(&route).await;
        emit(
            events,
            PushEvent::IndexDone {
                digest: index_digest.clone(),
                written: plan.write_index,
            },
        );
        Ok(index_digest)
    })
    .await;
    emit(events, PushEvent::Finished(result.clone()));
    result
}

/// Reads every child manifest (exact bytes) from where it was added from, following nested
/// lists, in list order.
async fn read_children(
    cache: &ManifestCache,
    list: &ManifestList,
    source: Access<'_>,
    concurrency: usize,
) -> Result<Vec<SourceManifest>> {
    let mut refs = Vec::with_capacity(list.instances.len());
    for inst in &list.instances {
        let src = inst.source.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::BadContent,
                format!(
                    "instance {} has no recorded source to copy it from; add it again from its registry",
                    inst.digest
                ),
            )
        })?;
        let src = ImageRef::parse(src)?;
        refs.push(src.with_digest(&inst.digest));
    }
    let mut out = Vec::new();
    let mut level = refs;
    for depth in 0..=MAX_NESTING {
        if level.is_empty() {
            break;
        }
        let fetched: Vec<(SourceManifest, Vec<String>)> = bounded(
            concurrency,
            level.iter().map(|r| read_manifest(cache, r, source)),
        )
        .await?;
        let mut next = Vec::new();
        let mut level_out = Vec::with_capacity(fetched.len());
        for (m, children) in fetched {
            if m.is_list {
                if depth == MAX_NESTING {
                    return Err(Error::new(
                        ErrorKind::BadContent,
                        format!("{} nests lists more than {MAX_NESTING} deep", m.source),
                    ));
                }
                next.extend(children.iter().map(|d| m.source.with_digest(d)));
            }
            level_out.push(m);
        }
        // Nested lists go after the manifests they reference: deeper levels come first. (The
        // planner keeps images and lists apart, so only the order among lists matters.)
        level_out.append(&mut out);
        out = level_out;
        level = next;
    }
    Ok(out)
}

/// Reads one manifest and the blobs it needs, or for a list the digests of its entries.
async fn read_manifest(
    cache: &ManifestCache,
    reference: &ImageRef,
    source: Access<'_>,
) -> Result<(SourceManifest, Vec<String>)> {
    let (raw, _) = cache
        .client()
        .first_answer(reference, &source, |route| async move {
            cache.manifest_get(&route).await
        })
        .await?;
    SourceManifest::read(reference, raw)
}

/// Asks the destination where its tag points and, when that matters, which child manifests
/// it has.
///
/// The tag is asked first, alone: when it already names this index, every child is there
/// (a registry accepts an index only over present children) and nothing else is asked; when
/// the tag does not exist, this is a new destination and asking for each child would cost a
/// request per child for an answer that is almost always "no" — the blobs are then checked one
/// by one as they are copied (mounts need no check). Only a tag that names another index
/// (the list changed) makes the children worth asking for, so unchanged ones are skipped.
async fn destination_state(
    client: &RegistryClient,
    manifests: &[SourceManifest],
    route: &Route,
    index_digest: &str,
    concurrency: usize,
) -> Result<DestinationState> {
    let destination = route.image();
    let tag_digest = match &destination.digest {
        Some(_) => None,
        None => client.manifest_head(route).await?.map(|head| head.digest),
    };
    let ask_children = match (&destination.digest, &tag_digest) {
        // Pushing by digest: no tag to go by.
        (Some(_), _) => true,
        (None, Some(current)) => current != index_digest,
        (None, None) => false,
    };
    if !ask_children {
        let all_present = tag_digest.as_deref() == Some(index_digest);
        // No tag: the repository may be new, and then none of its blobs needs a check. Only
        // blobs copied from another registry are ever checked, so only they make it worth
        // asking.
        let copies_across = manifests
            .iter()
            .any(|m| m.source.registry != destination.registry);
        let new_repository =
            tag_digest.is_none() && copies_across && !client.repository_exists(route).await?;
        return Ok(DestinationState {
            manifests: if all_present {
                manifests.iter().map(|m| m.digest.clone()).collect()
            } else {
                Default::default()
            },
            tag_digest,
            new_repository,
        });
    }
    let mut manifest_digests: Vec<&str> = manifests.iter().map(|m| m.digest.as_str()).collect();
    manifest_digests.sort_unstable();
    manifest_digests.dedup();
    let present = bounded(
        concurrency,
        manifest_digests.into_iter().map(|d| async move {
            Ok(client
                .manifest_head(&route.with_digest(d))
                .await?
                .map(|_| d.to_string()))
        }),
    )
    .await?;
    Ok(DestinationState {
        manifests: present.into_iter().flatten().collect(),
        tag_digest,
        new_repository: false,
    })
}

/// Where a push writes, and who hears about it.
struct Destination<'a> {
    client: &'a RegistryClient,
    /// The destination as the client named it, for errors.
    image: &'a ImageRef,
    /// Where its requests go (after rewrites), with the credential chosen once.
    route: &'a Route,
    events: &'a PushEventSender,
}

/// Where a push reads from.
struct Source<'a> {
    cache: &'a ManifestCache,
    access: Access<'a>,
}

/// Copies the blobs and writes the image manifests as one pipeline, `concurrency` requests at a
/// time: each child manifest is written as soon as the blobs it needs are in place, rather than
/// after every blob of every child, so the registry is never left waiting on the slowest blob
/// of another child. A blob shared by several children is copied once and awaited by each.
/// Each blob is reported when it is in place, each child once it is written.
async fn copy_children(
    to: &Destination<'_>,
    plan: &plan::Plan,
    source: &Source<'_>,
    concurrency: usize,
) -> Result<()> {
    let gate = Semaphore::new(concurrency);
    let gate = &gate;
    let blobs: Vec<Shared<BoxFuture<'_, Result<()>>>> = plan
        .blobs
        .iter()
        .map(|step| {
            async move {
                let _permit = gate.acquire().await;
                let copy = copy_blob(to, step, source).await?;
                emit(
                    to.events,
                    PushEvent::Blob(BlobDone {
                        digest: step.blob.digest.clone(),
                        size: step.blob.size,
                        is_config: step.blob.is_config,
                        source: step.source.clone(),
                        copy,
                    }),
                );
                Ok(())
            }
            .boxed()
            .shared()
        })
        .collect();
    let blobs = &blobs;
    let images = plan.images.len();
    try_join_all(plan.images.iter().enumerate().map(|(i, step)| async move {
        try_join_all(step.needs.iter().map(|&b| blobs[b].clone())).await?;
        if step.write {
            let _permit = gate.acquire().await;
            put_manifest(to, &step.manifest).await?;
        }
        emit(to.events, child_done(step, i, images));
        Ok::<_, Error>(())
    }))
    .await?;
    Ok(())
}

/// The event of manifest step `step`, the `position`th (from 0) of `total` of its kind.
fn child_done(step: &ManifestStep, position: usize, total: usize) -> PushEvent {
    let m = &step.manifest;
    PushEvent::Child(ChildDone {
        digest: m.digest.clone(),
        media_type: m.media_type.clone(),
        is_list: m.is_list,
        position,
        total,
        written: step.write,
        blobs: m.blobs.clone(),
    })
}

/// Runs one blob step.
async fn copy_blob(to: &Destination<'_>, step: &BlobStep, source: &Source<'_>) -> Result<BlobCopy> {
    let digest = &step.blob.digest;
    let from = step.source.with_digest(digest);
    let size = step.blob.size;
    let client = to.client;
    let check_first = step.action == BlobAction::CheckThenCopy;
    match step.action {
        BlobAction::Copy | BlobAction::CheckThenCopy
            if step.blob.is_config && size <= client.max_manifest_size() =>
        {
            // Configs were read, and cached, when their images were added: write them from
            // memory instead of reading the source again (the cache reads it when they are not
            // there any more, verifying the digest either way).
            let context = || {
                format!(
                    "copying config {digest} from {} to {}",
                    step.source.name(),
                    to.image.name()
                )
            };
            let (bytes, _) = source
                .cache
                .client()
                .first_answer(&from, &source.access, |route| async move {
                    source.cache.blob_get(&route, digest).await
                })
                .await
                .map_err(|e| e.context(context()))?;
            if bytes.len() as u64 != size {
                return Err(Error::new(
                    ErrorKind::BadContent,
                    format!(
                        "blob is {} bytes, not the {size} bytes its manifest says",
                        bytes.len()
                    ),
                )
                .context(context()));
            }
            let memory = BlobSource::Memory {
                bytes,
                from: &step.source,
            };
            client
                .blob_put(to.route, digest, size, memory, check_first)
                .await
        }
        // Streamed (or mounted) from the first place of the source that has it.
        BlobAction::CheckThenCopy | BlobAction::Mount | BlobAction::Copy => {
            let (copy, _) = client
                .first_answer(&from, &source.access, |route| async move {
                    let source = BlobSource::Route(&route);
                    client
                        .blob_put(to.route, digest, size, source, check_first)
                        .await
                })
                .await?;
            Ok(copy)
        }
    }
}

/// Writes manifest `m` by digest, with its exact source bytes.
async fn put_manifest(to: &Destination<'_>, m: &SourceManifest) -> Result<()> {
    to.client
        .manifest_put(
            &to.route.with_digest(&m.digest),
            m.bytes.clone(),
            &m.media_type,
        )
        .await?;
    Ok(())
}

/// Writes nested list `step` by digest (the `n`th of `total`), unless the destination has it.
async fn write_list(
    to: &Destination<'_>,
    step: &ManifestStep,
    n: usize,
    total: usize,
) -> Result<()> {
    if step.write {
        put_manifest(to, &step.manifest).await?;
    }
    emit(to.events, child_done(step, n, total));
    Ok(())
}
