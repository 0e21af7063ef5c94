//! Identities and `[[policy]]`: clients told apart by their connection (unix socket peer uid,
//! verified TLS client certificate, the owner of a loopback TCP client's socket), each allowed to
//! push only under its own prefixes and seeing only its own lists. Other identities are real
//! processes: `curl` run as another user with `setpriv`, and `curl` with client certificates made
//! by `openssl` for the occasion. Registry contents are checked by raw HTTP against the
//! registry, never through manifold.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use manifold_tests::fixtures::{self, PushedImage};
use manifold_tests::process::{free_port, wait_until};
use manifold_tests::{Manifold, ManifoldOptions, Registry};
use serde_json::{json, Value};

use crate::common::{esc, insecure_entry, setpriv};

const V5: &str = "/v5.0.0/libpod";

/// The user and group the second unix-socket identity runs as (`nobody`/`nogroup`).
const NOBODY: u32 = 65534;

/// One HTTP answer as `curl` saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `message` of a libpod error body, checking its shape and that `response` is the
    /// status.
    #[track_caller]
    fn error_message(&self) -> String {
        let body = self.json();
        assert_eq!(body["response"], json!(self.status), "{body}");
        assert!(body["cause"].is_string(), "{body}");
        body["message"].as_str().unwrap_or_default().to_string()
    }

    #[track_caller]
    fn assert_status(&self, status: u16) -> &Answer {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }
}

/// A client: `curl`, possibly as another user, on a unix socket or over TLS.
#[derive(Debug, Clone)]
struct Curl {
    /// Program and arguments before curl's (`setpriv …`), empty to run as ourselves.
    wrapper: Vec<String>,
    /// Connection arguments (`--unix-socket PATH`, or `--cacert … --cert … --key …`).
    connect: Vec<String>,
    /// `http://d` or `https://127.0.0.1:PORT`.
    base: String,
}

impl Curl {
    /// curl on manifold's unix socket as `uid`/`gid`.
    fn unix_as(mf: &Manifold, uid: u32, gid: u32) -> Curl {
        Curl {
            wrapper: setpriv(uid, gid),
            connect: vec![
                "--unix-socket".into(),
                mf.socket_path().display().to_string(),
            ],
            base: "http://d".into(),
        }
    }

    /// curl over TLS to `port`, trusting `ca`, presenting `client` (cert, key) when given.
    fn tls(port: u16, ca: &Path, client: Option<&(PathBuf, PathBuf)>) -> Curl {
        let mut connect = vec!["--cacert".into(), ca.display().to_string()];
        if let Some((cert, key)) = client {
            connect.extend([
                "--cert".into(),
                cert.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ]);
        }
        Curl {
            wrapper: Vec::new(),
            connect,
            base: format!("https://127.0.0.1:{port}"),
        }
    }

    /// curl over plain TCP to `url` (`tcp://127.0.0.1:PORT`) as `uid`/`gid`.
    fn tcp_as(url: &str, uid: u32, gid: u32) -> Curl {
        Curl {
            wrapper: setpriv(uid, gid),
            connect: Vec::new(),
            base: url.replace("tcp://", "http://"),
        }
    }

