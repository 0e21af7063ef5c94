//! Push-side registry operations of [`RegistryClient`] against in-process registries: blob
//! existence, blob copies (cross-repository mount, a mount the credentials may not do, streamed
//! upload), credentials that must not follow a session to another host, manifest writes, a
//! destination that is down, and memory use of a large streamed copy. What each registry fault
//! does to them is in `faults`.
//!
//! Each test seeds its registries synchronously and runs the async client calls in a runtime of
//! its own; what landed in a registry is read from its storage, what reached it from its record.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use manifold_composer::credentials::Credentials;
use manifold_composer::registry::{Access, BlobCopy, RegistryClient};
use manifold_composer::ErrorKind;
use manifold_tests::fake_registry::{Account, AuthMode, FakeRegistry, Options};
use manifold_tests::fixtures::{self, ImageSpec};

use crate::support::{
    self, access, basic_at, copy_first_layer, copy_into, image, repo, retrying_client, runtime,
    ByImage as _, INSECURE,
};

/// [`RegistryClient::blob_head`] at `repo`'s write route for `access`, resolved first as a
/// push resolves its destination: existence checks answer what a push destination has.
async fn blob_exists(
    c: &RegistryClient,
    repo: &manifold_composer::reference::ImageRef,
    digest: &str,
    access: &Access<'_>,
) -> manifold_composer::Result<Option<u64>> {
    let route = c.write_route(repo, access).await?;
    c.blob_head(&route, digest).await
}

// ---------------------------------------------------------------------------------------------
// blob_exists

#[test]
fn blob_exists_reports_size_or_absence() {
    let reg = FakeRegistry::anonymous();
    let img = reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(1));
    let c = retrying_client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds, INSECURE);
    let app = repo(&reg, "app");
    let missing = format!("sha256:{}", "0".repeat(64));
    let rt = runtime();
    let (present, absent, no_repo) = rt.block_on(async {
        (
            blob_exists(&c, &app, &img.layer_digests[0], &a).await,
            blob_exists(&c, &app, &missing, &a).await,
            blob_exists(&c, &repo(&reg, "nothing/here"), &img.layer_digests[0], &a).await,
        )
    });
    assert_eq!(present.expect("HEAD works"), Some(img.layer_sizes[0]));
    assert_eq!(absent.expect("HEAD works"), None);
    assert_eq!(no_repo.expect("HEAD works"), None);
    let e = rt
        .block_on(blob_exists(&c, &app, "sha256:nothex", &a))
        .expect_err("bad digest");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

// ---------------------------------------------------------------------------------------------
// copy_blob

#[test]
fn copy_within_one_registry_mounts() {
    let reg = FakeRegistry::anonymous();
    let img = reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(2));
    let c = retrying_client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds, INSECURE);
    let (src, dst) = (repo(&reg, "app"), repo(&reg, "team/dst"));
    let digest = &img.layer_digests[0];
    let copied = runtime()
        .block_on(copy_into(
            &c,
            &src,
            &dst,
            digest,
            img.layer_sizes[0],
            &a,
            &a,
        ))
        .expect("copy");
    assert_eq!(copied, BlobCopy::Mounted);
    let log = reg.access_log();
    let mounts: Vec<_> = log.iter().filter(|l| l.is_mount()).collect();
    assert_eq!(mounts.len(), 1, "{log:#?}");
    assert_eq!(mounts[0].status, 201);
    assert_eq!(mounts[0].path, "/v2/team/dst/blobs/uploads/");
    assert!(mounts[0]
        .uri
        .contains(&format!("mount={}", digest.replace(':', "%3A"))));
    assert!(mounts[0].uri.contains("from=app"));
    assert!(
        !log.iter()
            .any(|l| l.method == "GET" && l.path.contains("/blobs/")),
        "no blob was read: {log:#?}"
    );
    assert!(!log.iter().any(|l| l.method == "PUT"), "{log:#?}");
    assert_eq!(reg.blob_size("team/dst", digest), Some(img.layer_sizes[0]));
}

