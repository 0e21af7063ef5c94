//! manifold as the one place that holds registry credentials: a podman client with none
//! composes from and pushes to basic-auth and token-auth registries, unlisted registries are
//! refused, `docker.io` reads come from a local mirror, and no secret leaks anywhere.

use manifold_tests::fixtures;
use manifold_tests::podman::Podman;
use manifold_tests::{ImageSpec, Manifold, ManifoldOptions, Registry, RegistryAuth};
use serde_json::Value;

use crate::common::{digests, insecure_entry};

fn credentials_entry(reg: &Registry) -> String {
    let (user, pass) = reg.creds().expect("an auth registry has credentials");
    format!(
        "[[registry]]\nlocation = \"{}\"\ninsecure = true\n[registry.credentials]\nusername = \"{user}\"\npassword = \"{pass}\"\n\n",
        reg.host()
    )
}

/// Every file below `dir`.
fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_client_without_credentials_composes_from_and_pushes_to_auth_registries() {
    let basic = Registry::start(RegistryAuth::basic("ci", "basic-shared-s3cret"));
    let token = Registry::start(RegistryAuth::token("ci", "token-shared-s3cret"));
    let plain = Registry::plain();
    let a = fixtures::push_image(
        &basic,
        "team/app",
        "v1",
        &ImageSpec::linux("amd64").seed(301),
    );
    let b = fixtures::push_image(
        &token,
        "team/app",
        "v1",
        &ImageSpec::linux("arm64").seed(302),
    );
    let config = format!(
        "{}{}{}",
        credentials_entry(&basic),
        credentials_entry(&token),
        insecure_entry(&plain.host())
    );
    let mf = Manifold::start(ManifoldOptions::with_config(&config));
    let p = Podman::new(&mf.url());
    let mut outputs = Vec::new();
    let mut run = |args: &[&str], what: &str| {
        let out = p.run(args);
        out.assert_success(what);
        outputs.push(format!("{}{}", out.stdout, out.stderr));
        out
    };
    run(&["manifest", "create", "shared"], "create");
    run(
        &["manifest", "add", "shared", &a.docker_reference()],
        "add from the basic registry",
    );
    run(
        &["manifest", "add", "shared", &b.docker_reference()],
        "add from the token registry",
    );
    let inspect = run(&["manifest", "inspect", "shared"], "inspect").json();
    assert_eq!(digests(&inspect), vec![a.digest.clone(), b.digest.clone()]);
    for (reg, repo) in [(&basic, "team/out"), (&token, "team/out")] {
        let dest = format!("docker://{}/{repo}:v1", reg.host());
        let file = mf.dir().join(format!("digest-{}", reg.port()));
        let file_arg = file.to_string_lossy().into_owned();
        run(
            &[
                "manifest",
                "push",
                "--all",
                "--digestfile",
                &file_arg,
                "shared",
                &dest,
            ],
            "push to an auth registry with configured credentials",
        );
        let pushed = fixtures::get_manifest(reg, repo, "v1");
        let id = std::fs::read_to_string(&file).expect("digest file");
        assert_eq!(manifold_tests::sha256_digest(&pushed.bytes), id.trim());
        for child in [&a, &b] {
            let got = fixtures::get_manifest(reg, repo, &child.digest);
            assert_eq!(got.bytes, child.manifest, "child byte for byte");
        }
    }
    // An unlisted registry is refused with 403 and a message naming it and the key to add.
    let unlisted = Registry::plain();
    let c = fixtures::push_image(&unlisted, "x", "v1", &ImageSpec::linux("amd64").seed(303));
    let mark = unlisted.access_mark();
    let r = mf.http().get(&format!(
        "/v5.0.0/libpod/manifests/{}/json",
        c.reference().replace('/', "%2F")
    ));
    assert_eq!(r.status, 403, "{}", r.text());
    let body: Value = r.json();
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(&unlisted.host()), "{message}");
    assert!(message.contains("[[registry]]"), "{message}");
    let body = serde_json::json!({"operation": "update", "images": [c.reference()]});
    let r = mf.http().put_json("/v5.0.0/libpod/manifests/shared", &body);
    assert_eq!(
        r.status,
        403,
        "an add from an unlisted registry: {}",
        r.text()
    );
    let out = p.run(&["manifest", "add", "shared", &c.docker_reference()]);
    out.assert_failure("add from an unlisted registry");
    assert!(
        out.stderr.contains("not in manifold's configuration"),
        "{}",
        out.stderr
    );
    assert!(
        unlisted.access_log_since(mark).is_empty(),
        "nothing was asked of it"
    );

    // No password in any log line, response or file of this test.
    outputs.push(body.to_string());
    outputs.push(mf.log());
    // Every file manifold wrote (the configuration the operator wrote is the one allowed place).
    for f in files(mf.dir())
        .into_iter()
        .filter(|f| f.as_path() != mf.config_path())
    {
        outputs.push(String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned());
    }
    for secret in ["basic-shared-s3cret", "token-shared-s3cret"] {
        for text in &outputs {
            assert!(!text.contains(secret), "a password leaked: {text}");
        }
    }
}

#[test]
fn docker_io_reads_are_served_by_a_local_mirror() {
    let mirror = Registry::plain();
    let img = fixtures::push_image(
        &mirror,
        "library/alpine",
        "3",
        &ImageSpec::linux("amd64").seed(304),
    );
    let config = format!(
        "[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n\n{}",
        mirror.host(),
        insecure_entry(&mirror.host())
    );
    let mf = Manifold::start(ManifoldOptions::with_config(&config));
    let p = Podman::new(&mf.url());
    p.run(&["manifest", "create", "airgap"])
        .assert_success("create");
    p.run(&["manifest", "add", "airgap", "docker.io/library/alpine:3"])
        .assert_success("add docker.io/library/alpine:3 through the mirror");
    p.run(&["manifest", "add", "airgap", "alpine:3"])
        .assert_success("add the short name");
    let doc = p
        .run(&["manifest", "inspect", "airgap"])
        .assert_success("inspect")
        .json();
    assert_eq!(digests(&doc), vec![img.digest.clone()]);
    let served = mirror
        .access_log()
        .iter()
        .filter(|l| l.path == "/v2/library/alpine/manifests/3" && l.status == 200)
        .count();
    assert!(served >= 1, "the mirror served the manifest");
}
