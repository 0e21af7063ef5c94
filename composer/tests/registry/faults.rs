//! What each fault a registry can show does to the push-side operations: one fault hook of the
//! fake registry per test. Server errors and `429`s are retried (the latter after the registry's
//! `Retry-After`), a connection reset mid-copy is resumed by repeating the copy, a truncated or
//! corrupt blob never lands at the destination, a declined mount continues in the session it
//! opened, a session answered `200` instead of `202` is refused, and a token that expires
//! mid-push is replaced.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use manifold_composer::credentials::Credentials;
use manifold_composer::registry::BlobCopy;
use manifold_composer::ErrorKind;
use manifold_tests::fake_registry::{Exchange, FakeRegistry, Fault, RetryAfter};
use manifold_tests::fixtures::ImageSpec;

use crate::support::{
    access, basic_at, copy_into, copy_layer, image, repo, retrying_client, runtime, ByImage as _,
    INSECURE,
};

/// Two anonymous registries, the first holding an image (`spec`) in `app`.
fn source_and_destination(
    spec: &ImageSpec,
) -> (FakeRegistry, FakeRegistry, manifold_tests::PushedImage) {
    let (a_reg, b_reg) = (FakeRegistry::anonymous(), FakeRegistry::anonymous());
    let img = a_reg.seed_image("app", "v1", spec);
    (a_reg, b_reg, img)
}

/// The requests to `reg` that `keep` selects.
fn requests_where(reg: &FakeRegistry, keep: impl Fn(&Exchange) -> bool) -> Vec<Exchange> {
    reg.requests().into_iter().filter(|r| keep(r)).collect()
}

/// The statuses of `exchanges`, in order.
fn statuses(exchanges: &[Exchange]) -> Vec<u16> {
    exchanges.iter().map(|r| r.line.status).collect()
}

#[test]
fn server_errors_are_retried_until_the_registry_recovers() {
    let (a_reg, b_reg, img) = source_and_destination(&ImageSpec::linux("amd64").seed(10));
    let digest = &img.layer_digests[0];
    let upload_start = "/v2/dst/blobs/uploads/";
    let rt = runtime();

    // With too few retries the copy fails with the registry's own words.
    b_reg.inject("POST", upload_start, 2, Fault::Status(500));
    let e = rt
        .block_on(copy_layer(&retrying_client(1, 20), &a_reg, &b_reg, &img))
        .expect_err("the registry keeps failing");
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
    assert_eq!(
        e.message(),
        format!(
            "copying blob {digest} from {}/app to {b}/dst: starting an upload to {b}/dst: received unexpected HTTP status: 500 Internal Server Error",
            a_reg.host(),
            b = b_reg.host()
        )
    );
    let starts = requests_where(&b_reg, |r| r.line.is_upload_start());
    assert_eq!(statuses(&starts), [500, 500], "one attempt and one retry");

    // Enough retries: the registry recovers while the client backs off, and the copy succeeds.
    b_reg.inject("POST", upload_start, 2, Fault::Status(503));
    let copied = rt
        .block_on(copy_layer(&retrying_client(4, 20), &a_reg, &b_reg, &img))
        .expect("recovered");
    assert_eq!(copied, BlobCopy::Uploaded);
    let starts = requests_where(&b_reg, |r| r.line.is_upload_start());
    assert_eq!(statuses(&starts[2..]), [503, 503, 202]);
    let puts = requests_where(&b_reg, |r| r.line.method == "PUT");
    assert_eq!(statuses(&puts), [201]);
    assert_eq!(b_reg.blob_size("dst", digest), Some(img.layer_sizes[0]));
}

