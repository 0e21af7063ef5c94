//! The registry client's reads against in-process registries: manifests and blobs byte for
//! byte, errors in the registry's words, content that does not match its digest, size limits,
//! schemes and TLS, Basic and Bearer authentication, redirects to blob storage elsewhere, and
//! answers no registry should give.

use std::sync::LazyLock;
use std::time::Duration;

use manifold_composer::credentials::{Auth, Credentials, Secret};
use manifold_composer::oci::{self, sha256_digest};
use manifold_composer::reference::ImageRef;
use manifold_composer::registry::{Access, ManifestHead, RegistryClient};
use manifold_composer::{Error, ErrorKind};
use manifold_tests::fake_registry::{Account, AuthMode, FakeRegistry, Fault, Options};
use manifold_tests::process::free_port;
use manifold_tests::token_server::parse_query;

use crate::support::{self, access, basic, image, insecure_entry, ByImage as _, INSECURE};

const USER: &str = "alice";
const PASS: &str = "s3cret-pa55";

// ---------------------------------------------------------------------------------------------
// Fixtures, seeded into the registry's storage.

struct Fixture {
    config: Vec<u8>,
    config_digest: String,
    manifest: Vec<u8>,
    manifest_digest: String,
    index: Vec<u8>,
    index_digest: String,
    docker_manifest: Vec<u8>,
    docker_list: Vec<u8>,
}

/// Stores in `repo`: a config and a layer, an OCI manifest (tag `amd64`), an OCI index over it
/// (tag `list`), and a Docker manifest (tag `docker`) with a Docker list over it (tag
/// `docker-list`). The manifests are hand-formatted (odd indentation, unsorted annotations, a
/// trailing newline) so any re-serialisation would change their bytes.
fn seed_fixture(reg: &FakeRegistry, repo: &str) -> Fixture {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#.to_vec();
    let config_digest = reg.put_blob(repo, &config);
    let layer = b"not really a tarball, registries do not care".to_vec();
    let layer_digest = reg.put_blob(repo, &layer);
    let manifest = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{}\",\n   \"config\": {{\"mediaType\": \"{}\", \"digest\": \"{config_digest}\", \"size\": {}}},\n   \"layers\": [{{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"{layer_digest}\", \"size\": {}}}],\n   \"annotations\": {{\"z\": \"1\", \"a\": \"2\"}}\n}}\n",
        oci::OCI_MANIFEST,
        oci::OCI_CONFIG,
        config.len(),
        layer.len()
    )
    .into_bytes();
    let manifest_digest = reg.put_manifest(repo, "amd64", oci::OCI_MANIFEST, &manifest);
    let index = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"manifests\":[{{\"mediaType\":\"{}\",\"digest\":\"{manifest_digest}\",\"size\":{},\"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}}}}]}}",
        oci::OCI_INDEX,
        oci::OCI_MANIFEST,
        manifest.len()
    )
    .into_bytes();
    let index_digest = reg.put_manifest(repo, "list", oci::OCI_INDEX, &index);
    let docker_manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"config\":{{\"mediaType\":\"{}\",\"digest\":\"{config_digest}\",\"size\":{}}},\"layers\":[{{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"{layer_digest}\",\"size\":{}}}]}}",
        oci::DOCKER_MANIFEST,
        oci::DOCKER_CONFIG,
        config.len(),
        layer.len()
    )
    .into_bytes();
    reg.put_manifest(repo, "docker", oci::DOCKER_MANIFEST, &docker_manifest);
    let docker_list = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"manifests\":[{{\"mediaType\":\"{}\",\"digest\":\"{}\",\"size\":{},\"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}}}}]}}",
        oci::DOCKER_LIST,
        oci::DOCKER_MANIFEST,
        sha256_digest(&docker_manifest),
        docker_manifest.len()
    )
    .into_bytes();
    reg.put_manifest(repo, "docker-list", oci::DOCKER_LIST, &docker_list);
    Fixture {
        config,
        config_digest,
        manifest,
        manifest_digest,
        index,
        index_digest,
        docker_manifest,
        docker_list,
    }
}

