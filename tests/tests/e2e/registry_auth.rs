//! Adding images from registries that need credentials, with credentials the client sends
//! (`podman manifest add --creds`, `X-Registry-Auth`).

use manifold_tests::fixtures;
use manifold_tests::podman::Podman;
use manifold_tests::{Registry, RegistryAuth};

use crate::common::{digests, manifold_for};

fn add_with_creds(auth: RegistryAuth) {
    let reg = Registry::start(auth);
    let (user, pass) = reg.creds().expect("an auth registry has credentials");
    let images = fixtures::push_six_singles(&reg, "secret");
    let mf = manifold_for(&[&reg]);
    let p = Podman::new(&mf.url());
    p.run(&["manifest", "create", "authed"])
        .assert_success("create");
    let image = images[0].docker_reference();
    let out = p.run(&["manifest", "add", "--tls-verify=false", "authed", &image]);
    out.assert_failure("add without credentials");
    assert!(
        ["unauthorized", "authentication required", "denied"]
            .iter()
            .any(|w| out.stderr.contains(w)),
        "{}",
        out.stderr
    );
    let creds = format!("{user}:{pass}");
    p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--creds",
        &creds,
        "authed",
        &image,
    ])
    .assert_success("add with --creds");
    let doc = p
        .run(&["manifest", "inspect", "authed"])
        .assert_success("inspect")
        .json();
    assert_eq!(digests(&doc), vec![images[0].digest.clone()]);
    let wrong = format!("{user}:not-{pass}");
    p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--creds",
        &wrong,
        "authed",
        &images[1].docker_reference(),
    ])
    .assert_failure("add with wrong credentials");
    // No password in anything manifold wrote or logged.
    assert!(
        !mf.log().contains(&pass),
        "the password appears in manifold's log"
    );
    for entry in walk(mf.data_dir()) {
        let text = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains(&pass),
            "the password appears in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn add_with_creds_from_a_basic_auth_registry() {
    add_with_creds(RegistryAuth::basic("alice", "basic-s3cret"));
}

#[test]
fn add_with_creds_from_a_token_auth_registry() {
    add_with_creds(RegistryAuth::token("bob", "token-s3cret"));
}
