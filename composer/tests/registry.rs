//! Integration tests of `manifold_composer::registry` against a real registry (CNCF
//! distribution, `/usr/bin/docker-registry`) started per test, plus small fake HTTP servers in
//! this file for what a real registry cannot be made to do here (bearer token auth, redirects,
//! oversized or non-JSON answers).
//!
//! Every server binds 127.0.0.1 on a free port, keeps its files in its own temporary directory,
//! and is stopped when its guard drops. Fixtures are pushed with raw HTTP, independently of the
//! client under test.

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use manifold_composer::credentials::{Auth, Credentials, Secret};
use manifold_composer::oci::{self, sha256_digest};
use manifold_composer::reference::ImageRef;
use manifold_composer::registry::{Access, RegistryClient};
use manifold_composer::{Error, ErrorKind};
use manifold_config::{Config, Environment, FileConfig, Overrides, RegistryEntry};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

// ---------------------------------------------------------------------------------------------
// Harness: a real registry process.

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Htpasswd,
    Tls,
}

/// A docker-registry process with its own storage; killed on drop.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

const USER: &str = "alice";
const PASS: &str = "s3cret-pa55";

impl Registry {
    fn start(mode: Mode) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let root = dir.path().join("storage");
        let mut yaml = format!(
            "version: 0.1\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            root.display()
        );
        if mode == Mode::Tls {
            let (cert, key) = make_certificates(dir.path());
            yaml.push_str(&format!(
                "  tls: {{certificate: {}, key: {}}}\n",
                cert.display(),
                key.display()
            ));
        }
        yaml.push_str("log: {level: info, accesslog: {disabled: false}}\n");
        if mode == Mode::Htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASS])
                .output()
                .expect("htpasswd runs");
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: test-realm, path: {}}}}}\n",
                file.display()
            ));
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("docker-registry starts");
        let reg = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The file distribution keeps a blob (or manifest) in.
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Replaces one byte of a stored blob, keeping its length, so the registry serves bytes
    /// that no longer match their digest.
    fn corrupt(&self, digest: &str, from: u8, to: u8) {
        let path = self.blob_path(digest);
        let mut bytes = std::fs::read(&path).expect("stored blob");
        let at = bytes
            .iter()
            .rposition(|b| *b == from)
            .expect("byte to corrupt");
        bytes[at] = to;
        std::fs::write(&path, bytes).expect("rewrite blob");
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a leaf for 127.0.0.1 signed by it (a self-signed leaf is refused by webpki as
/// `CaUsedAsEndEntity`), made with the openssl CLI.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=manifold test CA",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.crt",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (dir.join("leaf.crt"), dir.join("leaf.key"))
}

// ---------------------------------------------------------------------------------------------
// Fixtures, pushed with raw HTTP.

fn raw_http() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("raw http client")
}

fn with_auth(rb: reqwest::RequestBuilder, auth: bool) -> reqwest::RequestBuilder {
    if auth {
        rb.basic_auth(USER, Some(PASS))
    } else {
        rb
    }
}

async fn push_blob(base: &str, repo: &str, data: &[u8], auth: bool) -> String {
    let http = raw_http();
    let digest = sha256_digest(data);
    let resp = with_auth(http.post(format!("{base}/v2/{repo}/blobs/uploads/")), auth)
        .send()
        .await
        .expect("start upload");
    assert_eq!(resp.status().as_u16(), 202, "start upload");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("upload location")
        .to_string();
    let mut url = reqwest::Url::parse(base)
        .and_then(|b| b.join(&location))
        .expect("upload url");
    url.query_pairs_mut().append_pair("digest", &digest);
    let resp = with_auth(http.put(url), auth)
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("finish upload");
    assert_eq!(resp.status().as_u16(), 201, "finish upload");
    digest
}

async fn push_manifest(
    base: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    auth: bool,
) {
    let resp = with_auth(
        raw_http().put(format!("{base}/v2/{repo}/manifests/{reference}")),
        auth,
    )
    .header("content-type", media_type)
    .body(bytes.to_vec())
    .send()
    .await
    .expect("put manifest");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "put manifest {reference}: {body}");
}

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

