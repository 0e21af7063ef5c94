//! Tests of the end-to-end harness itself: real registries (plain, Basic, token), fixtures that
//! land byte-exact (checked with skopeo), the access-log parser, the token server's behaviour, a
//! real podman service, and the podman-py virtualenv.

use manifold_tests::fixtures::{self, Format, ImageSpec};
use manifold_tests::podman::PodmanService;
use manifold_tests::regclient::RegClient;
use manifold_tests::registry::{count, Registry, RegistryAuth};
use manifold_tests::{python, sha256_digest};

#[test]
fn plain_registry_starts_and_logs_access() {
    let reg = Registry::plain();
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(reg.creds(), None);
    let client = RegClient::for_registry(&reg);
    assert!(client.get_manifest("nothing/here", "latest").is_none());
    let img = fixtures::push_image(&reg, "lib/one", "v1", &ImageSpec::linux("amd64").seed(7));
    let got = fixtures::get_manifest(&reg, "lib/one", "v1");
    assert_eq!(got.bytes, img.manifest);
    assert_eq!(got.content_type, fixtures::OCI_MANIFEST);
    assert_eq!(got.digest.as_deref(), Some(img.digest.as_str()));
    assert_eq!(got.computed_digest(), img.digest);
    for d in img.blob_digests() {
        assert!(
            fixtures::head_blob(&reg, "lib/one", &d).is_some(),
            "{d} missing"
        );
    }

    let log = reg.access_log();
    assert!(
        count(&log, "GET", "/v2/nothing/here/manifests/latest") == 1,
        "{log:#?}"
    );
    let miss = log
        .iter()
        .find(|l| l.path == "/v2/nothing/here/manifests/latest")
        .expect("the 404 GET is logged");
    assert_eq!(miss.status, 404);
    let uploads = log.iter().filter(|l| l.is_upload_start()).count();
    assert_eq!(uploads, 2, "config + one layer uploaded: {log:#?}");
    assert_eq!(
        log.iter().filter(|l| l.is_manifest_put()).count(),
        2,
        "by digest, then by tag"
    );
    assert!(count(&log, "GET", "/v2/lib/one/manifests/v1") == 1);

    // Pushing the same image again uploads nothing (HEAD finds every blob).
    let mark = reg.access_mark();
    fixtures::push_image(&reg, "lib/one", "v2", &ImageSpec::linux("amd64").seed(7));
    let again = reg.access_log_since(mark);
    assert_eq!(again.iter().filter(|l| l.is_upload_start()).count(), 0);
    assert_eq!(count(&again, "HEAD", "/blobs/"), 2);
}

#[test]
fn registry_restart_keeps_storage_and_port() {
    let mut reg = Registry::plain();
    let img = fixtures::push_image(&reg, "keep", "t", &ImageSpec::linux("arm64").seed(3));
    let host = reg.host();
    reg.stop();
    assert!(!reg.is_running());
    reg.restart();
    assert_eq!(reg.host(), host);
    assert_eq!(
        fixtures::get_manifest(&reg, "keep", "t").bytes,
        img.manifest
    );
}

#[test]
fn basic_registry_requires_credentials() {
    let reg = Registry::start(RegistryAuth::basic("alice", "s3cret"));
    assert_eq!(reg.creds(), Some(("alice".into(), "s3cret".into())));
    let idx = fixtures::push_index(
        &reg,
        "multi",
        "latest",
        &fixtures::six_platforms()[..2],
        Format::Oci,
    );
    let raw = fixtures::skopeo_inspect_raw(&reg, "multi", "latest");
    assert_eq!(sha256_digest(&raw), idx.digest);

    let anon = fixtures::skopeo_inspect_raw_ref(&idx.reference(), None);
    assert!(
        !anon.success(),
        "anonymous read of a basic-auth registry succeeded"
    );
    let wrong = fixtures::skopeo_inspect_raw_ref(&idx.reference(), Some("alice:wrong"));
    assert!(!wrong.success());
    let log = reg.access_log();
    assert!(log.iter().any(|l| l.status == 401));
}

#[test]
fn six_platform_oci_index_lands_byte_exact() {
    let reg = Registry::plain();
    let idx = fixtures::push_index(
        &reg,
        "six/oci",
        "latest",
        &fixtures::six_platforms(),
        Format::Oci,
    );
    assert_eq!(idx.children.len(), 6);
    assert_eq!(idx.media_type, fixtures::OCI_INDEX);
    let raw = fixtures::skopeo_inspect_raw(&reg, "six/oci", "latest");
    assert_eq!(raw, idx.manifest);
    assert_eq!(sha256_digest(&raw), idx.digest);
    let v = idx.json();
    assert_eq!(v["manifests"].as_array().map(Vec::len), Some(6));
    assert_eq!(v["manifests"][1]["platform"]["variant"], "v8");
    assert_eq!(v["manifests"][5]["platform"]["os"], "windows");
    assert_eq!(
        v["manifests"][5]["platform"]["os.version"],
        "10.0.17763.1234"
    );
    for child in &idx.children {
        let raw = fixtures::skopeo_inspect_raw(&reg, "six/oci", &child.digest);
        assert_eq!(sha256_digest(&raw), child.digest);
        let cfg: serde_json::Value = serde_json::from_slice(&child.config).expect("config JSON");
        assert_eq!(cfg["architecture"], child.platform.architecture.as_str());
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(1));
    }
}

