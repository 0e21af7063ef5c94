//! The store survives crashes and restarts, and concurrent modifications lose nothing.

use std::time::Duration;

use manifold_tests::podman::Podman;
use manifold_tests::{Manifold, ManifoldOptions};
use serde_json::json;

use crate::common::{digests, esc, World};

#[test]
fn kill_9_and_restart_loses_no_list() {
    let mut w = World::new();
    let p = Podman::new(&w.mf.url());
    let mut ids = Vec::new();
    for (i, img) in w.singles.iter().enumerate() {
        let name = format!("crash{i}");
        ids.push(
            p.run(&["manifest", "create", &name, &img.docker_reference()])
                .assert_success("create")
                .stdout
                .trim()
                .to_string(),
        );
    }
    w.mf.kill9();
    w.mf.restart();
    let p = Podman::new(&w.mf.url());
    for (i, img) in w.singles.iter().enumerate() {
        let name = format!("crash{i}");
        let doc = p
            .run(&["manifest", "inspect", &name])
            .assert_success("inspect after restart")
            .json();
        assert_eq!(digests(&doc), vec![img.digest.clone()]);
        p.run(&["manifest", "exists", &ids[i]])
            .assert_success("exists by ID after restart");
    }
}

#[test]
fn sigterm_stops_cleanly_and_restart_finds_lists() {
    let mut w = World::new();
    let p = Podman::new(&w.mf.url());
    p.run(&[
        "manifest",
        "create",
        "term",
        &w.singles[0].docker_reference(),
    ])
    .assert_success("create");
    let status = w.mf.sigterm(Duration::from_secs(15));
    assert!(status.success(), "manifold exits 0 on SIGTERM: {status}");
    w.mf.restart();
    let p = Podman::new(&w.mf.url());
    let doc = p
        .run(&["manifest", "inspect", "term"])
        .assert_success("inspect")
        .json();
    assert_eq!(digests(&doc), vec![w.singles[0].digest.clone()]);
}

#[test]
fn twenty_concurrent_adds_to_one_list_lose_nothing() {
    let w = World::new();
    let http = w.mf.http();
    http.post_json("/v4.3.1/libpod/manifests/busy", &json!({}))
        .assert_status(201);
    // 20 distinct instances: the six images, each added with distinct annotations does not
    // create distinct digests, so use 20 distinct images.
    let reg = &w.reg;
    let images: Vec<_> = (0..20)
        .map(|i| {
            let spec = manifold_tests::ImageSpec::linux("amd64").seed(1000 + i);
            manifold_tests::fixtures::push_image(reg, "many", &format!("t{i}"), &spec)
        })
        .collect();
    std::thread::scope(|s| {
        for img in &images {
            let http = w.mf.http();
            s.spawn(move || {
                let body = json!({"operation": "update", "images": [img.reference()]});
                http.put_json("/v4.3.1/libpod/manifests/busy", &body)
                    .assert_status(200);
            });
        }
    });
    let doc = http
        .get("/v4.3.1/libpod/manifests/busy/json")
        .assert_status(200)
        .json();
    let mut got = digests(&doc);
    got.sort();
    let mut want: Vec<String> = images.iter().map(|i| i.digest.clone()).collect();
    want.sort();
    assert_eq!(got, want);
    // And they are all on disk: a fresh manifold on the same data directory sees them.
    let again = Manifold::start(ManifoldOptions {
        config: crate::common::insecure_entry(&reg.host()),
        data_dir: Some(w.mf.data_dir().to_path_buf()),
        ..Default::default()
    });
    let doc = again
        .http()
        .get(&format!(
            "/v5.0.0/libpod/manifests/{}/json",
            esc("localhost/busy:latest")
        ))
        .assert_status(200)
        .json();
    assert_eq!(digests(&doc).len(), 20);
}
