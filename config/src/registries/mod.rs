//! The `[[registry]]` entries: which registries manifold may reach, how (TLS, mirrors, prefix
//! rewrites) and with which configured credentials, plus the [`Secret`] wrapper.
//!
//! Key names and meanings follow containers-registries.conf(5) where it has them (`prefix`,
//! `location`, `insecure`, `mirror-by-digest-only`, `[[registry.mirror]]`, `pull-from-mirror`;
//! the dashed spellings are accepted as aliases of manifold's snake_case ones). Credentials are
//! manifold's own: `[registry.credentials]` with exactly one of `password`, `password_env` or
//! `password_file`, or a `credential_helper` (docker-credential-helpers protocol).
//!
//! Passwords from `password_env` and `password_file` are read once, when the configuration is
//! loaded, so that a missing variable or unreadable file is an error at start-up (and in
//! `manifold check-config`) rather than at the first pull. Credential helpers are run by the
//! composer when a registry needs them, never here.
//!
//! This module only describes and validates; the composer's registry routing applies it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::environment::Environment;
use crate::error::ConfigError;

/// A secret string: `Debug` and `Display` print `<redacted>`, and so does serialising it (so
/// `manifold check-config` shows `password = "<redacted>"`). Only [`Secret::expose`] gives the
/// value, for the one place that sends it to its registry.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself.
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

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Whatever serialises a configuration (check-config, a log of it) never shows the value.
        s.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Which references a mirror serves (registries.conf `pull-from-mirror`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullFromMirror {
    /// Digest and tag references (the default).
    #[default]
    All,
    /// Digest references only.
    DigestOnly,
    /// Tag references only.
    TagOnly,
}

/// One `[[registry.mirror]]`: a location tried, in order, before the entry's own location for
/// reads. Pushes never go to mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// `host[:port][/namespace]`; the part of a reference after the entry's prefix is appended.
    pub location: String,
    /// Plain HTTP or unverified TLS is allowed for this mirror.
    #[serde(default)]
    pub insecure: bool,
    /// Which references this mirror serves; unset means all of them. Cannot be combined with
    /// the entry's `mirror_by_digest_only`.
    #[serde(
        default,
        alias = "pull-from-mirror",
        skip_serializing_if = "Option::is_none"
    )]
    pub pull_from_mirror: Option<PullFromMirror>,
}

/// `[registry.credentials]`: a user name and exactly one source of its password.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password itself, written in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The environment variable holding the password (read when the configuration is loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// The file holding the password (read when the configuration is loaded; one trailing line
    /// break is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The password from whichever key is set, filled in by loading.
    #[serde(skip)]
    resolved: Option<Secret>,
}

impl RegistryCredentials {
    /// Credentials with the password given directly (as `password = "…"` in the file).
    pub fn with_password(username: impl Into<String>, password: Secret) -> Self {
        RegistryCredentials {
            username: username.into(),
            password: Some(password.clone()),
            resolved: Some(password),
            ..Default::default()
        }
    }

    /// The password, from whichever of `password`, `password_env` or `password_file` is set.
    /// `None` only for credentials that were never loaded through [`crate::Config`] and have no
    /// literal `password`.
    pub fn password(&self) -> Option<&Secret> {
        self.resolved.as_ref().or(self.password.as_ref())
    }

    /// Checks that exactly one password source is set and reads it. `key` is the dotted path
    /// of this table, for errors.
    fn resolve(&mut self, source: &str, key: &str, env: &Environment) -> Result<(), ConfigError> {
        let err = |k: &str, problem: String| ConfigError {
            source: source.to_string(),
            key: format!("{key}.{k}"),
            problem,
        };
        if self.username.is_empty() {
            return Err(err("username", "must not be empty".into()));
        }
        let set = [
            self.password.is_some(),
            self.password_env.is_some(),
            self.password_file.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set != 1 {
            return Err(ConfigError {
                source: source.to_string(),
                key: key.to_string(),
                problem: format!(
                    "set exactly one of password, password_env or password_file ({set} are set)"
                ),
            });
        }
        let secret = if let Some(p) = &self.password {
            p.clone()
        } else if let Some(var) = &self.password_env {
            let value = env.var(var).ok_or_else(|| {
                err(
                    "password_env",
                    format!("environment variable {var} is not set"),
                )
            })?;
            Secret::new(value)
        } else if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                err(
                    "password_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            // `echo secret > file` leaves a line break that is not part of the password.
            let value = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(&text);
            Secret::new(value)
        } else {
            // `set == 1` above.
            return Err(err("password", "no password source".into()));
        };
        if secret.is_empty() {
            let which = if self.password.is_some() {
                "password"
            } else if self.password_env.is_some() {
                "password_env"
            } else {
                "password_file"
            };
            return Err(err(which, "the password is empty".into()));
        }
        self.resolved = Some(secret);
        Ok(())
    }
}

/// One `[[registry]]` entry, with the key names of containers-registries.conf(5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// References starting with this (`host[:port][/namespace]`) are rewritten to `location`;
    /// unset means the entry's prefix is its location (no rewrite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `host[:port][/namespace]` this entry applies to (and rewrites its prefix to).
    pub location: String,
    /// Plain HTTP or unverified TLS is allowed for this registry.
    #[serde(default)]
    pub insecure: bool,
    /// Use mirrors for digest references only.
    #[serde(
        default,
        alias = "mirror-by-digest-only",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub mirror_by_digest_only: bool,
    /// A docker-credential-helpers program: a name (`docker-credential-NAME` on `PATH`) or an
    /// absolute path to the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_helper: Option<String>,
    /// Credentials manifold uses at `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<RegistryCredentials>,
    /// Mirrors tried, in order, before `location` for reads.
    #[serde(default, rename = "mirror", skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<Mirror>,
}

