//! An in-process container registry for the composer's tests: a small hyper server speaking the
//! part of the distribution API manifold uses, with hooks that make it fail on purpose.
//!
//! The composer's tests need a registry that does what a registry does (and sometimes what a
//! broken one does) without an external process, so they start in milliseconds, run anywhere,
//! and can stage a failure for exactly the request they are about. [`FakeRegistry`] serves, on a
//! free loopback port and its own thread:
//!
//! - `GET /v2/` (the ping); manifests by tag and digest (`HEAD`, `GET`, `PUT`, with
//!   `Content-Type`, `Docker-Content-Digest` and the exact bytes; a `PUT` by digest must match,
//!   and every blob and child a manifest names must be in the repository, as distribution
//!   checks); blobs (`HEAD`, `GET`); uploads (`POST` with `?mount=&from=` for a
//!   cross-repository mount, `201` or `202` with a session when the source lacks the blob;
//!   `POST ?digest=` monolithic; `PATCH`; `PUT ?digest=`, verified; `DELETE`); and
//!   `GET /v2/<repo>/tags/list`. Errors are distribution's JSON with its codes and words.
//! - Authentication ([`AuthMode`]): anonymous, Basic, or Bearer with a token endpoint at `/token`
//!   on the same server (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`), tokens that expire
//!   on demand ([`FakeRegistry::expire_tokens`], [`Fault::ExpireToken`]) or after a lifetime
//!   ([`FakeRegistry::set_token_lifetime`]), and accounts kept out of some repositories.
//! - Optionally TLS with a self-signed certificate made in process, which clients do not trust.
//! - Fault hooks ([`FakeRegistry::inject`]): for the next N requests matching a method and a path
//!   pattern, a status, a `429` with `Retry-After`, a reset, a body cut, truncated, corrupted or
//!   sent chunked, a refused mount, `200` for `202`, an expired token, or a redirect.
//! - A record of every request ([`FakeRegistry::requests`]: method, path, query, status, the
//!   `Authorization` scheme, headers) and of the token requests, so tests count what reached the
//!   registry as they would count a real registry's access log ([`FakeRegistry::access_log`]
//!   gives the same [`AccessLine`]s).
//!
//! Content is stored in files in a temporary directory, so large blobs stream through in bounded
//! memory. Tests seed and inspect the storage directly ([`FakeRegistry::put_blob`],
//! [`FakeRegistry::seed_image`], [`FakeRegistry::blob`], ...), independently of the client under
//! test. The end-to-end tests in `tests/tests/` use the real registry ([`crate::registry`]).

mod auth;
mod faults;
mod server;
mod store;
mod tls;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use auth::{Account, AuthMode};
pub use faults::{Fault, RetryAfter};
pub use server::Exchange;

use crate::fixtures::{build_image, BuiltImage, ImageSpec, PushedImage};
use crate::regclient::FetchedManifest;
use crate::registry::AccessLine;
use crate::token_server::TokenRequest;
use server::{lock, Shared};

/// Everything [`FakeRegistry::start`] can vary.
#[derive(Debug, Clone)]
pub struct Options {
    /// How clients authenticate.
    pub auth: AuthMode,
    /// The users of Basic and Bearer modes.
    pub accounts: Vec<Account>,
    /// Whether anonymous clients may pull (Basic and Bearer modes; anonymous mode allows all).
    pub anonymous_pull: bool,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1.
    pub tls: bool,
    /// A host name upload `Location`s use (with the registry's port) instead of the host a
    /// request was sent to: a registry that hands out sessions on another host.
    pub upload_host: Option<String>,
    /// The `expires_in` the token endpoint sends (`None`: none, so clients assume 60 s).
    pub token_expires_in: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            auth: AuthMode::Anonymous,
            accounts: Vec::new(),
            anonymous_pull: false,
            tls: false,
            upload_host: None,
            token_expires_in: Some(300),
        }
    }
}

