//! Go's `encoding/json`, as far as podman's clients see it: decoding request bodies and auth
//! headers into Go structs ([`GoStruct`]), with Go's error texts where a client shows them, and
//! encoding responses as `json.Encoder` does ([`encode`]). serde_json does the parsing and the
//! writing; this module adds Go's rules on top.
//!
//! - [`read`]: one document, read as `json.NewDecoder(r).Decode` or `json.Unmarshal` reads it
//!   ([`ReadMode`]).
//! - [`GoStruct`] and its setters: Go's key matching, `null` handling and type errors.
//! - [`unmarshal_string_map`]: a `map[string]string` that keeps what decoded before an error.
//! - [`encode`]: compact JSON with Go's escapes.
//! - [`JsonError`]: every failure of the above, in Go's words.

mod decode;
mod encode;
mod error;
mod read;

pub use decode::{
    boolean, equal_fold, optional_string, string, string_map, strings, unmarshal_string_map, Field,
    GoStruct, Mismatch, Setter,
};
pub use encode::encode;
pub use error::JsonError;
pub use read::{read, ReadMode};
