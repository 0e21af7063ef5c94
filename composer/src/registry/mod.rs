//! The registry client: the parts of the OCI distribution API manifold needs, as one method per
//! verb on a resolved place. `docs/registry-protocol.md` describes that part of the API as
//! manifold uses it.
//!
//! # Resolve once, then act
//!
//! A request names an image and an [`Access`] (the client's credentials, their
//! [`CredentialPolicy`] and its TLS choice). Resolution turns that into [`Route`]s, each one
//! place (the effective reference after the allow-list, prefix rewrites and mirrors; its TLS
//! mode; the credential chosen for it): see `route`. Callers resolve once and keep the route:
//!
//! - a write goes to the one [`RegistryClient::write_route`] (the primary location);
//! - a read goes to [`RegistryClient::first_answer`], which runs the read at each read route in
//!   order (mirrors, then the primary location) until one answers, and returns the answer with
//!   the route that gave it (children and configs are then read at that same route).
//!
//! [`crate::cache::ManifestCache`] serves the two read verbs (`manifest_get`, `blob_get`) from
//! memory where it may, on the same routes.
//!
//! # The verbs
//!
//! Modelled on regclient's scheme interface, each verb is one method taking a resolved route:
//!
//! | verb | method | result |
//! | --- | --- | --- |
//! | manifest HEAD | [`RegistryClient::manifest_head`] | [`ManifestHead`] (digest, media type, size), or `None` |
//! | manifest GET | [`RegistryClient::manifest_get`] | the exact bytes, as a [`RawManifest`] |
//! | manifest PUT | [`RegistryClient::manifest_put`] | the digest written |
//! | blob HEAD | [`RegistryClient::blob_head`] | the size, or `None` |
//! | blob GET | [`RegistryClient::blob_get`] | a small blob's verified bytes |
//! | blob PUT (and mount) | [`RegistryClient::blob_put`] | how the blob got there: [`BlobCopy`] |
//! | tag list | `repository_exists` | whether the repository exists |
//!
//! A blob put takes its bytes from memory or from another route ([`BlobSource`]). From a route
//! on the destination's registry it first tries a cross-repository mount, as regclient's blob
//! put does; otherwise the bytes are streamed source to destination and verified on the way.
//!
//! # Layers below the verbs
//!
//! Every request goes through the `transport` stack, one concern per layer: logging (the HTTP
//! clients), the scheme (ping, HTTPS or for insecure registries HTTP, remembered per registry),
//! authentication (bearer tokens cached per scope and credential, Basic, the one new try after a
//! 401 that teaches something) and retries (the one loop: connection errors, `408`, `429` and
//! `5xx`, with backoff and `Retry-After`, at most `push.retries` times). A single request is
//! retried by that loop alone; a blob copy, whose streamed body cannot be replayed, is retried
//! as a whole step by the same loop, counted the same way.
//!
//! # The submodules
//!
//! - `client`: the [`RegistryClient`] and its two ways to a route.
//! - `route` and `configured`: resolution (the allow-list, rewrites, mirrors, the choice of
//!   credential; manifold's configured credentials).
//! - `manifests` and `blobs`: the verbs; `verified`: the checked source stream of a blob put.
//! - `transport`: the layers above.
//! - `challenge`: `WWW-Authenticate` parsing (pure).
//! - `errors`: registry error bodies and transport failures as composer errors, in
//!   containers/image's words.
//! - `content`: size-capped body reads and digest checks.
//! - `watch`: who hears of retries ([`watch_retries`]: a push, which reports them as events).
//! - `tls`: the TLS settings of registry connections (ring named explicitly, so the library needs
//!   no process-wide rustls provider).
//!
//! Client credentials are never stored; configured ones live in the configuration and, for
//! helper answers, briefly in memory; tokens only in memory, keyed by salted hashes.
//!
//! Error texts follow containers/image so that podman clients see familiar messages, e.g.
//! `reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown` (cause `manifest unknown`)
//! or `pinging container registry 127.0.0.1:5001: Get "https://127.0.0.1:5001/v2/": http: server
//! gave HTTP response to HTTPS client`.
//!
//! [`CredentialPolicy`]: crate::credentials::CredentialPolicy
//! [`RawManifest`]: crate::oci::RawManifest

mod blobs;
mod challenge;
mod client;
mod configured;
mod content;
mod errors;
mod manifests;
mod route;
mod tls;
mod transport;
mod verified;
mod watch;

pub use blobs::{BlobCopy, BlobSource};
pub use client::RegistryClient;
pub use manifests::ManifestHead;
pub use route::{Access, CredentialSource, Route};
pub use watch::{watch_retries, RetryNotice, RetryReason};

#[cfg(test)]
mod tests;