    /// Runs one request; `Err` with curl's stderr when no HTTP answer came back.
    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut argv: Vec<String> = self.wrapper.clone();
        argv.push("curl".into());
        argv.extend(
            [
                "--silent",
                "--show-error",
                "--max-time",
                "60",
                "--output",
                "-",
                "--write-out",
                "\n%{http_code}",
                "--request",
                method,
            ]
            .map(String::from),
        );
        argv.extend(self.connect.iter().cloned());
        if let Some(b) = body {
            argv.extend(["--header".into(), "Content-Type: application/json".into()]);
            argv.push("--data-binary".into());
            argv.push(b.to_string());
        }
        argv.push(format!("{}{path}", self.base));
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .current_dir("/")
            .output()
            .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "{} (exit {:?})",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status.code()
            ));
        }
        let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let status = code.trim().parse().unwrap_or(0);
        Ok(Answer {
            status,
            body: body.to_string(),
        })
    }

    #[track_caller]
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Creates list `name` holding `images` (create, then one modify that adds them).
    #[track_caller]
    fn compose(&self, name: &str, images: &[&PushedImage]) -> String {
        let created = self.request("POST", &format!("{V5}/manifests/{}", esc(name)), None);
        created.assert_status(201);
        let id = created.json()["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refs: Vec<String> = images.iter().map(|i| i.reference()).collect();
        self.request(
            "PUT",
            &format!("{V5}/manifests/{}", esc(name)),
            Some(&json!({"operation": "update", "images": refs})),
        )
        .assert_status(200);
        id
    }

    /// A quiet (or, with `stream`, streamed) push of list `name` to `dest` with every child.
    fn push(&self, name: &str, dest: &str, stream: bool) -> Answer {
        let quiet = if stream { "&quiet=false" } else { "" };
        self.request(
            "POST",
            &format!(
                "{V5}/manifests/{}/registry/{}?all=true&tlsVerify=false{quiet}",
                esc(name),
                esc(dest)
            ),
            None,
        )
    }

    fn exists(&self, name: &str) -> Answer {
        self.request("GET", &format!("{V5}/manifests/{}/exists", esc(name)), None)
    }

    fn inspect(&self, name: &str) -> Answer {
        self.request("GET", &format!("{V5}/manifests/{}/json", esc(name)), None)
    }

    fn delete(&self, name: &str) -> Answer {
        self.request("DELETE", &format!("{V5}/manifests/{}", esc(name)), None)
    }
}

/// `[[policy]]` tables, one per (identity, pull, push).
fn rules(rules: &[(&str, &[&str], &[&str])]) -> String {
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    rules
        .iter()
        .map(|(identity, pull, push)| {
            format!(
                "[[policy]]\nidentity = {identity:?}\npull = [{}]\npush = [{}]\n\n",
                list(pull),
                list(push)
            )
        })
        .collect()
}

/// Asserts that nothing was written to `repo` in `reg`: no tag, no manifest at `tag`.
#[track_caller]
fn assert_untouched(reg: &Registry, repo: &str, tag: &str) {
    assert!(
        fixtures::try_get_manifest(reg, repo, tag).is_none(),
        "{repo}:{tag} was written"
    );
    assert!(
        fixtures::tags(reg, repo).is_empty(),
        "{repo} has tags: {:?}",
        fixtures::tags(reg, repo)
    );
}

/// The `message` of an answer with `name` replaced by `NAME`, to compare a hidden list's answer
/// with a missing list's.
fn normalised(a: &Answer, name: &str) -> (u16, String) {
    (a.status, a.body.replace(name, "NAME"))
}

