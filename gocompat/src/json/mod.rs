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

mod decode;
mod encode;
mod read;

use std::fmt;
use std::ops::Deref;

pub use decode::{
    boolean, equal_fold, optional_string, string, string_map, strings, unmarshal_string_map, Field,
    GoStruct, Mismatch, Setter,
};
pub use encode::encode;
pub use read::read;

/// A decoding error, carrying the text Go's `encoding/json` produces for it.
///
/// It dereferences to that text, so it can be passed where a `&str` cause is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(String);

impl JsonError {
    fn new(text: impl Into<String>) -> Self {
        JsonError(text.into())
    }

    /// The error text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl Deref for JsonError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// How Go read the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `json.NewDecoder(r).Decode(&v)`: reads the first value only and never looks at the bytes
    /// after it. No value at all is `EOF`, a value cut short is `unexpected EOF`.
    Decoder,
    /// `json.Unmarshal(data, &v)`: the whole input must be one value. No value or a cut value
    /// is `unexpected end of JSON input`; bytes after it are
    /// `invalid character 'x' after top-level value`.
    Unmarshal,
}
