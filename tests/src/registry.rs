//! A real container registry per test: CNCF distribution 2.8.2 (`/usr/bin/docker-registry`) on a
//! free loopback port with its own storage, optionally behind Basic (htpasswd, bcrypt) or bearer
//! token auth (with a [`TokenServer`]), and a parser for its access log, which is how tests count
//! what actually reached the registry.
//!
//! The registry writes one access-log line per request to stdout (gorilla `CombinedLoggingHandler`):
//!
//! ```text
//! 127.0.0.1 - - [27/Nov/2026:03:40:40 +0000] "HEAD /v2/foo/blobs/sha256:… HTTP/1.1" 404 157 "" "curl/7.88.1"
//! ```
//!
//! (plus logrus `time=… level=info msg="response completed" …` lines on stderr, which are ignored).
//! A line is written just after the response is sent, so [`Registry::access_log`] waits for the log
//! to be quiet briefly before reading.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{free_port, read_log, ChildGuard, Startup};
use crate::token_server::{TokenServer, TokenServerOptions};

/// The registry binary, overridable with `MANIFOLD_REGISTRY_BIN`.
pub fn registry_bin() -> String {
    std::env::var("MANIFOLD_REGISTRY_BIN").unwrap_or_else(|_| "/usr/bin/docker-registry".into())
}

/// How clients must authenticate to a [`Registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anonymous read and write.
    None,
    /// HTTP Basic auth with one user (htpasswd, bcrypt).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        pass: String,
    },
    /// Bearer tokens from the harness's token server, which accepts this user's Basic credentials.
    Token {
        /// The user name.
        user: String,
        /// The password.
        pass: String,
    },
}