// ---------------------------------------------------------------------------------------------
// The client under test.

/// A client with the default configuration (no `[[registry]]`: every registry allowed).
fn client() -> RegistryClient {
    support::client("")
}

/// Anonymous access with the client's `tlsVerify`.
fn anonymous(tls_verify: Option<bool>) -> Access<'static> {
    static ANONYMOUS: LazyLock<Credentials> = LazyLock::new(Credentials::anonymous);
    access(&ANONYMOUS, tls_verify)
}

/// Access with `USER`'s right password (basic credentials for any registry) and the client's
/// `tlsVerify`.
fn authenticated(tls_verify: Option<bool>) -> Access<'static> {
    static GOOD: LazyLock<Credentials> = LazyLock::new(|| basic(USER, PASS));
    access(&GOOD, tls_verify)
}

/// What `head_manifest` answers for a manifest that is there: its digest, type and size.
fn found(digest: &str, media_type: &str, bytes: &[u8]) -> Option<ManifestHead> {
    Some(ManifestHead {
        digest: digest.to_string(),
        media_type: media_type.to_string(),
        size: bytes.len() as u64,
    })
}

/// Checks an error's kind (which picks the HTTP status), its cause and the whole message.
#[track_caller]
fn assert_error(e: &Error, kind: ErrorKind, cause: &str, message: &str) {
    assert_eq!(e.kind(), kind);
    assert_eq!(e.cause(), cause);
    assert_eq!(e.message(), message);
}

// ---------------------------------------------------------------------------------------------
// Reading from a plain-HTTP registry.

/// What the plain-HTTP read tests start from: a registry with the fixture in `app`, the
/// fixture, the registry's host and the image `HOST/app:amd64`. The registry stops when dropped,
/// so callers bind it (as `_reg` if unused) for the whole test.
fn plain_app() -> (FakeRegistry, Fixture, String, ImageRef) {
    let reg = FakeRegistry::anonymous();
    let fx = seed_fixture(&reg, "app");
    let host = reg.host();
    let amd64 = image(&format!("{host}/app:amd64"));
    (reg, fx, host, amd64)
}

#[tokio::test]
async fn manifests_come_back_byte_for_byte() {
    let (reg, fx, host, amd64) = plain_app();
    let client = client();
    let access = anonymous(INSECURE);
    let amd64_by_digest = image(&format!("{host}/app@{}", fx.manifest_digest));

    let m = client
        .get_manifest(&amd64, &access)
        .await
        .expect("manifest by tag");
    assert_eq!(m.bytes.as_ref(), fx.manifest.as_slice());
    assert_eq!(m.digest, fx.manifest_digest);
    assert_eq!(m.media_type, oci::OCI_MANIFEST);
    assert!(!m.is_list());

    let by_digest = client
        .get_manifest(&amd64_by_digest, &access)
        .await
        .expect("manifest by digest");
    assert_eq!(by_digest, m);

    let index = client
        .get_manifest(&image(&format!("{host}/app:list")), &access)
        .await
        .expect("index");
    assert_eq!(index.bytes.as_ref(), fx.index.as_slice());
    assert_eq!(index.digest, fx.index_digest);
    assert_eq!(index.media_type, oci::OCI_INDEX);
    assert!(index.is_list());

    let docker = client
        .get_manifest(&image(&format!("{host}/app:docker")), &access)
        .await
        .expect("docker manifest");
    assert_eq!(docker.bytes.as_ref(), fx.docker_manifest.as_slice());
    assert_eq!(docker.media_type, oci::DOCKER_MANIFEST);
    let list = client
        .get_manifest(&image(&format!("{host}/app:docker-list")), &access)
        .await
        .expect("docker list");
    assert_eq!(list.bytes.as_ref(), fx.docker_list.as_slice());
    assert_eq!(list.media_type, oci::DOCKER_LIST);
    assert!(list.is_list());

    let head = client
        .head_manifest(&image(&format!("{host}/app:list")), &access)
        .await
        .expect("head");
    assert_eq!(head, found(&fx.index_digest, oci::OCI_INDEX, &fx.index));
    let head = client
        .head_manifest(&amd64_by_digest, &access)
        .await
        .expect("head by digest");
    assert_eq!(
        head,
        found(&fx.manifest_digest, oci::OCI_MANIFEST, &fx.manifest)
    );
    for missing in [
        format!("{host}/app:nope"),
        format!("{host}/nothing/here:v1"),
    ] {
        let head = client
            .head_manifest(&image(&missing), &access)
            .await
            .expect("head of a missing manifest");
        assert_eq!(head, None, "{missing}");
    }

    let config = client
        .get_blob(&amd64, &fx.config_digest, &access)
        .await
        .expect("config blob");
    assert_eq!(config.as_ref(), fx.config.as_slice());

    // The HTTPS attempt failed (the registry speaks HTTP) and HTTP was remembered.
    assert_eq!(client.known_scheme(&host, true).as_deref(), Some("http"));
    // One ping for the whole test: later calls reused what it learnt.
    let log = reg.access_log();
    let pings = log
        .iter()
        .filter(|l| l.is("GET", "/v2/") && l.path == "/v2/");
    assert_eq!(pings.count(), 1, "{log:#?}");
}

