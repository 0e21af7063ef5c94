//! [`JsonError`], what every part of the JSON module fails with: the text Go's `encoding/json`
//! gives for the same input, which podman's clients show (and podman-py raises) as they get it.

use std::fmt;
use std::ops::Deref;

/// A decoding error, carrying the text Go's `encoding/json` produces for it.
///
/// It dereferences to that text, so it can be passed where a `&str` cause is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(String);

impl JsonError {
    pub(super) fn new(text: impl Into<String>) -> Self {
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
