//! The typed configuration of manifold, and who may do what with it.
//!
//! Data flow: the TOML text is parsed into a [`FileConfig`] ([`parse_file`]: every key optional,
//! unknown keys refused); [`Config::load`] (or [`Config::from_file`]) applies the command line's
//! [`Overrides`] and the defaults, which depend on the [`Environment`] (who runs manifold, its
//! directories, the variables `password_env` names), and validates everything once. The result
//! is one [`Config`] that the composer and the proxy share read-only; a problem is a
//! [`ConfigError`] naming the file, the key and what to fix. With no file at all the defaults make
//! `manifold serve` useful for one user on one machine: a loopback TCP listener, a unix socket, a
//! data directory, and anonymous access to any registry.
//!
//! The main types:
//!
//! - [`Config`]: the listeners ([`Listen`], `[tls]` as [`TlsFiles`], the unix socket's mode and
//!   [`SocketGroup`]), the [`Backend`], the data directory, [`Limits`], [`PushSettings`], the
//!   [`Cache`], and the registries.
//! - [`RegistryEntry`]: a `[[registry]]` entry (location, prefix rewrite, [`Mirror`]s, TLS, and
//!   [`RegistryCredentials`], whose secrets are [`Secret`]s that never print).
//! - [`policy`]: the [`Identity`](policy::Identity) the proxy establishes from a connection, the
//!   `[[policy]]` rules, and the [`Policy`](policy::Policy) that turns an identity into a
//!   [`Grant`](policy::Grant): where it may pull and push, which lists it sees, whether the
//!   configured credentials serve it. Everything there fails closed.
//! - Values written as text: [`DurationText`] (`"30s"`) and [`ByteSize`] (`"16MiB"`).
//!
//! Nothing here does network I/O or runs credential helpers: the composer applies the
//! registries and the policy, the proxy the listeners.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod duration;
mod environment;
mod error;
mod listener;
pub mod policy;
mod registries;
mod size;

pub use duration::DurationText;
pub use environment::Environment;
pub use error::ConfigError;
pub use listener::{
    format_socket_mode, parse_socket_mode, SocketGroup, TlsFiles, DEFAULT_SOCKET_MODE,
};
pub use registries::{
    location_covers, Mirror, PullFromMirror, RegistryCredentials, RegistryEntry, Secret,
};
pub use size::ByteSize;

/// The TCP address manifold listens on when no listener is configured.
pub const DEFAULT_TCP_LISTEN: &str = "tcp://127.0.0.1:8585";

/// Where a listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
    /// A TCP address that speaks TLS (certificate and key from `[tls]`).
    Tls(SocketAddr),
}

impl Listen {
    /// Parses `unix:///path.sock`, `tcp://HOST:PORT` or `tls://HOST:PORT` (HOST an IP address).
    pub fn parse(uri: &str) -> Result<Self, String> {
        if let Some(path) = uri.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{uri:?}: a unix socket URI needs an absolute path, as in unix:///run/manifold/manifold.sock"
                ));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = uri.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let addr = addr.replace("localhost:", "127.0.0.1:");
            return addr.parse::<SocketAddr>().map(Listen::Tcp).map_err(|_| {
                format!("{uri:?}: expected tcp://IP:PORT, as in tcp://127.0.0.1:8585")
            });
        }
        if let Some(addr) = uri.strip_prefix("tls://") {
            let addr = addr.trim_end_matches('/');
            let addr = addr.replace("localhost:", "127.0.0.1:");
            return addr
                .parse::<SocketAddr>()
                .map(Listen::Tls)
                .map_err(|_| format!("{uri:?}: expected tls://IP:PORT, as in tls://0.0.0.0:8586"));
        }
        Err(format!(
            "{uri:?}: expected unix:///path/to.sock, tcp://IP:PORT or tls://IP:PORT"
        ))
    }

    /// True for unix sockets and loopback TCP (or TLS) addresses.
    pub fn is_local(&self) -> bool {
        match self {
            Listen::Unix(_) => true,
            Listen::Tcp(a) | Listen::Tls(a) => is_loopback(a.ip()),
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix://{}", p.display()),
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
            Listen::Tls(a) => write!(f, "tls://{a}"),
        }
    }
}

/// The backend podman service that non-manifest calls are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A podman service on a unix socket.
    Unix(PathBuf),
    /// A podman service on a TCP address.
    Tcp(SocketAddr),
}

