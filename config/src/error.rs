//! [`ConfigError`], the one error of configuration loading: which file (or the command line),
//! which key, what is wrong. Every problem a load finds is reported through it, so
//! `manifold check-config` and start-up say where to fix it.

use std::fmt;

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in, or `<command line>`.
    pub source: String,
    /// The key, as a dotted path (`registry[0].location`), or empty for the whole document.
    pub key: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.problem)
        } else {
            write!(f, "{}: key `{}`: {}", self.source, self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}
