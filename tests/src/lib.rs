//! End-to-end test harness of manifold.
//!
//! Every test starts its own real processes (registries, a token server, the `manifold` binary, a
//! podman service) on free loopback ports with their own temporary directories, drives them with
//! real clients (podman CLI, podman-py, raw HTTP) and checks results independently of manifold (raw
//! registry HTTP or skopeo). Everything is blocking, so tests are plain `#[test]` functions that run
//! in parallel; every process is killed when its handle is dropped.
//!
//! The composer's own tests use none of those processes: they run against [`fake_registry`], an
//! in-process registry with fault hooks, and the harness refuses to start a real registry for them.
//!
//! The main types and how a test uses them: [`ImageSpec`] describes a synthetic image and the
//! [`fixtures`] build it in memory and push it, through [`regclient::RegClient`], into a
//! [`Registry`] (or seed it into a [`fake_registry::FakeRegistry`]), giving a [`PushedImage`] or
//! [`PushedIndex`] with the exact bytes and digests. The test starts a [`Manifold`] in front of
//! those registries, drives it with [`podman_remote`], [`run_podman_py`] or [`http::Client`], and
//! checks the outcome on the registries themselves: manifests and blobs read back by the
//! fixtures, and what reached a registry from its access log ([`registry::AccessLine`]) or the
//! fake registry's record of requests.
//!
//! Modules:
//! - [`registry`]: a CNCF distribution registry (plain, basic auth or token auth) and its access log.
//! - [`fake_registry`]: an in-process registry with fault hooks, for the composer's tests (no
//!   external process).
//! - [`token_server`]: the bearer-token server used by token-auth registries.
//! - [`fixtures`]: synthetic images and indexes pushed over the registry API, and raw reads.
//! - [`regclient`]: the small registry HTTP client the fixtures use (usable directly).
//! - [`manifold`]: the `manifold` binary under test.
//! - [`http`]: a raw HTTP/1.1 client for unix sockets (and TCP).
//! - [`podman`]: the podman CLI in remote mode, and a real podman service as a peer.
//! - [`python`]: podman-py snippets run with the workspace's virtualenv.
//! - [`process`]: shared process helpers: free ports, child guards, isolated environments.
//! - [`delay`]: a loopback TCP proxy adding network latency, for benchmarks.

pub mod delay;
pub mod fake_registry;
pub mod fixtures;
pub mod http;
pub mod manifold;
pub mod podman;
pub mod process;
pub mod python;
pub mod regclient;
pub mod registry;
pub mod token_server;

use std::sync::Once;

pub use fixtures::{Format, ImageSpec, Platform, PushedImage, PushedIndex};
pub use manifold::{Manifold, ManifoldOptions};
pub use podman::{podman_remote, PodmanService};
pub use process::Output;
pub use python::run_podman_py;
pub use registry::{Registry, RegistryAuth};

/// Installs the process-wide rustls crypto provider (ring) once, as the `manifold` binary does
/// at start-up.
///
/// Every harness constructor calls it; tests that build their own reqwest client call it first,
/// because reqwest in this workspace is built without a default provider. manifold's libraries
/// never need it: they name ring themselves.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another crate in the same test process may already have installed one; that is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The workspace directory (the parent of this crate's manifest directory).
pub fn workspace_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// `sha256:<hex>` of `bytes`, the OCI digest form.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
