//! manifold's own registry credentials: `[registry.credentials]`, `credential_helper` and
//! `auth_file`.
//!
//! [`Configured::lookup`] answers "which configured credential belongs to this location", in
//! this order:
//!
//! 1. the most specific `[[registry]]` entry whose `location` covers it and that has
//!    `credentials` (passwords were read when the configuration was loaded) or a
//!    `credential_helper` (run now, see below);
//! 2. the `auth_file` (containers auth.json / docker config.json): `credHelpers[host]`, else the
//!    most specific `auths` key (`host/ns/repo`, …, `host`), else `credsStore`.
//!
//! A helper that has no credential for the server ("credentials not found in native
//! keychain") lets the lookup go on to the auth file. Helpers speak the docker-credential-helpers
//! protocol: `docker-credential-NAME get` (or the configured absolute path), the server (the
//! registry host, `docker.io` for Docker Hub, as containers/image sends it) on stdin, and
//! `{"ServerURL","Username","Secret"}` on stdout; the user name `<token>` makes the secret an
//! identity token. Their answers, found or not, are kept in memory for [`HELPER_TTL`], so a
//! burst of pulls runs a helper once; failures are not kept.
//!
//! The auth file is read when needed and parsed again only when its modification time or size
//! changes (looked at no more than once a second), so `podman login --authfile` takes effect
//! without a restart. A missing file means no credentials from it.
//!
//! Nothing here logs or returns a secret: errors name the file, the key or the helper, and
//! report malformed JSON by line and column only.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use manifold_config::Config;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::credentials::{Auth, Secret};
use crate::error::{Error, ErrorKind, Result};

/// How long a credential helper's answer is reused.
pub(crate) const HELPER_TTL: Duration = Duration::from_secs(60);

/// How long the auth file is trusted unchanged before its metadata is looked at again, so that
/// a burst of reads costs no system calls.
const AUTH_FILE_RECHECK: Duration = Duration::from_secs(1);

/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(15);

/// What a helper prints when it has nothing for the server (docker-credential-helpers'
/// `ErrCredentialsNotFound`).
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// A configured credential and where it comes from.
#[derive(Clone)]
pub(crate) struct Found {
    /// The credential.
    pub auth: Auth,
    /// Where it is configured and for which user, without the secret: the source of its cache
    /// identity, and safe to log.
    pub label: String,
}

/// The configured credentials of one manifold.
pub(crate) struct Configured {
    config: Arc<Config>,
    helpers: tokio::sync::Mutex<HelperAnswers>,
    auth_file: Mutex<Option<ReadAuthFile>>,
}

/// The auth file as last read.
struct ReadAuthFile {
    stamp: FileStamp,
    checked: Instant,
    file: Arc<AuthFile>,
}

/// Helper answers by (program, server), with when they were given.
type HelperAnswers = HashMap<(String, String), (Instant, Option<Auth>)>;

/// What identifies one version of the auth file on disk.
type FileStamp = (Option<SystemTime>, u64);

impl Configured {
    /// The credentials `config` describes; nothing is run or read yet.
    pub(crate) fn new(config: Arc<Config>) -> Self {
        Configured {
            config,
            helpers: tokio::sync::Mutex::new(HashMap::new()),
            auth_file: Mutex::new(None),
        }
    }

