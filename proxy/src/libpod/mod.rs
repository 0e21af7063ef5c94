//! The libpod wire format, as podman v5.8.2 speaks it (`docs/libpod-api.md`; the credential
//! headers: `docs/registry-auth-headers.md`).
//!
//! Everything here is pure: bytes in, values or bytes out. The handlers combine these pieces.
//! The Go behaviour underneath (`encoding/json` decoding, `%q`, `net/url`) comes from
//! [`manifold_gocompat`]; these modules apply it the way podman's handlers do.
//!
//! - [`query`]: query strings decoded the way gorilla/schema does.
//! - [`modify_options`]: the ManifestModifyOptions / ManifestAddOptions bodies and podman's
//!   annotation parsing.
//! - [`registry_auth`]: `X-Registry-Auth` / `X-Registry-Config` to credentials.
//! - [`params`]: the parameters several routes read alike (`tlsVerify`, credentials,
//!   annotations, push's `format`), each with podman's error.
//! - [`response`]: response bodies, report shapes, the error model and the headers of every
//!   answer.
//! - [`status`]: the one table from a composer error kind to each route's HTTP status.
//! - [`push_progress`]: a push's events rendered as podman's progress stream.

pub mod modify_options;
pub mod params;
pub mod push_progress;
pub mod query;
pub mod registry_auth;
pub mod response;
pub mod status;
