//! The manifest cache against in-process registries, judged by the registry's own record of
//! requests: what reached the registry is counted there, independently of the cache under test.
//!
//! Every test reads images the way an add does: the manifest by tag, then its config blob.
//! TTLs are short where expiry is the point (300 ms) and long where it must not interfere; the
//! tests sleep past a TTL but never assert how long anything took, only counts and results.
//!
//! Each test is a plain `#[test]` that seeds fixtures first and runs the async reads on its own
//! runtime.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use manifold_composer::cache::ManifestCache;
use manifold_composer::credentials::Credentials;
use manifold_composer::oci::RawManifest;
use manifold_composer::reference::ImageRef;
use manifold_composer::registry::{Access, RegistryClient};
use manifold_composer::{ErrorKind, Result};
use manifold_config::{ByteSize, DurationText};
use manifold_tests::fake_registry::{Account, AuthMode, FakeRegistry, Options};
use manifold_tests::fixtures::{ImageSpec, PushedImage};
use manifold_tests::registry::{count, AccessLine};

use crate::support::{
    basic_at as basic, image as image_ref, insecure_entry, load, runtime,
    tls_by_configuration as access, ByImage as _,
};

const CLIENTS: usize = 50;
const SHORT_TTL: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(3600);

/// A cache in front of a fresh client that treats `reg` as an insecure (plain HTTP) registry.
/// Retries are off so that reads of a stopped registry fail at once.
fn cache_for(reg: &FakeRegistry, tag_ttl: Duration, max_stale: Duration) -> ManifestCache {
    let toml = format!("{}[push]\nretries = 0\n", insecure_entry(&reg.host(), ""));
    let client = RegistryClient::new(load(&toml, &[])).expect("a registry client");
    let settings = manifold_config::Cache {
        max_bytes: ByteSize(16 << 20),
        tag_ttl: DurationText(tag_ttl),
        max_stale: DurationText(max_stale),
    };
    ManifestCache::new(client, &settings)
}

/// What an add reads: the manifest by the given reference, then its config blob.
async fn add(
    cache: &ManifestCache,
    image: &ImageRef,
    access: &Access<'_>,
) -> Result<(RawManifest, Bytes)> {
    let m = cache.get_manifest(image, access).await?;
    let config = m.image_manifest()?.config().digest().to_string();
    let blob = cache.get_blob(image, &config, access).await?;
    Ok((m, blob))
}

/// Runs `CLIENTS` adds of `image` at once and checks each got `expected`'s bytes.
async fn many_adds(
    cache: &ManifestCache,
    image: &ImageRef,
    access: &Access<'_>,
    expected: &PushedImage,
) {
    let results = join_all((0..CLIENTS).map(|_| add(cache, image, access))).await;
    for r in results {
        let (m, config) = r.expect("the add's reads succeed");
        assert_eq!(m.bytes.as_ref(), expected.manifest.as_slice());
        assert_eq!(m.digest, expected.digest);
        assert_eq!(config.as_ref(), expected.config.as_slice());
    }
}

/// Runs `work` and returns what reached `reg` meanwhile.
fn requests_during<T>(
    reg: &FakeRegistry,
    rt: &tokio::runtime::Runtime,
    work: impl Future<Output = T>,
) -> (T, Vec<AccessLine>) {
    let mark = reg.access_mark();
    let out = rt.block_on(work);
    (out, reg.access_log_since(mark))
}

fn manifest_gets(lines: &[AccessLine]) -> usize {
    count(lines, "GET", "/manifests/")
}

fn manifest_heads(lines: &[AccessLine]) -> usize {
    count(lines, "HEAD", "/manifests/")
}

fn blob_gets(lines: &[AccessLine]) -> usize {
    count(lines, "GET", "/blobs/")
}

