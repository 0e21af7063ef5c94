//! Who a cached read is for: the identity of the credential a request uses at one registry.
//!
//! The cache shares content between clients only after each client's own access has been
//! confirmed, and it remembers those confirmations per identity. An identity is a salted SHA-256
//! of the credential, never the credential: the salt is random per cache, so an identity seen in
//! memory (or a debugger) cannot be checked against guessed passwords offline, and two caches
//! never agree on one. Anonymous access is an identity of its own.
//!
//! A credential from manifold's own configuration is identified by where it is configured
//! (`registry[1].credentials`, a helper, an `auth_file` key) and its user name, never by its
//! secret: every client it serves is the same reader, and a helper may hand out a rotated
//! secret for the same account.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::credentials::Auth;

/// The identity of one credential (or of no credential) at one registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Identity {
    /// No credential: what anyone can read.
    Anonymous,
    /// A credential a client sent, as a salted SHA-256 of every part of it.
    Credential([u8; 32]),
    /// A configured credential, as a salted SHA-256 of where it is configured.
    Configured([u8; 32]),
}

impl Identity {
    /// The identity of `auth` under `salt`: pure, so equal credentials (every field, the secret
    /// included) give equal identities and any difference gives another one.
    ///
    /// Each field is length-prefixed and each kind of credential tagged, so that no two
    /// different credentials hash the same input (`("ab", "c")` vs `("a", "bc")`, or a user
    /// name vs a token).
    pub(crate) fn of(salt: &[u8], auth: Option<&Auth>) -> Identity {
        let Some(auth) = auth else {
            return Identity::Anonymous;
        };
        let mut h = Sha256::new();
        field(&mut h, salt);
        match auth {
            Auth::Basic { username, password } => {
                field(&mut h, b"basic");
                field(&mut h, username.as_bytes());
                field(&mut h, password.expose().as_bytes());
            }
            Auth::IdentityToken(token) => {
                field(&mut h, b"identity-token");
                field(&mut h, token.expose().as_bytes());
            }
        }
        Identity::Credential(h.finalize().into())
    }

    /// The identity of the configured credential described by `label` (where it is configured
    /// and its user name; no secret) under `salt`.
    pub(crate) fn configured(salt: &[u8], label: &str) -> Identity {
        let mut h = Sha256::new();
        field(&mut h, salt);
        field(&mut h, b"configured");
        field(&mut h, label.as_bytes());
        Identity::Configured(h.finalize().into())
    }
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Anonymous => f.write_str("Anonymous"),
            // A prefix is enough to tell identities apart in a log; the hash is not a secret,
            // but there is no reason to print all of it.
            Identity::Credential(hash) => write!(f, "Credential({}…)", hex::encode(&hash[..4])),
            Identity::Configured(hash) => write!(f, "Configured({}…)", hex::encode(&hash[..4])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;

    #[test]
    fn anonymous_is_its_own_identity() {
        assert_eq!(Identity::of(b"s", None), Identity::Anonymous);
        assert_ne!(
            Identity::of(b"s", Some(&Auth::basic("", ""))),
            Identity::Anonymous
        );
    }

    #[test]
    fn equal_credentials_are_one_identity() {
        let a = Identity::of(b"salt", Some(&Auth::basic("alice", "pw")));
        assert_eq!(a, Identity::of(b"salt", Some(&Auth::basic("alice", "pw"))));
        assert!(matches!(a, Identity::Credential(_)));
    }

    #[test]
    fn any_difference_is_another_identity() {
        let salt = b"salt";
        let ids = [
            Identity::of(salt, Some(&Auth::basic("alice", "pw"))),
            Identity::of(salt, Some(&Auth::basic("alice", "pw2"))),
            Identity::of(salt, Some(&Auth::basic("bob", "pw"))),
            // Field boundaries matter.
            Identity::of(salt, Some(&Auth::basic("alicep", "w"))),
            Identity::of(salt, Some(&Auth::basic("", "alicepw"))),
            Identity::of(salt, Some(&Auth::IdentityToken(Secret::new("pw")))),
            Identity::of(salt, Some(&Auth::IdentityToken(Secret::new("alicepw")))),
            Identity::of(salt, None),
        ];
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn the_salt_changes_every_identity() {
        let auth = Auth::basic("alice", "pw");
        assert_ne!(
            Identity::of(b"one", Some(&auth)),
            Identity::of(b"two", Some(&auth))
        );
    }

    #[test]
    fn configured_identities_differ_from_client_ones() {
        let salt = b"salt";
        let a = Identity::configured(salt, "registry[0].credentials ci");
        assert_eq!(a, Identity::configured(salt, "registry[0].credentials ci"));
        assert_ne!(a, Identity::configured(salt, "registry[1].credentials ci"));
        assert_ne!(
            a,
            Identity::configured(b"other", "registry[0].credentials ci")
        );
        assert_ne!(
            a,
            Identity::of(salt, Some(&Auth::basic("ci", "registry[0].credentials")))
        );
        assert!(format!("{a:?}").starts_with("Configured("));
    }

    #[test]
    fn debug_shows_neither_secret_nor_whole_hash() {
        let id = Identity::of(b"salt", Some(&Auth::basic("alice", "hunter2")));
        let text = format!("{id:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("alice"),
            "{text}"
        );
        assert!(text.starts_with("Credential(") && text.len() < 24, "{text}");
        assert_eq!(format!("{:?}", Identity::Anonymous), "Anonymous");
    }
}