#[tokio::test]
async fn unknown_things_are_not_found_in_the_registrys_words() {
    let (_reg, fx, host, amd64) = plain_app();
    let client = client();
    let access = anonymous(INSECURE);

    let e = client
        .get_manifest(&image(&format!("{host}/app:nope")), &access)
        .await
        .expect_err("unknown tag");
    assert_error(
        &e,
        ErrorKind::RegistryNotFound,
        "manifest unknown",
        &format!("reading manifest nope in {host}/app: manifest unknown"),
    );

    let e = client
        .get_manifest(&image(&format!("{host}/nothing/here:v1")), &access)
        .await
        .expect_err("unknown repository");
    // Registries (distribution 2.8.2 and the fake alike) answer MANIFEST_UNKNOWN for a
    // repository they have never seen, too.
    assert_error(
        &e,
        ErrorKind::RegistryNotFound,
        "manifest unknown",
        &format!("reading manifest v1 in {host}/nothing/here: manifest unknown"),
    );

    let missing = sha256_digest(b"nothing");
    let e = client
        .get_blob(&amd64, &missing, &access)
        .await
        .expect_err("unknown blob");
    assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
    assert_eq!(
        e.message(),
        format!("reading blob {missing} in {host}/app: blob unknown: blob unknown to registry")
    );

    let e = client
        .get_blob(&amd64, "sha256:short", &access)
        .await
        .expect_err("bad digest");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.cause(), "invalid checksum digest format");
    drop(fx);
}

#[tokio::test]
async fn content_that_does_not_match_its_digest_is_refused() {
    let (reg, fx, host, amd64) = plain_app();
    let client = client();
    let access = anonymous(INSECURE);
    // "z": "1" becomes "z": "3": still JSON, same length, another digest.
    reg.tamper(&fx.manifest_digest, |b| replace_last(b, b'1', b'3'));
    reg.tamper(&fx.config_digest, |b| replace_last(b, b'd', b'D'));

    let e = client
        .get_manifest(
            &image(&format!("{host}/app@{}", fx.manifest_digest)),
            &access,
        )
        .await
        .expect_err("corrupted manifest");
    assert_eq!(e.kind(), ErrorKind::BadContent);
    let mut corrupted = fx.manifest.clone();
    replace_last(&mut corrupted, b'1', b'3');
    let actual = sha256_digest(&corrupted);
    assert_eq!(
        e.cause(),
        format!(
            "manifest digest {actual} does not match the expected digest {}",
            fx.manifest_digest
        )
    );
    assert_eq!(
        e.message(),
        format!(
            "reading manifest {} in {host}/app: {}",
            fx.manifest_digest,
            e.cause()
        )
    );

    // By tag there is nothing to compare with: the bytes are returned with their own digest.
    let m = client.get_manifest(&amd64, &access).await.expect("by tag");
    assert_eq!(m.digest, actual);

    let e = client
        .get_blob(&amd64, &fx.config_digest, &access)
        .await
        .expect_err("corrupted config");
    assert_eq!(e.kind(), ErrorKind::BadContent);
    assert!(
        e.cause().starts_with("blob digest sha256:")
            && e.cause().ends_with(&format!(
                "does not match the expected digest {}",
                fx.config_digest
            )),
        "{}",
        e.cause()
    );
}