#[test]
fn unix_socket_peers_are_told_apart_by_uid() {
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "app");
    let host = reg.host();
    let config = format!(
        "socket_mode = \"0660\"\nsocket_group = \"{NOBODY}\"\n\n{}{}",
        insecure_entry(&reg.host()),
        rules(&[
            ("uid:0", &["*"], &[&format!("{host}/team-a/")]),
            (
                &format!("uid:{NOBODY}"),
                &[&format!("{host}/")],
                &[&format!("{host}/team-b/")],
            ),
        ])
    );
    let mf = Manifold::start(ManifoldOptions::with_config(&config));
    // The socket's directory is the harness's private temp dir: let other users through it.
    std::fs::set_permissions(mf.dir(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod manifold dir");
    // socket_group is applied right after pingora binds the socket.
    let meta = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        std::fs::metadata(mf.socket_path())
            .ok()
            .filter(|m| m.gid() == NOBODY)
    })
    .unwrap_or_else(|| panic!("the socket never got group {NOBODY}; log:\n{}", mf.log()));
    assert_eq!(meta.mode() & 0o777, 0o660, "socket_mode");

    let root = Curl::unix_as(&mf, 0, 0);
    let nobody = Curl::unix_as(&mf, NOBODY, NOBODY);

    // root composes and pushes under its prefix.
    let root_list = root.compose("shared-name", &[&singles[0], &singles[1]]);
    let pushed = root.push("shared-name", &format!("{host}/team-a/app:v1"), false);
    pushed.assert_status(200);
    let digest = pushed.json()["Id"].as_str().unwrap_or_default().to_string();
    let index = fixtures::get_manifest(&reg, "team-a/app", "v1");
    assert_eq!(manifold_tests::sha256_digest(&index.bytes), digest);
    // The record names its owner.
    let record = std::fs::read_to_string(mf.data_dir().join(format!("lists/{root_list}.json")))
        .expect("list record");
    assert!(record.contains("\"owner\":\"uid:0\""), "{record}");

    // nobody does not see root's list: every route answers as for a missing list.
    let missing = "never-created";
    nobody.exists("shared-name").assert_status(404);
    for (hidden, absent) in [
        (nobody.exists("shared-name"), nobody.exists(missing)),
        (nobody.inspect("shared-name"), nobody.inspect(missing)),
        (nobody.delete("shared-name"), nobody.delete(missing)),
        (
            nobody.push("shared-name", &format!("{host}/team-b/x:v1"), false),
            nobody.push(missing, &format!("{host}/team-b/x:v1"), false),
        ),
        (nobody.exists(&root_list), nobody.exists(&"f".repeat(64))),
        (nobody.delete(&root_list), nobody.delete(&"f".repeat(64))),
    ] {
        assert_ne!(hidden.status, 200, "{}", hidden.body);
        assert_eq!(
            normalised(&hidden, "shared-name").0,
            normalised(&absent, missing).0,
            "{} vs {}",
            hidden.body,
            absent.body
        );
    }
    let hidden = nobody.delete("shared-name");
    hidden.assert_status(404);
    assert_eq!(hidden.error_message(), "shared-name: image not known");
    assert_untouched(&reg, "team-b/x", "v1");
    root.exists("shared-name").assert_status(204);

    // nobody has a namespace of its own: the same name is free for it.
    let own = nobody.compose("shared-name", &[&singles[2]]);
    assert_ne!(own, root_list);
    let doc = nobody.inspect("shared-name");
    doc.assert_status(200);
    assert_eq!(doc.json()["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        root.inspect("shared-name").json()["manifests"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    root.exists(&own).assert_status(404);

    // A push outside its prefix is refused, quiet or streamed, and writes nothing.
    for stream in [false, true] {
        let refused = nobody.push("shared-name", &format!("{host}/team-a/evil:v1"), stream);
        refused.assert_status(403);
        assert_eq!(
            refused.error_message(),
            format!(
                "identity uid:{NOBODY} may not push to {host}/team-a/evil (policy[1] allows push to {host}/team-b/)"
            )
        );
    }
    assert_untouched(&reg, "team-a/evil", "v1");
    for blob in singles[2].blob_digests() {
        assert_eq!(fixtures::head_blob(&reg, "team-a/evil", &blob), None);
    }

    // Reads outside its pull prefixes are refused before any registry is asked.
    let refused = nobody.request(
        "PUT",
        &format!("{V5}/manifests/shared-name"),
        Some(&json!({"operation": "update", "images": ["quay.io/libpod/alpine:latest"]})),
    );
    refused.assert_status(403);
    assert!(
        refused
            .error_message()
            .starts_with(&format!("identity uid:{NOBODY} may not pull from quay.io/libpod/alpine (policy[1] allows pull from {host}/)")),
        "{}",
        refused.body
    );

    // An allowed push still works.
    let ok = nobody.push("shared-name", &format!("{host}/team-b/app:v1"), false);
    ok.assert_status(200);
    let index = fixtures::get_manifest(&reg, "team-b/app", "v1");
    assert_eq!(
        Some(manifold_tests::sha256_digest(&index.bytes).as_str()),
        ok.json()["Id"].as_str()
    );

    // An identity no rule matches reaches nothing but ping.
    let stranger = Curl::unix_as(&mf, 4242, NOBODY);
    stranger.request("GET", "/_ping", None).assert_status(200);
    let denied = stranger.exists("shared-name");
    denied.assert_status(403);
    assert_eq!(
        denied.error_message(),
        "identity uid:4242 matches no [[policy]] rule of this manifold, so it may do nothing here; ask the operator for a rule"
    );
    stranger
        .request("POST", &format!("{V5}/manifests/mine"), None)
        .assert_status(403);
}

/// Files made by `openssl` for one test: a CA, a server certificate for 127.0.0.1, and client
/// certificates by common name.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::Builder::new()
                .prefix("mf-pki-")
                .tempdir()
                .expect("pki dir"),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=manifold test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki.leaf(
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A leaf certificate signed by the CA: not a CA itself (rustls refuses a CA certificate as
    /// an end entity), with the extra extensions `ext`.
    fn leaf(&self, cn: &str, ext: &str) -> (PathBuf, PathBuf) {
        let ext_file = format!("{cn}.ext");
        std::fs::write(
            self.path(&ext_file),
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}"
            ),
        )
        .expect("write extensions");
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{cn}.key"),
            "-out",
            &format!("{cn}.csr"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{cn}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext_file,
            "-out",
            &format!("{cn}.pem"),
        ]);
        (
            self.path(&format!("{cn}.pem")),
            self.path(&format!("{cn}.key")),
        )
    }

    fn client(&self, cn: &str) -> (PathBuf, PathBuf) {
        self.leaf(cn, "extendedKeyUsage=clientAuth\n")
    }

    /// The `[tls]` section for the server certificate, requiring client certificates.
    fn tls_section(&self) -> String {
        format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n\n",
            self.path("server.pem").display(),
            self.path("server.key").display(),
            self.path("ca.pem").display()
        )
    }
}