#[test]
fn copy_across_registries_streams_one_monolithic_put() {
    let (a_reg, b_reg) = (FakeRegistry::anonymous(), FakeRegistry::anonymous());
    let spec = ImageSpec::linux("arm64").seed(3).layers(1, 300 << 10);
    let img = a_reg.seed_image("app", "v1", &spec);
    let c = retrying_client(0, 10);
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let copied = runtime()
        .block_on(support::copy_layer(&c, &a_reg, &b_reg, &img))
        .expect("copy");
    assert_eq!(copied, BlobCopy::Uploaded);

    // Bytes identical, read back independently.
    let stored = b_reg.blob("dst", digest).expect("the blob landed");
    assert_eq!(stored.len() as u64, size);
    assert_eq!(manifold_tests::sha256_digest(&stored), *digest);

    // One session, one PUT, no PATCH; the PUT had a Content-Length and no chunked encoding.
    let log = b_reg.access_log();
    assert_eq!(
        log.iter().filter(|l| l.is_upload_start()).count(),
        1,
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.is_mount()),
        "no mount across registries"
    );
    assert!(!log.iter().any(|l| l.method == "PATCH"), "{log:#?}");
    let puts: Vec<_> = b_reg
        .requests()
        .into_iter()
        .filter(|r| r.line.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "{log:#?}");
    assert_eq!(puts[0].line.status, 201);
    assert!(puts[0]
        .line
        .uri
        .contains(&format!("digest={}", digest.replace(':', "%3A"))));
    assert_eq!(
        puts[0].header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(puts[0].header("transfer-encoding"), None, "{:?}", puts[0]);
    assert_eq!(
        puts[0].header("content-type"),
        Some("application/octet-stream")
    );
    // The source was read once.
    let gets = a_reg
        .access_log()
        .iter()
        .filter(|l| l.method == "GET" && l.path.ends_with(digest.as_str()))
        .count();
    assert_eq!(gets, 1);
}

#[test]
fn copy_on_a_token_registry_mounts_with_a_two_scope_token() {
    let reg = FakeRegistry::bearer("alice", "s3cret");
    let img = reg.seed_image("src", "v1", &ImageSpec::linux("amd64").seed(4));
    let c = retrying_client(0, 10);
    let creds = basic_at(&reg.host(), "alice", "s3cret");
    let a = access(&creds, INSECURE);
    let (src, dst) = (repo(&reg, "src"), repo(&reg, "dst"));
    let copied = runtime()
        .block_on(async {
            let mut out = Vec::new();
            for (d, s) in img.layer_digests.iter().zip(&img.layer_sizes) {
                out.push(copy_into(&c, &src, &dst, d, *s, &a, &a).await?);
            }
            let config_size = img.config.len() as u64;
            out.push(copy_into(&c, &src, &dst, &img.config_digest, config_size, &a, &a).await?);
            Ok::<_, manifold_composer::Error>(out)
        })
        .expect("copies");
    assert!(copied.iter().all(|c| *c == BlobCopy::Mounted), "{copied:?}");
    let log = reg.access_log();
    assert!(
        log.iter().filter(|l| l.is_mount()).all(|l| l.status == 201),
        "{log:#?}"
    );
    let tokens = reg.token_requests();
    // One token (cached for the second blob) with pull on the source and push on the target.
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    let mut scopes = tokens[0].scopes.clone();
    scopes.sort();
    assert_eq!(
        scopes,
        vec![
            "repository:dst:pull,push".to_string(),
            "repository:src:pull".to_string()
        ]
    );
    assert_eq!(tokens[0].user.as_deref(), Some("alice"));
    assert_eq!(
        reg.blob_size("dst", &img.config_digest),
        Some(img.config.len() as u64)
    );
}

