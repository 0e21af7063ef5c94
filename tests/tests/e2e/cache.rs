//! The manifest cache seen from outside: requests counted in a real registry's access log
//! while clients add through manifold.

use std::time::Duration;

use base64::Engine as _;
use manifold_tests::fixtures;
use manifold_tests::registry::count;
use manifold_tests::{ImageSpec, Manifold, ManifoldOptions, Registry, RegistryAuth};
use serde_json::json;

use crate::common::insecure_entry;

fn manifold_with_cache(reg: &Registry, cache: &str) -> Manifold {
    Manifold::start(ManifoldOptions::with_config(&format!(
        "[cache]\n{cache}\n\n{}",
        insecure_entry(&reg.host())
    )))
}

#[test]
fn fifty_concurrent_adds_cost_one_fetch_then_ttl_then_stale() {
    let mut reg = Registry::plain();
    let img = fixtures::push_image(&reg, "base", "v1", &ImageSpec::linux("amd64").seed(77));
    // A TTL of two seconds keeps the "within the TTL" step clear of a slow, loaded machine.
    let mf = manifold_with_cache(&reg, "tag_ttl = \"2s\"\nmax_stale = \"1h\"");
    let http = mf.http();
    for i in 0..50 {
        http.post(&format!("/v5.0.0/libpod/manifests/c{i}"), "", b"")
            .assert_status(201);
    }
    let manifest_path = "/v2/base/manifests/v1";
    let config_path = format!("/v2/base/blobs/{}", img.config_digest);
    let mark = reg.access_mark();
    std::thread::scope(|s| {
        for i in 0..50 {
            let http = mf.http();
            let reference = img.reference();
            s.spawn(move || {
                let body = json!({"operation": "update", "images": [reference]});
                http.put_json(&format!("/v5.0.0/libpod/manifests/c{i}"), &body)
                    .assert_status(200);
            });
        }
    });
    let lines = reg.access_log_since(mark);
    assert_eq!(count(&lines, "GET", manifest_path), 1, "{lines:#?}");
    assert_eq!(count(&lines, "GET", &config_path), 1, "{lines:#?}");

    // Within the TTL: no request at all.
    let mark = reg.access_mark();
    let body = json!({"operation": "update", "images": [img.reference()]});
    http.put_json("/v5.0.0/libpod/manifests/c0", &body)
        .assert_status(200);
    assert!(reg.access_log_since(mark).is_empty());

    // After the TTL: one HEAD revalidates, no GET.
    std::thread::sleep(Duration::from_millis(2200));
    let mark = reg.access_mark();
    http.put_json("/v5.0.0/libpod/manifests/c1", &body)
        .assert_status(200);
    let lines = reg.access_log_since(mark);
    assert_eq!(count(&lines, "HEAD", manifest_path), 1, "{lines:#?}");
    assert_eq!(count(&lines, "GET", "/v2/base/"), 0, "{lines:#?}");

    // The registry is gone: an expired entry within max_stale still answers.
    std::thread::sleep(Duration::from_millis(2200));
    reg.stop();
    http.put_json("/v5.0.0/libpod/manifests/c2", &body)
        .assert_status(200);
    let doc = http
        .get("/v5.0.0/libpod/manifests/c2/json")
        .assert_status(200)
        .json();
    assert_eq!(doc["manifests"][0]["digest"], img.digest);
}

#[test]
fn a_cached_image_is_refused_to_a_client_without_credentials() {
    let reg = Registry::start(RegistryAuth::basic("carol", "cache-s3cret"));
    let img = fixtures::push_image(&reg, "private", "v1", &ImageSpec::linux("amd64").seed(78));
    let mf = manifold_with_cache(&reg, "tag_ttl = \"30s\"");
    let http = mf.http();
    http.post("/v5.0.0/libpod/manifests/withcreds", "", b"")
        .assert_status(201);
    http.post("/v5.0.0/libpod/manifests/nocreds", "", b"")
        .assert_status(201);
    let auth = base64::engine::general_purpose::URL_SAFE
        .encode(br#"{"username":"carol","password":"cache-s3cret"}"#);
    let body = serde_json::to_vec(&json!({"operation": "update", "images": [img.reference()]}))
        .expect("json");
    http.request(
        "PUT",
        "/v5.0.0/libpod/manifests/withcreds",
        &[("X-Registry-Auth", &auth)],
        &body,
    )
    .assert_status(200);
    // The same reference, now cached, without credentials: refused, nothing added.
    let r = http.request(
        "PUT",
        "/v5.0.0/libpod/manifests/nocreds",
        &[("X-Registry-Auth", "e30=")],
        &body,
    );
    r.assert_status(400);
    let errors = r.json()["errors"].to_string();
    assert!(
        errors.contains("unauthorized") || errors.contains("authentication required"),
        "{errors}"
    );
    let doc = http
        .get("/v5.0.0/libpod/manifests/nocreds/json")
        .assert_status(200)
        .json();
    assert_eq!(doc["manifests"], json!([]));
    assert!(!mf.log().contains("cache-s3cret"));
}