/// Pushes into `repo`: a config and a layer, an OCI manifest (tag `amd64`), an OCI index over it
/// (tag `list`), and a Docker manifest (tag `docker`) with a Docker list over it (tag
/// `docker-list`). The manifests are hand-formatted (odd indentation, unsorted annotations, a
/// trailing newline) so any re-serialisation would change their bytes.
async fn push_fixture(base: &str, repo: &str, auth: bool) -> Fixture {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#.to_vec();
    let config_digest = push_blob(base, repo, &config, auth).await;
    let layer = b"not really a tarball, registries do not care".to_vec();
    let layer_digest = push_blob(base, repo, &layer, auth).await;
    let manifest = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{}\",\n   \"config\": {{\"mediaType\": \"{}\", \"digest\": \"{config_digest}\", \"size\": {}}},\n   \"layers\": [{{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"{layer_digest}\", \"size\": {}}}],\n   \"annotations\": {{\"z\": \"1\", \"a\": \"2\"}}\n}}\n",
        oci::OCI_MANIFEST,
        oci::OCI_CONFIG,
        config.len(),
        layer.len()
    )
    .into_bytes();
    let manifest_digest = sha256_digest(&manifest);
    push_manifest(base, repo, "amd64", oci::OCI_MANIFEST, &manifest, auth).await;
    let index = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"manifests\":[{{\"mediaType\":\"{}\",\"digest\":\"{manifest_digest}\",\"size\":{},\"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}}}}]}}",
        oci::OCI_INDEX,
        oci::OCI_MANIFEST,
        manifest.len()
    )
    .into_bytes();
    let index_digest = sha256_digest(&index);
    push_manifest(base, repo, "list", oci::OCI_INDEX, &index, auth).await;
    let docker_manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"config\":{{\"mediaType\":\"{}\",\"digest\":\"{config_digest}\",\"size\":{}}},\"layers\":[{{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"{layer_digest}\",\"size\":{}}}]}}",
        oci::DOCKER_MANIFEST,
        oci::DOCKER_CONFIG,
        config.len(),
        layer.len()
    )
    .into_bytes();
    push_manifest(
        base,
        repo,
        "docker",
        oci::DOCKER_MANIFEST,
        &docker_manifest,
        auth,
    )
    .await;
    let docker_list = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"manifests\":[{{\"mediaType\":\"{}\",\"digest\":\"{}\",\"size\":{},\"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}}}}]}}",
        oci::DOCKER_LIST,
        oci::DOCKER_MANIFEST,
        sha256_digest(&docker_manifest),
        docker_manifest.len()
    )
    .into_bytes();
    push_manifest(
        base,
        repo,
        "docker-list",
        oci::DOCKER_LIST,
        &docker_list,
        auth,
    )
    .await;
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

fn config_with(registries: Vec<RegistryEntry>, max_manifest_size: Option<u64>) -> Arc<Config> {
    let mut config = Config::from_file(
        FileConfig::default(),
        "<test>",
        &Overrides::default(),
        &Environment::default(),
    )
    .unwrap_or_else(|e| panic!("test config: {e:?}"));
    config.registries = registries;
    if let Some(max) = max_manifest_size {
        config.limits.max_manifest_size = manifold_config::ByteSize(max);
    }
    Arc::new(config)
}

/// A client over `config`; every client in this file is made here so the TLS provider is set.
fn client_with(config: Arc<Config>) -> RegistryClient {
    install_crypto();
    RegistryClient::new(config).expect("registry client")
}

fn client() -> RegistryClient {
    client_with(config_with(Vec::new(), None))
}

/// What a request brings: its credentials and the client's `tlsVerify`.
fn access(credentials: &Credentials, tls_verify: Option<bool>) -> Access<'_> {
    Access {
        credentials,
        tls_verify,
    }
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
fn found(digest: &str, media_type: &str, bytes: &[u8]) -> Option<(String, String, u64)> {
    Some((
        digest.to_string(),
        media_type.to_string(),
        bytes.len() as u64,
    ))
}

/// Checks an error's kind (which picks the HTTP status), its cause and the whole message.
#[track_caller]
fn assert_error(e: &Error, kind: ErrorKind, cause: &str, message: &str) {
    assert_eq!(e.kind(), kind);
    assert_eq!(e.cause(), cause);
    assert_eq!(e.message(), message);
}

fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn basic(user: &str, pass: &str) -> Credentials {
    let mut c = Credentials::anonymous();
    c.any_registry = Some(Auth::basic(user, pass));
    c
}

const INSECURE: Option<bool> = Some(false);

// ---------------------------------------------------------------------------------------------
// Reading from a plain-HTTP registry.

