//! Raw HTTP against manifold: routes on both trees, podman's exact bodies and status codes,
//! annotate (which the 4.3.1 CLI cannot run remotely), the v3 routes, and every error path.

use base64::Engine as _;
use manifold_tests::fixtures::{self, Format};
use manifold_tests::http::Client;
use serde_json::{json, Value};

use crate::common::{digests, esc, World};

const V4: &str = "/v4.3.1/libpod";
const V5: &str = "/v5.8.0/libpod";
const V3: &str = "/v3.4.0/libpod";

fn create(http: &Client, name: &str) -> String {
    let r = http.post(&format!("{V5}/manifests/{}", esc(name)), "", b"");
    r.assert_status(201);
    r.json()["Id"].as_str().unwrap_or_default().to_string()
}

fn put(http: &Client, name: &str, body: Value) -> (u16, Value) {
    let r = http.put_json(&format!("{V5}/manifests/{}", esc(name)), &body);
    let status = r.status;
    (
        status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn inspect(http: &Client, name: &str) -> Value {
    http.get(&format!("{V5}/manifests/{}/json", esc(name)))
        .assert_status(200)
        .json()
}

fn error_body(status: u16, message: &str, cause: &str) -> Value {
    json!({"cause": cause, "message": message, "response": status})
}

#[test]
fn ping_and_version_on_every_path_form() {
    let w = World::new();
    let http = w.mf.http();
    for path in [
        "/_ping",
        "/v4.3.1/_ping",
        "/libpod/_ping",
        "/v4.3.1/libpod/_ping",
        "/v1.40/_ping",
    ] {
        let r = http.get(path);
        r.assert_status(200);
        assert_eq!(r.text(), "OK");
        let v = r
            .header("Libpod-API-Version")
            .unwrap_or_default()
            .to_string();
        assert!(v.starts_with('5'), "{path}: Libpod-API-Version {v}");
        assert!(r.header("API-Version").is_some());
        assert!(r.header("Server").unwrap_or_default().contains("Libpod"));
        let h = http.head(path);
        h.assert_status(200);
        assert!(h.body.is_empty());
    }
    for path in ["/version", "/v4.3.1/version", "/v4.3.1/libpod/version"] {
        let doc = http.get(path).assert_status(200).json();
        assert!(doc["Components"].is_array(), "{path}: {doc}");
        assert!(doc["ApiVersion"].is_string());
    }
    let r = http.request("GET", "/_ping", &[("X-Reference-Id", "abc123")], b"");
    assert_eq!(r.header("X-Reference-Id"), Some("abc123"));
}

#[test]
fn create_on_both_trees_and_its_errors() {
    let w = World::new();
    let http = w.mf.http();
    let r = http.post(
        &format!("{V3}/manifests/create?name=abc"),
        "application/json",
        b"{}",
    );
    r.assert_status(200);
    let id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    http.get(&format!("{V3}/manifests/{id}/exists"))
        .assert_status(204);
    http.post(&format!("{V4}/manifests/xyz"), "application/json", b"{}")
        .assert_status(201);

    let r = http.post(
        "/v2.0.0/libpod/manifests/create?name=ThisIsInvalid",
        "",
        b"",
    );
    r.assert_status(400);
    assert_eq!(
        r.json(),
        error_body(
            400,
            "invalid image name ThisIsInvalid: invalid reference format: repository name must be lowercase",
            "invalid reference format: repository name must be lowercase"
        )
    );
    http.post(&format!("{V3}/manifests/create"), "", b"")
        .assert_status(400);
    let r = http.post(&format!("{V5}/manifests/xyz"), "", b"");
    r.assert_status(500);
    let body = r.json();
    assert_eq!(body["cause"], "that name is already in use");
    assert_eq!(body["response"], 500);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("localhost/xyz:latest"),
        "{body}"
    );
    http.post(&format!("{V5}/manifests/xyz?amend=true"), "", b"")
        .assert_status(201);
    let r = http.post(&format!("{V5}/manifests/q?all=maybe"), "", b"");
    r.assert_status(400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .contains("schema: error converting value for \"all\""));
    let r = http.post(&format!("{V5}/manifests/q?annotation=noeq"), "", b"");
    r.assert_status(400);
    assert_eq!(
        r.json(),
        error_body(400, "invalid annotation noeq", "invalid annotation noeq")
    );
    // A body that is not JSON.
    let r = http.post(
        &format!("{V5}/manifests/badbody"),
        "application/json",
        b"{bad json",
    );
    r.assert_status(500);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("decoding modifications in request: "));

    // Index annotations from the query, and images from the query.
    let a = esc("{\"ia\":\"ib\"}")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace(':', "%3A");
    let img = esc(&w.singles[0].reference());
    let r = http.post(
        &format!("{V5}/manifests/annotated?annotations={a}&annotation=ik%3Div&images={img}"),
        "",
        b"",
    );
    r.assert_status(201);
    let doc = inspect(&http, "annotated");
    assert_eq!(doc["annotations"], json!({"ia": "ib", "ik": "iv"}));
    assert_eq!(digests(&doc), vec![w.singles[0].digest.clone()]);
    assert_eq!(doc["mediaType"], "application/vnd.oci.image.index.v1+json");

    // A failed image read creates nothing.
    let missing = esc(&format!("{}/app:nosuchtag", w.reg.host()));
    http.post(&format!("{V5}/manifests/never?images={missing}"), "", b"")
        .assert_status(500);
    http.get(&format!("{V5}/manifests/never/exists"))
        .assert_status(404);
}

