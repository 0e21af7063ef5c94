//! Registry credentials as a client supplied them for one request.
//!
//! The proxy decodes podman's `X-Registry-Auth` / `X-Registry-Config` headers into
//! [`Credentials`]; the registry client asks it for the credential of one registry. Secrets are
//! wrapped so that `Debug` never prints them.

use std::collections::BTreeMap;
use std::fmt;

/// A secret string whose `Debug` output is `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it to its registry.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One credential for one registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Username and password (HTTP Basic, or exchanged for a bearer token).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An OAuth2 refresh/identity token, exchanged for a bearer token.
    IdentityToken(Secret),
}

/// The credentials of one request: a single credential for every registry, and/or one per
/// registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A credential that applies to whatever registry the operation talks to.
    pub any_registry: Option<Auth>,
    /// Credentials keyed by registry host (`127.0.0.1:5001`, `docker.io`).
    pub per_registry: BTreeMap<String, Auth>,
}

impl Credentials {
    /// No credentials at all.
    pub fn anonymous() -> Self {
        Credentials::default()
    }

    /// The credential to use for `registry`: its own entry first, then the single credential.
    pub fn for_registry(&self, registry: &str) -> Option<&Auth> {
        self.per_registry
            .get(registry)
            .or_else(|| {
                // docker.io's aliases, as podman normalises auth keys.
                let aliased = match registry {
                    "docker.io" | "index.docker.io" | "registry-1.docker.io" => Some("docker.io"),
                    _ => None,
                }?;
                self.per_registry.get(aliased)
            })
            .or(self.any_registry.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let auth = Auth::Basic {
            username: "bob".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn per_registry_wins_over_any() {
        let mut c = Credentials {
            any_registry: Some(Auth::IdentityToken(Secret::new("t"))),
            ..Default::default()
        };
        c.per_registry.insert(
            "docker.io".into(),
            Auth::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        );
        assert!(matches!(
            c.for_registry("registry-1.docker.io"),
            Some(Auth::Basic { .. })
        ));
        assert!(matches!(
            c.for_registry("quay.io"),
            Some(Auth::IdentityToken(_))
        ));
        assert_eq!(Credentials::anonymous().for_registry("x"), None);
    }
}