/// What the plain-HTTP read tests start from: a registry with the fixture pushed into `app`, the
/// fixture, the registry's host and the image `HOST/app:amd64`. The registry stops when dropped,
/// so callers bind it (as `_reg` if unused) for the whole test.
async fn plain_app() -> (Registry, Fixture, String, ImageRef) {
    let reg = Registry::start(Mode::Plain);
    let fx = push_fixture(&reg.base(), "app", false).await;
    let host = reg.host();
    let amd64 = image(&format!("{host}/app:amd64"));
    (reg, fx, host, amd64)
}

#[tokio::test]
async fn manifests_come_back_byte_for_byte() {
    let (reg, fx, host, amd64) = plain_app().await;
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
    let pings = reg.log().matches("\"GET /v2/ HTTP").count();
    assert_eq!(pings, 1, "{}", reg.log());
}

#[tokio::test]
async fn unknown_things_are_not_found_in_the_registrys_words() {
    let (_reg, fx, host, amd64) = plain_app().await;
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
    // distribution 2.8.2 answers MANIFEST_UNKNOWN for a repository it has never seen, too.
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
    let (reg, fx, host, amd64) = plain_app().await;
    let client = client();
    let access = anonymous(INSECURE);
    // "z": "1" becomes "z": "3": still JSON, same length, another digest.
    reg.corrupt(&fx.manifest_digest, b'1', b'3');
    reg.corrupt(&fx.config_digest, b'd', b'D');

    let e = client
        .get_manifest(
            &image(&format!("{host}/app@{}", fx.manifest_digest)),
            &access,
        )
        .await
        .expect_err("corrupted manifest");
    assert_eq!(e.kind(), ErrorKind::BadContent);
    let mut corrupted = fx.manifest.clone();
    if let Some(at) = corrupted.iter().rposition(|b| *b == b'1') {
        corrupted[at] = b'3';
    }
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

#[tokio::test]
async fn manifests_over_the_limit_are_refused() {
    let (_reg, fx, host, amd64) = plain_app().await;
    let client = client_with(config_with(Vec::new(), Some(100)));
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

/// A configuration entry that makes `location` an insecure registry.
fn insecure_entry(location: String) -> RegistryEntry {
    RegistryEntry {
        location,
        insecure: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn configured_insecure_registries_fall_back_to_http() {
    let reg = Registry::start(Mode::Plain);
    let fx = push_fixture(&reg.base(), "team/app", false).await;
    let host = reg.host();
    let team = insecure_entry(format!("{host}/team"));
    let client = client_with(config_with(vec![team.clone()], None));
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
    let mut open = Config::clone(&config_with(vec![team], None));
    open.allow_unlisted_registries = true;
    let client = client_with(Arc::new(open));
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
    let reg = Registry::start(Mode::Tls);
    let host = reg.host();
    let base = format!("https://{host}");
    let fx = push_fixture(&base, "app", false).await;
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
// Basic auth (htpasswd).

#[tokio::test]
async fn basic_auth_registry() {
    let reg = Registry::start(Mode::Htpasswd);
    let fx = push_fixture(&reg.base(), "app", true).await;
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
    // A plain-HTTP server that would accept anything: a secure client must not reach it.
    let fake = FakeServer::start(|_, _| Reply::json(200, "{}")).await;
    let client = client();
    let e = client
        .get_manifest(
            &image(&format!("{}/app:v1", fake.host())),
            &authenticated(None),
        )
        .await
        .expect_err("secure registry over plain HTTP");
    assert_eq!(e.cause(), "http: server gave HTTP response to HTTPS client");
    for r in fake.requests() {
        assert!(r.header("authorization").is_none(), "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// A fake HTTP server, for bearer tokens, redirects and odd answers.

#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self) -> Vec<(String, String)> {
        decode_pairs(self.target.split_once('?').map_or("", |(_, q)| q))
    }

    fn form(&self) -> Vec<(String, String)> {
        decode_pairs(&String::from_utf8_lossy(&self.body))
    }
}

/// Decodes `k=v&…` the way a URL query is decoded (a form body is encoded the same way).
fn decode_pairs(encoded: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Without Content-Length the body is delimited by closing the connection.
    content_length: bool,
}

impl Reply {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            content_length: true,
        }
    }

    fn json(status: u16, body: &str) -> Reply {
        Reply::new(status, body).header("Content-Type", "application/json")
    }

    /// A 200 serving `body` as an OCI image manifest, whatever it holds.
    fn oci_manifest(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200, body).header("Content-Type", oci::OCI_MANIFEST)
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Request, &BTreeMap<&'static str, String>) -> Reply + Send + Sync;

/// Answers each request on its own connection with `handler(request, vars)`; `vars` holds
/// `self` (this server's `127.0.0.1:port`). Stops when dropped.
struct FakeServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    async fn start(
        handler: impl Fn(&Request, &BTreeMap<&'static str, String>) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake server");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&requests);
        let mut vars = BTreeMap::new();
        vars.insert("self", format!("127.0.0.1:{port}"));
        let vars = Arc::new(vars);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                let vars = Arc::clone(&vars);
                tokio::spawn(async move {
                    let _ = serve_one(stream, handler, log, vars).await;
                });
            }
        });
        FakeServer {
            port,
            requests,
            task,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
    vars: Arc<BTreeMap<&'static str, String>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        // Not HTTP (a TLS ClientHello): answer like Go's server does, then hang up.
        if !buf[0].is_ascii_uppercase() || buf.len() > 1 << 20 {
            stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request")
                .await?;
            return stream.shutdown().await;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Request {
        method,
        target,
        headers,
        body,
    };
    let reply = handler(&request, &vars);
    if let Ok(mut l) = log.lock() {
        l.push(request.clone());
    }
    let reason = reqwest::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nConnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    if request.method != "HEAD" {
        stream.write_all(&reply.body).await?;
    }
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens.

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// A token server at `token` and a registry at `registry` that accepts `Bearer <current>`.
struct TokenWorld {
    token: FakeServer,
    registry: FakeServer,
    current: Arc<Mutex<String>>,
}

impl TokenWorld {
    async fn start(expires_in: Option<u64>) -> TokenWorld {
        let current = Arc::new(Mutex::new("token-1".to_string()));
        let issued = Arc::clone(&current);
        let token = FakeServer::start(move |r, _| {
            let good_basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
            );
            let ok = match (r.method.as_str(), r.header("authorization")) {
                ("GET", None) => true,
                ("GET", Some(a)) => a == good_basic,
                ("POST", _) => r
                    .form()
                    .iter()
                    .any(|(k, v)| k == "refresh_token" && v == "identity-xyz"),
                _ => false,
            };
            if !ok {
                return Reply::json(401, r#"{"details":"incorrect username or password"}"#);
            }
            let t = issued.lock().map(|t| t.clone()).unwrap_or_default();
            let body = match expires_in {
                Some(e) => format!(r#"{{"access_token":"{t}","expires_in":{e}}}"#),
                None => format!(r#"{{"token":"{t}"}}"#),
            };
            Reply::json(200, &body)
        })
        .await;
        let realm = format!("http://{}/token", token.host());
        let accepted = Arc::clone(&current);
        let registry = FakeServer::start(move |r, _| {
            let challenge = format!(r#"Bearer realm="{realm}",service="fake-registry""#);
            let want = format!("Bearer {}", accepted.lock().map(|t| t.clone()).unwrap_or_default());
            if r.header("authorization") != Some(want.as_str()) {
                return Reply::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
                )
                .header("WWW-Authenticate", &challenge);
            }
            match r.path() {
                "/v2/" => Reply::json(200, "{}"),
                "/v2/app/manifests/v1" => Reply::oci_manifest(MANIFEST),
                _ => Reply::json(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#),
            }
        })
        .await;
        TokenWorld {
            token,
            registry,
            current,
        }
    }

    fn token_requests(&self) -> Vec<Request> {
        self.token.requests()
    }

    /// The one image the fake registry serves (`MANIFEST`).
    fn image(&self) -> ImageRef {
        image(&format!("{}/app:v1", self.registry.host()))
    }
}

/// Checks that decoded `pairs` (a query or a form) hold every `(key, value)` of `want`.
#[track_caller]
fn assert_has_pairs(pairs: &[(String, String)], want: &[(&str, &str)]) {
    for (k, v) in want {
        assert!(pairs.contains(&(k.to_string(), v.to_string())), "{pairs:?}");
    }
}

#[tokio::test]
async fn bearer_tokens_are_fetched_cached_and_scoped() {
    let world = TokenWorld::start(Some(300)).await;
    let client = client();
    let img = world.image();
    let alice = authenticated(INSECURE);

    let m = client
        .get_manifest(&img, &alice)
        .await
        .expect("with a token");
    assert_eq!(m.bytes.as_ref(), MANIFEST.as_bytes());
    let tokens = world.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_has_pairs(
        &tokens[0].query(),
        &[
            ("scope", "repository:app:pull"),
            ("service", "fake-registry"),
            ("account", USER),
        ],
    );
    assert_eq!(tokens[0].method, "GET");

    // Cached: more requests, no more token requests.
    client
        .get_manifest(&img, &alice)
        .await
        .expect("cached token");
    client
        .head_manifest(&img, &alice)
        .await
        .expect("cached token");
    assert_eq!(world.token_requests().len(), 1);
    // Every registry request after the ping carried the token.
    for r in world
        .registry
        .requests()
        .iter()
        .filter(|r| r.path() != "/v2/")
    {
        assert_eq!(r.header("authorization"), Some("Bearer token-1"), "{r:?}");
    }

    // Another identity gets its own token, even for the same scope.
    client
        .get_manifest(&img, &anonymous(INSECURE))
        .await
        .expect("anonymous token");
    let tokens = world.token_requests();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].header("authorization"), None);

    // The registry stops accepting the cached token: one fresh token, one retry.
    if let Ok(mut t) = world.current.lock() {
        *t = "token-2".into();
    }
    client
        .get_manifest(&img, &alice)
        .await
        .expect("refreshed token");
    assert_eq!(world.token_requests().len(), 3);

    // Wrong credentials: the token server's 401.
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
}

#[tokio::test]
async fn identity_tokens_use_the_oauth2_form() {
    let world = TokenWorld::start(None).await;
    let client = client();
    let img = world.image();
    let mut creds = Credentials::anonymous();
    creds.any_registry = Some(Auth::IdentityToken(Secret::new("identity-xyz")));
    client
        .get_manifest(&img, &access(&creds, INSECURE))
        .await
        .expect("identity token");
    let tokens = world.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(
        tokens[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_has_pairs(
        &tokens[0].form(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "identity-xyz"),
            ("service", "fake-registry"),
            ("scope", "repository:app:pull"),
        ],
    );
}

#[tokio::test]
async fn short_lived_tokens_are_renewed() {
    // expires_in 1 s: used for 0.8 s, then fetched again.
    let world = TokenWorld::start(Some(1)).await;
    let client = client();
    let img = world.image();
    let alice = authenticated(INSECURE);
    client.get_manifest(&img, &alice).await.expect("first");
    client.get_manifest(&img, &alice).await.expect("cached");
    assert_eq!(world.token_requests().len(), 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    client.get_manifest(&img, &alice).await.expect("renewed");
    assert_eq!(world.token_requests().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Redirects and odd answers.

#[tokio::test]
async fn redirects_to_another_host_drop_the_credentials() {
    let config = br#"{"architecture":"arm64","os":"linux"}"#.to_vec();
    let digest = sha256_digest(&config);
    let served = config.clone();
    let storage = FakeServer::start(move |_, _| Reply::new(200, served.clone())).await;
    let storage_host = storage.host();
    let registry = FakeServer::start(move |r, _| {
        if r.header("authorization").is_none() {
            return Reply::json(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
            .header("WWW-Authenticate", r#"Basic realm="r""#);
        }
        if r.path().contains("/blobs/") {
            return Reply::new(307, "")
                .header("Location", &format!("http://{storage_host}/data?sig=abc"));
        }
        Reply::json(200, "{}")
    })
    .await;
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
    let blob_requests: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.path().contains("/blobs/"))
        .collect();
    assert_eq!(blob_requests.len(), 1);
    assert!(blob_requests[0]
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
    let storage_requests = storage.requests();
    assert_eq!(storage_requests.len(), 1);
    assert_eq!(storage_requests[0].target, "/data?sig=abc");
    assert_eq!(storage_requests[0].header("authorization"), None);
}

#[tokio::test]
async fn odd_answers_are_reported_not_trusted() {
    let big = vec![b' '; 1200];
    let fake = FakeServer::start(move |r, _| match r.path() {
        "/v2/" => Reply::json(200, "{}"),
        "/v2/app/manifests/gateway" => Reply::new(502, "<html>bad gateway</html>"),
        "/v2/app/manifests/unbounded" => {
            // No Content-Length: the body runs until the connection closes.
            let mut reply = Reply::oci_manifest(big.clone());
            reply.content_length = false;
            reply
        }
        "/v2/app/manifests/declared" => Reply::oci_manifest(big.clone()),
        "/v2/app/manifests/garbage" => Reply::oci_manifest("not json"),
        "/v2/app/manifests/nohead" => {
            Reply::new(200, MANIFEST).header("Content-Type", "application/json")
        }
        _ => Reply::new(404, ""),
    })
    .await;
    let client = client_with(config_with(Vec::new(), Some(1000)));
    let access = anonymous(INSECURE);
    let host = fake.host();

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
