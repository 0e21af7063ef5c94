//! With `--backend`, every non-manifest libpod call goes to a real podman service, while
//! manifest calls are still answered by manifold.

use manifold_tests::fixtures;
use manifold_tests::podman::Podman;
use manifold_tests::{Manifold, ManifoldOptions, PodmanService, Registry};

use crate::common::insecure_entry;

#[test]
fn backend_serves_everything_else_while_manifold_keeps_manifests() {
    let reg = Registry::plain();
    let images = fixtures::push_six_singles(&reg, "app");
    let service = PodmanService::start(&[&reg]);
    let mf = Manifold::start(ManifoldOptions {
        config: insecure_entry(&reg.host()),
        backend: Some(service.url()),
        ..Default::default()
    });
    let p = Podman::new(&mf.url());
    let version = p
        .run(&["version"])
        .assert_success("podman version through manifold")
        .stdout
        .clone();
    assert!(version.contains("Server:"), "{version}");
    p.run(&["info"])
        .assert_success("podman info through manifold");
    p.run(&["images"])
        .assert_success("podman images through manifold");
    p.run(&["pull", "--tls-verify=false", &images[0].reference()])
        .assert_success("podman pull through manifold");
    let listed = p
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .assert_success("images")
        .stdout
        .clone();
    assert!(
        listed.contains(&format!("{}/app:amd64", reg.host())),
        "{listed}"
    );

    // Manifest calls stay with manifold: the list is in manifold's store, not in podman's.
    p.run(&["manifest", "create", "mine", &images[1].docker_reference()])
        .assert_success("create");
    p.run(&["manifest", "exists", "mine"])
        .assert_success("exists through manifold");
    Podman::new(&service.url())
        .run(&["manifest", "exists", "mine"])
        .assert_failure("the backend podman has no such list");
    // `podman manifest rm` (images/remove?lookupmanifest=true) is answered by manifold too.
    p.run(&["manifest", "rm", "mine"])
        .assert_success("manifest rm");
    // A plain `podman rmi` of a real image goes to the backend.
    p.run(&["rmi", &images[0].reference()])
        .assert_success("rmi through manifold");
}

#[test]
fn without_a_backend_other_calls_get_a_clear_error() {
    let mf = Manifold::start(ManifoldOptions::default());
    let r = mf.http().get("/v4.3.1/libpod/images/json");
    assert_eq!(r.status, 501);
    let body = r.json();
    assert_eq!(body["response"], 501);
    assert!(
        body["message"].as_str().unwrap_or("").contains("--backend"),
        "{body}"
    );
    let out = Podman::new(&mf.url()).run(&["images"]);
    out.assert_failure("podman images without a backend");
    assert!(out.stderr.contains("--backend"), "{}", out.stderr);
}