#[test]
fn docker_list_lands_byte_exact() {
    let reg = Registry::plain();
    let idx = fixtures::push_index(
        &reg,
        "six/docker",
        "v1",
        &fixtures::six_platforms(),
        Format::Docker,
    );
    assert_eq!(idx.media_type, fixtures::DOCKER_LIST);
    let raw = fixtures::skopeo_inspect_raw(&reg, "six/docker", "v1");
    assert_eq!(sha256_digest(&raw), idx.digest);
    let got = fixtures::get_manifest(&reg, "six/docker", "v1");
    assert_eq!(got.content_type, fixtures::DOCKER_LIST);
    let child = fixtures::get_manifest(&reg, "six/docker", &idx.children[0].digest);
    assert_eq!(child.content_type, fixtures::DOCKER_MANIFEST);
}

#[test]
fn six_singles_share_a_base_layer_and_fixtures_are_deterministic() {
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "singles");
    assert_eq!(singles.len(), 6);
    let base = &singles[0].layer_digests[0];
    assert!(singles.iter().all(|s| &s.layer_digests[0] == base));
    assert!(singles.iter().all(|s| s.layer_digests.len() == 2));
    let mut digests: Vec<&str> = singles.iter().map(|s| s.digest.as_str()).collect();
    digests.sort_unstable();
    digests.dedup();
    assert_eq!(digests.len(), 6);
    assert_eq!(
        fixtures::tags(&reg, "singles").len(),
        6,
        "every single is tagged"
    );
    // Same spec, same bytes.
    let a = fixtures::build_image(&ImageSpec::linux("amd64").seed(42));
    let b = fixtures::build_image(&ImageSpec::linux("amd64").seed(42));
    assert_eq!(a.digest, b.digest);
    // The base layer can be mounted into another repository.
    let client = RegClient::for_registry(&reg);
    assert_eq!(client.mount_blob("other", "singles", base), 201);
    let log = reg.access_log();
    assert_eq!(log.iter().filter(|l| l.is_mount()).count(), 1);
}

#[test]
fn token_registry_refuses_anonymous_and_accepts_credentials() {
    let reg = Registry::start(RegistryAuth::token("bob", "hunter2"));
    let img = fixtures::push_image(&reg, "tok/img", "v1", &ImageSpec::linux("s390x").seed(9));
    let used = reg.token_requests();
    assert!(used >= 1, "the push fetched tokens");

    // Anonymous: the token server hands out an empty grant, so the registry refuses.
    let anon = RegClient::anonymous(&reg);
    let resp = anon.request(
        reqwest::Method::GET,
        "/v2/tok/img/manifests/v1",
        &["repository:tok/img:pull".into()],
        &[("Accept", manifold_tests::regclient::MANIFEST_ACCEPT)],
        None,
    );
    assert_eq!(resp.status().as_u16(), 401);
    let out = fixtures::skopeo_inspect_raw_ref(&img.reference(), None);
    assert!(
        !out.success(),
        "anonymous skopeo read succeeded: {}",
        out.stdout
    );
    let out = fixtures::skopeo_inspect_raw_ref(&img.reference(), Some("bob:nope"));
    assert!(!out.success());

    // With credentials, skopeo reads the exact bytes.
    let raw = fixtures::skopeo_inspect_raw(&reg, "tok/img", "v1");
    assert_eq!(sha256_digest(&raw), img.digest);

    let ts = reg
        .token_server()
        .expect("token registry has a token server");
    let log = ts.request_log();
    assert!(
        log.iter().any(|r| r.user.is_none() && !r.refused),
        "anonymous token request seen"
    );
    assert!(
        log.iter().any(|r| r.refused),
        "wrong-password token request refused"
    );
    assert!(log.iter().any(|r| r.user.as_deref() == Some("bob")
        && r.scopes.iter().any(|s| s == "repository:tok/img:pull,push")));
    assert_eq!(reg.token_requests(), log.len());
}