fn describe(lines: &[AccessLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{} {} {}", l.method, l.uri, l.status))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn concurrent_adds_of_one_tag_cost_one_manifest_get_and_one_config_get() {
    let reg = FakeRegistry::anonymous();
    let pushed = reg.seed_image("app", "v1", &ImageSpec::linux("amd64"));
    let cache = cache_for(&reg, LONG, LONG);
    let rt = runtime();
    let anon = Credentials::anonymous();
    let image = image_ref(&pushed.reference());

    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &image, &access(&anon), &pushed),
    );
    let log = describe(&lines);
    assert_eq!(manifest_gets(&lines), 1, "{log}");
    assert_eq!(blob_gets(&lines), 1, "{log}");
    assert_eq!(manifest_heads(&lines), 0, "{log}");
    assert!(
        count(&lines, "GET", &format!("/manifests/{}", "v1")) == 1,
        "{log}"
    );
    assert!(count(&lines, "GET", &pushed.config_digest) == 1, "{log}");

    // Within the TTL, with the identity confirmed: not one request, not even a ping.
    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &image, &access(&anon), &pushed),
    );
    assert!(
        lines.is_empty(),
        "a warm add reached the registry:\n{}",
        describe(&lines)
    );

    // By digest, too: served from memory.
    let pinned = image_ref(&pushed.digest_reference());
    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &pinned, &access(&anon), &pushed),
    );
    assert!(lines.is_empty(), "{}", describe(&lines));
}

#[test]
fn an_expired_tag_costs_one_head_and_a_get_only_when_its_digest_changed() {
    let reg = FakeRegistry::anonymous();
    let first = reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(1));
    let cache = cache_for(&reg, SHORT_TTL, LONG);
    let rt = runtime();
    let anon = Credentials::anonymous();
    let image = image_ref(&first.reference());
    rt.block_on(many_adds(&cache, &image, &access(&anon), &first));

    // Expired, unchanged: one HEAD revalidates it for everyone; no GET of anything.
    std::thread::sleep(SHORT_TTL + Duration::from_millis(200));
    let ((), lines) = requests_during(&reg, &rt, many_adds(&cache, &image, &access(&anon), &first));
    let log = describe(&lines);
    assert_eq!(manifest_heads(&lines), 1, "{log}");
    assert_eq!(manifest_gets(&lines), 0, "{log}");
    assert_eq!(blob_gets(&lines), 0, "{log}");

    // The tag moves: after the TTL, one HEAD finds the new digest, one GET fetches it (by
    // digest) and one GET its new config.
    let second = reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(2));
    assert_ne!(first.digest, second.digest);
    std::thread::sleep(SHORT_TTL + Duration::from_millis(200));
    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &image, &access(&anon), &second),
    );
    let log = describe(&lines);
    assert_eq!(manifest_heads(&lines), 1, "{log}");
    assert_eq!(manifest_gets(&lines), 1, "{log}");
    assert_eq!(
        count(&lines, "GET", &format!("/manifests/{}", second.digest)),
        1,
        "{log}"
    );
    assert_eq!(blob_gets(&lines), 1, "{log}");
    assert_eq!(count(&lines, "GET", &second.config_digest), 1, "{log}");
}

#[test]
fn digest_references_are_fetched_once_and_never_revalidated() {
    let reg = FakeRegistry::anonymous();
    let pushed = reg.seed_image("app", "v1", &ImageSpec::linux("arm64"));
    let cache = cache_for(&reg, SHORT_TTL, LONG);
    let rt = runtime();
    let anon = Credentials::anonymous();
    let pinned = image_ref(&pushed.digest_reference());

    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &pinned, &access(&anon), &pushed),
    );
    let log = describe(&lines);
    assert_eq!(manifest_gets(&lines), 1, "{log}");
    assert_eq!(blob_gets(&lines), 1, "{log}");
    assert_eq!(manifest_heads(&lines), 0, "{log}");

    // Past the TTL the content is still trusted; only the client's access is confirmed again,
    // with one HEAD, and the config needs nothing.
    std::thread::sleep(SHORT_TTL + Duration::from_millis(200));
    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &pinned, &access(&anon), &pushed),
    );
    let log = describe(&lines);
    assert_eq!(manifest_gets(&lines), 0, "{log}");
    assert_eq!(blob_gets(&lines), 0, "{log}");
    assert_eq!(manifest_heads(&lines), 1, "{log}");
}

