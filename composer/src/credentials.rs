//! Registry credentials as a client supplied them for one request, and what the request may
//! use besides them.
//!
//! The proxy decodes podman's `X-Registry-Auth` / `X-Registry-Config` headers into
//! [`Credentials`] and sets its [`CredentialPolicy`] from the client's `[[policy]]` rule; the
//! registry layer picks, per registry, the client's credential or manifold's configured one
//! (see [`crate::registry`]). Secrets are wrapped so that `Debug` and `Display` never print
//! them.

use std::collections::BTreeMap;

/// A secret string whose `Debug` and `Display` output is `<redacted>` (the configuration's type,
/// so configured and client secrets are one type).
pub use manifold_config::Secret;

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

impl Auth {
    /// A username and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// Which credentials one request may use at a registry, besides anonymous access.
///
/// Per registry the registry layer picks:
///
/// 1. the client's credential for that registry, when it sent one and `client_may_override`
///    (or when `use_configured` is false);
/// 2. else manifold's configured credential (the `[[registry]]` entry's `credentials`, its
///    `credential_helper`, then `auth_file`), when `use_configured`;
/// 3. else the client's credential even without `client_may_override` (there is nothing it
///    would override);
/// 4. else none: anonymous.
///
/// The default is closed: the client's own credentials or none, never configured ones, so
/// credentials built without a decision lend nothing. The proxy sets both switches from the
/// client's grant (see `RegistryAccess::new` in [`crate::service`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialPolicy {
    /// manifold's configured credentials may serve this request.
    pub use_configured: bool,
    /// A credential the client sent is used even where a configured one exists.
    pub client_may_override: bool,
}

impl Default for CredentialPolicy {
    /// The client's own credentials only.
    fn default() -> Self {
        CredentialPolicy {
            use_configured: false,
            client_may_override: true,
        }
    }
}

/// The credentials of one request: a single credential for every registry, and/or one per
/// registry host, and whether configured credentials may serve it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A credential that applies to whatever registry the operation talks to.
    pub any_registry: Option<Auth>,
    /// Credentials keyed by registry host (`127.0.0.1:5001`, `docker.io`).
    pub per_registry: BTreeMap<String, Auth>,
    /// Whether configured credentials may serve this request, and whether the client's own
    /// win over them.
    pub policy: CredentialPolicy,
}

impl Credentials {
    /// No client credentials, and the default [`CredentialPolicy`]: no configured ones either.
    pub fn anonymous() -> Self {
        Credentials::default()
    }

    /// The same credentials under another policy.
    #[must_use]
    pub fn with_policy(mut self, policy: CredentialPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The client's credential for `registry`: its own entry first, then the single credential.
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
        let auth = Auth::basic("bob", "hunter2");
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn per_registry_wins_over_any() {
        let mut c = Credentials {
            any_registry: Some(Auth::IdentityToken(Secret::new("t"))),
            ..Default::default()
        };
        c.per_registry
            .insert("docker.io".into(), Auth::basic("u", "p"));
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

    #[test]
    fn by_default_configured_credentials_serve_nobody() {
        assert!(!CredentialPolicy::default().use_configured);
        assert!(!Credentials::anonymous().policy.use_configured);
    }
}
