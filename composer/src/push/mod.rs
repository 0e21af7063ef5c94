//! Push: a list written to a destination registry, registry to registry, with no local copy of
//! any layer.
//!
//! A push is planned, then executed ([`plan`] is pure, [`execute`] does the I/O): every blob of
//! every child (deduplicated across children) is skipped when the destination has it, mounted
//! across repositories of the same registry, or copied from its source (image configs from
//! memory, layers streamed); each child manifest is written by digest, with its exact source
//! bytes, as soon as its own blobs are in place; the index goes last, by tag, once every child is
//! written. The tag therefore never points at an index whose children are not all in place.
//!
//! Each step is reported as a typed [`events::PushEvent`]; how a client shows them is the
//! client's business (the proxy renders podman's progress stream from them).

pub mod events;
pub mod execute;
pub mod plan;

use crate::list::ListFormat;
use crate::reference::ImageRef;

/// What to push where.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The destination reference; its tag (or `latest`) names the index.
    pub destination: ImageRef,
    /// Copy every child (true) or only write the index (false).
    pub all: bool,
    /// Force the index type; `None` keeps the list's own.
    pub format: Option<ListFormat>,
}