#[test]
fn tls_clients_are_their_verified_certificate() {
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "app");
    let host = reg.host();
    let pki = Pki::new();
    let runner_a = pki.client("runner-a");
    let runner_b = pki.client("runner-b");
    let port = free_port();
    let config = format!(
        "{}{}{}",
        insecure_entry(&reg.host()),
        pki.tls_section(),
        rules(&[
            (
                "cert:CN=runner-a",
                &[&format!("{host}/")],
                &[&format!("{host}/team-a/")],
            ),
            (
                "cert:CN=runner-b",
                &[&format!("{host}/")],
                &[&format!("{host}/team-b/")],
            ),
        ])
    );
    let mf = Manifold::start(ManifoldOptions {
        config,
        extra_listens: vec![format!("tls://127.0.0.1:{port}")],
        ..Default::default()
    });
    let ca = pki.path("ca.pem");
    let a = Curl::tls(port, &ca, Some(&runner_a));
    let b = Curl::tls(port, &ca, Some(&runner_b));
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        a.try_request("GET", "/_ping", None).ok()
    })
    .unwrap_or_else(|| panic!("the TLS listener does not answer; log:\n{}", mf.log()));

    // Without a client certificate there is no TLS session at all.
    let anonymous = Curl::tls(port, &ca, None);
    let e = anonymous
        .try_request("GET", "/_ping", None)
        .expect_err("a client certificate is required");
    assert!(!e.is_empty());
    // A certificate from another CA is refused too.
    let other = Pki::new();
    let stranger = Curl::tls(port, &ca, Some(&other.client("runner-a")));
    stranger
        .try_request("GET", "/_ping", None)
        .expect_err("a certificate of another CA");

    a.compose("ci-list", &[&singles[0]]);
    b.exists("ci-list").assert_status(404);
    let pushed = a.push("ci-list", &format!("{host}/team-a/app:v1"), false);
    pushed.assert_status(200);
    assert!(fixtures::try_get_manifest(&reg, "team-a/app", "v1").is_some());

    b.compose("ci-list", &[&singles[1]]);
    let refused = b.push("ci-list", &format!("{host}/team-a/app:v2"), false);
    refused.assert_status(403);
    assert_eq!(
        refused.error_message(),
        format!(
            "identity cert:CN=runner-b may not push to {host}/team-a/app (policy[1] allows push to {host}/team-b/)"
        )
    );
    assert!(fixtures::try_get_manifest(&reg, "team-a/app", "v2").is_none());
    assert_eq!(fixtures::tags(&reg, "team-a/app"), ["v1"]);
    b.push("ci-list", &format!("{host}/team-b/app:v1"), false)
        .assert_status(200);
    assert!(fixtures::try_get_manifest(&reg, "team-b/app", "v1").is_some());

    // The unix socket (uid 0 here) has no rule: its lists and calls are refused, ping is not.
    let root = mf.http();
    root.get("/_ping").assert_status(200);
    root.get(&format!("{V5}/manifests/ci-list/exists"))
        .assert_status(403);
}