/// Replaces the last `from` byte of `bytes` with `to`: same length, another digest.
fn replace_last(bytes: &mut [u8], from: u8, to: u8) {
    let at = bytes
        .iter()
        .rposition(|b| *b == from)
        .expect("a byte to replace");
    bytes[at] = to;
}

#[tokio::test]
async fn manifests_over_the_limit_are_refused() {
    let (_reg, fx, host, amd64) = plain_app();
    let client = support::client("[limits]\nmax_manifest_size = \"100\"\n");
    let access = anonymous(INSECURE);
    let e = client
        .get_manifest(&amd64, &access)
        .await
        .expect_err("too big");
    assert_eq!(e.kind(), ErrorKind::BadContent);
    assert_eq!(
        e.message(),
        format!("reading manifest amd64 in {host}/app: exceeded maximum allowed size of 100 bytes (limits.max_manifest_size)")
    );
    // The config (89 bytes) fits.
    assert!(fx.config.len() < 100);
    client
        .get_blob(&amd64, &fx.config_digest, &access)
        .await
        .expect("small config");
}

// ---------------------------------------------------------------------------------------------
// Schemes and TLS.

#[tokio::test]
async fn configured_insecure_registries_fall_back_to_http() {
    let reg = FakeRegistry::anonymous();
    let fx = seed_fixture(&reg, "team/app");
    let host = reg.host();
    let team = insecure_entry(&format!("{host}/team"), "");
    let client = support::client(&team);
    let from_config = anonymous(None);
    let team_app = image(&format!("{host}/team/app:amd64"));
    let other = image(&format!("{host}/other:amd64"));
    let m = client
        .get_manifest(&team_app, &from_config)
        .await
        .expect("insecure by configuration");
    assert_eq!(m.digest, fx.manifest_digest);
    assert_eq!(client.known_scheme(&host, true).as_deref(), Some("http"));

    // An explicit tlsVerify=true wins over the configuration: HTTPS only, which fails.
    let e = client
        .get_manifest(&team_app, &anonymous(Some(true)))
        .await
        .expect_err("secure against plain HTTP");
    assert_error(
        &e,
        ErrorKind::Registry,
        "http: server gave HTTP response to HTTPS client",
        &format!("pinging container registry {host}: Get \"https://{host}/v2/\": http: server gave HTTP response to HTTPS client"),
    );
    // Outside the configured namespace the registry is not in the configuration at all: refused
    // before anything is sent, whatever the client's TLS choice.
    let e = client
        .get_manifest(&other, &from_config)
        .await
        .expect_err("not covered by the entry");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    let e = client
        .get_manifest(&other, &anonymous(Some(false)))
        .await
        .expect_err("tlsVerify=false cannot widen the configuration");
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    // Allowed when unlisted registries are, and secure there.
    let client = support::client(&format!("allow_unlisted_registries = true\n{team}"));
    let e = client
        .get_manifest(&other, &from_config)
        .await
        .expect_err("secure outside the entry");
    assert_eq!(e.cause(), "http: server gave HTTP response to HTTPS client");
}

#[tokio::test]
async fn refused_connections_say_so() {
    let port = free_port();
    let host = format!("127.0.0.1:{port}");
    let client = client();
    let app = image(&format!("{host}/app:v1"));
    let e = client
        .get_manifest(&app, &anonymous(None))
        .await
        .expect_err("nothing listens");
    assert_error(
        &e,
        ErrorKind::Registry,
        "connection refused",
        &format!("pinging container registry {host}: Get \"https://{host}/v2/\": dial tcp {host}: connect: connection refused"),
    );
    // Insecure: HTTPS then HTTP were tried; like containers/image, HTTP's error is reported.
    let e = client
        .get_manifest(&app, &anonymous(INSECURE))
        .await
        .expect_err("nothing listens");
    assert_eq!(e.cause(), "connection refused");
    assert_eq!(
        e.message(),
        format!("pinging container registry {host}: Get \"http://{host}/v2/\": dial tcp {host}: connect: connection refused")
    );
}

