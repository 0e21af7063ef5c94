//! Push-side registry operations of [`RegistryClient`] against real `docker-registry` processes:
//! blob existence, blob copies (cross-repository mount, mount refused, streamed upload, corrupt
//! source), manifest writes, retries against a registry that is down or failing, token refresh
//! when a token expires mid-push, and memory use of a large streamed copy.
//!
//! The harness is blocking, so each test sets up its registries and fixtures synchronously and
//! runs the async client calls in a runtime of its own; what landed in a registry is checked with
//! the harness's independent client and the registry's access log.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use manifold_composer::credentials::{Auth, Credentials};
use manifold_composer::reference::ImageRef;
use manifold_composer::registry::{Access, BlobCopy, RegistryClient};
use manifold_composer::ErrorKind;
use manifold_config::{Config, Environment, FileConfig, Overrides};
use manifold_tests::fixtures::{self, ImageSpec};
use manifold_tests::regclient::RegClient;
use manifold_tests::registry::RegistryOptions;
use manifold_tests::token_server::{TokenServer, TokenServerOptions};
use manifold_tests::{Registry, RegistryAuth};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A client whose retry policy is `retries` after the first attempt, starting at `backoff_ms`.
fn client(retries: u32, backoff_ms: u64) -> RegistryClient {
    manifold_tests::init();
    let mut file = FileConfig::default();
    file.push.retries = retries;
    file.push.retry_backoff_ms = backoff_ms;
    let config = Config::from_file(
        file,
        "<push_ops test>",
        &Overrides::default(),
        &Environment::default(),
    )
    .expect("valid test configuration");
    RegistryClient::new(Arc::new(config)).expect("registry client")
}

/// [`RegistryClient::copy_blob`] into `dest`'s write route for `dest_access`, resolved first as
/// a push resolves its destination.
async fn copy_into(
    c: &RegistryClient,
    source: &ImageRef,
    dest: &ImageRef,
    digest: &str,
    size: u64,
    source_access: &Access<'_>,
    dest_access: &Access<'_>,
) -> manifold_composer::Result<BlobCopy> {
    let route = c.write_route(dest, dest_access).await?;
    c.copy_blob(source, &route, digest, size, source_access)
        .await
}

/// [`RegistryClient::blob_exists_at`] at `repo`'s write route for `access`, resolved first as a
/// push resolves its destination: existence checks answer what a push destination has.
async fn blob_exists(
    c: &RegistryClient,
    repo: &ImageRef,
    digest: &str,
    access: &Access<'_>,
) -> manifold_composer::Result<Option<u64>> {
    let route = c.write_route(repo, access).await?;
    c.blob_exists_at(&route, digest).await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Credentials for the registries that have any.
fn creds_for(regs: &[&Registry]) -> Credentials {
    let mut per_registry = BTreeMap::new();
    for r in regs {
        if let Some((user, pass)) = r.creds() {
            per_registry.insert(r.host(), Auth::basic(&user, &pass));
        }
    }
    Credentials {
        per_registry,
        ..Default::default()
    }
}

/// Plain-HTTP test registries need `tlsVerify=false`.
fn access(credentials: &Credentials) -> Access<'_> {
    Access {
        credentials,
        tls_verify: Some(false),
    }
}

fn image(host: &str, repo: &str) -> ImageRef {
    ImageRef::parse(&format!("{host}/{repo}")).expect("valid reference")
}

