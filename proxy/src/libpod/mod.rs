//! The libpod wire format, as podman v5.8.2 speaks it.
//!
//! Everything here is pure: bytes in, values or bytes out. The handlers combine these pieces.
//! The Go behaviour underneath (`encoding/json` decoding, `%q`, `net/url`) comes from
//! [`manifold_gocompat`]; these modules apply it the way podman's handlers do.
//!
//! - [`query`]: query strings decoded the way gorilla/schema does.
//! - [`modify_options`]: the ManifestModifyOptions / ManifestAddOptions bodies and podman's
//!   annotation parsing.
//! - [`registry_auth`]: `X-Registry-Auth` / `X-Registry-Config` to credentials.
//! - [`response`]: response bodies, report shapes and the headers of every answer.

pub mod modify_options;
pub mod query;
pub mod registry_auth;
pub mod response;

pub use modify_options::{
    decode_add_options, decode_create_body, decode_modify_options, parse_create_annotations,
    parse_kv_annotations, ModifyOptions,
};