/// True when `location` (`host[:port][/namespace]`) covers `registry/repository`: same host and
/// the namespace, if any, is the repository or one of its parent paths. `[[policy]]` prefixes
/// (without `*`) match by this same rule.
pub fn location_covers(location: &str, registry: &str, repository: &str) -> bool {
    let loc = location.trim_end_matches('/');
    match loc.split_once('/') {
        None => loc == registry,
        Some((host, ns)) => {
            host == registry
                && (repository == ns
                    || (repository.starts_with(ns) && repository[ns.len()..].starts_with('/')))
        }
    }
}

impl RegistryEntry {
    /// True when this entry's `location` covers `registry/repository`.
    pub fn matches(&self, registry: &str, repository: &str) -> bool {
        location_covers(&self.location, registry, repository)
    }

    /// The prefix references must start with for this entry to rewrite them: `prefix`, or the
    /// location when there is none.
    pub fn effective_prefix(&self) -> &str {
        self.prefix
            .as_deref()
            .unwrap_or(&self.location)
            .trim_end_matches('/')
    }

    /// True when this entry's prefix covers `registry/repository`.
    pub fn matches_prefix(&self, registry: &str, repository: &str) -> bool {
        location_covers(self.effective_prefix(), registry, repository)
    }

    /// True when this entry rewrites references (its prefix differs from its location).
    pub fn rewrites(&self) -> bool {
        self.effective_prefix() != self.location.trim_end_matches('/')
    }
}

/// Checks a `host[:port][/namespace]` value.
fn check_location(value: &str, source: &str, key: &str) -> Result<(), ConfigError> {
    let v = value.trim();
    let bad = v.is_empty()
        || v.contains("://")
        || v.contains(char::is_whitespace)
        || v.contains('@')
        || v.starts_with('/')
        || v.contains("//");
    if bad {
        return Err(ConfigError {
            source: source.to_string(),
            key: key.to_string(),
            problem: format!(
                "{value:?} is not a registry location: write host[:port][/namespace], without a scheme, as in \"127.0.0.1:5001\""
            ),
        });
    }
    Ok(())
}

/// Checks a `credential_helper` value: a bare helper name or an absolute path.
fn check_helper(value: &str, source: &str, key: &str) -> Result<(), ConfigError> {
    let is_name = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let is_path = value.starts_with('/') && !value.contains('\0');
    if is_name || is_path {
        return Ok(());
    }
    Err(ConfigError {
        source: source.to_string(),
        key: key.to_string(),
        problem: format!(
            "{value:?} is not a credential helper: write its name (\"pass\" runs docker-credential-pass from PATH) or the absolute path of the program"
        ),
    })
}

/// Validates every entry and reads the passwords of their credentials.
pub(crate) fn validate(
    entries: &mut [RegistryEntry],
    source: &str,
    env: &Environment,
) -> Result<(), ConfigError> {
    let err = |key: String, problem: String| ConfigError {
        source: source.to_string(),
        key,
        problem,
    };
    for (i, r) in entries.iter_mut().enumerate() {
        let key = format!("registry[{i}]");
        check_location(&r.location, source, &format!("{key}.location"))?;
        if let Some(p) = &r.prefix {
            check_location(p, source, &format!("{key}.prefix"))?;
        }
        for (m, mirror) in r.mirrors.iter().enumerate() {
            check_location(
                &mirror.location,
                source,
                &format!("{key}.mirror[{m}].location"),
            )?;
            if r.mirror_by_digest_only && mirror.pull_from_mirror.is_some() {
                return Err(err(
                    format!("{key}.mirror[{m}].pull_from_mirror"),
                    "cannot be combined with the entry's mirror_by_digest_only = true; use one or the other".into(),
                ));
            }
        }
        if let Some(h) = &r.credential_helper {
            check_helper(h, source, &format!("{key}.credential_helper"))?;
            if r.credentials.is_some() {
                return Err(err(
                    format!("{key}.credential_helper"),
                    "set either [registry.credentials] or credential_helper, not both".into(),
                ));
            }
        }
        if let Some(c) = &mut r.credentials {
            c.resolve(source, &format!("{key}.credentials"), env)?;
        }
    }
    for (i, r) in entries.iter().enumerate() {
        let prefix = r.effective_prefix();
        if let Some(j) = entries[..i]
            .iter()
            .position(|o| o.effective_prefix() == prefix)
        {
            let which = if r.prefix.is_some() {
                "prefix"
            } else {
                "location"
            };
            return Err(err(
                format!("registry[{i}].{which}"),
                format!(
                    "{prefix:?} is configured twice (also by registry[{j}]); merge the two entries"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