/// A loopback TCP client is the user owning its socket: `uid:` rules apply to it, and `gid:`
/// rules by that user's primary group in the user database (the kernel keeps no group for a TCP
/// socket, so the process's own group does not count).
#[test]
fn loopback_tcp_clients_are_the_user_owning_their_socket() {
    /// `daemon`: uid 1, primary group 1.
    const DAEMON: u32 = 1;
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "app");
    let host = reg.host();
    let config = format!(
        "{}{}",
        insecure_entry(&reg.host()),
        rules(&[
            ("uid:65534", &["*"], &[&format!("{host}/nobody/")]),
            ("gid:1", &["*"], &[&format!("{host}/daemon/")]),
            ("local", &["*"], &["*"]),
        ])
    );
    let mf = Manifold::start(ManifoldOptions {
        config,
        tcp: true,
        ..Default::default()
    });
    let url = mf.tcp_url().expect("tcp listener");

    let nobody = Curl::tcp_as(&url, NOBODY, NOBODY);
    nobody.compose("mine", &[&singles[0]]);
    let refused = nobody.push("mine", &format!("{host}/elsewhere/app:v1"), false);
    refused.assert_status(403);
    assert_eq!(
        refused.error_message(),
        format!(
            "identity uid:65534 may not push to {host}/elsewhere/app (policy[0] allows push to {host}/nobody/)"
        )
    );
    nobody
        .push("mine", &format!("{host}/nobody/app:v1"), false)
        .assert_status(200);
    assert!(fixtures::try_get_manifest(&reg, "nobody/app", "v1").is_some());
    assert_untouched(&reg, "elsewhere/app", "v1");

    // daemon's process runs with group 65534; its primary group, 1, is what the rules see.
    let daemon = Curl::tcp_as(&url, DAEMON, NOBODY);
    daemon.compose("theirs", &[&singles[1]]);
    let refused = daemon.push("theirs", &format!("{host}/nobody/app:v2"), false);
    refused.assert_status(403);
    assert_eq!(
        refused.error_message(),
        format!(
            "identity uid:1 may not push to {host}/nobody/app (policy[1] allows push to {host}/daemon/)"
        )
    );
    assert_untouched(&reg, "daemon/app", "v2");
    // Each user has its own lists.
    nobody.exists("theirs").assert_status(404);
    daemon.exists("mine").assert_status(404);

    // root over TCP is uid:0, which no rule names: `local` is only for clients whose user the
    // kernel does not tell.
    let root = Curl::tcp_as(&url, 0, 0);
    let refused = root.exists("mine");
    refused.assert_status(403);
    assert!(
        refused
            .error_message()
            .starts_with("identity uid:0 matches no [[policy]] rule"),
        "{}",
        refused.body
    );
    let log = mf.log();
    for who in ["uid:65534", "uid:1", "uid:0"] {
        assert!(log.contains(&format!("identity={who} ")), "{who}: {log}");
    }
}

#[test]
fn configured_credentials_serve_only_the_rules_that_say_so() {
    let basic = Registry::start(manifold_tests::RegistryAuth::basic("ci", "policy-s3cret"));
    let image = fixtures::push_image(
        &basic,
        "team/app",
        "v1",
        &manifold_tests::ImageSpec::linux("amd64").seed(501),
    );
    let (user, pass) = basic.creds().expect("an auth registry has credentials");
    let host = basic.host();
    let config = format!(
        "socket_mode = \"0666\"\n\n[[registry]]\nlocation = \"{host}\"\ninsecure = true\n[registry.credentials]\nusername = \"{user}\"\npassword = \"{pass}\"\n\n[[policy]]\nidentity = \"uid:0\"\npull = [\"*\"]\nuse_configured_credentials = true\n\n[[policy]]\nidentity = \"uid:{NOBODY}\"\npull = [\"*\"]\n"
    );
    let mf = Manifold::start(ManifoldOptions::with_config(&config));
    std::fs::set_permissions(mf.dir(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod manifold dir");
    let root = Curl::unix_as(&mf, 0, 0);
    let nobody = Curl::unix_as(&mf, NOBODY, NOBODY);

    root.compose("with-creds", &[&image]);
    assert_eq!(
        root.inspect("with-creds").json()["manifests"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // The same add without configured credentials reaches the registry anonymously and fails.
    nobody
        .request("POST", &format!("{V5}/manifests/without-creds"), None)
        .assert_status(201);
    let refused = nobody.request(
        "PUT",
        &format!("{V5}/manifests/without-creds"),
        Some(&json!({"operation": "update", "images": [image.reference()]})),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(!refused.body.contains(&pass), "{}", refused.body);
    assert_eq!(
        nobody.inspect("without-creds").json()["manifests"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