impl Options {
    /// `auth` with `accounts`, defaults otherwise.
    pub fn new(auth: AuthMode, accounts: Vec<Account>) -> Options {
        Options {
            auth,
            accounts,
            ..Options::default()
        }
    }
}

/// The server thread and how to stop it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A running fake registry; stopped when dropped.
pub struct FakeRegistry {
    shared: Arc<Shared>,
    running: Option<Running>,
    // Dropped last: the server thread may still read files until it has stopped.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for FakeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRegistry")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeRegistry {
    /// Starts a registry with `options` on a free loopback port, served by a thread of its own
    /// (so it answers whatever runtime, if any, the test uses).
    pub fn start(options: Options) -> FakeRegistry {
        crate::init();
        let dir = tempfile::Builder::new()
            .prefix("mf-fake-registry-")
            .tempdir()
            .expect("create the fake registry's directory");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake registry");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let tls = options.tls.then(tls::acceptor);
        let shared = Arc::new(Shared {
            store: Mutex::new(store::Store::new(dir.path())),
            gate: Mutex::new(auth::Gate::new(
                options.auth,
                options.accounts,
                options.anonymous_pull,
                options.token_expires_in,
            )),
            faults: Mutex::default(),
            log: Mutex::default(),
            scheme: if options.tls { "https" } else { "http" },
            host: format!("127.0.0.1:{port}"),
            port,
            location_host: options.upload_host.map(|name| format!("{name}:{port}")),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fake-registry-{port}"))
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the fake registry's runtime")
                    .block_on(server::serve(listener, serving, tls, stopped));
            })
            .expect("start the fake registry's thread");
        FakeRegistry {
            shared,
            running: Some(Running { stop, thread }),
            _dir: dir,
        }
    }

    /// An anonymous registry: anyone reads and writes.
    pub fn anonymous() -> FakeRegistry {
        FakeRegistry::start(Options::default())
    }

    /// A registry that wants Basic credentials: `user` with `password`.
    pub fn basic(user: &str, password: &str) -> FakeRegistry {
        let accounts = vec![Account::new(user, password)];
        FakeRegistry::start(Options::new(AuthMode::Basic, accounts))
    }

