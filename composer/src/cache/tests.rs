//! Unit tests of the cache's decisions with no registry at all: the client points at a port
//! nothing listens on, so any request it makes fails with "connection refused", and a result
//! that succeeds proves it came from memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use manifold_config::{ByteSize, Config, DurationText};

use super::*;
use crate::credentials::{Auth, Credentials};
use crate::registry::Access;

fn settings(max_bytes: u64, tag_ttl: Duration, max_stale: Duration) -> manifold_config::Cache {
    manifold_config::Cache {
        max_bytes: ByteSize(max_bytes),
        tag_ttl: DurationText(tag_ttl),
        max_stale: DurationText(max_stale),
    }
}

fn cache(settings: &manifold_config::Cache) -> ManifestCache {
    // No retries: every refused connection fails at once.
    let file = manifold_config::FileConfig {
        push: manifold_config::PushSettings {
            retries: 0,
            ..Default::default()
        },
        ..Default::default()
    };
    let config = Config::from_file(
        file,
        "<test>",
        &manifold_config::Overrides::default(),
        &manifold_config::Environment::default(),
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    let client = RegistryClient::new(Arc::new(config)).unwrap_or_else(|e| panic!("client: {e}"));
    ManifestCache::new(client, settings)
}

/// A registry address where nothing listens (port 1 on loopback is refused).
const NOWHERE: &str = "127.0.0.1:1";

fn manifest() -> RawManifest {
    RawManifest::new(
        Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2},"layers":[]}"#,
        ),
        None,
    )
    .unwrap_or_else(|e| panic!("manifest: {e}"))
}

fn basic(user: &str, pass: &str) -> Credentials {
    Credentials {
        any_registry: Some(Auth::basic(user, pass)),
        ..Default::default()
    }
}

fn access(credentials: &Credentials) -> Access<'_> {
    Access {
        credentials,
        tls_verify: Some(false),
    }
}

/// Puts `m` in the cache as `NOWHERE/app:v1`, resolved at `at`, read by `credentials` at `at`.
async fn seed(cache: &ManifestCache, m: &RawManifest, credentials: &Credentials, at: Instant) {
    let image = ImageRef::parse(&format!("{NOWHERE}/app:v1")).unwrap_or_else(|e| panic!("{e}"));
    // No mirrors: the one place a read goes is the write route.
    let route = cache
        .inner
        .client
        .write_route(&image, &access(credentials))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let caller = cache.inner.caller(&route);
    let m = Arc::new(m.clone());
    cache
        .inner
        .record_manifest(
            &caller,
            caller.manifest_key(&m.digest),
            &m,
            Some(tag_entry_of(&m, at)),
            at,
        )
        .await;
}

/// Reads `image`'s manifest through the cache at its one place: no mirrors are configured, so
/// that is its write route.
async fn read(c: &ManifestCache, image: &ImageRef, access: &Access<'_>) -> Result<RawManifest> {
    let route = c.client().write_route(image, access).await?;
    c.manifest_get(&route).await
}