#[test]
fn too_many_requests_are_retried_after_the_registrys_retry_after() {
    let (a_reg, b_reg, img) = source_and_destination(&ImageSpec::linux("amd64").seed(12));
    // A 1 ms backoff: only the registry's Retry-After makes the client wait a second.
    let c = retrying_client(2, 1);
    let rt = runtime();
    let waited = |exchanges: &[Exchange]| exchanges[1].at.duration_since(exchanges[0].at);

    // Delta-seconds, on a step a copy retries as a whole.
    let after = Fault::TooManyRequests(RetryAfter::Seconds(1));
    b_reg.inject("POST", "/v2/dst/blobs/uploads/", 1, after);
    let copied = rt
        .block_on(copy_layer(&c, &a_reg, &b_reg, &img))
        .expect("copied after waiting");
    assert_eq!(copied, BlobCopy::Uploaded);
    let starts = requests_where(&b_reg, |r| r.line.is_upload_start());
    assert_eq!(statuses(&starts), [429, 202]);
    assert!(waited(&starts) >= Duration::from_secs(1), "{starts:#?}");

    // An HTTP-date three seconds ahead (whole seconds, so at least two away), on a request the
    // client retries by itself.
    let at = SystemTime::now() + Duration::from_secs(3);
    let after = Fault::TooManyRequests(RetryAfter::Date(at));
    a_reg.inject("GET", "/v2/app/manifests/v1", 1, after);
    let anonymous = Credentials::anonymous();
    let m = rt
        .block_on(c.get_manifest(&image(&img.reference()), &access(&anonymous, INSECURE)))
        .expect("read after waiting");
    assert_eq!(m.digest, img.digest);
    let gets = requests_where(&a_reg, |r| r.line.is("GET", "/manifests/v1"));
    assert_eq!(statuses(&gets), [429, 200]);
    assert!(waited(&gets) >= Duration::from_secs(1), "{gets:#?}");
}

#[test]
fn a_connection_reset_mid_copy_is_resumed() {
    let spec = ImageSpec::linux("amd64").seed(13).layers(1, 200 << 10);
    let (a_reg, b_reg, img) = source_and_destination(&spec);
    let digest = &img.layer_digests[0];
    // The source's connection drops 1 KiB into the blob; on the next attempt the destination's
    // drops before it answers the PUT; the third attempt goes through.
    a_reg.inject("GET", "/v2/app/blobs/*", 1, Fault::CutBody { after: 1024 });
    b_reg.inject("PUT", "/v2/dst/blobs/uploads/*", 1, Fault::Reset);
    let copied = runtime()
        .block_on(copy_layer(&retrying_client(3, 10), &a_reg, &b_reg, &img))
        .expect("resumed");
    assert_eq!(copied, BlobCopy::Uploaded);
    assert_eq!((a_reg.faults_left(), b_reg.faults_left()), (0, 0));
    let source_reads = requests_where(&a_reg, |r| r.line.is("GET", digest));
    assert_eq!(statuses(&source_reads), [200, 200, 200]);
    let puts = requests_where(&b_reg, |r| r.line.method == "PUT");
    assert!(statuses(&puts).ends_with(&[0, 201]), "{puts:#?}");
    assert_eq!(
        b_reg.blob("dst", digest).map(|b| b.len() as u64),
        Some(img.layer_sizes[0])
    );
    assert_eq!(
        b_reg.open_uploads(),
        0,
        "the broken sessions were cancelled"
    );
}