    /// The configured credential for `registry/repository` (an effective location: after
    /// rewrites, a mirror or the primary), if there is one.
    pub(crate) async fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Found>> {
        let mut entries: Vec<(usize, &manifold_config::RegistryEntry)> = self
            .config
            .registries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.matches(registry, repository))
            .collect();
        entries.sort_by_key(|(_, e)| std::cmp::Reverse(e.location.trim_end_matches('/').len()));
        for (i, entry) in entries {
            if let Some(c) = &entry.credentials {
                if let Some(password) = c.password() {
                    return Ok(Some(Found {
                        auth: Auth::Basic {
                            username: c.username.clone(),
                            password: password.clone(),
                        },
                        label: format!("registry[{i}].credentials {}", c.username),
                    }));
                }
            }
            if let Some(helper) = &entry.credential_helper {
                let found = self
                    .helper(helper, registry)
                    .await
                    .map_err(|e| e.context(format!("registry[{i}].credential_helper")))?;
                if let Some(auth) = found {
                    let label = format!(
                        "registry[{i}].credential_helper {helper} {registry} {}",
                        user_of(&auth)
                    );
                    return Ok(Some(Found { auth, label }));
                }
                // Nothing in the helper for this server: the auth file may have it.
                break;
            }
        }
        self.lookup_auth_file(registry, repository).await
    }

    /// Looks `registry/repository` up in the auth file.
    async fn lookup_auth_file(&self, registry: &str, repository: &str) -> Result<Option<Found>> {
        let Some(path) = &self.config.auth_file else {
            return Ok(None);
        };
        let Some(file) = self.read_auth_file(path)? else {
            return Ok(None);
        };
        let context = || format!("auth_file {}", path.display());
        if let Some(helper) = file.cred_helpers.get(registry) {
            let found = self
                .helper(helper, registry)
                .await
                .map_err(|e| e.context(format!("{}: credHelpers", context())))?;
            return Ok(found.map(|auth| Found {
                label: format!(
                    "auth_file {} credHelpers {helper} {registry} {}",
                    path.display(),
                    user_of(&auth)
                ),
                auth,
            }));
        }
        for key in lookup_keys(registry, repository) {
            if let Some(entry) = file.auths.get(&key) {
                if let Some(auth) = entry.to_auth(&key).map_err(|e| e.context(context()))? {
                    return Ok(Some(Found {
                        label: format!("auth_file {} {key} {}", path.display(), user_of(&auth)),
                        auth,
                    }));
                }
            }
        }
        if let Some(helper) = &file.creds_store {
            let found = self
                .helper(helper, registry)
                .await
                .map_err(|e| e.context(format!("{}: credsStore", context())))?;
            return Ok(found.map(|auth| Found {
                label: format!(
                    "auth_file {} credsStore {helper} {registry} {}",
                    path.display(),
                    user_of(&auth)
                ),
                auth,
            }));
        }
        Ok(None)
    }

    /// The parsed auth file, read again when it changed on disk; `None` when it does not exist.
    fn read_auth_file(&self, path: &Path) -> Result<Option<Arc<AuthFile>>> {
        let fail = |what: String| {
            Error::new(
                ErrorKind::Registry,
                format!("auth_file {}: {what}", path.display()),
            )
        };
        {
            let cached = self.auth_file.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(read) = cached.as_ref() {
                if read.checked.elapsed() < AUTH_FILE_RECHECK {
                    return Ok(Some(Arc::clone(&read.file)));
                }
            }
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "auth_file does not exist; no credentials from it");
                return Ok(None);
            }
            Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        };
        let stamp = (meta.modified().ok(), meta.len());
        let mut cached = self.auth_file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(read) = cached.as_mut() {
            if read.stamp == stamp {
                read.checked = Instant::now();
                return Ok(Some(Arc::clone(&read.file)));
            }
        }
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let file = Arc::new(AuthFile::parse(&bytes).map_err(fail)?);
        *cached = Some(ReadAuthFile {
            stamp,
            checked: Instant::now(),
            file: Arc::clone(&file),
        });
        Ok(Some(file))
    }

    /// The helper's credential for `server`, from memory when asked within [`HELPER_TTL`].
    async fn helper(&self, helper: &str, server: &str) -> Result<Option<Auth>> {
        let program = helper_program(helper);
        let key = (program.to_string_lossy().into_owned(), server.to_string());
        // Held while the helper runs, so that concurrent requests wait for its answer instead
        // of running it again.
        let mut cache = self.helpers.lock().await;
        if let Some((at, found)) = cache.get(&key) {
            if at.elapsed() < HELPER_TTL {
                return Ok(found.clone());
            }
        }
        let found = run_helper(&program, server).await?;
        cache.retain(|_, (at, _)| at.elapsed() < HELPER_TTL);
        cache.insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }
}