#[test]
fn exists_inspect_and_media_types() {
    let w = World::new();
    let http = w.mf.http();
    let r = http.get(&format!("{V5}/manifests/nolist/exists"));
    r.assert_status(404);
    assert_eq!(
        r.json(),
        error_body(404, "manifest not found", "manifest not found")
    );
    create(&http, "mt");
    let doc = inspect(&http, "mt");
    assert_eq!(
        doc["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert_eq!(doc["manifests"], json!([]));
    let (status, _) = put(
        &http,
        "mt",
        json!({"operation": "update", "images": [w.singles[0].reference()]}),
    );
    assert_eq!(status, 200);
    let doc = inspect(&http, "mt");
    assert_eq!(doc["mediaType"], "application/vnd.oci.image.index.v1+json");
    let r = http.get(&format!("{V5}/manifests/mt/json"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(r.body.ends_with(b"}\n"), "compact JSON with one newline");
    // Features make it a Docker list.
    let digest = w.singles[0].digest.clone();
    let (status, _) = put(
        &http,
        "mt",
        json!({"operation": "annotate", "images": [digest], "features": ["sse4"]}),
    );
    assert_eq!(status, 200);
    let doc = inspect(&http, "mt");
    assert_eq!(
        doc["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert_eq!(doc["manifests"][0]["platform"]["features"], json!(["sse4"]));
    let r = http.get(&format!("{V5}/manifests/nolist/json"));
    r.assert_status(404);
    assert_eq!(r.json()["response"], 404);
}

#[test]
fn remote_inspect_reads_the_registry() {
    let w = World::new();
    let index = fixtures::push_index(
        &w.reg,
        "multi",
        "v1",
        &fixtures::six_platforms(),
        Format::Oci,
    );
    let http = w.mf.http();
    let doc = inspect(&http, &index.reference());
    let want: Vec<String> = index.children.iter().map(|c| c.digest.clone()).collect();
    assert_eq!(digests(&doc), want);
    assert_eq!(doc["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(
        doc["manifests"][5]["platform"]["os.version"],
        "10.0.17763.1234"
    );
    let r = http.get(&format!(
        "{V5}/manifests/{}/json",
        esc(&format!("{}/multi:nosuchtag", w.reg.host()))
    ));
    r.assert_status(404);
    assert_eq!(r.json()["cause"], "manifest unknown");
}

#[test]
fn modify_update_remove_and_reports() {
    let w = World::new();
    let http = w.mf.http();
    let id = create(&http, "mod");
    let (a, b) = (w.singles[0].reference(), w.singles[1].reference());
    let (status, body) = put(
        &http,
        "mod",
        json!({"Operation": "UPDATE", "Images": [a, b], "SkipTLSVerify": true, "Password": "x"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"Id": id, "images": [a, b]}));
    // No images: a no-op that reports the ID.
    let (status, body) = put(&http, "mod", json!({"operation": "update"}));
    assert_eq!((status, body), (200, json!({"Id": id})));
    // A failing image: 400 with only errors, and nothing added.
    let missing = format!("{}/app:nosuchtag", w.reg.host());
    let (status, body) = put(
        &http,
        "mod",
        json!({"operation": "update", "images": [w.singles[2].reference(), missing]}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.get("images").is_none());
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or("")
            .contains("manifest unknown"),
        "{body}"
    );
    assert_eq!(digests(&inspect(&http, "mod")).len(), 2);
    // Remove: one good, one bogus -> 409 partial.
    let d0 = w.singles[0].digest.clone();
    let (status, body) = put(
        &http,
        "mod",
        json!({"operation": "remove", "images": [d0, "bogus"]}),
    );
    assert_eq!(status, 409, "{body}");
    let msg = "invalid image digest \"bogus\": invalid checksum digest format";
    assert_eq!(
        body,
        json!({"Id": id, "images": [d0], "errors": [msg],
               "cause": "invalid checksum digest format", "message": msg, "response": 409})
    );
    let (status, body) = put(&http, "mod", json!({"operation": "remove", "images": [d0]}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or("")
            .contains("no instance matching digest"),
        "{body}"
    );
    // Re-adding a present digest moves it to the end.
    put(&http, "mod", json!({"operation": "update", "images": [a]}));
    put(&http, "mod", json!({"operation": "update", "images": [b]}));
    assert_eq!(
        digests(&inspect(&http, "mod")),
        vec![d0, w.singles[1].digest.clone()]
    );
}

#[test]
fn modify_error_paths() {
    let w = World::new();
    let http = w.mf.http();
    let id = create(&http, "errs");
    let path = format!("{V5}/manifests/errs");
    let r = http.request("PUT", &path, &[], b"");
    r.assert_status(500);
    assert_eq!(
        r.json(),
        error_body(500, "decoding modify request: EOF", "EOF")
    );
    let r = http.request("PUT", &path, &[], b"{\"operation\": -x}");
    r.assert_status(500);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("decoding modify request: invalid character"));
    let r = http.put_json(
        &path,
        &json!({"operation": "update", "annotation": {"k": "v"}}),
    );
    r.assert_status(500);
    assert_eq!(
        r.json()["cause"],
        "json: cannot unmarshal object into Go struct field ManifestModifyOptions.annotation of type []string"
    );
    let r = http.put_json(
        &format!("{V5}/manifests/nolist"),
        &json!({"operation": "update"}),
    );
    r.assert_status(404);
    assert_eq!(
        r.json(),
        error_body(404, "nolist: image not known", "image not known")
    );
    let r = http.put_json(
        &path,
        &json!({"operation": "update", "annotations": {"foo": "bar"}, "annotation": ["hoge=fuga"]}),
    );
    r.assert_status(400);
    assert_eq!(
        r.json()["cause"],
        "can not set both Annotation and Annotations"
    );
    let r = http.put_json(
        &path,
        &json!({"operation": "annotate", "index_annotation": ["noeq"]}),
    );
    r.assert_status(400);
    assert_eq!(
        r.json(),
        error_body(
            400,
            "no value given for annotation \"noeq\"",
            "no value given for annotation \"noeq\""
        )
    );
    let r = http.put_json(&path, &json!({"operation": "frobnicate"}));
    r.assert_status(400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("illegal operation \"frobnicate\""));
    let r = http.put_json(
        &format!("{path}?tlsVerify=maybe"),
        &json!({"operation": "update"}),
    );
    r.assert_status(400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("tlsVerify param is not a bool"));
    let r = http.request(
        "PUT",
        &path,
        &[("X-Registry-Auth", "!!!not-base64")],
        b"{\"operation\":\"update\"}",
    );
    r.assert_status(400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("failed to parse \"X-Registry-Auth\" header"));
    let r = http.put_json(
        &path,
        &json!({"operation": "annotate", "annotations": {"a": "b"}}),
    );
    r.assert_status(400);
    let msg = "setting annotation on an item in a manifest list requires an instance digest";
    assert_eq!(
        r.json(),
        json!({"Id": id, "errors": [msg], "cause": msg, "message": msg, "response": 400})
    );
    let r = http.put_json(
        &path,
        &json!({"operation": "update", "images": ["containers-storage:localhost/img:amd64"]}),
    );
    r.assert_status(400);
    assert!(r.json()["errors"][0]
        .as_str()
        .unwrap_or("")
        .contains("push the image to a registry first"));
    // A multipart (artifact) upload is refused with a reason.
    let r = http.request(
        "PUT",
        &path,
        &[("Content-Type", "multipart/form-data; boundary=x")],
        b"--x--\r\n",
    );
    r.assert_status(400);
    // Too large a body.
    let big = vec![b' '; 2 << 20];
    let r = http.request("PUT", &path, &[], &big);
    r.assert_status(413);
}

/// A body value of the wrong type is podman's answer: Go's json decoder fails, and the handler
/// answers 500 with `decoding modify request: <Go's error>` and that error as the cause. Nothing
/// in the list changes.
#[test]
fn modify_bodies_with_wrong_types_get_podmans_error() {
    let w = World::new();
    let http = w.mf.http();
    create(&http, "typed");
    let path = format!("{V5}/manifests/typed");
    let image = w.singles[0].reference();
    for (body, field, found, go_type) in [
        (
            r#"{"operation": 5}"#.to_string(),
            "operation",
            "number",
            "string",
        ),
        (
            format!(r#"{{"Operation": "update", "images": "{image}"}}"#),
            "images",
            "string",
            "[]string",
        ),
        (
            format!(r#"{{"operation": "update", "images": ["{image}"], "all": "true"}}"#),
            "all",
            "string",
            "bool",
        ),
    ] {
        let r = http.request("PUT", &path, &[], body.as_bytes());
        r.assert_status(500);
        let cause = format!(
            "json: cannot unmarshal {found} into Go struct field ManifestModifyOptions.{field} of type {go_type}"
        );
        assert_eq!(
            r.json(),
            error_body(500, &format!("decoding modify request: {cause}"), &cause),
            "{body}"
        );
    }
    assert_eq!(inspect(&http, "typed")["manifests"], json!([]));
    // The v3 add body and the create body are decoded by the same rules.
    let r = http.request(
        "POST",
        &format!("{V3}/manifests/typed/add"),
        &[],
        format!(r#"{{"images": ["{image}"], "TLSVerify": "no"}}"#).as_bytes(),
    );
    r.assert_status(500);
    let cause = "json: cannot unmarshal string into Go struct field .TLSVerify of type bool";
    assert_eq!(
        r.json(),
        error_body(500, &format!("decoding AddV3 query: {cause}"), cause)
    );
    let r = http.post(
        &format!("{V5}/manifests/typed2"),
        "application/json",
        br#"{"operation": 5}"#,
    );
    r.assert_status(500);
    assert_eq!(
        r.json()["message"],
        "decoding modifications in request: json: cannot unmarshal number into Go struct field ManifestModifyOptions.operation of type string"
    );
}

#[test]
fn annotate_instances_and_index() {
    let w = World::new();
    let http = w.mf.http();
    let id = create(&http, "ann");
    let subject = w.singles[5].reference();
    put(
        &http,
        "ann",
        json!({"operation": "update", "images": [w.singles[0].reference(), w.singles[1].reference()]}),
    );
    let d0 = w.singles[0].digest.clone();
    let (status, body) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "images": [d0], "annotations": {"foo2": "bar2"}, "os": "foo"}),
    );
    assert_eq!((status, body), (200, json!({"Id": id, "images": [d0]})));
    let (status, _) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "images": [d0], "annotation": ["hoge2=fuga2"]}),
    );
    assert_eq!(status, 200);
    // By image reference instead of digest.
    let (status, body) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "images": [w.singles[1].reference()], "arch": "mips"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "index_annotations": {"ik": "iv"}, "subject": subject}),
    );
    assert_eq!((status, body), (200, json!({"Id": id})));
    let doc = inspect(&http, "ann");
    assert_eq!(
        doc["manifests"][0]["annotations"],
        json!({"foo2": "bar2", "hoge2": "fuga2"})
    );
    assert_eq!(doc["manifests"][0]["platform"]["os"], "foo");
    assert_eq!(doc["manifests"][1]["platform"]["architecture"], "mips");
    assert_eq!(doc["annotations"], json!({"ik": "iv"}));
    assert_eq!(doc["subject"]["digest"], w.singles[5].digest);
    assert_eq!(doc["subject"]["size"], w.singles[5].size);
    let (status, body) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "images": [d0], "index_annotations": {"x": "y"}}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0],
        "setting index-wide annotation in a manifest list requires no instance digest"
    );
    let other = manifold_tests::sha256_digest(b"not in the list");
    let (status, _) = put(
        &http,
        "ann",
        json!({"operation": "annotate", "images": [other], "os": "x"}),
    );
    assert_eq!(status, 400);
}

