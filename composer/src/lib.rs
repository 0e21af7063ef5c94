//! manifold's domain: manifest lists, the registries their images live in, the list store, and
//! push. Nothing here knows HTTP servers or libpod wire quirks: the proxy (`manifold-proxy`)
//! turns podman's requests into calls of [`service::Composer`] and shapes podman's answers from
//! what comes back.
//!
//! The main types, in the order a request meets them:
//!
//! - [`service::Composer`], the facade: create, exists, inspect, add, remove, annotate, delete
//!   and push, each for one identity's [`Grant`](manifold_config::policy::Grant), which is
//!   checked before any registry is contacted.
//! - [`catalog::Catalog`]: every list in memory, found by podman's lookup rules, over a durable
//!   [`store::ListStore`] ([`store::FileStore`]: one JSON record per list, written atomically).
//! - [`list::ManifestList`]: the list model and its pure operations (add, remove, annotate,
//!   serialise as an OCI index or a Docker list).
//! - [`cache::ManifestCache`], in front of [`registry::RegistryClient`]: one method per registry
//!   verb (manifest head/get/put, blob head/get/put with cross-repository mount) on a resolved
//!   [`registry::Route`] (allow-list, rewrites, mirrors, TLS, the credential per place). The
//!   client sends every request through its transport layers: log, scheme, auth, retry.
//! - [`push`]: a pure [`push::plan`], then [`push::execute`], which reports every step, and
//!   every retry the transport's retry loop makes for it, as a typed [`push::events::PushEvent`].
//! - Vocabulary: [`reference`](mod@reference) (image references and list names), [`oci`] (media
//!   types, descriptors, platforms, exact manifest bytes), [`credentials`] (what a client sent),
//!   and [`Error`], whose [`ErrorKind`] the proxy maps to a status.
//!
//! Data flow of a change (create, add, annotate): the composer checks the grant, resolves each
//! image reference into routes and reads manifests and configs through the cache *before* it
//! locks the list, applies them to a copy with the pure list operations, and the catalog writes
//! the copy to the store before it replaces the list in memory; a failure changes nothing.
//!
//! Data flow of a push: [`Composer::authorize_push`](service::Composer::authorize_push) checks
//! the grant and takes the list as it is; [`Composer::push`](service::Composer::push) reads the
//! children from their sources, asks the destination what it has, plans (each blob skipped,
//! mounted or copied; each child written by digest; the index last, by tag) and executes the
//! plan with bounded parallelism, sending a [`PushEvent`](push::events::PushEvent) per step and
//! `Finished` last.

pub mod cache;
pub mod catalog;
pub mod credentials;
pub mod error;
pub mod list;
pub mod oci;
mod parallel;
pub mod push;
pub mod reference;
pub mod registry;
pub mod service;
pub mod store;

pub use error::{Error, ErrorKind, Result};