/// The blob's data file in a registry's filesystem storage.
fn blob_data_path(reg: &Registry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    reg.storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// GETs a blob from `reg` and returns (size, sha256) without holding it in memory.
fn stream_digest(reg: &Registry, repo: &str, digest: &str) -> (u64, String) {
    let mut resp = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
        .get(format!("{}/v2/{repo}/blobs/{digest}", reg.url()))
        .send()
        .expect("GET blob");
    assert_eq!(resp.status().as_u16(), 200, "GET {repo}@{digest}");
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = resp.read(&mut buf).expect("read blob");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    (total, format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// What clients sent on one relayed connection.
type Captured = Arc<Mutex<Vec<u8>>>;

/// A TCP relay in front of a registry that records every byte clients send, per connection,
/// and can replace one byte string by another of the same length (to rewrite a `Host`).
struct Relay {
    port: u16,
    connections: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// A relay to `upstream`; with `as_localhost`, every `127.0.0.1:PORT` clients send (the
    /// `Host` header) reaches the registry as `localhost:PORT`.
    fn start(upstream: u16, as_localhost: bool) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let rewrite =
            as_localhost.then(|| (format!("127.0.0.1:{port}"), format!("localhost:{port}")));
        listener.set_nonblocking(true).expect("nonblocking");
        let connections: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (conns, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client
                    .set_nonblocking(false)
                    .expect("blocking client socket");
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let captured = Arc::new(Mutex::new(Vec::new()));
                conns.lock().expect("lock").push(captured.clone());
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let rewrite = rewrite.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while let Ok(n) = c_read.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let mut chunk = buf[..n].to_vec();
                        if let Some((from, to)) = &rewrite {
                            replace_all(&mut chunk, from.as_bytes(), to.as_bytes());
                        }
                        {
                            let mut cap = captured.lock().expect("lock");
                            if cap.len() < 4 << 20 {
                                cap.extend_from_slice(&chunk);
                            }
                        }
                        if s_write.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay {
            port,
            connections,
            stop,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every request head (request line and headers, lower-cased names) clients sent, in order
    /// per connection. Bodies are skipped by `Content-Length`; a chunked body ends the parse of
    /// its connection (and is reported as a head with `transfer-encoding`).
    fn request_heads(&self) -> Vec<String> {
        let mut heads = Vec::new();
        for conn in self.connections.lock().expect("lock").iter() {
            let bytes = conn.lock().expect("lock").clone();
            let mut pos = 0;
            while let Some(end) = find(&bytes[pos..], b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&bytes[pos..pos + end]).to_string();
                let lower = head.to_ascii_lowercase();
                pos += end + 4;
                heads.push(head);
                if lower.contains("\r\ntransfer-encoding:") {
                    break;
                }
                let len = lower
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                pos += len;
                if pos >= bytes.len() {
                    break;
                }
            }
        }
        heads
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_all(buf: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len(), "same-length rewrite only");
    let mut i = 0;
    while i + from.len() <= buf.len() {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ---------------------------------------------------------------------------------------------
// blob_exists

#[test]
fn blob_exists_reports_size_or_absence() {
    let reg = Registry::plain();
    let img = fixtures::push_image(&reg, "app", "v1", &ImageSpec::linux("amd64").seed(1));
    let c = client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let app = image(&reg.host(), "app");
    let missing = format!("sha256:{}", "0".repeat(64));
    let rt = runtime();
    let (present, absent, no_repo) = rt.block_on(async {
        (
            blob_exists(&c, &app, &img.layer_digests[0], &a).await,
            blob_exists(&c, &app, &missing, &a).await,
            blob_exists(
                &c,
                &image(&reg.host(), "nothing/here"),
                &img.layer_digests[0],
                &a,
            )
            .await,
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
    let reg = Registry::plain();
    let img = fixtures::push_image(&reg, "app", "v1", &ImageSpec::linux("amd64").seed(2));
    let mark = reg.access_mark();
    let c = client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&reg.host(), "app"), image(&reg.host(), "team/dst"));
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
    let log = reg.access_log_since(mark);
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
    assert_eq!(
        fixtures::head_blob(&reg, "team/dst", digest),
        Some(img.layer_sizes[0])
    );
}

#[test]
fn copy_across_registries_streams_one_monolithic_put() {
    let (a_reg, b_reg) = (Registry::plain(), Registry::plain());
    let spec = ImageSpec::linux("arm64").seed(3).layers(1, 300 << 10);
    let img = fixtures::push_image(&a_reg, "app", "v1", &spec);
    // The destination is reached through a relay that records the requests' headers.
    let relay = Relay::start(b_reg.port(), false);
    let c = client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&a_reg.host(), "app"), image(&relay.host(), "dst"));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let copied = runtime()
        .block_on(copy_into(&c, &src, &dst, digest, size, &a, &a))
        .expect("copy");
    assert_eq!(copied, BlobCopy::Uploaded);

    // Bytes identical, read back independently.
    assert_eq!(fixtures::head_blob(&b_reg, "dst", digest), Some(size));
    assert_eq!(stream_digest(&b_reg, "dst", digest), (size, digest.clone()));

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
    let puts: Vec<_> = log.iter().filter(|l| l.method == "PUT").collect();
    assert_eq!(puts.len(), 1, "{log:#?}");
    assert_eq!(puts[0].status, 201);
    assert!(puts[0]
        .uri
        .contains(&format!("digest={}", digest.replace(':', "%3A"))));
    let heads = relay.request_heads();
    let put = heads
        .iter()
        .find(|h| h.starts_with("PUT "))
        .unwrap_or_else(|| panic!("no PUT seen: {heads:#?}"));
    assert_eq!(
        header(put, "content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(header(put, "transfer-encoding"), None, "{put}");
    assert_eq!(
        header(put, "content-type"),
        Some("application/octet-stream")
    );
    // The source was read once.
    let a_log = a_reg.access_log();
    let gets = a_log
        .iter()
        .filter(|l| l.method == "GET" && l.path.ends_with(digest.as_str()))
        .count();
    assert_eq!(gets, 1);
}

#[test]
fn copy_on_a_token_registry_mounts_with_a_two_scope_token() {
    let reg = Registry::start(RegistryAuth::token("alice", "s3cret"));
    let img = fixtures::push_image(&reg, "src", "v1", &ImageSpec::linux("amd64").seed(4));
    let ts = reg.token_server().expect("token server");
    let before = ts.request_log().len();
    let mark = reg.access_mark();
    let c = client(0, 10);
    let creds = creds_for(&[&reg]);
    let a = access(&creds);
    let (src, dst) = (image(&reg.host(), "src"), image(&reg.host(), "dst"));
    let copied = runtime()
        .block_on(async {
            let mut out = Vec::new();
            for (d, s) in img.layer_digests.iter().zip(&img.layer_sizes) {
                out.push(copy_into(&c, &src, &dst, d, *s, &a, &a).await?);
            }
            out.push(
                copy_into(
                    &c,
                    &src,
                    &dst,
                    &img.config_digest,
                    img.config.len() as u64,
                    &a,
                    &a,
                )
                .await?,
            );
            Ok::<_, manifold_composer::Error>(out)
        })
        .expect("copies");
    assert!(copied.iter().all(|c| *c == BlobCopy::Mounted), "{copied:?}");
    let log = reg.access_log_since(mark);
    assert!(
        log.iter().filter(|l| l.is_mount()).all(|l| l.status == 201),
        "{log:#?}"
    );
    let tokens = &ts.request_log()[before..];
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
        fixtures::head_blob(&reg, "dst", &img.config_digest),
        Some(img.config.len() as u64)
    );
}

/// A token server of our own in front of the harness's signing key: `owner` gets every scope it
/// asks for, `writer` everything except access to `private/…` repositories. The registry trusts
/// it exactly as it trusts the harness's token server.
struct Gatekeeper {
    port: u16,
    _minter: Arc<TokenServer>,
    _cert: tempfile::NamedTempFile,
}

impl Gatekeeper {
    fn start() -> Gatekeeper {
        let minter = Arc::new(TokenServer::start(TokenServerOptions::new("owner", "pw")));
        let mut cert = tempfile::NamedTempFile::new().expect("cert file");
        cert.write_all(
            manifold_tests::token_server::key_material()
                .cert_pem
                .as_bytes(),
        )
        .expect("write cert");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gatekeeper");
        let port = listener.local_addr().expect("address").port();
        let m = minter.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer_token_request(conn, &m);
            }
        });
        Gatekeeper {
            port,
            _minter: minter,
            _cert: cert,
        }
    }

    fn registry(&self) -> Registry {
        let yaml = format!(
            "auth:\n  token:\n    realm: \"http://127.0.0.1:{}/token\"\n    service: \"manifold-test-registry\"\n    issuer: \"manifold-test-issuer\"\n    rootcertbundle: \"{}\"\n",
            self.port,
            self._cert.path().display()
        );
        let mut opts = RegistryOptions::new(RegistryAuth::None);
        opts.extra_yaml = yaml;
        Registry::start_with(opts)
    }
}

fn answer_token_request(mut conn: TcpStream, minter: &TokenServer) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() && conn.read(&mut byte)? == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let target = head.split(' ').nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = manifold_tests::token_server::parse_query(query)
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    let user = header(&head, "authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|d| String::from_utf8(d).ok());
    let granted: Option<Vec<String>> = match user.as_deref() {
        Some("owner:pw") => Some(scopes),
        Some("writer:pw") => Some(
            scopes
                .into_iter()
                .filter(|s| !s.starts_with("repository:private/"))
                .collect(),
        ),
        _ => None,
    };
    let (status, body) = match granted {
        Some(scopes) => {
            let name = user.as_deref().and_then(|u| u.split(':').next());
            let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let token = minter.mint(name, &refs);
            (
                "200 OK",
                format!(r#"{{"token":"{token}","expires_in":300}}"#),
            )
        }
        None => (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string(),
        ),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[test]
fn a_refused_mount_falls_back_to_an_upload() {
    let gate = Gatekeeper::start();
    let reg = gate.registry();
    let owner = RegClient::new(&reg.host(), Some(("owner".into(), "pw".into())));
    let img = fixtures::push_built(
        &owner,
        "private/app",
        Some("v1"),
        &fixtures::build_image(&ImageSpec::linux("amd64").seed(5)),
    );
    let mark = reg.access_mark();
    let c = client(0, 10);
    // The source is read as `owner`; the destination is written as `writer`, who may not pull
    // `private/app`, so the registry refuses the mount.
    let mut source_creds = Credentials::anonymous();
    source_creds
        .per_registry
        .insert(reg.host(), Auth::basic("owner", "pw"));
    let mut dest_creds = Credentials::anonymous();
    dest_creds
        .per_registry
        .insert(reg.host(), Auth::basic("writer", "pw"));
    let (src, dst) = (
        image(&reg.host(), "private/app"),
        image(&reg.host(), "public/app"),
    );
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let copied = runtime()
        .block_on(copy_into(
            &c,
            &src,
            &dst,
            digest,
            size,
            &access(&source_creds),
            &access(&dest_creds),
        ))
        .expect("copy");
    assert_eq!(copied, BlobCopy::Uploaded);
    let log = reg.access_log_since(mark);
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
    assert_eq!(owner.head_blob("public/app", digest), Some(size));
}

#[test]
fn a_corrupt_source_blob_is_bad_content_and_never_committed() {
    let (a_reg, b_reg) = (Registry::plain(), Registry::plain());
    let spec = ImageSpec::linux("amd64").seed(6).layers(1, 200 << 10);
    let img = fixtures::push_image(&a_reg, "app", "v1", &spec);
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    // Same length, one byte flipped: only the digest can tell.
    let data = blob_data_path(&a_reg, digest);
    let mut bytes = std::fs::read(&data).expect("read blob data");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).expect("corrupt blob");
    // Shorter: the size tells before anything is sent.
    let config_data = blob_data_path(&a_reg, &img.config_digest);
    std::fs::write(&config_data, b"{}").expect("corrupt config");

    let c = client(2, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&a_reg.host(), "app"), image(&b_reg.host(), "dst"));
    let rt = runtime();
    let e = rt
        .block_on(copy_into(&c, &src, &dst, digest, size, &a, &a))
        .expect_err("corrupt source");
    assert_eq!(e.kind(), ErrorKind::BadContent, "{e}");
    assert!(
        e.message().starts_with(&format!(
            "copying blob {digest} from {}/app to {}/dst: reading blob from {}/app: blob digest sha256:",
            a_reg.host(),
            b_reg.host(),
            a_reg.host()
        )),
        "{e}"
    );
    assert!(e
        .message()
        .ends_with(&format!("does not match the expected digest {digest}")));
    let config_size = img.config.len() as u64;
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

    assert_eq!(fixtures::head_blob(&b_reg, "dst", digest), None);
    assert_eq!(fixtures::head_blob(&b_reg, "dst", &img.config_digest), None);
    let log = b_reg.access_log();
    // Final errors: not retried (one session each), and the abandoned sessions were cancelled.
    assert_eq!(
        log.iter().filter(|l| l.is_upload_start()).count(),
        2,
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.method == "PUT" && l.status == 201),
        "{log:#?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.method == "DELETE").count(),
        2,
        "{log:#?}"
    );
}

#[test]
fn credentials_never_follow_a_location_to_another_host() {
    let (a_reg, b_reg) = (
        Registry::plain(),
        Registry::start(RegistryAuth::basic("bob", "pw")),
    );
    let img = fixtures::push_image(&a_reg, "app", "v1", &ImageSpec::linux("amd64").seed(7));
    // The destination is reached as 127.0.0.1:R but told it was reached as localhost:R, so the
    // upload Location it hands out names another host.
    let relay = Relay::start(b_reg.port(), true);
    let c = client(0, 10);
    let creds = creds_for(&[&a_reg, &b_reg]);
    let mut dest_creds = Credentials::anonymous();
    dest_creds
        .per_registry
        .insert(relay.host(), Auth::basic("bob", "pw"));
    let (src, dst) = (image(&a_reg.host(), "app"), image(&relay.host(), "dst"));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let e = runtime()
        .block_on(copy_into(
            &c,
            &src,
            &dst,
            digest,
            size,
            &access(&creds),
            &access(&dest_creds),
        ))
        .expect_err("the other host wants credentials it must not get");
    // The registry behind the other name refuses the credential-less PUT.
    assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized, "{e}");
    assert!(
        e.message().starts_with(&format!(
            "copying blob {digest} from {}/app to {}/dst: writing blob to {}/dst: unauthorized",
            a_reg.host(),
            relay.host(),
            relay.host()
        )),
        "{e}"
    );
    assert!(
        !e.message().contains("_state"),
        "no upload state in errors: {e}"
    );
    let heads = relay.request_heads();
    let post = heads
        .iter()
        .find(|h| h.starts_with("POST ") && h.contains("/blobs/uploads/"))
        .unwrap_or_else(|| panic!("{heads:#?}"));
    assert!(
        header(post, "authorization").is_some_and(|v| v.starts_with("Basic ")),
        "{post}"
    );
    let put = heads
        .iter()
        .find(|h| h.starts_with("PUT "))
        .unwrap_or_else(|| panic!("{heads:#?}"));
    assert_eq!(
        header(put, "host"),
        Some(format!("localhost:{}", relay.port).as_str())
    );
    assert_eq!(header(put, "authorization"), None, "{put}");
    // The cancel of the abandoned session went there without credentials as well.
    for h in heads.iter().filter(|h| h.starts_with("DELETE ")) {
        assert_eq!(header(h, "authorization"), None, "{h}");
    }
    assert_eq!(fixtures::head_blob(&b_reg, "dst", digest), None);
}

// ---------------------------------------------------------------------------------------------
// put_manifest

#[test]
fn put_manifest_by_digest_and_tag_keeps_the_exact_bytes() {
    let (a_reg, b_reg) = (Registry::plain(), Registry::plain());
    let img = fixtures::push_image(&a_reg, "app", "v1", &ImageSpec::linux("amd64").seed(8));
    let c = client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let src = image(&a_reg.host(), "app");
    let dst = image(&b_reg.host(), "dst");
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
        let got = fixtures::get_manifest(&b_reg, "dst", reference);
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
    assert_eq!(fixtures::get_manifest(&b_reg, "dst", "list").bytes, index);

    // A manifest whose layer is missing (its config is there): the registry's words, with
    // context.
    let other = image(&b_reg.host(), "other");
    let e = rt
        .block_on(async {
            copy_into(
                &c,
                &src,
                &other,
                &img.config_digest,
                img.config.len() as u64,
                &a,
                &a,
            )
            .await?;
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
// Retries

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
    let a_reg = Registry::plain();
    let img = fixtures::push_image(&a_reg, "app", "v1", &ImageSpec::linux("amd64").seed(9));
    let mut b_reg = Registry::plain();
    b_reg.stop();
    let c = client(2, 50);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&a_reg.host(), "app"), image(&b_reg.host(), "dst"));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let rt = runtime();
    let started = Instant::now();
    let e = rt
        .block_on(copy_into(&c, &src, &dst, digest, size, &a, &a))
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
    let door = image(&format!("127.0.0.1:{port}"), "dst");
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
    let once = client(0, 50);
    rt.block_on(once.put_manifest(
        &door.with_digest(&img.digest),
        Bytes::from(img.manifest.clone()),
        &img.media_type,
        &a,
    ))
    .expect_err("connections dropped");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn server_errors_are_retried_until_the_registry_recovers() {
    let a_reg = Registry::plain();
    let img = fixtures::push_image(&a_reg, "app", "v1", &ImageSpec::linux("amd64").seed(10));
    let b_reg = Registry::plain();
    // A file where the registry wants its repositories directory: every write fails with 500.
    let v2 = b_reg.storage_dir().join("docker/registry/v2");
    std::fs::create_dir_all(&v2).expect("storage dirs");
    let blocker = v2.join("repositories");
    std::fs::write(&blocker, b"not a directory").expect("block storage");

    // With too few retries the copy fails with the registry's own words.
    let c = client(1, 20);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&a_reg.host(), "app"), image(&b_reg.host(), "dst"));
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let rt = runtime();
    let e = rt
        .block_on(copy_into(&c, &src, &dst, digest, size, &a, &a))
        .expect_err("storage broken");
    assert_eq!(e.kind(), ErrorKind::Registry, "{e}");
    assert!(
        e.message().starts_with(&format!(
            "copying blob {digest} from {}/app to {}/dst: starting an upload to {}/dst: ",
            a_reg.host(),
            b_reg.host(),
            b_reg.host()
        )),
        "{e}"
    );
    let failed = b_reg
        .access_log()
        .iter()
        .filter(|l| l.is_upload_start() && l.status == 500)
        .count();
    assert_eq!(failed, 2, "one attempt and one retry");

    // Repair the storage while the client is backing off: the copy then succeeds.
    let mark = b_reg.access_mark();
    let patient = client(4, 300);
    let repair = {
        let blocker = blocker.clone();
        let log_path = b_reg.dir().join("registry.log");
        std::thread::spawn(move || {
            let seen_500 = |log: &str| {
                log.lines()
                    .filter_map(manifold_tests::registry::AccessLine::parse)
                    .filter(|l| l.is_upload_start() && l.status == 500)
                    .count()
            };
            let before = seen_500(&std::fs::read_to_string(&log_path).unwrap_or_default());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline
                && seen_500(&std::fs::read_to_string(&log_path).unwrap_or_default()) <= before
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::fs::remove_file(&blocker).expect("repair storage");
        })
    };
    let copied = rt
        .block_on(copy_into(&patient, &src, &dst, digest, size, &a, &a))
        .expect("recovered");
    repair.join().expect("repair thread");
    assert_eq!(copied, BlobCopy::Uploaded);
    let log = b_reg.access_log_since(mark);
    assert!(
        log.iter().any(|l| l.is_upload_start() && l.status == 500),
        "{log:#?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.method == "PUT" && l.status == 201)
            .count(),
        1,
        "{log:#?}"
    );
    assert_eq!(fixtures::head_blob(&b_reg, "dst", digest), Some(size));
}

// ---------------------------------------------------------------------------------------------
// Token refresh

/// Long enough for a token minted with `exp_skew(-358)` to be refused.
const TOKEN_DEATH: Duration = Duration::from_millis(2100);

#[test]
fn a_token_that_expires_mid_push_is_refreshed() {
    let a_reg = Registry::plain();
    let img = fixtures::push_image(&a_reg, "app", "v1", &ImageSpec::linux("amd64").seed(11));
    let t_reg = Registry::start(RegistryAuth::token("alice", "s3cret"));
    let ts = t_reg.token_server().expect("token server");
    // Tokens that the registry stops accepting within two seconds while their `expires_in`
    // (300 s) has the client keep them: a token that really expires mid-push, as far as the
    // client can tell. Distribution allows 60 s of leeway past `exp`, hence the -358; `exp` is
    // in whole seconds, so a token lives 1 to 2 s (with -359 it could die at once, if minted
    // just before a second turned).
    ts.set_hard_expiry(Duration::from_secs(300));
    ts.set_exp_skew(-358);
    let c = client(0, 10);
    let creds = creds_for(&[&t_reg]);
    let anon = Credentials::anonymous();
    let (src, dst) = (image(&a_reg.host(), "app"), image(&t_reg.host(), "dst"));
    let (sa, da) = (access(&anon), access(&creds));
    let rt = runtime();
    let config_size = img.config.len() as u64;
    rt.block_on(copy_into(
        &c,
        &src,
        &dst,
        &img.config_digest,
        config_size,
        &sa,
        &da,
    ))
    .expect("first copy");
    let after_first = t_reg.token_requests();
    let mark = t_reg.access_mark();
    std::thread::sleep(TOKEN_DEATH);

    // The cached token is dead now: the upload session POST gets a 401, the token is replaced
    // and the copy goes on. The new token dies soon too, which the manifest PUT then meets.
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let copied = rt
        .block_on(copy_into(&c, &src, &dst, digest, size, &sa, &da))
        .expect("copy with a refreshed token");
    assert_eq!(copied, BlobCopy::Uploaded);
    assert_eq!(t_reg.token_requests(), after_first + 1);
    std::thread::sleep(TOKEN_DEATH);
    ts.set_exp_skew(0);
    let written = rt
        .block_on(c.put_manifest(
            &dst.with_digest(&img.digest),
            Bytes::from(img.manifest.clone()),
            &img.media_type,
            &da,
        ))
        .expect("manifest with a refreshed token");
    assert_eq!(written, img.digest);
    assert_eq!(t_reg.token_requests(), after_first + 2);
    let log = t_reg.access_log_since(mark);
    let refused: Vec<_> = log.iter().filter(|l| l.status == 401).collect();
    assert_eq!(refused.len(), 2, "{log:#?}");
    assert!(refused[0].is_upload_start(), "{log:#?}");
    assert!(refused[1].is_manifest_put(), "{log:#?}");
    assert!(log.iter().any(|l| l.is_manifest_put() && l.status == 201));
    assert_eq!(fixtures::head_blob(&t_reg, "dst", digest), Some(size));
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

/// Writes `size` pseudo-random bytes as a blob of `repo` straight into a registry's filesystem
/// storage (no upload, nothing held in memory); returns its digest.
fn plant_blob(storage: &Path, repo: &str, size: u64) -> String {
    let tmp = storage.join("planted.tmp");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create blob"));
    let mut hasher = Sha256::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            // xorshift64: incompressible enough, and fast.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).expect("write blob");
        left -= n as u64;
    }
    file.flush().expect("flush blob");
    drop(file);
    let hex = hex::encode(hasher.finalize());
    let v2 = storage.join("docker/registry/v2");
    let dir = v2.join("blobs/sha256").join(&hex[..2]).join(&hex);
    std::fs::create_dir_all(&dir).expect("blob dir");
    std::fs::rename(&tmp, dir.join("data")).expect("place blob");
    let link = v2
        .join("repositories")
        .join(repo)
        .join("_layers/sha256")
        .join(&hex);
    std::fs::create_dir_all(&link).expect("link dir");
    std::fs::write(link.join("link"), format!("sha256:{hex}")).expect("write link");
    format!("sha256:{hex}")
}

#[test]
fn a_64_mib_blob_streams_across_registries_in_bounded_memory() {
    const SIZE: u64 = 64 << 20;
    let (a_reg, b_reg) = (Registry::plain(), Registry::plain());
    let digest = plant_blob(a_reg.storage_dir(), "big", SIZE);
    assert_eq!(fixtures::head_blob(&a_reg, "big", &digest), Some(SIZE));
    let c = client(0, 10);
    let creds = Credentials::anonymous();
    let a = access(&creds);
    let (src, dst) = (image(&a_reg.host(), "big"), image(&b_reg.host(), "copy"));
    let rt = runtime();
    let reset = reset_peak_rss();
    let before = peak_rss_kib();
    let copied = rt
        .block_on(copy_into(&c, &src, &dst, &digest, SIZE, &a, &a))
        .expect("copy");
    let after = peak_rss_kib();
    assert_eq!(copied, BlobCopy::Uploaded);
    if let (true, Some(before), Some(after)) = (reset, before, after) {
        // The peak of the whole test process (other tests run alongside, with small blobs):
        // far below the blob's 64 MiB, which a buffered copy would add at least once.
        let grown_mib = after.saturating_sub(before) / 1024;
        eprintln!("peak RSS grew by {grown_mib} MiB during the 64 MiB copy");
        assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");
    }
    assert_eq!(fixtures::head_blob(&b_reg, "copy", &digest), Some(SIZE));
    assert_eq!(
        stream_digest(&b_reg, "copy", &digest),
        (SIZE, digest.clone())
    );
    let log = b_reg.access_log();
    assert_eq!(log.iter().filter(|l| l.method == "PUT").count(), 1);
    assert!(!log.iter().any(|l| l.method == "PATCH"));
}