#[test]
fn a_truncated_or_corrupt_source_blob_never_lands() {
    let spec = ImageSpec::linux("amd64").seed(6).layers(1, 200 << 10);
    let (a_reg, b_reg, img) = source_and_destination(&spec);
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let blob_path = format!("/v2/app/blobs/{digest}");
    let c = retrying_client(2, 10);
    let rt = runtime();
    let copying = format!(
        "copying blob {digest} from {a}/app to {}/dst: reading blob from {a}/app: ",
        b_reg.host(),
        a = a_reg.host()
    );

    // Sent short, with no Content-Length to tell: the size tells.
    let keep = size as usize / 2;
    a_reg.inject("GET", &blob_path, 1, Fault::Truncate { keep });
    let e = rt
        .block_on(copy_layer(&c, &a_reg, &b_reg, &img))
        .expect_err("truncated source");
    assert_eq!(e.kind(), ErrorKind::BadContent, "{e}");
    assert_eq!(
        e.message(),
        format!(
            "{copying}blob ended after {keep} bytes, short of its expected size of {size} bytes"
        )
    );

    // Same length, the last byte inverted: only the digest can tell.
    a_reg.inject("GET", &blob_path, 1, Fault::Corrupt);
    let e = rt
        .block_on(copy_layer(&c, &a_reg, &b_reg, &img))
        .expect_err("corrupt source");
    assert_eq!(e.kind(), ErrorKind::BadContent, "{e}");
    assert!(
        e.message()
            .starts_with(&format!("{copying}blob digest sha256:")),
        "{e}"
    );
    assert!(e
        .message()
        .ends_with(&format!("does not match the expected digest {digest}")));

    // Shorter in the registry's storage: the declared size tells before anything is sent.
    a_reg.tamper(&img.config_digest, |bytes| *bytes = b"{}".to_vec());
    let config_size = img.config.len() as u64;
    let anonymous = Credentials::anonymous();
    let a = access(&anonymous, INSECURE);
    let (src, dst) = (repo(&a_reg, "app"), repo(&b_reg, "dst"));
    let e = rt
        .block_on(copy_into(
            &c,
            &src,
            &dst,
            &img.config_digest,
            config_size,
            &a,
            &a,
        ))
        .expect_err("short source");
    assert_eq!(e.kind(), ErrorKind::BadContent, "{e}");
    assert!(
        e.cause().contains(&format!(
            "does not match its expected size of {config_size} bytes"
        )),
        "{e}"
    );

    // Nothing landed. Final errors: not retried (one session each), and each abandoned session
    // was cancelled.
    assert_eq!(b_reg.blob_size("dst", digest), None);
    assert_eq!(b_reg.blob_size("dst", &img.config_digest), None);
    let log = b_reg.access_log();
    assert_eq!(
        log.iter().filter(|l| l.is_upload_start()).count(),
        3,
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.is_completed_upload()), "{log:#?}");
    assert_eq!(
        log.iter().filter(|l| l.method == "DELETE").count(),
        3,
        "{log:#?}"
    );
    assert_eq!(b_reg.open_uploads(), 0);
}

#[test]
fn a_declined_mount_continues_in_the_session_it_opened() {
    let reg = FakeRegistry::anonymous();
    let img = reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(21));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    reg.inject("POST", "/v2/dst/blobs/uploads/", 1, Fault::RefuseMount);
    let anonymous = Credentials::anonymous();
    let a = access(&anonymous, INSECURE);
    let copied = runtime()
        .block_on(copy_into(
            &retrying_client(0, 10),
            &repo(&reg, "app"),
            &repo(&reg, "dst"),
            digest,
            size,
            &a,
            &a,
        ))
        .expect("copied");
    assert_eq!(copied, BlobCopy::Uploaded);
    let log = reg.access_log();
    let posts: Vec<_> = log.iter().filter(|l| l.method == "POST").collect();
    assert_eq!(posts.len(), 1, "no second session: {log:#?}");
    assert!(posts[0].is_mount() && posts[0].status == 202, "{log:#?}");
    assert!(log.iter().any(|l| l.method == "PUT" && l.status == 201));
    assert_eq!(reg.blob_size("dst", digest), Some(size));
}

#[test]
fn a_session_answered_200_instead_of_202_is_refused() {
    let (a_reg, b_reg, img) = source_and_destination(&ImageSpec::linux("amd64").seed(14));
    let digest = &img.layer_digests[0];
    b_reg.inject(
        "POST",
        "/v2/dst/blobs/uploads/",
        1,
        Fault::OkInsteadOfAccepted,
    );
    let e = runtime()
        .block_on(copy_layer(&retrying_client(2, 10), &a_reg, &b_reg, &img))
        .expect_err("no session without 202");
    // A registry that does not follow the protocol is not guessed at, and not retried.
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
    assert_eq!(
        e.message(),
        format!(
            "copying blob {digest} from {}/app to {b}/dst: starting an upload to {b}/dst: unexpected status 200 OK starting an upload (expected 202 Accepted)",
            a_reg.host(),
            b = b_reg.host()
        )
    );
    let starts = requests_where(&b_reg, |r| r.line.is_upload_start());
    assert_eq!(statuses(&starts), [200]);
    assert!(!b_reg.access_log().iter().any(|l| l.method == "PUT"));
    assert_eq!(b_reg.blob_size("dst", digest), None);
}