fn tagged() -> ImageRef {
    ImageRef::parse(&format!("{NOWHERE}/app:v1")).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_fresh_tag_for_a_confirmed_identity_needs_no_io() {
    let c = cache(&settings(1 << 20, Duration::from_secs(60), Duration::ZERO));
    let alice = basic("alice", "pw");
    let m = manifest();
    seed(&c, &m, &alice, Instant::now()).await;
    let got = read(&c, &tagged(), &access(&alice)).await;
    assert_eq!(got.as_ref().map(|g| &g.bytes), Ok(&m.bytes));
    let by_digest = tagged().with_digest(&m.digest);
    let got = read(&c, &by_digest, &access(&alice)).await;
    assert_eq!(got.map(|g| g.digest), Ok(m.digest.clone()));
}

#[tokio::test]
async fn another_identity_must_reach_the_registry_itself() {
    let c = cache(&settings(
        1 << 20,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let alice = basic("alice", "pw");
    seed(&c, &manifest(), &alice, Instant::now()).await;
    // Same user, other password; and anonymous: neither is served, both get the registry's
    // (here: the connection's) error, even though the registry "failed", because neither was
    // ever confirmed.
    for other in [basic("alice", "guess"), Credentials::anonymous()] {
        let e = read(&c, &tagged(), &access(&other))
            .await
            .expect_err("not served");
        assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
        assert!(e.cause().contains("connection refused"), "{e}");
        let by_digest = tagged().with_digest(&manifest().digest);
        assert!(read(&c, &by_digest, &access(&other)).await.is_err());
    }
}

#[tokio::test]
async fn a_tls_mode_is_part_of_who_reads() {
    let c = cache(&settings(1 << 20, Duration::from_secs(60), Duration::ZERO));
    let alice = basic("alice", "pw");
    seed(&c, &manifest(), &alice, Instant::now()).await;
    // Learnt over an insecure channel (tls_verify false); a client insisting on verified TLS
    // must make its own request.
    let strict = Access {
        credentials: &alice,
        tls_verify: Some(true),
    };
    assert!(read(&c, &tagged(), &strict).await.is_err());
}

#[tokio::test]
async fn stale_entries_answer_only_within_max_stale() {
    let ttl = Duration::from_secs(10);
    let c = cache(&settings(1 << 20, ttl, Duration::from_secs(60)));
    let alice = basic("alice", "pw");
    let m = manifest();
    // Expired 5 s ago, inside the stale window: the registry is unreachable, so it answers.
    let Some(at) = Instant::now().checked_sub(ttl + Duration::from_secs(5)) else {
        return; // a clock this close to its origin cannot express the past; nothing to test
    };
    seed(&c, &m, &alice, at).await;
    let got = read(&c, &tagged(), &access(&alice)).await;
    assert_eq!(got.map(|g| g.bytes), Ok(m.bytes.clone()));
    let by_digest = tagged().with_digest(&m.digest);
    assert!(read(&c, &by_digest, &access(&alice)).await.is_ok());
    // Past ttl + max_stale: the registry's error.
    let c = cache(&settings(1 << 20, ttl, Duration::from_secs(60)));
    let Some(at) = Instant::now().checked_sub(ttl + Duration::from_secs(61)) else {
        return;
    };
    seed(&c, &m, &alice, at).await;
    let e = read(&c, &tagged(), &access(&alice))
        .await
        .expect_err("too old");
    assert_eq!(e.kind(), ErrorKind::Registry);
}

#[tokio::test]
async fn no_stale_window_means_the_error() {
    let ttl = Duration::from_secs(10);
    let c = cache(&settings(1 << 20, ttl, Duration::ZERO));
    let alice = basic("alice", "pw");
    let Some(at) = Instant::now().checked_sub(ttl + Duration::from_secs(1)) else {
        return;
    };
    seed(&c, &manifest(), &alice, at).await;
    assert!(read(&c, &tagged(), &access(&alice)).await.is_err());
}

#[tokio::test]
async fn bad_digests_are_refused_before_anything_else() {
    let c = cache(&settings(1 << 20, Duration::from_secs(60), Duration::ZERO));
    let anonymous = Credentials::anonymous();
    let route = c
        .client()
        .write_route(&tagged(), &access(&anonymous))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let e = c
        .blob_get(&route, "sha256:nothex")
        .await
        .expect_err("invalid");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_byte_budget_holds() {
    let max = 64 << 10;
    let c = cache(&settings(max, Duration::from_secs(60), Duration::ZERO));
    let anon = Credentials::anonymous();
    let route = c
        .inner
        .client
        .write_route(&tagged(), &access(&anon))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let caller = c.inner.caller(&route);
    for i in 0..200u32 {
        let digest = format!("sha256:{i:064x}");
        c.inner
            .entries
            .insert(
                caller.blob_key(&digest),
                Value::Blob(Bytes::from(vec![0u8; 1024])),
            )
            .await;
    }
    let size = c.weighted_size().await;
    assert!(size <= max, "{size} > {max}");
    assert!(size > 0);
    assert!(c.entry_count().await < 200);
}

#[test]
fn upstream_failures_are_429_5xx_and_unreachable_only() {
    let e = |kind, cause: &str| Error::new(kind, cause);
    assert!(is_upstream_failure(&e(
        ErrorKind::Registry,
        "received unexpected HTTP status: 502 Bad Gateway"
    )));
    assert!(is_upstream_failure(&e(
        ErrorKind::Registry,
        "too many requests to registry"
    )));
    assert!(is_upstream_failure(&e(
        ErrorKind::Registry,
        "connection refused"
    )));
    assert!(is_upstream_failure(&e(
        ErrorKind::Registry,
        "received unexpected HTTP status: 408 Request Timeout"
    )));
    assert!(!is_upstream_failure(&e(
        ErrorKind::RegistryRefused,
        "received unexpected HTTP status: 400 Bad Request"
    )));
    assert!(!is_upstream_failure(&e(
        ErrorKind::RegistryRefused,
        "name invalid: invalid repository name"
    )));
    assert!(!is_upstream_failure(&e(
        ErrorKind::RegistryUnauthorized,
        "unauthorized: authentication required"
    )));
    assert!(!is_upstream_failure(&e(
        ErrorKind::RegistryNotFound,
        "manifest unknown"
    )));
    assert!(!is_upstream_failure(&e(
        ErrorKind::BadContent,
        "digest mismatch"
    )));
}

#[test]
fn caches_and_their_futures_cross_threads() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send>(_: &T) {}
    send_sync_clone::<ManifestCache>();
    let c = cache(&manifold_config::Cache::default());
    let anon = Credentials::anonymous();
    let a = access(&anon);
    let route = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(c.client().write_route(&tagged(), &a))
        .unwrap_or_else(|e| panic!("{e}"));
    // Built, checked for Send, dropped unpolled: no I/O happens.
    assert_send(&c.manifest_get(&route));
    assert_send(&c.blob_get(&route, "sha256:00"));
    assert!(format!("{c:?}").starts_with("ManifestCache"));
}

#[tokio::test]
async fn a_zero_budget_keeps_nothing_and_still_works() {
    let c = cache(&settings(
        0,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let alice = basic("alice", "pw");
    seed(&c, &manifest(), &alice, Instant::now()).await;
    assert_eq!(c.weighted_size().await, 0);
    // Nothing cached: the read goes to the (unreachable) registry and reports it.
    let e = read(&c, &tagged(), &access(&alice))
        .await
        .expect_err("nothing cached");
    assert_eq!(e.kind(), ErrorKind::Registry);
}

#[tokio::test]
async fn an_invalidated_tag_is_asked_for_again() {
    let c = cache(&settings(
        1 << 20,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let alice = basic("alice", "pw");
    let m = manifest();
    seed(&c, &m, &alice, Instant::now()).await;
    let written = c
        .client()
        .write_route(&tagged(), &access(&alice))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.invalidate_tag(&written).await;
    // The tag must be resolved again (and the registry is unreachable)...
    assert!(read(&c, &tagged(), &access(&alice)).await.is_err());
    // ...while the content by digest stays.
    let by_digest = tagged().with_digest(&m.digest);
    assert!(read(&c, &by_digest, &access(&alice)).await.is_ok());
}