#[tokio::test]
async fn tls_registries_verify_unless_insecure() {
    let reg = FakeRegistry::start(Options {
        tls: true,
        ..Options::default()
    });
    let host = reg.host();
    let fx = seed_fixture(&reg, "app");
    let client = client();

    let e = client
        .get_manifest(&image(&format!("{host}/app:amd64")), &anonymous(None))
        .await
        .expect_err("unknown CA");
    assert_error(
        &e,
        ErrorKind::Registry,
        "x509: certificate signed by unknown authority",
        &format!("pinging container registry {host}: Get \"https://{host}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"),
    );

    // Insecure: HTTPS without verification works, no fallback needed (the registry does not
    // speak plain HTTP at all).
    let m = client
        .get_manifest(&image(&format!("{host}/app:list")), &anonymous(INSECURE))
        .await
        .expect("unverified TLS");
    assert_eq!(m.digest, fx.index_digest);
    assert_eq!(client.known_scheme(&host, true).as_deref(), Some("https"));
}

// ---------------------------------------------------------------------------------------------
// Basic auth.

#[tokio::test]
async fn basic_auth_registry() {
    let reg = FakeRegistry::basic(USER, PASS);
    let fx = seed_fixture(&reg, "app");
    let client = client();
    let host = reg.host();
    let img = image(&format!("{host}/app:amd64"));

    let e = client
        .get_manifest(&img, &anonymous(INSECURE))
        .await
        .expect_err("no credentials");
    assert_error(
        &e,
        ErrorKind::RegistryUnauthorized,
        "unauthorized: authentication required",
        &format!("reading manifest amd64 in {host}/app: unauthorized: authentication required"),
    );
    let e = client
        .head_manifest(&img, &anonymous(INSECURE))
        .await
        .expect_err("no credentials");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
    assert_eq!(e.cause(), "unauthorized: authentication required");

    let wrong = basic(USER, "wrong-password");
    let e = client
        .get_manifest(&img, &access(&wrong, INSECURE))
        .await
        .expect_err("wrong password");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
    assert!(!format!("{e:?}").contains("wrong-password"));

    let with_good = authenticated(INSECURE);
    let m = client
        .get_manifest(&img, &with_good)
        .await
        .expect("with credentials");
    assert_eq!(m.bytes.as_ref(), fx.manifest.as_slice());
    let config = client
        .get_blob(&img, &fx.config_digest, &with_good)
        .await
        .expect("config with credentials");
    assert_eq!(config.as_ref(), fx.config.as_slice());

    // A per-registry entry is used for its registry only.
    let mut per = Credentials::anonymous();
    per.per_registry
        .insert(host.clone(), Auth::basic(USER, PASS));
    client
        .get_manifest(&img, &access(&per, INSECURE))
        .await
        .expect("per-registry credentials");
    // Nothing about the client prints a secret.
    assert!(!format!("{client:?}").contains(PASS));
}