#[test]
fn a_refused_mount_falls_back_to_an_upload() {
    // `owner` may go everywhere, `writer` not into `private/…`.
    let reg = FakeRegistry::start(Options::new(
        AuthMode::Bearer,
        vec![
            Account::new("owner", "pw"),
            Account::new("writer", "pw").denied("private/"),
        ],
    ));
    let img = reg.seed_image("private/app", "v1", &ImageSpec::linux("amd64").seed(5));
    let c = retrying_client(0, 10);
    // The source is read as `owner`; the destination is written as `writer`, who may not pull
    // `private/app`, so the registry refuses the mount.
    let source_creds = basic_at(&reg.host(), "owner", "pw");
    let dest_creds = basic_at(&reg.host(), "writer", "pw");
    let (src, dst) = (repo(&reg, "private/app"), repo(&reg, "public/app"));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let copied = runtime()
        .block_on(copy_first_layer(
            &c,
            (&src, &source_creds),
            (&dst, &dest_creds),
            &img,
        ))
        .expect("copy");
    assert_eq!(copied, BlobCopy::Uploaded);
    let log = reg.access_log();
    let mounts: Vec<_> = log.iter().filter(|l| l.is_mount()).collect();
    assert!(!mounts.is_empty(), "{log:#?}");
    assert!(mounts.iter().all(|l| l.status == 401), "{log:#?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.is_upload_start() && l.status == 202)
            .count(),
        1
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.method == "PUT" && l.status == 201)
            .count(),
        1,
        "{log:#?}"
    );
    assert_eq!(reg.blob_size("public/app", digest), Some(size));
}

#[test]
fn credentials_never_follow_a_location_to_another_host() {
    let a_reg = FakeRegistry::anonymous();
    let img = a_reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(7));
    // The destination hands out upload sessions on `localhost:PORT`: another host for a client
    // that reached it as 127.0.0.1:PORT, though the same server.
    let b_reg = FakeRegistry::start(Options {
        upload_host: Some("localhost".into()),
        ..Options::new(AuthMode::Basic, vec![Account::new("bob", "pw")])
    });
    let c = retrying_client(0, 10);
    let anonymous = Credentials::anonymous();
    let dest_creds = basic_at(&b_reg.host(), "bob", "pw");
    let (src, dst) = (repo(&a_reg, "app"), repo(&b_reg, "dst"));
    let digest = &img.layer_digests[0];
    let e = runtime()
        .block_on(copy_first_layer(
            &c,
            (&src, &anonymous),
            (&dst, &dest_creds),
            &img,
        ))
        .expect_err("the other host wants credentials it must not get");
    // The registry behind the other name refuses the credential-less PUT.
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized, "{e}");
    assert!(
        e.message().starts_with(&format!(
            "copying blob {digest} from {}/app to {}/dst: writing blob to {}/dst: unauthorized",
            a_reg.host(),
            b_reg.host(),
            b_reg.host()
        )),
        "{e}"
    );
    assert!(
        !e.message().contains("_state"),
        "no upload state in errors: {e}"
    );
    let seen = b_reg.requests();
    let post = seen
        .iter()
        .find(|r| r.line.is_upload_start())
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert_eq!(post.authorization.as_deref(), Some("Basic"), "{post:?}");
    let put = seen
        .iter()
        .find(|r| r.line.method == "PUT")
        .unwrap_or_else(|| panic!("{seen:#?}"));
    let other_host = format!("localhost:{}", b_reg.port());
    assert_eq!(put.header("host"), Some(other_host.as_str()));
    assert_eq!(put.authorization, None, "{put:?}");
    // The cancel of the abandoned session went there without credentials as well.
    for r in seen.iter().filter(|r| r.line.method == "DELETE") {
        assert_eq!(r.authorization, None, "{r:?}");
    }
    assert_eq!(b_reg.blob_size("dst", digest), None);
}

// ---------------------------------------------------------------------------------------------
// put_manifest