#[test]
fn v3_add_remove_push_and_delete() {
    let w = World::new();
    let http = w.mf.http();
    let id = http
        .post(&format!("{V3}/manifests/create?name=old"), "", b"")
        .json()["Id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = http.post_json(&format!("{V3}/manifests/old/add"), &json!({"images": [w.singles[0].reference(), w.singles[1].reference()], "annotation": ["a=b"]}));
    r.assert_status(200);
    assert_eq!(r.json(), json!({"Id": id}));
    let r = http.post_json(&format!("{V3}/manifests/old/add"), &json!({"images": []}));
    r.assert_status(500);
    assert_eq!(
        r.json()["cause"],
        "manifest add requires at least one image"
    );
    http.post(
        &format!("{V3}/manifests/old/add"),
        "application/json",
        b"{x",
    )
    .assert_status(500);
    http.post_json(
        &format!("{V3}/manifests/nolist/add"),
        &json!({"images": ["x"]}),
    )
    .assert_status(404);
    let r = http.delete(&format!("{V3}/manifests/old?digest=!234"));
    r.assert_status(400);
    assert_eq!(
        r.json(),
        error_body(
            400,
            "invalid checksum digest format",
            "invalid checksum digest format"
        )
    );
    let other = manifold_tests::sha256_digest(b"x");
    let r = http.delete(&format!("{V3}/manifests/old?digest={other}"));
    r.assert_status(500);
    assert!(r.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("no instance matching digest"));
    http.delete(&format!("{V3}/manifests/nolist?digest={other}"))
        .assert_status(404);
    let d0 = w.singles[0].digest.clone();
    http.delete(&format!("{V3}/manifests/old?digest={d0}"))
        .assert_status(200);
    assert_eq!(
        digests(&inspect(&http, "old")),
        vec![w.singles[1].digest.clone()]
    );

    // A push refused for a bad parameter answers without pushing, with the standard libpod
    // headers all the same.
    let r = http.request(
        "POST",
        &format!("{V3}/manifests/old/push?destination=localhost%2Fx&all=maybe"),
        &[("X-Reference-Id", "push400")],
        b"",
    );
    r.assert_status(400);
    assert_eq!(r.json()["response"], 400);
    assert!(r
        .header("Libpod-API-Version")
        .unwrap_or_default()
        .starts_with('5'));
    assert_eq!(r.header("X-Reference-Id"), Some("push400"));

    // v4 delete: the whole list; again: 404; with ignore: 200.
    let r = http.delete(&format!("{V5}/manifests/old"));
    r.assert_status(200);
    assert_eq!(
        r.json(),
        json!({"Deleted": [id], "Untagged": ["localhost/old:latest"], "ExitCode": 0, "Errors": []})
    );
    let r = http.delete(&format!("{V5}/manifests/old"));
    r.assert_status(404);
    assert_eq!(
        r.json(),
        error_body(404, "old: image not known", "image not known")
    );
    let r = http.delete(&format!("{V5}/manifests/old?ignore=true"));
    r.assert_status(200);
    assert_eq!(r.json(), json!({"ExitCode": 0, "Errors": []}));
}

#[test]
fn images_remove_with_lookupmanifest() {
    let w = World::new();
    let http = w.mf.http();
    let id = create(&http, "ml:v1");
    let r = http.delete(&format!("{V4}/images/remove?all=false&force=false&ignore=false&images=ml%3Av1&lookupmanifest=true&noprune=false"));
    r.assert_status(200);
    assert_eq!(
        r.json(),
        json!({"Deleted": [id], "Untagged": ["localhost/ml:v1"], "ExitCode": 0, "Errors": null})
    );
    let r = http.delete(&format!(
        "{V4}/images/remove?images=ml%3Av1&lookupmanifest=true"
    ));
    r.assert_status(200);
    assert_eq!(
        r.json(),
        json!({"ExitCode": 1, "Errors": ["ml:v1: image not known"]})
    );
    let r = http.delete(&format!(
        "{V4}/images/remove?images=ml%3Av1&lookupmanifest=true&ignore=true"
    ));
    assert_eq!(r.json()["ExitCode"], 0);
}

#[test]
fn routing_quirks_and_hostile_paths() {
    let w = World::new();
    let http = w.mf.http();
    // Greedy names on the v4 tree: POST …/foo/add creates a list named foo/add.
    http.post(&format!("{V5}/manifests/foo/add"), "", b"")
        .assert_status(201);
    http.get(&format!("{V5}/manifests/foo%2Fadd/exists"))
        .assert_status(204);
    http.get(&format!("{V5}/manifests/foo/add/exists"))
        .assert_status(204);
    let r = http.get(&format!("{V5}/manifests/xyz"));
    r.assert_status(405);
    assert_eq!(r.text(), "Method Not Allowed\n");
    // Unversioned manifest paths are not manifest routes (podman: 404); without a backend they
    // get the no-backend error.
    assert_ne!(http.get("/libpod/manifests/xyz/json").status, 200);
    // Nothing a client sends crashes manifold.
    let hostile = [
        "/v5.0.0/libpod/manifests/%ff%fe/json",
        "/v5.0.0/libpod/manifests/%/json",
        "/v5.0.0/libpod/manifests/..%2F..%2Fetc%2Fpasswd/json",
        "/v5.0.0/libpod/manifests/a/registry/",
        "/v5.0.0/libpod/manifests//registry//",
        "/v5.0.0/libpod/manifests/x?all=%zz",
        "/v9.9.9/libpod/manifests/create?name=%00",
    ];
    for path in hostile {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let r = http.request(method, path, &[], b"{}");
            assert!(r.status >= 200 && r.status < 600, "{method} {path}");
        }
    }
    let auth = base64::engine::general_purpose::URL_SAFE.encode(b"{\"username\":");
    let r = http.request(
        "GET",
        &format!("{V5}/manifests/{}/json", esc(&w.singles[0].reference())),
        &[("X-Registry-Auth", &auth)],
        b"",
    );
    r.assert_status(400);
    // Still alive and well.
    http.get("/_ping").assert_status(200);
}