#[tokio::test]
async fn credentials_never_go_over_plain_http_to_a_secure_registry() {
    // A plain-HTTP registry that would accept anything: a secure client must not reach it.
    let reg = FakeRegistry::anonymous();
    let client = client();
    let e = client
        .get_manifest(
            &image(&format!("{}/app:v1", reg.host())),
            &authenticated(None),
        )
        .await
        .expect_err("secure registry over plain HTTP");
    assert_eq!(e.cause(), "http: server gave HTTP response to HTTPS client");
    for r in reg.requests() {
        assert!(r.authorization.is_none(), "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens.

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// A token-auth registry serving `MANIFEST` as `app:v1`: `USER` logs in with `PASS` or the
/// identity token `identity-xyz`, anonymous clients may pull, and tokens say they last
/// `expires_in` seconds (`None`: nothing said).
fn token_registry(expires_in: Option<u64>) -> (FakeRegistry, ImageRef) {
    let alice = Account::new(USER, PASS).with_identity_token("identity-xyz");
    let reg = FakeRegistry::start(Options {
        anonymous_pull: true,
        token_expires_in: expires_in,
        ..Options::new(AuthMode::Bearer, vec![alice])
    });
    reg.put_manifest("app", "v1", oci::OCI_MANIFEST, MANIFEST.as_bytes());
    let img = image(&format!("{}/app:v1", reg.host()));
    (reg, img)
}

/// The decoded query of the `n`th request to `reg`'s token endpoint.
fn token_query(reg: &FakeRegistry, n: usize) -> Vec<(String, String)> {
    let asked: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.line.path == "/token")
        .collect();
    let uri = &asked[n].line.uri;
    parse_query(uri.split_once('?').map_or("", |(_, q)| q))
}

#[tokio::test]
async fn bearer_tokens_are_fetched_cached_and_scoped() {
    let (reg, img) = token_registry(Some(300));
    let client = client();
    let alice = authenticated(INSECURE);

    let m = client
        .get_manifest(&img, &alice)
        .await
        .expect("with a token");
    assert_eq!(m.bytes.as_ref(), MANIFEST.as_bytes());
    let tokens = reg.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].method, "GET");
    assert_eq!(tokens[0].user.as_deref(), Some(USER));
    assert_eq!(tokens[0].service.as_deref(), Some("fake-registry"));
    assert_eq!(tokens[0].scopes, vec!["repository:app:pull"]);
    assert!(token_query(&reg, 0).contains(&("account".into(), USER.into())));

    // Cached: more requests, no more token requests.
    client
        .get_manifest(&img, &alice)
        .await
        .expect("cached token");
    client
        .head_manifest(&img, &alice)
        .await
        .expect("cached token");
    assert_eq!(reg.token_requests().len(), 1);
    // Every registry request after the ping carried the token, and it was accepted.
    for r in reg.access_log().iter().filter(|r| r.path != "/v2/") {
        assert_eq!(r.status, 200, "{r:?}");
    }
    for r in reg
        .requests()
        .iter()
        .filter(|r| r.line.path.starts_with("/v2/app/"))
    {
        assert_eq!(r.authorization.as_deref(), Some("Bearer"), "{r:?}");
    }

    // Another identity gets its own token, even for the same scope.
    client
        .get_manifest(&img, &anonymous(INSECURE))
        .await
        .expect("anonymous token");
    let tokens = reg.token_requests();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (tokens[1].user.as_deref(), tokens[1].refused),
        (None, false)
    );

    // The registry stops accepting the cached token: one fresh token, one retry.
    reg.expire_tokens();
    client
        .get_manifest(&img, &alice)
        .await
        .expect("refreshed token");
    assert_eq!(reg.token_requests().len(), 3);

    // Wrong credentials: the token endpoint's 401.
    let wrong = basic(USER, "nope");
    let e = client
        .get_manifest(&img, &access(&wrong, INSECURE))
        .await
        .expect_err("wrong password");
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
    assert_eq!(
        e.message(),
        "unable to retrieve auth token: invalid username/password: unauthorized: authentication required"
    );
    assert!(!format!("{e:?}").contains("nope\""));
    assert!(reg.token_requests()[3].refused);
}

#[tokio::test]
async fn identity_tokens_use_the_oauth2_form() {
    let (reg, img) = token_registry(None);
    let client = client();
    let mut creds = Credentials::anonymous();
    creds.any_registry = Some(Auth::IdentityToken(Secret::new("identity-xyz")));
    client
        .get_manifest(&img, &access(&creds, INSECURE))
        .await
        .expect("identity token");
    // The endpoint only takes a form that says it is one, and only `grant_type=refresh_token`
    // with the account's identity token identifies it by that token.
    let tokens = reg.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(tokens[0].user.as_deref(), Some(USER));
    assert_eq!(tokens[0].service.as_deref(), Some("fake-registry"));
    assert_eq!(tokens[0].scopes, vec!["repository:app:pull"]);
}