#[test]
fn token_expiry_is_configurable() {
    let reg = Registry::start_with(manifold_tests::registry::RegistryOptions {
        token_expiry: std::time::Duration::from_secs(7),
        ..manifold_tests::registry::RegistryOptions::new(RegistryAuth::token("u", "p"))
    });
    let realm = reg.token_server().expect("token server").realm();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let v: serde_json::Value = client
        .get(format!(
            "{realm}?service=manifold-test-registry&scope=repository:a:pull"
        ))
        .basic_auth("u", Some("p"))
        .send()
        .expect("token request")
        .json()
        .expect("token JSON");
    assert_eq!(v["expires_in"], 7);
    assert_eq!(v["token"], v["access_token"]);
    // A token minted as already expired (beyond the registry's leeway) is refused.
    let ts = reg.token_server().expect("token server");
    ts.set_exp_skew(-3600);
    let expired = ts.mint(Some("u"), &["repository:a:pull"]);
    let r = client
        .get(format!("{}/v2/a/tags/list", reg.url()))
        .bearer_auth(&expired)
        .send()
        .expect("registry request");
    assert_eq!(r.status().as_u16(), 401);
    ts.set_exp_skew(0);
    let fresh = ts.mint(Some("u"), &["repository:a:pull"]);
    let r = client
        .get(format!("{}/v2/a/tags/list", reg.url()))
        .bearer_auth(&fresh)
        .send()
        .expect("registry request");
    // Authorised; the repository is unknown.
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn large_image_is_incompressible() {
    let reg = Registry::plain();
    let img = fixtures::large_image(&reg, "big", "v1", 1, 5);
    assert_eq!(img.layer_sizes.len(), 2);
    assert!(img.layer_sizes.iter().all(|s| *s > 1 << 20));
    assert_eq!(
        fixtures::head_blob(&reg, "big", &img.layer_digests[1]),
        Some(img.layer_sizes[1])
    );
}

#[test]
fn podman_service_starts_and_answers_remote_clients() {
    let reg = Registry::plain();
    let svc = PodmanService::start(&[&reg]);
    let out = svc.podman(&["version", "--format", "{{.Server.APIVersion}}"]);
    out.assert_success("podman --remote version");
    assert_eq!(out.stdout.trim(), "4.3.1");
    let ping = svc.http().get("/v4.3.1/libpod/_ping");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("Libpod-API-Version"), Some("4.3.1"));
    // A manifest list round-trip through the real service, reading from the test registry.
    let img = fixtures::push_image(&reg, "pm/single", "v1", &ImageSpec::linux("amd64").seed(11));
    svc.podman(&["manifest", "create", "localhost/pm-list"])
        .assert_success("manifest create");
    svc.podman(&[
        "manifest",
        "add",
        "localhost/pm-list",
        &format!("docker://{}", img.reference()),
    ])
    .assert_success("manifest add");
    let inspect = svc.podman(&["manifest", "inspect", "localhost/pm-list"]);
    inspect.assert_success("manifest inspect");
    assert_eq!(
        inspect.json()["manifests"][0]["digest"],
        img.digest.as_str()
    );
}

#[test]
fn podman_py_venv_imports_podman() {
    let out = python::run_python("import podman, sys\nprint(podman.__version__)\n", &[]);
    out.assert_success("python -c 'import podman'");
    assert!(
        out.stdout.trim().starts_with('5'),
        "podman-py version {}",
        out.stdout
    );
}

#[test]
fn podman_py_talks_to_a_podman_service() {
    let svc = PodmanService::start(&[]);
    let out = manifold_tests::run_podman_py(
        &svc.url(),
        "import os, podman\n\
         c = podman.PodmanClient(base_url=os.environ['PODMAN_URL'])\n\
         m = c.manifests.create('localhost/py-list')\n\
         print(c.manifests.exists('localhost/py-list'))\n",
    );
    out.assert_success("podman-py manifests.create");
    assert_eq!(out.stdout.trim(), "True");
}

/// A stand-in for the `manifold` binary: answers every request on its unix socket with 200.
fn stand_in_manifold(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("fake-manifold");
    std::fs::write(
        &path,
        r#"#!/bin/bash
sock=""
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) case "$2" in unix://*) sock="${2#unix://}";; esac; shift 2;;
    *) shift;;
  esac
done
echo "stand-in manifold on $sock"
printf 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK' > "$0.resp"
exec socat UNIX-LISTEN:"$sock",fork,unlink-early SYSTEM:"cat $0.resp"
"#,
    )
    .expect("write stand-in");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod stand-in");
    path
}

#[test]
fn manifold_module_drives_a_stand_in_binary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut m = manifold_tests::Manifold::start(manifold_tests::ManifoldOptions {
        bin: Some(stand_in_manifold(tmp.path())),
        tcp: true,
        backend: Some("unix:///nowhere.sock".into()),
        config: "[server]\n".into(),
        ..Default::default()
    });
    let argv = m.command_line();
    assert_eq!(
        argv[1..4],
        ["serve", "--config", &m.config_path().to_string_lossy()]
    );
    assert!(argv.contains(&m.url()));
    assert!(argv.contains(&m.tcp_url().expect("tcp listen")));
    assert!(argv
        .windows(2)
        .any(|w| w[0] == "--backend" && w[1] == "unix:///nowhere.sock"));
    assert_eq!(m.http().get("/_ping").text(), "OK");
    assert!(m.log().contains("stand-in manifold on"));
    let pid = m.pid();
    m.kill9();
    assert!(!m.is_running());
    m.restart();
    assert_ne!(m.pid(), pid);
    assert_eq!(m.http().get("/v4.3.1/libpod/_ping").status, 200);
    m.sigterm(std::time::Duration::from_secs(5));
    assert!(!m.is_running());
    assert_eq!(m.pid(), None);
    assert_eq!(m.log().matches("=== harness:").count(), 2);
}