#[test]
fn a_token_that_expires_mid_push_is_refreshed() {
    let a_reg = FakeRegistry::anonymous();
    let img = a_reg.seed_image("app", "v1", &ImageSpec::linux("amd64").seed(11));
    let other = a_reg.seed_image("app", "v2", &ImageSpec::linux("arm64").seed(15));
    let t_reg = FakeRegistry::bearer("alice", "s3cret");
    let c = retrying_client(0, 10);
    let creds = basic_at(&t_reg.host(), "alice", "s3cret");
    let anonymous = Credentials::anonymous();
    let (sa, da) = (access(&anonymous, INSECURE), access(&creds, INSECURE));
    let (src, dst) = (repo(&a_reg, "app"), repo(&t_reg, "dst"));
    let rt = runtime();
    let copy = |digest: &str, size: u64| {
        rt.block_on(copy_into(&c, &src, &dst, digest, size, &sa, &da))
            .unwrap_or_else(|e| panic!("copy of {digest}: {e}"))
    };

    // A token the registry stops accepting a second after issuing it, while its `expires_in`
    // (300 s) has the client keep it: a token that really expires mid-push, as far as the client
    // can tell. Tokens issued later live on.
    t_reg.set_token_lifetime(Some(Duration::from_secs(1)));
    copy(&img.config_digest, img.config.len() as u64);
    t_reg.set_token_lifetime(None);
    std::thread::sleep(Duration::from_millis(1100));
    // Counted from here: whatever the first copy needed, every token it got is dead now.
    let tokens = t_reg.token_requests().len();
    let mark = t_reg.access_mark();
    // The upload session's POST meets the dead token: it is replaced and the copy goes on.
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    assert_eq!(copy(digest, size), BlobCopy::Uploaded);
    assert_eq!(t_reg.token_requests().len(), tokens + 1);

    // A token that dies as the streamed PUT arrives: the body cannot be sent twice, so the whole
    // copy is repeated at once with a fresh token.
    t_reg.inject("PUT", "/v2/dst/blobs/uploads/*", 1, Fault::ExpireToken);
    let (other_digest, other_size) = (&other.layer_digests[0], other.layer_sizes[0]);
    assert_eq!(copy(other_digest, other_size), BlobCopy::Uploaded);
    assert_eq!(t_reg.token_requests().len(), tokens + 2);
    let reads = requests_where(&a_reg, |r| r.line.is("GET", other_digest));
    assert_eq!(reads.len(), 2, "the source was read again: {reads:#?}");

    // And one that dies as the manifest PUT arrives.
    t_reg.inject("PUT", "/v2/dst/manifests/*", 1, Fault::ExpireToken);
    let written = rt
        .block_on(c.put_manifest(
            &dst.with_digest(&img.digest),
            Bytes::from(img.manifest.clone()),
            &img.media_type,
            &da,
        ))
        .expect("manifest with a refreshed token");
    assert_eq!(written, img.digest);
    assert_eq!(t_reg.token_requests().len(), tokens + 3);

    let refused: Vec<_> = t_reg
        .access_log_since(mark)
        .into_iter()
        .filter(|l| l.status == 401)
        .collect();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert!(refused[0].is_upload_start(), "{refused:#?}");
    assert!(refused[1].method == "PUT" && refused[1].path.contains("/blobs/uploads/"));
    assert!(refused[2].is_manifest_put(), "{refused:#?}");
    assert_eq!(t_reg.blob_size("dst", digest), Some(size));
    assert_eq!(t_reg.blob_size("dst", other_digest), Some(other_size));
}