/// The user name of a credential, for labels (identity tokens have none).
fn user_of(auth: &Auth) -> &str {
    match auth {
        Auth::Basic { username, .. } => username,
        Auth::IdentityToken(_) => "<token>",
    }
}

/// `docker-credential-NAME`, or the configured absolute path as it is.
fn helper_program(helper: &str) -> PathBuf {
    if helper.starts_with('/') {
        PathBuf::from(helper)
    } else {
        PathBuf::from(format!("docker-credential-{helper}"))
    }
}

/// The answer of `docker-credential-* get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: Secret,
}

/// Runs `program get` with `server` on stdin.
async fn run_helper(program: &Path, server: &str) -> Result<Option<Auth>> {
    let name = program.display().to_string();
    let fail = |what: String| {
        Error::new(
            ErrorKind::Registry,
            format!("credential helper {name} for {server}: {what}"),
        )
    };
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes()).await;
        drop(stdin);
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("no answer within {} s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| fail(format!("waiting for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.trim() == HELPER_NOT_FOUND {
            return Ok(None);
        }
        // Only stderr is quoted (its first line, capped): stdout is where secrets go.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line: String = stderr
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        let status = output.status;
        return Err(fail(if line.is_empty() {
            format!("failed ({status})")
        } else {
            format!("failed ({status}): {line}")
        }));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|e| {
        fail(format!(
            "its answer is not the expected JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        return Ok(Some(Auth::IdentityToken(answer.secret)));
    }
    Ok(Some(Auth::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

/// One `auths` entry of an auth file.
#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<Secret>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    identitytoken: Option<Secret>,
}

impl AuthEntry {
    /// The credential this entry holds: an identity token, `auth` (base64 `user:password`), or
    /// `username` and `password`; `None` when it holds none.
    fn to_auth(&self, key: &str) -> Result<Option<Auth>> {
        if let Some(t) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Auth::IdentityToken(t.clone())));
        }
        if let Some(encoded) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = || {
                Error::new(
                    ErrorKind::Registry,
                    format!("auths[{key:?}].auth is not the base64 of user:password"),
                )
            };
            let raw = encoded.expose().trim();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
                .map_err(|_| bad())?;
            let text = String::from_utf8(bytes).map_err(|_| bad())?;
            let (user, pass) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Auth::basic(user, pass)));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok(Some(Auth::Basic {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => Ok(None),
        }
    }
}

/// The document of an auth file.
#[derive(Deserialize, Default)]
struct AuthFileDoc {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// A parsed auth file, with normalised keys.
#[derive(Default)]
struct AuthFile {
    /// `host[:port][/path]` keys.
    auths: BTreeMap<String, AuthEntry>,
    /// Helpers by registry host.
    cred_helpers: BTreeMap<String, String>,
    /// The helper for every registry without an entry.
    creds_store: Option<String>,
}

impl AuthFile {
    fn parse(bytes: &[u8]) -> std::result::Result<AuthFile, String> {
        let doc: AuthFileDoc = serde_json::from_slice(bytes).map_err(|e| {
            // serde's messages can quote values, which may be secrets.
            format!(
                "not a containers auth.json (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let mut auths = BTreeMap::new();
        for (key, entry) in doc.auths {
            let (normalized, exact) = normalize_key(&key);
            // A key written as host[/path] wins over a legacy `https://host/v1/` one.
            if exact || !auths.contains_key(&normalized) {
                auths.insert(normalized, entry);
            }
        }
        let cred_helpers = doc
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (normalize_key(&k).0, v))
            .collect();
        Ok(AuthFile {
            auths,
            cred_helpers,
            creds_store: doc.creds_store.filter(|s| !s.is_empty()),
        })
    }
}

/// An auth-file key as containers/image normalises it: a URL (`https://index.docker.io/v1/`)
/// becomes its host; Docker Hub's aliases become `docker.io`. The flag is false for URL keys.
fn normalize_key(key: &str) -> (String, bool) {
    let (key, exact) = match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => (rest.split('/').next().unwrap_or(rest), false),
        None => (key.trim_end_matches('/'), true),
    };
    let (host, path) = match key.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (key, None),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    let normalized = match path {
        Some(p) => format!("{host}/{p}"),
        None => host.to_string(),
    };
    (normalized, exact)
}

/// The keys an auth file is searched with for `registry/repository`, most specific first:
/// `host/a/b/c`, `host/a/b`, `host/a`, `host`.
fn lookup_keys(registry: &str, repository: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut path = repository.trim_matches('/');
    while !path.is_empty() {
        keys.push(format!("{registry}/{path}"));
        path = match path.rfind('/') {
            Some(i) => &path[..i],
            None => "",
        };
    }
    keys.push(registry.to_string());
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_helper_is_an_error_naming_it() {
        let program = helper_program("manifold-test-no-such-helper");
        assert_eq!(
            program,
            PathBuf::from("docker-credential-manifold-test-no-such-helper")
        );
        let e = run_helper(&program, "r.example")
            .await
            .expect_err("no such program");
        assert!(
            e.message().starts_with(
                "credential helper docker-credential-manifold-test-no-such-helper for r.example: cannot run it:"
            ),
            "{e}"
        );
        assert_eq!(helper_program("/opt/helper"), PathBuf::from("/opt/helper"));
    }

    #[test]
    fn keys_normalise_like_containers_image() {
        assert_eq!(
            normalize_key("https://index.docker.io/v1/"),
            ("docker.io".into(), false)
        );
        assert_eq!(normalize_key("quay.io/team"), ("quay.io/team".into(), true));
        assert_eq!(
            normalize_key("registry-1.docker.io"),
            ("docker.io".into(), true)
        );
        assert_eq!(
            lookup_keys("quay.io", "a/b/c"),
            vec!["quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io"]
        );
    }

    #[test]
    fn auth_file_entries() {
        let f = AuthFile::parse(
            br#"{"auths": {
                "127.0.0.1:5002": {"auth": "Y2k6czNjcjN0"},
                "https://index.docker.io/v1/": {"auth": "bGVnYWN5OnB3"},
                "docker.io": {"username": "hub", "password": "pw"},
                "quay.io/team": {"identitytoken": "tok"},
                "empty.example": {}
            }, "credHelpers": {"ecr.example": "ecr-login"}, "credsStore": "pass", "HttpHeaders": {}}"#,
        )
        .expect("parses");
        let basic = |k: &str| match f.auths.get(k).and_then(|e| e.to_auth(k).ok().flatten()) {
            Some(Auth::Basic { username, password }) => {
                Some((username, password.expose().to_string()))
            }
            _ => None,
        };
        assert_eq!(
            basic("127.0.0.1:5002"),
            Some(("ci".into(), "s3cr3t".into()))
        );
        assert_eq!(basic("docker.io"), Some(("hub".into(), "pw".into())));
        assert!(matches!(
            f.auths
                .get("quay.io/team")
                .and_then(|e| e.to_auth("k").ok().flatten()),
            Some(Auth::IdentityToken(_))
        ));
        assert!(f
            .auths
            .get("empty.example")
            .and_then(|e| e.to_auth("k").ok().flatten())
            .is_none());
        assert_eq!(
            f.cred_helpers.get("ecr.example").map(String::as_str),
            Some("ecr-login")
        );
        assert_eq!(f.creds_store.as_deref(), Some("pass"));
    }

    #[test]
    fn bad_auth_files_do_not_echo_secrets() {
        let e = AuthFile::parse(br#"{"auths": {"x": {"auth": 12345}}}"#)
            .err()
            .expect("bad type");
        assert!(!e.contains("12345"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let f = AuthFile::parse(br#"{"auths": {"x": {"auth": "not base64 s3cr3t!"}}}"#)
            .expect("parses");
        let e = f
            .auths
            .get("x")
            .map(|e| e.to_auth("x"))
            .expect("entry")
            .expect_err("bad base64");
        assert!(!e.message().contains("s3cr3t"), "{e}");
    }
}