    /// A registry that wants bearer tokens, which its token endpoint gives `user` with
    /// `password`.
    pub fn bearer(user: &str, password: &str) -> FakeRegistry {
        let accounts = vec![Account::new(user, password)];
        FakeRegistry::start(Options::new(AuthMode::Bearer, accounts))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.shared.host.clone()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.shared.scheme, self.shared.host)
    }

    /// Stops serving: the port is closed and open connections are dropped. The storage and the
    /// record stay readable.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.thread.join();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Storage, seeded and read directly.

    /// Stores `bytes` as a blob of `repo`; returns its digest.
    pub fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        self.put_blob_from(repo, bytes).0
    }

    /// Stores what `reader` yields as a blob of `repo`, streamed through a file (for blobs too
    /// large to hold); returns its digest and size.
    pub fn put_blob_from(&self, repo: &str, reader: impl Read) -> (String, u64) {
        let mut store = lock(&self.shared.store);
        let (digest, size) = store.add_content(reader);
        store.link_blob(repo, &digest);
        (digest, size)
    }

    /// Stores exactly `bytes` as a manifest of `repo` with `media_type`, by digest and, when
    /// `reference` is a tag, under it; returns the digest. Nothing is checked: a test may seed
    /// what no registry would accept.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        lock(&self.shared.store).put_manifest(repo, reference, media_type, bytes)
    }

    /// Stores a built image in `repo`: its blobs, its manifest by digest and, with `tag`, under
    /// the tag.
    pub fn seed_built(&self, repo: &str, tag: Option<&str>, image: &BuiltImage) -> PushedImage {
        for blob in std::iter::once(&image.config).chain(&image.layers) {
            self.put_blob(repo, &blob.bytes);
        }
        let reference = tag.unwrap_or(&image.digest);
        self.put_manifest(repo, reference, &image.media_type, &image.manifest);
        PushedImage::new(&self.host(), repo, tag, image)
    }

    /// Builds `spec` and stores it as `repo:tag` (the fake's `fixtures::push_image`).
    pub fn seed_image(&self, repo: &str, tag: &str, spec: &ImageSpec) -> PushedImage {
        self.seed_built(repo, Some(tag), &build_image(spec))
    }

    /// The bytes of blob `digest` of `repo`, if it is there.
    pub fn blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let store = lock(&self.shared.store);
        store.blob_size(repo, digest)?;
        store.read(digest)
    }

    /// The size of blob `digest` in `repo`: `Some` exactly when the registry has it there.
    pub fn blob_size(&self, repo: &str, digest: &str) -> Option<u64> {
        lock(&self.shared.store).blob_size(repo, digest)
    }

    /// Manifest `reference` (a tag or a digest) of `repo`, as the registry would serve it.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<FetchedManifest> {
        let store = lock(&self.shared.store);
        let entry = store.manifest(repo, reference)?;
        Some(FetchedManifest {
            bytes: store.read(&entry.digest)?,
            content_type: entry.media_type,
            digest: Some(entry.digest),
        })
    }

    /// Rewrites the stored bytes of content `digest` (a blob or a manifest) with `change`, so the
    /// registry serves bytes that no longer match their digest.
    pub fn tamper(&self, digest: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let mut store = lock(&self.shared.store);
        let mut bytes = store.read(digest).expect("content to tamper with");
        change(&mut bytes);
        store.overwrite(digest, &bytes);
    }

    /// How many upload sessions are open (neither finished nor cancelled).
    pub fn open_uploads(&self) -> usize {
        lock(&self.shared.store).open_uploads()
    }

    // -----------------------------------------------------------------------------------------
    // Hooks.

    /// Makes the next `times` requests with `method` (`*`: any) whose path matches `path`
    /// (`*` stands for any run of characters) meet `fault`. Faults are tried in injection
    /// order; `usize::MAX` makes one permanent.
    pub fn inject(&self, method: &str, path: &str, times: usize, fault: Fault) {
        lock(&self.shared.faults).add(method, path, times, fault);
    }

    /// How many injected fault uses are left (`0` once every injected fault has been met).
    pub fn faults_left(&self) -> usize {
        lock(&self.shared.faults).left()
    }

    /// Makes every token issued so far unacceptable: the registry refuses them from now on as
    /// expired, while clients still think them good.
    pub fn expire_tokens(&self) {
        lock(&self.shared.gate).expire_all();
    }

    /// The registry refuses tokens issued from now on `lifetime` after issuing them, whatever
    /// `expires_in` told the client (`None`: until expired by hand).
    pub fn set_token_lifetime(&self, lifetime: Option<Duration>) {
        lock(&self.shared.gate).set_lifetime(lifetime);
    }

    // -----------------------------------------------------------------------------------------
    // What happened.

    /// Every request answered so far (registry API and token endpoint), in arrival order.
    pub fn requests(&self) -> Vec<Exchange> {
        lock(&self.shared.log).clone()
    }

    /// The registry API requests (`/v2/…`) so far, as a registry's access log lists them.
    pub fn access_log(&self) -> Vec<AccessLine> {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.line.path.starts_with("/v2/"))
            .map(|e| e.line.clone())
            .collect()
    }

    /// A mark for [`FakeRegistry::access_log_since`]: how many access-log lines there are.
    pub fn access_mark(&self) -> usize {
        self.access_log().len()
    }

    /// Access-log lines after `mark` (from [`FakeRegistry::access_mark`]).
    pub fn access_log_since(&self, mark: usize) -> Vec<AccessLine> {
        self.access_log().into_iter().skip(mark).collect()
    }

    /// Every request to the token endpoint so far, decoded.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.gate).requests()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