#[test]
fn a_stopped_registry_is_answered_from_stale_entries_until_max_stale() {
    let max_stale = Duration::from_secs(4);
    let mut reg = FakeRegistry::anonymous();
    let pushed = reg.seed_image("app", "v1", &ImageSpec::linux("amd64"));
    let cache = cache_for(&reg, SHORT_TTL, max_stale);
    let rt = runtime();
    let anon = Credentials::anonymous();
    let image = image_ref(&pushed.reference());
    rt.block_on(many_adds(&cache, &image, &access(&anon), &pushed));

    reg.stop();
    std::thread::sleep(SHORT_TTL + Duration::from_millis(200));
    // Expired, the registry unreachable, within max_stale: the stale entry answers.
    rt.block_on(many_adds(&cache, &image, &access(&anon), &pushed));

    // A client that was never confirmed gets the registry's error, not the stale bytes.
    let stranger = basic(&reg.host(), "mallory", "guess");
    let e = rt
        .block_on(add(&cache, &image, &access(&stranger)))
        .expect_err("never confirmed");
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");

    // Past max_stale: the registry's error.
    std::thread::sleep(max_stale + Duration::from_millis(200));
    let e = rt
        .block_on(add(&cache, &image, &access(&anon)))
        .expect_err("too stale");
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
    assert!(e.cause().contains("connection refused"), "{e}");
}

#[test]
fn content_cached_for_one_credential_is_served_to_another_only_after_its_own_head() {
    // Two valid users.
    let reg = FakeRegistry::start(Options::new(
        AuthMode::Basic,
        vec![
            Account::new("alice", "alice-pw"),
            Account::new("bob", "bob-pw"),
        ],
    ));
    let pushed = reg.seed_image("team/app", "v1", &ImageSpec::linux("amd64"));
    let cache = cache_for(&reg, LONG, LONG);
    let rt = runtime();
    let host = reg.host();
    let alice = basic(&host, "alice", "alice-pw");
    let bob = basic(&host, "bob", "bob-pw");
    let wrong = basic(&host, "alice", "not-her-password");
    let anon = Credentials::anonymous();
    let image = image_ref(&pushed.reference());
    let pinned = image_ref(&pushed.digest_reference());

    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &image, &access(&alice), &pushed),
    );
    let log = describe(&lines);
    assert_eq!(manifest_gets(&lines), 1, "{log}");
    assert_eq!(blob_gets(&lines), 1, "{log}");

    // Without credentials, or with wrong ones: the registry's refusal, never the cached bytes.
    for (who, creds) in [("anonymous", &anon), ("a wrong password", &wrong)] {
        let (results, lines) = requests_during(&reg, &rt, async {
            (
                add(&cache, &image, &access(creds)).await,
                cache.get_manifest(&pinned, &access(creds)).await,
                cache
                    .get_blob(&image, &pushed.config_digest, &access(creds))
                    .await,
            )
        });
        let (by_tag, by_digest, blob) = results;
        for (what, kind) in [
            ("add", by_tag.err().map(|e| e.kind())),
            ("manifest by digest", by_digest.err().map(|e| e.kind())),
            ("config", blob.err().map(|e| e.kind())),
        ] {
            assert_eq!(
                kind,
                Some(ErrorKind::RegistryUnauthorized),
                "{what} for {who}"
            );
        }
        let log = describe(&lines);
        assert!(
            lines.iter().all(|l| l.status == 401 || l.path == "/v2/"),
            "{who}: {log}"
        );
        assert!(
            !lines.is_empty(),
            "{who} was refused without asking the registry"
        );
    }

    // A different, valid credential: one confirming HEAD, then everything from memory.
    let ((), lines) = requests_during(&reg, &rt, many_adds(&cache, &image, &access(&bob), &pushed));
    let log = describe(&lines);
    assert_eq!(manifest_heads(&lines), 1, "{log}");
    assert_eq!(count(&lines, "HEAD", "/manifests/v1"), 1, "{log}");
    assert_eq!(manifest_gets(&lines), 0, "{log}");
    assert_eq!(blob_gets(&lines), 0, "{log}");
    assert!(lines.iter().all(|l| l.status == 200), "{log}");

    // And its confirmation is remembered.
    let ((), lines) = requests_during(
        &reg,
        &rt,
        many_adds(&cache, &pinned, &access(&bob), &pushed),
    );
    assert!(lines.is_empty(), "{}", describe(&lines));
}