#[test]
fn put_manifest_by_digest_and_tag_keeps_the_exact_bytes() {
    let (a_reg, b_reg) = (FakeRegistry::anonymous(), FakeRegistry::anonymous());
    let img = a_reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(8));
    let c = retrying_client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds, INSECURE);
    let src = repo(&a_reg, "app");
    let dst = repo(&b_reg, "dst");
    let rt = runtime();
    let bytes = Bytes::from(img.manifest.clone());
    let (by_digest, by_tag) = rt
        .block_on(async {
            for (d, s) in img
                .layer_digests
                .iter()
                .zip(&img.layer_sizes)
                .chain([(&img.config_digest, &(img.config.len() as u64))])
            {
                copy_into(&c, &src, &dst, d, *s, &a, &a).await?;
            }
            let by_digest = c
                .put_manifest(
                    &dst.with_digest(&img.digest),
                    bytes.clone(),
                    &img.media_type,
                    &a,
                )
                .await?;
            let mut tagged = dst.clone();
            tagged.tag = Some("v1".into());
            let by_tag = c
                .put_manifest(&tagged, bytes.clone(), &img.media_type, &a)
                .await?;
            Ok::<_, manifold_composer::Error>((by_digest, by_tag))
        })
        .expect("push");
    assert_eq!(by_digest, img.digest);
    assert_eq!(by_tag, img.digest);
    for reference in [img.digest.as_str(), "v1"] {
        let got = b_reg.manifest("dst", reference).expect("written");
        assert_eq!(got.bytes, img.manifest, "{reference}");
        assert_eq!(got.content_type, img.media_type);
    }

    // An index over it, by tag only.
    let index = fixtures::index_bytes(
        &[fixtures::PushedImage {
            host: b_reg.host(),
            repo: "dst".into(),
            ..img.clone()
        }],
        fixtures::Format::Oci,
        &[("org.example.note", "exact bytes")],
    );
    let mut list = dst.clone();
    list.tag = Some("list".into());
    let digest = rt
        .block_on(c.put_manifest(&list, Bytes::from(index.clone()), fixtures::OCI_INDEX, &a))
        .expect("index");
    assert_eq!(digest, manifold_tests::sha256_digest(&index));
    assert_eq!(b_reg.manifest("dst", "list").expect("written").bytes, index);

    // A manifest whose layer is missing (its config is there): the registry's words, with
    // context.
    let other = repo(&b_reg, "other");
    let e = rt
        .block_on(async {
            let config_size = img.config.len() as u64;
            copy_into(&c, &src, &other, &img.config_digest, config_size, &a, &a).await?;
            c.put_manifest(
                &other.with_digest(&img.digest),
                bytes.clone(),
                &img.media_type,
                &a,
            )
            .await
        })
        .expect_err("layer missing");
    assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
    assert_eq!(
        e.message(),
        format!(
            "writing manifest {} to {}/other: manifest blob unknown: blob unknown to registry",
            img.digest,
            b_reg.host()
        )
    );
    assert_eq!(e.cause(), "manifest blob unknown: blob unknown to registry");
    // A digest reference that does not match the bytes is refused before anything is sent.
    let wrong = dst.with_digest(&format!("sha256:{}", "1".repeat(64)));
    let e = rt
        .block_on(c.put_manifest(&wrong, bytes, &img.media_type, &a))
        .expect_err("digest mismatch");
    assert_eq!(e.kind(), ErrorKind::BadContent);
}

// ---------------------------------------------------------------------------------------------
// A destination that is down

/// A listener that accepts connections and closes them at once, counting them.
fn slamming_door() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, count)
}