impl Backend {
    /// Parses `unix:///path.sock` or `tcp://IP:PORT`.
    pub fn parse(uri: &str) -> Result<Self, String> {
        match Listen::parse(uri)? {
            Listen::Unix(p) => Ok(Backend::Unix(p)),
            Listen::Tcp(a) => Ok(Backend::Tcp(a)),
            Listen::Tls(_) => Err(format!(
                "{uri:?}: a backend podman service is reached over unix:///path.sock or tcp://IP:PORT"
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Unix(p) => write!(f, "unix://{}", p.display()),
            Backend::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Explicit limits on what a request may make manifold hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body manifold reads (JSON bodies of manifest calls).
    pub max_request_body: ByteSize,
    /// Largest manifest or image config manifold fetches from a registry.
    pub max_manifest_size: ByteSize,
    /// Most instances one list may hold.
    pub max_list_instances: usize,
    /// Most images one request may add.
    pub max_images_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: ByteSize(1 << 20),
            max_manifest_size: ByteSize(4 << 20),
            max_list_instances: 1000,
            max_images_per_request: 256,
        }
    }
}

/// How pushes run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// Blob copies and mounts in flight at once per destination registry.
    pub concurrency: usize,
    /// Retries after the first attempt of a registry request that failed with a connection
    /// error, a 5xx or a 429.
    pub retries: u32,
    /// The first retry's delay in milliseconds; each further retry doubles it.
    pub retry_backoff_ms: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            concurrency: 16,
            retries: 3,
            retry_backoff_ms: 200,
        }
    }
}

/// The manifest cache (`[cache]`): manifests and image configs by digest, tag resolutions for a
/// while, shared by every client whose own access to the repository has been confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Total size of cached manifests and configs (plus a small per-entry overhead); least
    /// valuable entries are evicted beyond it. `0` caches nothing (concurrent identical reads
    /// are still coalesced).
    pub max_bytes: ByteSize,
    /// How long a tag -> digest resolution, and a client's confirmed access to a repository, is
    /// trusted before one HEAD revalidates it.
    pub tag_ttl: DurationText,
    /// How long past `tag_ttl` an expired entry may still answer while the registry fails
    /// (429, 5xx, unreachable). `0s` turns stale answers off.
    pub max_stale: DurationText,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            max_bytes: ByteSize(256 << 20),
            tag_ttl: DurationText(Duration::from_secs(30)),
            max_stale: DurationText(Duration::from_secs(3600)),
        }
    }
}

/// The configuration as written in the TOML file. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listener URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// Where lists are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The podman service non-manifest calls go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Allows a plain (non-TLS) TCP listener on a non-loopback address.
    #[serde(default)]
    pub allow_insecure_tcp_listen: bool,
    /// The mode of unix sockets, in octal (`"0660"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_mode: Option<String>,
    /// The group unix sockets are given: a name or a numeric ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_group: Option<String>,
    /// Worker threads of the HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Seconds a stopping manifold waits for requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout_seconds: Option<u64>,
    /// A containers auth.json / docker config.json with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_file: Option<PathBuf>,
    /// Allows registries no `[[registry]]` entry covers, once there are entries.
    #[serde(default)]
    pub allow_unlisted_registries: bool,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Push settings.
    #[serde(default)]
    pub push: PushSettings,
    /// The manifest cache.
    #[serde(default)]
    pub cache: Cache,
    /// The certificate and key of `tls://` listeners, and the CA of client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// Registries.
    #[serde(default, rename = "registry", skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<RegistryEntry>,
    /// Who may do what (`[[policy]]`); none: everyone may do everything, and the configured
    /// registry credentials serve only manifold's own user and root.
    #[serde(default, rename = "policy", skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<policy::PolicyRule>,
}

/// Command-line overrides of `manifold serve`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`, replacing the file's listeners when given.
    pub listen: Vec<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--backend`.
    pub backend: Option<String>,
}

/// The effective configuration: the file's values, the overrides and the defaults, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listeners.
    pub listen: Vec<Listen>,
    /// Where lists are stored.
    pub data_dir: PathBuf,
    /// The podman service non-manifest calls go to.
    pub backend: Option<Backend>,
    /// Allows a plain TCP listener on a non-loopback address.
    pub allow_insecure_tcp_listen: bool,
    /// The mode of unix sockets.
    pub socket_mode: u32,
    /// The group unix sockets are given, when configured.
    pub socket_group: Option<SocketGroup>,
    /// The certificate and key of `tls://` listeners, and the CA of client certificates.
    pub tls: Option<TlsFiles>,
    /// Who may do what; empty: everyone may do everything, and the configured registry
    /// credentials serve only manifold's own user and root.
    pub policy: policy::Policy,
    /// Worker threads of the HTTP server.
    pub threads: usize,
    /// Seconds a stopping manifold waits for requests in flight.
    pub shutdown_timeout_seconds: u64,
    /// A containers auth.json / docker config.json with registry credentials.
    pub auth_file: Option<PathBuf>,
    /// Allows registries no `[[registry]]` entry covers, once there are entries.
    pub allow_unlisted_registries: bool,
    /// Limits.
    pub limits: Limits,
    /// Push settings.
    pub push: PushSettings,
    /// The manifest cache.
    pub cache: Cache,
    /// Registries.
    pub registries: Vec<RegistryEntry>,
}

