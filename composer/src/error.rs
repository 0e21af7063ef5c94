//! The composer's error type.
//!
//! Errors carry two texts, the way podman's Go errors do: `message`, the whole chain of context
//! ("reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown"), and `cause`, the innermost
//! error ("manifest unknown"). The proxy turns them into libpod error bodies; the [`ErrorKind`]
//! tells it which status code fits.

use std::fmt;

/// What went wrong, in the terms a caller needs to choose a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A list or image that was asked for does not exist ("image not known").
    NotFound,
    /// The name resolves to something that is not a manifest list.
    NotAList,
    /// A list with that name exists already.
    NameInUse,
    /// The request itself is malformed: a bad reference, digest, annotation or option.
    InvalidInput,
    /// A digest that is not in the list.
    InstanceNotFound,
    /// A reference names a local transport (`containers-storage:`, `oci:`, ...) manifold cannot read.
    LocalTransport,
    /// The caller may not do this (configuration: a registry manifold may not reach).
    Forbidden,
    /// A `[[policy]]` rule does not allow the caller's identity this; always a 403, on every
    /// route.
    Denied,
    /// A registry refused the credentials or demanded some.
    RegistryUnauthorized,
    /// A registry answered that the manifest or blob is unknown.
    RegistryNotFound,
    /// A registry failed: it could not be reached, or it answered 408, 429 or 5xx (worth trying
    /// again later), or it misbehaved.
    Registry,
    /// A registry answered with a client error it would repeat (400, 405, 409, ...): neither a
    /// refusal of credentials nor an unknown object.
    RegistryRefused,
    /// Content did not match its digest or could not be parsed.
    BadContent,
    /// Local storage failed.
    Storage,
}

/// A composer error: a kind, the full message and the innermost cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    cause: String,
}

/// Result with the composer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error whose message and cause are both `cause`.
    pub fn new(kind: ErrorKind, cause: impl Into<String>) -> Self {
        let cause = cause.into();
        Error {
            kind,
            message: cause.clone(),
            cause,
        }
    }

    /// An error with a message that differs from its innermost cause.
    pub fn with_message(
        kind: ErrorKind,
        message: impl Into<String>,
        cause: impl Into<String>,
    ) -> Self {
        Error {
            kind,
            message: message.into(),
            cause: cause.into(),
        }
    }

    /// Prefixes the message with `context: `, keeping kind and cause, like Go's `fmt.Errorf("%s: %w")`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The same error with another kind.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The full message, with every layer of context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The innermost cause.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_message_and_keeps_cause() {
        let e = Error::new(ErrorKind::NotFound, "image not known").context("localhost/nolist");
        assert_eq!(e.message(), "localhost/nolist: image not known");
        assert_eq!(e.cause(), "image not known");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), e.message());
    }
}