#[test]
fn a_destination_that_is_down_is_retried_then_named() {
    let a_reg = FakeRegistry::anonymous();
    let img = a_reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(9));
    let mut b_reg = FakeRegistry::anonymous();
    b_reg.stop();
    let c = retrying_client(2, 50);
    let creds = Credentials::anonymous();
    let a = access(&creds, INSECURE);
    let src = repo(&a_reg, "app");
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let rt = runtime();
    let started = Instant::now();
    let e = rt
        .block_on(support::copy_layer(&c, &a_reg, &b_reg, &img))
        .expect_err("destination down");
    let elapsed = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Registry);
    let b = b_reg.host();
    assert_eq!(
        e.message(),
        format!(
            "copying blob {digest} from {}/app to {b}/dst: pinging container registry {b}: Get \"http://{b}/v2/\": dial tcp {b}: connect: connection refused",
            a_reg.host()
        )
    );
    assert_eq!(e.cause(), "connection refused");
    // Two retries: 50 ms, then 100 ms (plus jitter).
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    // The source was never read: the destination fails first.
    assert!(!a_reg
        .access_log()
        .iter()
        .any(|l| l.method == "GET" && l.path.contains("/blobs/")));

    // Count the attempts: a port that accepts and hangs up. Each attempt pings over HTTPS, then
    // (the registry being insecure) over HTTP.
    let (port, accepted) = slamming_door();
    let door = image(&format!("127.0.0.1:{port}/dst"));
    let e = rt
        .block_on(copy_into(&c, &src, &door, digest, size, &a, &a))
        .expect_err("connections dropped");
    assert_eq!(accepted.load(Ordering::SeqCst), 2 * 3, "{e}");
    assert!(
        e.message()
            .contains(&format!("pinging container registry 127.0.0.1:{port}")),
        "{e}"
    );
    // Reads are retried the same way.
    accepted.store(0, Ordering::SeqCst);
    rt.block_on(blob_exists(&c, &door, digest, &a))
        .expect_err("connections dropped");
    assert_eq!(accepted.load(Ordering::SeqCst), 2 * 3);
    // No retries configured: one attempt.
    accepted.store(0, Ordering::SeqCst);
    let once = retrying_client(0, 50);
    rt.block_on(once.put_manifest(
        &door.with_digest(&img.digest),
        Bytes::from(img.manifest.clone()),
        &img.media_type,
        &a,
    ))
    .expect_err("connections dropped");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

// ---------------------------------------------------------------------------------------------
// Large blobs

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets the peak-RSS counter (Linux `clear_refs` value 5); false where unsupported.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `size` pseudo-random bytes, generated as they are read (nothing held in memory).
struct Incompressible {
    state: u64,
    left: u64,
}

impl Read for Incompressible {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64: incompressible enough, and fast.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_64_mib_blob_streams_across_registries_in_bounded_memory() {
    const SIZE: u64 = 64 << 20;
    let (a_reg, b_reg) = (FakeRegistry::anonymous(), FakeRegistry::anonymous());
    let blob = Incompressible {
        state: 0x9E37_79B9_7F4A_7C15,
        left: SIZE,
    };
    let (digest, planted) = a_reg.put_blob_from("big", blob);
    assert_eq!(planted, SIZE);
    let c = retrying_client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds, INSECURE);
    let (src, dst) = (repo(&a_reg, "big"), repo(&b_reg, "copy"));
    let rt = runtime();
    let reset = reset_peak_rss();
    let before = peak_rss_kib();
    let copied = rt
        .block_on(copy_into(&c, &src, &dst, &digest, SIZE, &a, &a))
        .expect("copy");
    let after = peak_rss_kib();
    assert_eq!(copied, BlobCopy::Uploaded);
    if let (true, Some(before), Some(after)) = (reset, before, after) {
        // The peak of the whole test process (other tests run alongside, with small blobs, and
        // both registries live in it, streaming through files): far below the blob's 64 MiB,
        // which a buffered copy would add at least once.
        let grown_mib = after.saturating_sub(before) / 1024;
        eprintln!("peak RSS grew by {grown_mib} MiB during the 64 MiB copy");
        assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");
    }
    assert_eq!(b_reg.blob_size("copy", &digest), Some(SIZE));
    let log = b_reg.access_log();
    assert_eq!(log.iter().filter(|l| l.method == "PUT").count(), 1);
    assert!(!log.iter().any(|l| l.method == "PATCH"));
}
