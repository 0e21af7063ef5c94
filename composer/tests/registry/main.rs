//! The composer against registries: the registry client, the manifest cache, configured
//! credentials and routes, push-side operations and what each fault a registry can show does to
//! them.
//!
//! Every registry here is in process ([`manifold_tests::fake_registry::FakeRegistry`]): no test of
//! the composer starts an external registry (the harness refuses to, see
//! `manifold_tests::registry`), so these tests run in seconds and stage a failure for exactly the
//! request they are about. Fixtures are seeded into the registry's storage and results read back
//! from it, independently of the client under test; what reached a registry is counted in its
//! record of requests.
//!
//! Modules:
//! - `reads`: manifests and blobs read back byte for byte, errors in the registry's words,
//!   schemes and TLS, Basic and Bearer authentication, redirects, odd answers.
//! - `cache`: the manifest cache, judged by what reached the registry.
//! - `config_credentials`: configured credentials, the allow-list, mirrors and rewrites.
//! - `push_ops`: blob existence, blob copies (mount, stream), manifest writes, large blobs.
//! - `push_events`: the typed events of a push, in order, the outcome last.
//! - `faults`: retries on 5xx, 429 and resets, truncated and corrupt blobs, refused mounts,
//!   `200` for `202`, tokens that expire mid-push.
//! - `support`: the set-up they share.

mod cache;
mod config_credentials;
mod faults;
mod push_events;
mod push_ops;
mod reads;
mod support;

/// The harness will not start a real registry for these tests: a test that tried would pass only
/// where `docker-registry` is installed.
#[test]
#[should_panic(expected = "the composer's tests use the in-process FakeRegistry")]
fn no_real_registry_is_started_here() {
    manifold_tests::Registry::plain();
}