impl RegistryAuth {
    /// `Basic { user, pass }`.
    pub fn basic(user: &str, pass: &str) -> RegistryAuth {
        RegistryAuth::Basic {
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// `Token { user, pass }`.
    pub fn token(user: &str, pass: &str) -> RegistryAuth {
        RegistryAuth::Token {
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// The credentials, if any.
    pub fn creds(&self) -> Option<(String, String)> {
        match self {
            RegistryAuth::None => None,
            RegistryAuth::Basic { user, pass } | RegistryAuth::Token { user, pass } => {
                Some((user.clone(), pass.clone()))
            }
        }
    }
}

/// Everything [`Registry::start_with`] can vary.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// The authentication mode.
    pub auth: RegistryAuth,
    /// Token lifetime for [`RegistryAuth::Token`] (default 300 s).
    pub token_expiry: Duration,
    /// Extra top-level YAML appended to the generated config (must not repeat its keys:
    /// `version`, `storage`, `http`, `log`, `auth`).
    pub extra_yaml: String,
}

impl RegistryOptions {
    /// Options with the given auth and defaults otherwise.
    pub fn new(auth: RegistryAuth) -> RegistryOptions {
        RegistryOptions {
            auth,
            token_expiry: Duration::from_secs(300),
            extra_yaml: String::new(),
        }
    }
}

/// One access-log line of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    /// The HTTP method (`GET`, `HEAD`, `PUT`, ...).
    pub method: String,
    /// The request URI as received (path and query, still escaped).
    pub uri: String,
    /// The path part of `uri` (before `?`).
    pub path: String,
    /// The response status.
    pub status: u16,
    /// Response bytes written.
    pub size: u64,
    /// The client's User-Agent.
    pub user_agent: String,
}

impl AccessLine {
    /// Parses one combined-log-format line; `None` for any other line.
    pub fn parse(line: &str) -> Option<AccessLine> {
        // IP - USER [DATE] "METHOD URI PROTO" STATUS SIZE "REFERER" "UA"
        if line.starts_with("time=") {
            return None;
        }
        let start = line.find("] \"")? + 3;
        let rest = &line[start..];
        let req_end = rest.find('"')?;
        let request = &rest[..req_end];
        let mut parts = request.split(' ');
        let method = parts.next()?.to_string();
        let uri = parts.next()?.to_string();
        let proto = parts.next()?;
        if !proto.starts_with("HTTP/") {
            return None;
        }
        let mut after = rest[req_end + 1..].trim_start().splitn(3, ' ');
        let status = after.next()?.parse().ok()?;
        let size = after.next()?.parse().unwrap_or(0);
        let tail = after.next().unwrap_or("");
        // tail: "REFERER" "UA"
        let user_agent = tail
            .rsplit_once("\" \"")
            .map(|(_, ua)| ua.trim_end().trim_end_matches('"').to_string())
            .unwrap_or_default();
        let path = uri.split('?').next().unwrap_or("").to_string();
        Some(AccessLine {
            method,
            uri,
            path,
            status,
            size,
            user_agent,
        })
    }

    /// Whether this is `method` on a path containing `path_part`.
    pub fn is(&self, method: &str, path_part: &str) -> bool {
        self.method == method && self.path.contains(path_part)
    }

    /// Whether this is a blob upload start (`POST /v2/<repo>/blobs/uploads/`) without `mount=`.
    pub fn is_upload_start(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/blobs/uploads/") && !self.is_mount()
    }

    /// Whether this is a cross-repository mount attempt (`POST …/blobs/uploads/?mount=…&from=…`).
    pub fn is_mount(&self) -> bool {
        self.method == "POST"
            && self.path.ends_with("/blobs/uploads/")
            && self.uri.contains("mount=")
    }

    /// Whether this completed a blob upload (answered 201): the closing
    /// `PUT …/blobs/uploads/<id>?digest=…` of an upload session, or a monolithic (one-shot)
    /// `POST …/blobs/uploads/?digest=…`. Mounts are not uploads ([`AccessLine::is_completed_mount`]).
    pub fn is_completed_upload(&self) -> bool {
        self.status == 201
            && matches!(self.method.as_str(), "PUT" | "POST")
            && self.path.contains("/blobs/uploads/")
            && !self.is_mount()
    }

    /// Whether this is a cross-repository mount that succeeded (answered 201; a declined mount
    /// is answered 202 with an upload session instead).
    pub fn is_completed_mount(&self) -> bool {
        self.is_mount() && self.status == 201
    }

    /// Whether this is a manifest PUT.
    pub fn is_manifest_put(&self) -> bool {
        self.method == "PUT" && self.path.contains("/manifests/")
    }
}

/// Counts lines matching `method` whose path contains `path_part`.
pub fn count(lines: &[AccessLine], method: &str, path_part: &str) -> usize {
    lines.iter().filter(|l| l.is(method, path_part)).count()
}

/// A running (or stopped) registry; killed when dropped.
#[derive(Debug)]
pub struct Registry {
    // Field order matters for drop: the process dies before its directory is removed.
    child: Option<ChildGuard>,
    token: Option<TokenServer>,
    auth: RegistryAuth,
    port: u16,
    config_path: PathBuf,
    log_path: PathBuf,
    storage: PathBuf,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with `auth` and default options.
    pub fn start(auth: RegistryAuth) -> Registry {
        Registry::start_with(RegistryOptions::new(auth))
    }

    /// Starts a registry without auth.
    pub fn plain() -> Registry {
        Registry::start(RegistryAuth::None)
    }

    /// Starts a registry with all options.
    ///
    /// Panics in the composer's own tests, which use the in-process
    /// [`crate::fake_registry::FakeRegistry`]: the composer is tested without external processes,
    /// and a real registry there would be a test that only passes where `docker-registry` is
    /// installed.
    pub fn start_with(opts: RegistryOptions) -> Registry {
        // Cargo sets the package's name for the test binaries it runs.
        if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("manifold-composer") {
            panic!(
                "the composer's tests use the in-process FakeRegistry \
                 (manifold_tests::fake_registry), not docker-registry"
            );
        }
        crate::init();
        let dir = tempfile::Builder::new()
            .prefix("mf-reg-")
            .tempdir()
            .expect("create registry dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("create registry storage");
        let log_path = dir.path().join("registry.log");
        let config_path = dir.path().join("config.yml");

        let mut token = None;
        let auth_yaml = match &opts.auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Basic { user, pass } => {
                let out = crate::process::Output::of(Command::new("htpasswd").args([
                    "-Bbn",
                    user.as_str(),
                    pass.as_str(),
                ]));
                out.assert_success("htpasswd -Bbn");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, out.stdout.trim_end().to_string() + "\n")
                    .expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: manifold-test\n    path: {}\n",
                    q(&htpasswd)
                )
            }
            RegistryAuth::Token { user, pass } => {
                let mut topts = TokenServerOptions::new(user, pass);
                topts.expiry = opts.token_expiry;
                let ts = TokenServer::start(topts);
                let cert = dir.path().join("token-cert.pem");
                std::fs::write(&cert, &crate::token_server::key_material().cert_pem)
                    .expect("write token cert");
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    q(ts.realm()),
                    q(ts.service()),
                    q(ts.issuer()),
                    q(&cert)
                );
                token = Some(ts);
                yaml
            }
        };