impl Config {
    /// Loads `path` (when given), applies `overrides` and defaults, and validates.
    pub fn load(
        path: Option<&Path>,
        overrides: &Overrides,
        env: &Environment,
    ) -> Result<Self, ConfigError> {
        let (file, source) = match path {
            Some(p) => {
                let source = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    source: source.clone(),
                    key: String::new(),
                    problem: format!("cannot read the file: {e}"),
                })?;
                (parse_file(&text, &source)?, source)
            }
            None => (FileConfig::default(), "<defaults>".to_string()),
        };
        Self::from_file(file, &source, overrides, env)
    }

    /// Builds the effective configuration from a parsed file.
    pub fn from_file(
        file: FileConfig,
        source: &str,
        overrides: &Overrides,
        env: &Environment,
    ) -> Result<Self, ConfigError> {
        let err = |source: &str, key: &str, problem: String| ConfigError {
            source: source.to_string(),
            key: key.to_string(),
            problem,
        };
        let (listen_uris, listen_source) = if overrides.listen.is_empty() {
            (file.listen.clone(), source)
        } else {
            (overrides.listen.clone(), "<command line>")
        };
        // The key naming listener `i`: its index in the file, or the flag it came from.
        let listen_key = |i: usize| {
            if listen_source == source {
                format!("listen[{i}]")
            } else {
                "--listen".to_string()
            }
        };
        let mut listen = Vec::new();
        for (i, uri) in listen_uris.iter().enumerate() {
            listen.push(Listen::parse(uri).map_err(|p| err(listen_source, &listen_key(i), p))?);
        }
        if listen.is_empty() {
            listen = default_listeners(env);
        }
        for (i, l) in listen.iter().enumerate() {
            // A TLS listener may face the network; a plain one only when the operator says so.
            if matches!(l, Listen::Tcp(_)) && !l.is_local() && !file.allow_insecure_tcp_listen {
                return Err(err(
                    listen_source,
                    &listen_key(i),
                    format!(
                        "{l} is reachable from other machines and this listener has no TLS, so registry credentials and lists would cross the network in clear text; listen on 127.0.0.1 or a unix socket, or set allow_insecure_tcp_listen = true in the configuration file if the network is trusted"
                    ),
                ));
            }
        }
        let backend = match overrides.backend.as_ref().or(file.backend.as_ref()) {
            Some(uri) => {
                let (src, key) = if overrides.backend.is_some() {
                    ("<command line>", "--backend")
                } else {
                    (source, "backend")
                };
                Some(Backend::parse(uri).map_err(|p| err(src, key, p))?)
            }
            None => None,
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| default_data_dir(env));
        let mut registries = file.registries;
        registries::validate(&mut registries, source, env)?;
        if file
            .auth_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(err(
                source,
                "auth_file",
                "must be the path of an auth.json file".into(),
            ));
        }
        if file.limits.max_list_instances == 0 || file.limits.max_images_per_request == 0 {
            return Err(err(
                source,
                "limits",
                "limits must be greater than zero".into(),
            ));
        }
        if file.push.concurrency == 0 {
            return Err(err(source, "push.concurrency", "must be at least 1".into()));
        }
        let socket_mode = match &file.socket_mode {
            Some(m) => parse_socket_mode(m).map_err(|p| err(source, "socket_mode", p))?,
            None => DEFAULT_SOCKET_MODE,
        };
        let socket_group = file
            .socket_group
            .as_deref()
            .map(SocketGroup::parse)
            .transpose()
            .map_err(|p| err(source, "socket_group", p))?;
        if let Some(i) = listen.iter().position(|l| matches!(l, Listen::Tls(_))) {
            if file.tls.is_none() {
                return Err(err(
                    listen_source,
                    &listen_key(i),
                    format!(
                        "{} needs a [tls] section in the configuration file with cert_file and key_file (PEM)",
                        listen[i]
                    ),
                ));
            }
        }
        if let Some(tls) = &file.tls {
            let files = [
                ("tls.cert_file", Some(&tls.cert_file)),
                ("tls.key_file", Some(&tls.key_file)),
                ("tls.client_ca_file", tls.client_ca_file.as_ref()),
            ];
            for (key, path) in files {
                let Some(path) = path else { continue };
                // Opened here so that check-config and start-up name the key; the contents are
                // parsed when the listener is built.
                if let Err(e) = std::fs::File::open(path) {
                    return Err(err(
                        source,
                        key,
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
        let policy = policy::Policy::from_rules(&file.policy, env.euid)
            .map_err(|(key, problem)| err(source, &key, problem))?;
        let threads = file.threads.unwrap_or(2);
        if threads == 0 {
            return Err(err(source, "threads", "must be at least 1".into()));
        }
        Ok(Config {
            listen,
            data_dir,
            backend,
            allow_insecure_tcp_listen: file.allow_insecure_tcp_listen,
            socket_mode,
            socket_group,
            tls: file.tls,
            policy,
            threads,
            shutdown_timeout_seconds: file.shutdown_timeout_seconds.unwrap_or(10),
            auth_file: file.auth_file,
            allow_unlisted_registries: file.allow_unlisted_registries,
            limits: file.limits,
            push: file.push,
            cache: file.cache,
            registries,
        })
    }

    /// True when manifold has registry credentials of its own: an `auth_file`, or a
    /// `[[registry]]` entry with `credentials` or a `credential_helper`.
    pub fn has_configured_credentials(&self) -> bool {
        self.auth_file.is_some()
            || self
                .registries
                .iter()
                .any(|r| r.credentials.is_some() || r.credential_helper.is_some())
    }

    /// The `[[registry]]` entry whose `location` covers `registry/repository`, the most
    /// specific first.
    pub fn registry_entry(&self, registry: &str, repository: &str) -> Option<&RegistryEntry> {
        self.registries
            .iter()
            .filter(|r| r.matches(registry, repository))
            .max_by_key(|r| r.location.trim_end_matches('/').len())
    }

    /// The `[[registry]]` entry whose prefix (its `prefix`, or else its `location`) covers
    /// `registry/repository`, the longest prefix first: the entry that rewrites the reference
    /// and whose mirrors serve it.
    pub fn prefix_entry(&self, registry: &str, repository: &str) -> Option<&RegistryEntry> {
        self.registries
            .iter()
            .filter(|r| r.matches_prefix(registry, repository))
            .max_by_key(|r| r.effective_prefix().len())
    }

    /// The effective configuration as TOML, the way `manifold check-config` prints it.
    pub fn to_toml(&self) -> String {
        let file = FileConfig {
            listen: self.listen.iter().map(ToString::to_string).collect(),
            data_dir: Some(self.data_dir.clone()),
            backend: self.backend.as_ref().map(ToString::to_string),
            allow_insecure_tcp_listen: self.allow_insecure_tcp_listen,
            socket_mode: Some(format_socket_mode(self.socket_mode)),
            socket_group: self.socket_group.as_ref().map(ToString::to_string),
            tls: self.tls.clone(),
            policy: self.policy.written().to_vec(),
            threads: Some(self.threads),
            shutdown_timeout_seconds: Some(self.shutdown_timeout_seconds),
            auth_file: self.auth_file.clone(),
            allow_unlisted_registries: self.allow_unlisted_registries,
            limits: self.limits.clone(),
            push: self.push.clone(),
            cache: self.cache.clone(),
            registries: self.registries.clone(),
        };
        toml::to_string(&file).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

/// Parses the TOML text of a configuration file.
pub fn parse_file(text: &str, source: &str) -> Result<FileConfig, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
        source: source.to_string(),
        key: String::new(),
        problem: e.message().to_string(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError {
            source: source.to_string(),
            key: if key == "." { String::new() } else { key },
            problem: inner.message().to_string(),
        }
    })
}

fn default_listeners(env: &Environment) -> Vec<Listen> {
    let socket = if env.is_root() {
        PathBuf::from("/run/manifold/manifold.sock")
    } else {
        env.xdg_runtime_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join("manifold.sock")
    };
    let tcp = Listen::parse(DEFAULT_TCP_LISTEN).unwrap_or(Listen::Unix(socket.clone()));
    vec![tcp, Listen::Unix(socket)]
}

fn default_data_dir(env: &Environment) -> PathBuf {
    if env.is_root() {
        return PathBuf::from("/var/lib/manifold");
    }
    env.xdg_data_home
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("manifold")
}

/// True when `ip` is a loopback address, including IPv4 loopback written as an IPv6-mapped
/// address (`::ffff:127.0.0.1`), which a dual-stack listener reports.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_access;
