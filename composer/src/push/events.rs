//! What a push does, as data: one [`PushEvent`] per step, sent as the step happens, as
//! go-containerregistry's `v1.Update` and regclient's progress callback report a copy.
//!
//! The events say what happened in manifold's terms (which blob went where, and how; which
//! child manifest is in place; the index; retries; the end) and nothing about how a client shows
//! it: the proxy renders them as podman's progress stream, and the same events can be counted
//! for metrics. Nothing here is text meant to be parsed.
//!
//! Order: [`PushEvent::Started`] first, then [`PushEvent::Blob`] and [`PushEvent::Child`] as
//! children complete (a child's blobs always come before the child), the nested lists, the
//! index ([`PushEvent::IndexStarted`], [`PushEvent::IndexDone`]), and [`PushEvent::Finished`]
//! last, exactly once, whether the push succeeded or not. A push that fails stops sending at the
//! failing step and then sends `Finished` with the error. [`PushEvent::Retry`] comes whenever a
//! registry operation is tried again, before the step it belongs to is reported.

use tokio::sync::mpsc::UnboundedSender;

use super::plan::Blob;
use crate::error::Error;
use crate::reference::ImageRef;
use crate::registry::{BlobCopy, RetryNotice};

/// Where a push sends its events. A receiver that is gone (a client that went away, or a quiet
/// push nobody listens to) does not stop the push.
pub type PushEventSender = UnboundedSender<PushEvent>;

/// One step of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The destination is resolved and the index built; nothing is written yet.
    Started {
        /// The digest the index will have.
        index_digest: String,
        /// How many child manifests the list names when they are copied with it; `None` when
        /// only the index is written (a push without `all`).
        children: Option<usize>,
    },
    /// A blob is in the destination repository.
    Blob(BlobDone),
    /// A child manifest is in the destination repository.
    Child(ChildDone),
    /// Every child is in place; the index is about to be written.
    IndexStarted {
        /// The index's digest.
        digest: String,
    },
    /// The index is at the destination and the tag names it.
    IndexDone {
        /// The index's digest.
        digest: String,
        /// True when this push wrote it; false when the tag named it already.
        written: bool,
    },
    /// A registry operation of the push (a manifest read or PUT, a blob HEAD, mount or copy, at
    /// a source or the destination) failed for a reason worth another attempt and is tried
    /// again. Sent by the registry client's retry loop, through the retry watcher the push runs
    /// under, before the wait; a refused token's immediate new attempt is not a retry.
    Retry(RetryNotice),
    /// The push ended: the digest of the index at the destination, or why it failed.
    Finished(Result<String, Error>),
}

/// How one blob got into the destination repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobDone {
    /// The blob's digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is an image config (else a layer).
    pub is_config: bool,
    /// The repository it was copied or mounted from (its digest is the blob's).
    pub source: ImageRef,
    /// What the copy did: uploaded, mounted, or nothing because the destination had it.
    pub copy: BlobCopy,
}

/// A child manifest in place at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildDone {
    /// The manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// True for a nested list (written after the images), false for an image.
    pub is_list: bool,
    /// Its position among the children of its kind, from 0 (images and nested lists are
    /// counted apart).
    pub position: usize,
    /// How many children of its kind the push writes.
    pub total: usize,
    /// True when this push wrote it; false when the destination had it already (its blobs
    /// were then not needed).
    pub written: bool,
    /// The blobs it references, in manifest order (config first, then the layers; a nested
    /// list has none). When `written`, each was reported by a [`PushEvent::Blob`] before this
    /// event.
    pub blobs: Vec<Blob>,
}

/// Sends `event`; a receiver that is gone is fine (see [`PushEventSender`]).
pub(crate) fn emit(events: &PushEventSender, event: PushEvent) {
    let _ = events.send(event);
}