#[tokio::test]
async fn short_lived_tokens_are_renewed() {
    // expires_in 1 s: used for 0.8 s, then fetched again.
    let (reg, img) = token_registry(Some(1));
    let client = client();
    let alice = authenticated(INSECURE);
    client.get_manifest(&img, &alice).await.expect("first");
    client.get_manifest(&img, &alice).await.expect("cached");
    assert_eq!(reg.token_requests().len(), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    client.get_manifest(&img, &alice).await.expect("renewed");
    assert_eq!(reg.token_requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Redirects and odd answers.

#[tokio::test]
async fn redirects_to_another_host_drop_the_credentials() {
    let config = br#"{"architecture":"arm64","os":"linux"}"#.to_vec();
    let (registry, storage, digest) = support::redirecting_registry(&config, USER, PASS);
    let client = client();
    let blob = client
        .get_blob(
            &image(&format!("{}/app:v1", registry.host())),
            &digest,
            &authenticated(INSECURE),
        )
        .await
        .expect("redirected blob");
    assert_eq!(blob.as_ref(), config.as_slice());
    support::assert_credentials_stayed_home(&registry, &storage);
}

#[tokio::test]
async fn odd_answers_are_reported_not_trusted() {
    let reg = FakeRegistry::anonymous();
    let big = vec![b' '; 1200];
    // Answers no registry should give: a proxy's 502, a body with no length (cut off by the
    // limit as it streams), a declared length over the limit, a manifest that is not JSON, a
    // manifest served as generic JSON, and a bare 404.
    reg.inject(
        "GET",
        "/v2/app/manifests/gateway",
        usize::MAX,
        Fault::Status(502),
    );
    reg.put_manifest("app", "unbounded", oci::OCI_MANIFEST, &big);
    reg.inject(
        "GET",
        "/v2/app/manifests/unbounded",
        usize::MAX,
        Fault::Chunked,
    );
    reg.put_manifest("app", "declared", oci::OCI_MANIFEST, &big);
    reg.put_manifest("app", "garbage", oci::OCI_MANIFEST, b"not json");
    reg.put_manifest("app", "nohead", "application/json", MANIFEST.as_bytes());
    reg.inject(
        "GET",
        "/v2/app/manifests/missing",
        usize::MAX,
        Fault::Status(404),
    );
    let client = support::client("[limits]\nmax_manifest_size = \"1000\"\n[push]\nretries = 0\n");
    let access = anonymous(INSECURE);
    let host = reg.host();

    let e = client
        .get_manifest(&image(&format!("{host}/app:gateway")), &access)
        .await
        .expect_err("502");
    assert_eq!(e.kind(), ErrorKind::Registry);
    assert_eq!(
        e.message(),
        format!("reading manifest gateway in {host}/app: received unexpected HTTP status: 502 Bad Gateway")
    );
    for tag in ["unbounded", "declared"] {
        let e = client
            .get_manifest(&image(&format!("{host}/app:{tag}")), &access)
            .await
            .expect_err("too big");
        assert_eq!(e.kind(), ErrorKind::BadContent, "{tag}");
        assert_eq!(
            e.cause(),
            "exceeded maximum allowed size of 1000 bytes (limits.max_manifest_size)"
        );
    }
    let e = client
        .get_manifest(&image(&format!("{host}/app:garbage")), &access)
        .await
        .expect_err("not json");
    assert_eq!(e.kind(), ErrorKind::BadContent);
    assert!(e.message().starts_with(&format!(
        "reading manifest garbage in {host}/app: parsing manifest:"
    )));

    // HEAD with a generic Content-Type: the body decides the media type.
    let head = client
        .head_manifest(&image(&format!("{host}/app:nohead")), &access)
        .await
        .expect("head");
    assert_eq!(
        head,
        found(
            &sha256_digest(MANIFEST.as_bytes()),
            oci::OCI_MANIFEST,
            MANIFEST.as_bytes()
        )
    );
    // A bare 404 on GET is still "not found".
    let e = client
        .get_manifest(&image(&format!("{host}/app:missing")), &access)
        .await
        .expect_err("404");
    assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
    assert_eq!(e.cause(), "received unexpected HTTP status: 404 Not Found");
}