        let mut reg = Registry {
            child: None,
            token,
            auth: opts.auth.clone(),
            port: 0,
            config_path,
            log_path,
            storage,
            dir,
        };
        let mut last_log = String::new();
        for _attempt in 0..5 {
            reg.port = free_port();
            let config = format!(
                "version: 0.1\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: manifold-test-secret\n\
                 log:\n  level: info\n  accesslog:\n    disabled: false\n\
                 {auth_yaml}{extra}\n",
                storage = q(&reg.storage),
                port = reg.port,
                extra = opts.extra_yaml,
            );
            std::fs::write(&reg.config_path, config).expect("write registry config");
            let _ = std::fs::remove_file(&reg.log_path);
            match reg.spawn_and_wait() {
                Ok(()) => return reg,
                Err(log) => last_log = log,
            }
        }
        panic!("registry did not start after 5 attempts; last log:\n{last_log}");
    }

    /// Spawns the process on `self.port` and waits for readiness. `Err(log)` when it exited.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(registry_bin());
        cmd.arg("serve").arg(&self.config_path);
        // Keep the registry from picking up REGISTRY_* overrides from the test environment.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(&k);
            }
        }
        let url = format!("{}/v2/", self.url());
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build reqwest client");
        let listening = format!("listening on 127.0.0.1:{}", self.port);
        let started = ChildGuard::spawn_ready(
            "docker-registry",
            &mut cmd,
            &self.log_path,
            Duration::from_secs(20),
            Duration::from_millis(25),
            || {
                read_log(&self.log_path).contains(&listening)
                    && matches!(
                        client.get(&url).send(),
                        Ok(r) if r.status().as_u16() == 200 || r.status().as_u16() == 401
                    )
            },
        );
        match started {
            Ok(mut child) => {
                if !child.is_running() {
                    return Err(read_log(&self.log_path));
                }
                self.child = Some(child);
                Ok(())
            }
            Err(Startup::Exited(_)) => Err(read_log(&self.log_path)),
            Err(Startup::TimedOut) => panic!(
                "registry on port {} not ready within 20 s; log:\n{}",
                self.port,
                read_log(&self.log_path)
            ),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id while the registry runs (for CPU accounting in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(ChildGuard::pid)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT/<repo>` (a reference prefix).
    pub fn repo_ref(&self, repo: &str) -> String {
        format!("{}/{}", self.host(), repo)
    }

    /// The authentication mode.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// The credentials clients must use (`None` for an anonymous registry).
    pub fn creds(&self) -> Option<(String, String)> {
        self.auth.creds()
    }

    /// The token server of a token-auth registry.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// How many token requests the token server answered (0 without token auth).
    pub fn token_requests(&self) -> usize {
        self.token.as_ref().map_or(0, TokenServer::requests)
    }

    /// The storage directory (kept across [`Registry::stop`] / [`Registry::restart`]).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The registry's temporary directory (config, log, storage).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The whole process log (stdout and stderr).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Every access-log line so far, after waiting for the log to be quiet for 50 ms (at most
    /// 2 s), since the registry writes a line just after the response is sent.
    pub fn access_log(&self) -> Vec<AccessLine> {
        let mut last = read_log(&self.log_path);
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(50));
            let now = read_log(&self.log_path);
            if now.len() == last.len() {
                break;
            }
            last = now;
        }
        last.lines().filter_map(AccessLine::parse).collect()
    }

    /// A mark for [`Registry::access_log_since`]: the number of access-log lines so far (settled).
    pub fn access_mark(&self) -> usize {
        self.access_log().len()
    }

    /// Access-log lines after `mark` (from [`Registry::access_mark`]), settled.
    pub fn access_log_since(&self, mark: usize) -> Vec<AccessLine> {
        self.access_log().into_iter().skip(mark).collect()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Kills the registry (SIGKILL), keeping its storage, port and token server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts the registry again (stopping it first if running) on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(log) = self.spawn_and_wait() {
            panic!(
                "registry did not restart on port {}; log:\n{log}",
                self.port
            );
        }
    }
}

/// Quotes a string or path as a YAML (JSON) string.
fn q(s: impl AsRef<std::ffi::OsStr>) -> String {
    serde_json::to_string(&s.as_ref().to_string_lossy()).expect("quote YAML string")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_lines() {
        let l = AccessLine::parse(
            r#"127.0.0.1 - - [27/Nov/2026:03:40:40 +0000] "POST /v2/foo/blobs/uploads/?mount=sha256:ab&from=bar HTTP/1.1" 201 0 "" "skopeo/1.9.3""#,
        )
        .expect("parses");
        assert_eq!(l.method, "POST");
        assert_eq!(l.path, "/v2/foo/blobs/uploads/");
        assert_eq!(l.status, 201);
        assert_eq!(l.user_agent, "skopeo/1.9.3");
        assert!(l.is_mount());
        assert!(!l.is_upload_start());
        assert!(AccessLine::parse(
            r#"time="2026-11-27T03:40:40Z" level=info msg="response completed" http.request.uri=/v2/"#
        )
        .is_none());
    }

    #[test]
    fn classifies_completed_uploads_and_mounts() {
        let line = |method: &str, uri: &str, status: u16| {
            AccessLine::parse(&format!(
                r#"127.0.0.1 - - [27/Nov/2026:03:40:40 +0000] "{method} {uri} HTTP/1.1" {status} 0 "" "ua""#
            ))
            .expect("parses")
        };
        let put = line(
            "PUT",
            "/v2/foo/blobs/uploads/abc?_state=x&digest=sha256:ab",
            201,
        );
        let one_shot = line("POST", "/v2/foo/blobs/uploads/?digest=sha256:ab", 201);
        let mount = line(
            "POST",
            "/v2/foo/blobs/uploads/?mount=sha256:ab&from=bar",
            201,
        );
        let declined = line(
            "POST",
            "/v2/foo/blobs/uploads/?mount=sha256:ab&from=bar",
            202,
        );
        let start = line("POST", "/v2/foo/blobs/uploads/", 202);
        let patch = line("PATCH", "/v2/foo/blobs/uploads/abc", 202);
        let failed_put = line("PUT", "/v2/foo/blobs/uploads/abc?digest=sha256:ab", 400);
        assert!(put.is_completed_upload() && !put.is_completed_mount());
        assert!(one_shot.is_completed_upload() && !one_shot.is_completed_mount());
        assert!(mount.is_completed_mount() && !mount.is_completed_upload());
        for l in [&declined, &start, &patch, &failed_put] {
            assert!(!l.is_completed_upload() && !l.is_completed_mount(), "{l:?}");
        }
    }
}
