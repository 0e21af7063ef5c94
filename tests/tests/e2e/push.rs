//! Push (`docs/libpod-api.md#manifest-push`, `docs/libpod-api.md#v3-push`,
//! `docs/libpod-api.md#push-semantics`): lists composed in manifold are pushed registry to registry
//! by the podman 4.3.1 CLI, podman-py and raw HTTP, and every result is checked on the destination
//! registry by raw HTTP, independently of manifold: the index digest is the reported `Id` (or
//! `--digestfile`), every child is there byte for byte by digest, every blob is there with its
//! size. The registries' access logs show how the copy was made (mount, streamed copy, nothing at
//! all on a re-push), and failed pushes leave the destination tag where it was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use manifold_tests::fixtures::{self, Format, ImageSpec, PushedImage, DOCKER_LIST, OCI_INDEX};
use manifold_tests::http::{Client, Response};
use manifold_tests::podman::Podman;
use manifold_tests::registry::{AccessLine, RegistryOptions};
use manifold_tests::token_server::parse_query;
use manifold_tests::{run_podman_py, Manifold, ManifoldOptions, Output, Registry, RegistryAuth};
use serde_json::{json, Value};

use crate::common::{esc, insecure_entry, manifold_for, World};

const V5: &str = "/v5.0.0/libpod";
const V4: &str = "/v4.3.1/libpod";
const V3: &str = "/v3.4.0/libpod";

/// The query the podman 4.3.1 CLI sends for `manifest push --all --tls-verify=false`
/// (`docs/libpod-api.md#podman-431-cli`), minus `quiet`.
const CLI431: &str = "all=true&authfile=&compressionformat=&format=&password=&removesignatures=false&tlsVerify=false&username=";

// ---------------------------------------------------------------------------------------------
// Composing lists and pushing them.

/// base64url (padded) of a JSON value, as Go clients encode `X-Registry-Auth`.
fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE
        .encode(serde_json::to_vec(v).expect("serialise auth JSON"))
}

/// A single-credential `X-Registry-Auth` value (what `--creds user:pass` sends).
fn single_auth(user: &str, pass: &str) -> String {
    b64(&json!({"username": user, "password": pass}))
}

/// The credentials of an auth registry.
fn creds_of(reg: &Registry) -> (String, String) {
    reg.creds().expect("an auth registry has credentials")
}

/// Creates list `name` in manifold holding `images` (added by reference in one modify call),
/// sending `auth` as `X-Registry-Auth` on the add. Returns the list ID.
fn compose(http: &Client, name: &str, images: &[&PushedImage], auth: Option<&str>) -> String {
    let r = http.post(&format!("{V5}/manifests/{}", esc(name)), "", b"");
    r.assert_status(201);
    let id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    let refs: Vec<String> = images.iter().map(|i| i.reference()).collect();
    let body = serde_json::to_vec(&json!({"operation": "update", "images": refs}))
        .expect("serialise modify body");
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = auth {
        headers.push(("X-Registry-Auth", a));
    }
    http.request(
        "PUT",
        &format!("{V5}/manifests/{}", esc(name)),
        &headers,
        &body,
    )
    .assert_status(200);
    id
}

/// Composes list `name` from `images` without credentials, and returns them as the list's
/// children, in order, for the checks.
fn compose_list<'i>(http: &Client, name: &str, images: &'i [PushedImage]) -> Vec<&'i PushedImage> {
    let children: Vec<&PushedImage> = images.iter().collect();
    compose(http, name, &children, None);
    children
}

/// `POST /v5.0.0/libpod/manifests/{name}/registry/{dest}?{query}`.
fn push_path(name: &str, dest: &str, query: &str) -> String {
    format!(
        "{V5}/manifests/{}/registry/{}?{query}",
        esc(name),
        esc(dest)
    )
}

/// `POST /v3.4.0/libpod/manifests/{name}/push?destination={dest}&{query}`: v3 takes the
/// destination in the query, escaped.
fn v3_push(http: &Client, name: &str, dest: &str, query: &str) -> Response {
    let dest = dest.replace('/', "%2F").replace(':', "%3A");
    http.post(
        &format!("{V3}/manifests/{name}/push?destination={dest}&{query}"),
        "",
        b"",
    )
}

/// A raw push, read to the end.
fn push(http: &Client, name: &str, dest: &str, query: &str, headers: &[(&str, &str)]) -> Response {
    http.request("POST", &push_path(name, dest, query), headers, b"")
}

/// A quiet raw push that must succeed: returns the `Id` of the single `{"Id": …}` object.
#[track_caller]
fn push_ok(http: &Client, name: &str, dest: &str, query: &str, headers: &[(&str, &str)]) -> String {
    let r = push(http, name, dest, query, headers);
    r.assert_status(200);
    quiet_id(&r)
}

/// The usual quiet push, which must succeed: every child, TLS verification off (the test
/// registries speak plain HTTP), no credentials. Returns the `Id`.
#[track_caller]
fn push_all_ok(http: &Client, name: &str, dest: &str) -> String {
    push_ok(http, name, dest, "all=true&tlsVerify=false", &[])
}

/// The `Id` of a quiet push reply, checking that the body is exactly one `{"Id": "sha256:…"}`.
#[track_caller]
fn quiet_id(r: &Response) -> String {
    let body = r.json();
    let id = body["Id"].as_str().unwrap_or_default().to_string();
    assert_eq!(body, json!({ "Id": id }), "a quiet push answers one object");
    assert_digest(&id);
    id
}

#[track_caller]
fn assert_digest(d: &str) {
    let hex = d.strip_prefix("sha256:").unwrap_or_default();
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not a sha256 digest: {d:?}"
    );
}

/// The `message` of a libpod error body (checking `response` equals the status).
#[track_caller]
fn error_message(r: &Response) -> String {
    let body = r.json();
    assert_eq!(body["response"], r.status, "error body: {body}");
    body["message"].as_str().unwrap_or_default().to_string()
}

/// A push that must be refused: quiet, a 400 error body; with `quiet=false` in `query`, either
/// a 400 error body or a 200 stream of exactly one error line. Returns the message.
#[track_caller]
fn refusal(http: &Client, name: &str, dest: &str, query: &str) -> String {
    let r = push(http, name, dest, query, &[]);
    if r.status == 200 && query.contains("quiet=false") {
        let reports: Vec<Value> = r
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert_eq!(reports.len(), 1, "{query}: {reports:?}");
        match read_reports(&reports) {
            (_, Outcome::Error(e)) => return e,
            other => panic!("{query}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(r.status, 400, "{query}: {}", r.text());
    error_message(&r)
}

/// How a progress stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Id(String),
    Error(String),
}

/// A streamed push (`quiet=false`): the HTTP status and the decoded report objects.
fn push_stream(
    http: &Client,
    name: &str,
    dest: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<Value>) {
    let s = http.stream("POST", &push_path(name, dest, query), headers, b"");
    let status = s.status;
    let reports = s
        .lines()
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(&l)
                .unwrap_or_else(|e| panic!("stream line is not JSON ({e}): {l}"))
        })
        .collect();
    (status, reports)
}

/// A streamed push that must fail inside the push: a 200 whose stream ends in an error line.
/// Returns the error; `what` says why it must fail.
#[track_caller]
fn streamed_error(http: &Client, name: &str, dest: &str, query: &str, what: &str) -> String {
    let (status, reports) = push_stream(http, name, dest, query, &[]);
    assert_eq!(status, 200);
    let (_, outcome) = read_reports(&reports);
    let Outcome::Error(e) = outcome else {
        panic!("{what}: {reports:?}")
    };
    e
}

/// Checks a ManifestPushReport stream (`docs/libpod-api.md#push-stream`): every object has a string
/// `Id` and only the keys `Id`, `stream`, `error`; none has all three empty; progress lines carry
/// only `stream` (ending in a newline); the stream ends with exactly one terminator,
/// `{"Id":"sha256:…"}` or `{"Id":"","error":"…"}`. Returns the progress texts and the outcome.
#[track_caller]
fn read_reports(reports: &[Value]) -> (Vec<String>, Outcome) {
    assert!(!reports.is_empty(), "an empty push stream");
    let mut streams = vec![];
    for (i, v) in reports.iter().enumerate() {
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("report {i} is not an object: {v}"));
        assert!(
            obj.get("Id").is_some_and(Value::is_string),
            "report {i} lacks a string Id: {v}"
        );
        for k in obj.keys() {
            assert!(
                ["Id", "stream", "error"].contains(&k.as_str()),
                "report {i} has an unexpected key {k}: {v}"
            );
        }
        let field = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("");
        let (id, stream, error) = (field("Id"), field("stream"), field("error"));
        assert!(
            !(id.is_empty() && stream.is_empty() && error.is_empty()),
            "report {i} has Id, stream and error all empty (clients fail on it): {v}"
        );
        let last = i + 1 == reports.len();
        if !stream.is_empty() {
            assert!(
                id.is_empty() && error.is_empty(),
                "a progress line carries only stream: {v}"
            );
            assert!(stream.ends_with('\n'), "progress lines end with \\n: {v}");
            assert!(!last, "the stream ended without a terminator: {v}");
            streams.push(stream.to_string());
            continue;
        }
        assert!(
            last,
            "report {i} terminates the stream but more follow: {v}"
        );
        if !error.is_empty() {
            assert_eq!(id, "", "an error terminator has an empty Id: {v}");
            return (streams, Outcome::Error(error.to_string()));
        }
        assert_eq!(
            obj.len(),
            1,
            "the success terminator is {{\"Id\":…}} only: {v}"
        );
        assert_digest(id);
        return (streams, Outcome::Id(id.to_string()));
    }
    unreachable!("the loop returns at the last report")
}

/// Runs `podman manifest push ARGS… LIST DEST` with the 4.3.1 CLI.
fn cli_push(p: &Podman, opts: &[&str], list: &str, dest: &str) -> Output {
    let mut args = vec!["manifest", "push"];
    args.extend_from_slice(opts);
    args.push(list);
    args.push(dest);
    p.run(&args)
}

/// The digest `--digestfile` wrote.
fn read_digestfile(path: &Path) -> String {
    let d = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read digest file {}: {e}", path.display()))
        .trim()
        .to_string();
    assert_digest(&d);
    d
}

/// Runs `podman manifest push OPTS… --digestfile FILE LIST DEST`, which must succeed (`what`
/// names it), and returns its output and the digest written to FILE.
#[track_caller]
fn cli_push_digest(
    p: &Podman,
    opts: &[&str],
    list: &str,
    dest: &str,
    what: &str,
) -> (Output, String) {
    let digestfile = p.env().path().join("digest");
    let path = digestfile.to_string_lossy();
    let mut args = opts.to_vec();
    args.extend(["--digestfile", &path]);
    let out = cli_push(p, &args, list, dest);
    out.assert_success(what);
    let digest = read_digestfile(&digestfile);
    (out, digest)
}

/// What a registry's refusal for want of credentials says: one of these, in some case.
const DENIED: [&str; 3] = ["unauthorized", "authentication required", "denied"];

/// `docker://HOST/REPO:TAG` of `reg`.
fn docker_dest(reg: &Registry, repo: &str, tag: &str) -> String {
    format!("docker://{}:{tag}", reg.repo_ref(repo))
}

/// `HOST/REPO:TAG` of `reg` (no transport).
fn dest_ref(reg: &Registry, repo: &str, tag: &str) -> String {
    format!("{}:{tag}", reg.repo_ref(repo))
}

/// A plain source registry holding the six single-platform images (`app:<arch>`), and a
/// manifold whose configuration lists it and `others` as insecure registries (manifold refuses
/// registries its configuration does not list).
fn world_with(others: &[&Registry]) -> World {
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "app");
    let mut all = vec![&reg];
    all.extend_from_slice(others);
    let mf = manifold_for(&all);
    World { reg, singles, mf }
}

/// Pushes an unrelated single image as `repo:tag` ("the older version of the tag").
fn old_version(reg: &Registry, repo: &str, tag: &str) -> PushedImage {
    fixtures::push_image(
        reg,
        repo,
        tag,
        &ImageSpec::linux("amd64").seed(999).label("version", "old"),
    )
}

#[track_caller]
fn assert_output_mentions(out: &Output, words: &[&str]) {
    let text = format!("{}\n{}", out.stdout, out.stderr).to_lowercase();
    assert!(
        words.iter().any(|w| text.contains(w)),
        "expected one of {words:?} in the output:\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout,
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Checking what the destination registry holds.

/// Every blob (config and layers) of `children`, deduplicated, with its size.
fn blob_sizes(children: &[&PushedImage]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for c in children {
        m.insert(c.config_digest.clone(), c.config.len() as u64);
        for (d, s) in c.layer_digests.iter().zip(&c.layer_sizes) {
            m.insert(d.clone(), *s);
        }
    }
    m
}

/// The layer digests of `children`, deduplicated and sorted: what a push across registries
/// reads from the source. Configs are not read again: manifold read them when the images were
/// added and writes them from memory.
fn layer_digests(children: &[&PushedImage]) -> Vec<String> {
    let layers: std::collections::BTreeSet<&String> =
        children.iter().flat_map(|c| &c.layer_digests).collect();
    layers.into_iter().cloned().collect()
}

/// Checks `repo:tag` in `reg` by raw HTTP: the index digest is `id`, its media type (header and
/// body) is `media_type`, its entries are `children` in order (digest, size, media type), every
/// child is served by digest byte for byte as in the source, and every blob is present with
/// its size. Returns the index JSON.
#[track_caller]
fn assert_pushed(
    reg: &Registry,
    repo: &str,
    tag: &str,
    id: &str,
    children: &[&PushedImage],
    media_type: &str,
) -> Value {
    let index = fixtures::get_manifest(reg, repo, tag);
    assert_eq!(
        index.computed_digest(),
        id,
        "{repo}:{tag}: the served index's digest is the reported Id"
    );
    assert_eq!(index.content_type, media_type, "{repo}:{tag}: Content-Type");
    let doc = index.json();
    assert_eq!(doc["mediaType"], media_type, "{repo}:{tag}: mediaType");
    assert_eq!(doc["schemaVersion"], 2);
    let entries = doc["manifests"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries.len(),
        children.len(),
        "{repo}:{tag}: entries: {doc}"
    );
    for (e, c) in entries.iter().zip(children) {
        assert_eq!(e["digest"], c.digest.as_str(), "{doc}");
        assert_eq!(e["size"], c.size, "{doc}");
        assert_eq!(
            e["mediaType"],
            c.media_type.as_str(),
            "children keep their media type: {doc}"
        );
        assert_eq!(
            e["platform"]["architecture"],
            c.platform.architecture.as_str()
        );
        assert_eq!(e["platform"]["os"], c.platform.os.as_str());
        let child = fixtures::get_manifest(reg, repo, &c.digest);
        assert!(
            child.bytes == c.manifest,
            "{repo}@{}: the child differs from the source bytes",
            c.digest
        );
        assert_eq!(child.content_type, c.media_type);
    }
    for (d, size) in blob_sizes(children) {
        assert_eq!(
            fixtures::head_blob(reg, repo, &d),
            Some(size),
            "{repo}: blob {d} present with its size"
        );
    }
    doc
}

/// Checks that `repo:tag` still points at `digest` (a failed push never moves the tag).
#[track_caller]
fn assert_untouched(reg: &Registry, repo: &str, tag: &str, digest: &str) {
    let served = fixtures::get_manifest(reg, repo, tag);
    assert_eq!(
        served.computed_digest(),
        digest,
        "a failed push must not move {repo}:{tag}"
    );
}

/// Checks that `repo:tag` does not exist in `reg`.
#[track_caller]
fn assert_no_tag(reg: &Registry, repo: &str, tag: &str) {
    assert!(
        fixtures::try_get_manifest(reg, repo, tag).is_none(),
        "{repo}:{tag} must not exist"
    );
}

// ---------------------------------------------------------------------------------------------
// Reading access logs.

/// The decoded value of query parameter `key` of an access-log line.
fn uri_param(l: &AccessLine, key: &str) -> Option<String> {
    let (_, q) = l.uri.split_once('?')?;
    parse_query(q)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn is_blob_get(l: &AccessLine) -> bool {
    l.method == "GET" && l.path.contains("/blobs/sha256:")
}

fn is_write(l: &AccessLine) -> bool {
    !matches!(l.method.as_str(), "GET" | "HEAD")
}

/// Digests mounted successfully (201).
fn mounted(lines: &[AccessLine]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.is_completed_mount())
        .filter_map(|l| uri_param(l, "mount"))
        .collect()
}

/// Digests of blob uploads completed (201) by `PUT …/blobs/uploads/…?digest=` or a monolithic
/// `POST …/blobs/uploads/?digest=`.
fn uploaded(lines: &[AccessLine]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.is_completed_upload())
        .filter_map(|l| uri_param(l, "digest"))
        .collect()
}

/// Blob digests read with GET (any status).
fn blob_gets(lines: &[AccessLine]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| is_blob_get(l))
        .filter_map(|l| l.path.rsplit('/').next().map(str::to_string))
        .collect()
}

/// References of manifest PUTs into `repo`, in log order.
fn manifest_puts(lines: &[AccessLine], repo: &str) -> Vec<String> {
    let prefix = format!("/v2/{repo}/manifests/");
    lines
        .iter()
        .filter(|l| l.is_manifest_put())
        .filter_map(|l| l.path.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn show(lines: &[AccessLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{} {} {}", l.method, l.uri, l.status))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

/// Checks that the child manifests went in by digest before the index went in last, by `tag`.
#[track_caller]
fn assert_children_then_index(
    lines: &[AccessLine],
    repo: &str,
    tag: &str,
    children: &[&PushedImage],
) {
    let puts = manifest_puts(lines, repo);
    assert_eq!(
        puts.last().map(String::as_str),
        Some(tag),
        "the index is written last, by tag:\n{}",
        show(lines)
    );
    let child_puts = sorted(puts[..puts.len() - 1].iter().cloned());
    let want: BTreeSet<String> = children.iter().map(|c| c.digest.clone()).collect();
    assert_eq!(
        child_puts,
        want.into_iter().collect::<Vec<_>>(),
        "each child manifest is written once, by digest, before the index:\n{}",
        show(lines)
    );
}

/// Checks the access logs of a push across registries, which has to stream: every layer read
/// from the source once (no config: manifold writes those from memory) and nothing written
/// there; every blob uploaded to the destination once, none mounted; the children and then the
/// index `repo:tag` written.
#[track_caller]
fn assert_streamed_copy(
    src_log: &[AccessLine],
    dest_log: &[AccessLine],
    repo: &str,
    tag: &str,
    children: &[&PushedImage],
) {
    assert_eq!(
        sorted(blob_gets(src_log)),
        layer_digests(children),
        "every layer read from the source once, no config read again:\n{}",
        show(src_log)
    );
    assert!(
        !src_log.iter().any(is_write),
        "nothing written to the source:\n{}",
        show(src_log)
    );
    assert!(mounted(dest_log).is_empty(), "no mount across registries");
    assert_eq!(
        sorted(uploaded(dest_log)),
        blob_sizes(children).into_keys().collect::<Vec<_>>(),
        "every blob streamed to the destination once:\n{}",
        show(dest_log)
    );
    assert_children_then_index(dest_log, repo, tag, children);
}

// ---------------------------------------------------------------------------------------------
// podman 4.3.1 CLI.

#[test]
fn cli_push_all_to_the_same_registry_mounts_every_blob() {
    let w = World::new();
    let children = compose_list(&w.mf.http(), "pl", &w.singles);
    let p = Podman::new(&w.mf.url());
    let mark = w.reg.access_mark();
    let (out, id) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false"],
        "pl",
        &docker_dest(&w.reg, "pushed", "v1"),
        "manifest push --all",
    );
    let log = w.reg.access_log_since(mark);
    assert!(
        out.stderr
            .contains("Writing manifest list to image destination"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Storing list signatures"),
        "{}",
        out.stderr
    );

    // Same registry, new repository: every blob is mounted from `app`, once, and nothing is
    // uploaded or read.
    let blobs = blob_sizes(&children);
    assert_eq!(blobs.len(), 13, "6 configs, 6 own layers, 1 shared base");
    let mounts = mounted(&log);
    assert_eq!(
        sorted(mounts.clone()),
        blobs.keys().cloned().collect::<Vec<_>>(),
        "every blob mounted exactly once (deduplicated):\n{}",
        show(&log)
    );
    assert!(
        log.iter().all(|l| !l.is_mount() || l.status == 201),
        "every mount answered 201:\n{}",
        show(&log)
    );
    assert!(
        !log.iter().any(AccessLine::is_upload_start),
        "no blob upload:\n{}",
        show(&log)
    );
    assert!(
        !log.iter().any(|l| l.method == "PATCH"),
        "no blob upload:\n{}",
        show(&log)
    );
    assert!(blob_gets(&log).is_empty(), "no blob read:\n{}", show(&log));
    assert_children_then_index(&log, "pushed", "v1", &children);
    assert_pushed(&w.reg, "pushed", "v1", &id, &children, OCI_INDEX);
    // The list is still in manifold after a push without --rm.
    p.run(&["manifest", "exists", "pl"])
        .assert_success("the list exists after push");
}

#[test]
fn cli_push_format_v2s2_and_oci_convert_only_the_index() {
    let w = World::new();
    let docker_singles = fixtures::push_six_singles_format(&w.reg, "dapp", Format::Docker);
    let http = w.mf.http();
    let oci_children = compose_list(&http, "ocilist", &w.singles[..3]);
    let docker_children = compose_list(&http, "dockerlist", &docker_singles[..3]);
    let p = Podman::new(&w.mf.url());

    // An OCI list pushed as v2s2: a Docker list over the unchanged OCI children.
    let (_, id) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false", "--format", "v2s2"],
        "ocilist",
        &docker_dest(&w.reg, "conv", "v2s2"),
        "push --format v2s2",
    );
    assert_pushed(&w.reg, "conv", "v2s2", &id, &oci_children, DOCKER_LIST);

    // The same list in its own format: an OCI index.
    let (_, own) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false"],
        "ocilist",
        &docker_dest(&w.reg, "conv", "own"),
        "push in the list's own format",
    );
    assert_ne!(
        own, id,
        "a different index media type gives a different digest"
    );
    assert_pushed(&w.reg, "conv", "own", &own, &oci_children, OCI_INDEX);

    // A list of Docker images: its own format is what inspect says; --format oci makes an OCI
    // index over the unchanged Docker children.
    let own_type = http
        .get(&format!("{V5}/manifests/dockerlist/json"))
        .assert_status(200)
        .json()["mediaType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, d_own) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false"],
        "dockerlist",
        &docker_dest(&w.reg, "dconv", "own"),
        "push of a Docker list",
    );
    assert_pushed(&w.reg, "dconv", "own", &d_own, &docker_children, &own_type);
    let (_, d_oci) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false", "--format", "oci"],
        "dockerlist",
        &docker_dest(&w.reg, "dconv", "oci"),
        "push --format oci",
    );
    assert_pushed(&w.reg, "dconv", "oci", &d_oci, &docker_children, OCI_INDEX);

    // Raw HTTP: `docker` is an alias of `v2s2`.
    let id2 = push_ok(
        &http,
        "ocilist",
        &dest_ref(&w.reg, "conv", "docker"),
        "all=true&format=docker&tlsVerify=false",
        &[],
    );
    assert_eq!(id2, id, "format=docker gives the same Docker list as v2s2");
    assert_pushed(&w.reg, "conv", "docker", &id2, &oci_children, DOCKER_LIST);
}

/// A plain source, an auth destination: `--creds` reaches the destination, and the copy is a
/// full streamed copy (no mount across registries).
fn cli_push_creds_to_auth_destination(auth: RegistryAuth) {
    let dest = Registry::start(auth);
    let w = world_with(&[&dest]);
    let (user, pass) = creds_of(&dest);
    let old = old_version(&dest, "rel", "v1");
    let children = compose_list(&w.mf.http(), "pl", &w.singles);
    let p = Podman::new(&w.mf.url());
    let target = docker_dest(&dest, "rel", "v1");

    let out = cli_push(&p, &["--all", "--tls-verify=false"], "pl", &target);
    out.assert_failure("push to an auth registry without credentials");
    assert_output_mentions(&out, &DENIED);
    assert_untouched(&dest, "rel", "v1", &old.digest);

    let src_mark = w.reg.access_mark();
    let dest_mark = dest.access_mark();
    let creds = format!("{user}:{pass}");
    let (out, id) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false", "--creds", &creds],
        "pl",
        &target,
        "push with --creds",
    );
    let src_log = w.reg.access_log_since(src_mark);
    let dest_log = dest.access_log_since(dest_mark);
    assert!(
        out.stderr
            .contains("Writing manifest list to image destination"),
        "{}",
        out.stderr
    );
    assert_streamed_copy(&src_log, &dest_log, "rel", "v1", &children);
    assert_pushed(&dest, "rel", "v1", &id, &children, OCI_INDEX);
    assert!(
        !w.mf.log().contains(&pass),
        "the password appears in manifold's log"
    );
}

#[test]
fn cli_push_creds_to_a_basic_auth_destination() {
    cli_push_creds_to_auth_destination(RegistryAuth::basic("dora", "basic-push-s3cret"));
}

#[test]
fn cli_push_creds_to_a_token_auth_destination() {
    cli_push_creds_to_auth_destination(RegistryAuth::token("erin", "token-push-s3cret"));
}

#[test]
fn cli_push_quiet_with_digestfile() {
    let w = World::new();
    let children = compose_list(&w.mf.http(), "ql", &w.singles[..2]);
    let p = Podman::new(&w.mf.url());
    let (out, id) = cli_push_digest(
        &p,
        &["-q", "--tls-verify=false"],
        "ql",
        &docker_dest(&w.reg, "quiet", "v1"),
        "manifest push -q",
    );
    assert!(
        !out.stderr.contains("Writing manifest list") && !out.stderr.contains("Copying"),
        "-q prints no progress: {}",
        out.stderr
    );
    // The digest file holds the digest of the index the registry serves.
    let served = fixtures::get_manifest(&w.reg, "quiet", "v1");
    assert_eq!(id, manifold_tests::sha256_digest(&served.bytes));
    assert_pushed(&w.reg, "quiet", "v1", &id, &children, OCI_INDEX);
}

#[test]
fn cli_push_rm_removes_the_list_only_on_success() {
    let w = World::new();
    let children = compose_list(&w.mf.http(), "rml", &w.singles[..2]);
    let p = Podman::new(&w.mf.url());
    // A failed push with --rm keeps the list.
    let out = cli_push(
        &p,
        &["--rm", "--tls-verify=false", "--format", "v9"],
        "rml",
        &docker_dest(&w.reg, "rm", "bad"),
    );
    out.assert_failure("push --rm with a bad format");
    p.run(&["manifest", "exists", "rml"])
        .assert_success("the list survives a failed push --rm");
    assert_no_tag(&w.reg, "rm", "bad");

    let (_, id) = cli_push_digest(
        &p,
        &["--rm", "--tls-verify=false"],
        "rml",
        &docker_dest(&w.reg, "rm", "v1"),
        "push --rm",
    );
    p.run(&["manifest", "exists", "rml"])
        .assert_failure("the list is gone after push --rm");
    assert_pushed(&w.reg, "rm", "v1", &id, &children, OCI_INDEX);
}

#[test]
fn cli_push_compression_format_is_refused() {
    let w = World::new();
    compose_list(&w.mf.http(), "cl", &w.singles[..1]);
    let p = Podman::new(&w.mf.url());
    let out = cli_push(
        &p,
        &["--tls-verify=false", "--compression-format", "zstd"],
        "cl",
        &docker_dest(&w.reg, "comp", "v1"),
    );
    out.assert_failure("push --compression-format zstd");
    assert!(
        out.stderr.to_lowercase().contains("recompress"),
        "the error says manifold does not recompress: {}",
        out.stderr
    );
    assert_no_tag(&w.reg, "comp", "v1");
    // Without the option, the same push works (the CLI still sends `compressionformat=`).
    cli_push(
        &p,
        &["--tls-verify=false"],
        "cl",
        &docker_dest(&w.reg, "comp", "v1"),
    )
    .assert_success("push without compression options");
}

/// Source and destination both need credentials, different ones; manifold has none of them. The
/// list was composed with `--creds`. Pushing without credentials, or with only the destination's,
/// fails and moves nothing; with both in the client's auth file (a multi-registry
/// `X-Registry-Auth` keyed by host) it works.
#[test]
fn failed_push_without_source_credentials_moves_no_tag_then_auth_file_works() {
    let src = Registry::start(RegistryAuth::basic("alice", "src-basic-s3cret"));
    let (su, sp) = creds_of(&src);
    let singles = fixtures::push_six_singles(&src, "secret");
    let dest = Registry::start(RegistryAuth::token("bob", "dest-token-s3cret"));
    let (du, dp) = creds_of(&dest);
    let old = old_version(&dest, "rel", "v1");
    let mf = manifold_for(&[&src, &dest]);
    let p = Podman::new(&mf.url());
    let children: Vec<&PushedImage> = singles.iter().take(3).collect();
    p.run(&["manifest", "create", "sl"])
        .assert_success("create");
    let src_creds = format!("{su}:{sp}");
    for c in &children {
        p.run(&[
            "manifest",
            "add",
            "--tls-verify=false",
            "--creds",
            &src_creds,
            "sl",
            &c.docker_reference(),
        ])
        .assert_success("add with --creds");
    }
    let target = docker_dest(&dest, "rel", "v1");

    let out = cli_push(&p, &["--all", "--tls-verify=false"], "sl", &target);
    out.assert_failure("push without any credentials");
    assert_output_mentions(&out, &DENIED);
    assert_untouched(&dest, "rel", "v1", &old.digest);
    let dest_creds = format!("{du}:{dp}");
    let out = cli_push(
        &p,
        &["--all", "--tls-verify=false", "--creds", &dest_creds],
        "sl",
        &target,
    );
    out.assert_failure("push with the destination's credentials only");
    assert_output_mentions(&out, &DENIED);
    assert_untouched(&dest, "rel", "v1", &old.digest);
    for c in &children {
        assert!(
            fixtures::try_get_manifest(&dest, "rel", &c.digest).is_none(),
            "no child manifest written by a failed push"
        );
    }

    p.login(&src.host(), &su, &sp);
    p.login(&dest.host(), &du, &dp);
    let (_, id) = cli_push_digest(
        &p,
        &["--all", "--tls-verify=false"],
        "sl",
        &target,
        "push with both registries in auth.json",
    );
    assert_pushed(&dest, "rel", "v1", &id, &children, OCI_INDEX);
    for secret in [&sp, &dp] {
        assert!(
            !mf.log().contains(secret.as_str()),
            "a password appears in manifold's log"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// podman-py.

#[test]
fn podman_py_push_all_plain_and_with_auth_config() {
    let src = Registry::plain();
    let singles = fixtures::push_six_singles(&src, "app");
    let plain = Registry::plain();
    let authed = Registry::start(RegistryAuth::basic("frank", "py-push-s3cret"));
    let (user, pass) = creds_of(&authed);
    // podman-py sends neither tlsVerify nor quiet: the registries are insecure in manifold's
    // configuration, and the server default (quiet) applies.
    let mf = manifold_for(&[&src, &plain, &authed]);
    let children: Vec<&PushedImage> = singles.iter().take(2).collect();
    let script = format!(
        r#"
import json, os, podman
c = podman.PodmanClient(base_url=os.environ["PODMAN_URL"])
c.manifests.create("pypush:v1")
m = c.manifests.get("pypush:v1")
m.add(["{a}"])
m.add(["{b}"])
m = c.manifests.get("pypush:v1")
m.push("{plain}", all=True)
denied = ""
try:
    m.push("{authed}", all=True)
except podman.errors.APIError as e:
    denied = str(e)
m.push("{authed}", all=True, auth_config={{"username": "{user}", "password": "{pass}"}})
print(json.dumps({{"denied": denied}}))
"#,
        a = children[0].reference(),
        b = children[1].reference(),
        plain = dest_ref(&plain, "py", "v1"),
        authed = dest_ref(&authed, "py", "v1"),
    );
    let out = run_podman_py(&mf.url(), &script);
    out.assert_success("podman-py push");
    let result = out.json();
    let denied = result["denied"].as_str().unwrap_or_default();
    assert!(
        !denied.is_empty(),
        "a push to an auth registry without auth_config must raise"
    );
    let id = fixtures::get_manifest(&plain, "py", "v1").computed_digest();
    assert_pushed(&plain, "py", "v1", &id, &children, OCI_INDEX);
    assert_pushed(&authed, "py", "v1", &id, &children, OCI_INDEX);
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP.

#[test]
fn http_push_quiet_returns_one_id_object() {
    let w = World::new();
    let http = w.mf.http();
    let children = compose_list(&http, "pl", &w.singles);
    // Default quiet, every parameter podman clients send with an empty value, removeSignatures.
    let r = push(
        &http,
        "pl",
        &dest_ref(&w.reg, "quiet", "a"),
        "all=true&tlsVerify=false&removeSignatures=true&compressionFormat=&compressionLevel=&addCompression=&forceCompressionFormat=false&format=",
        &[("X-Registry-Auth", "e30=")],
    );
    r.assert_status(200);
    assert!(
        r.header("Content-Type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{:?}",
        r.headers
    );
    let id = quiet_id(&r);
    assert_pushed(&w.reg, "quiet", "a", &id, &children, OCI_INDEX);
    // The 4.3.1 CLI's query with quiet=true and a docker:// destination on the v4 prefix.
    let r = http.request(
        "POST",
        &format!(
            "{V4}/manifests/pl/registry/{}?{CLI431}&quiet=true",
            esc(&docker_dest(&w.reg, "quiet", "b"))
        ),
        &[("X-Registry-Auth", "e30=")],
        b"",
    );
    r.assert_status(200);
    assert_eq!(quiet_id(&r), id);
    assert_pushed(&w.reg, "quiet", "b", &id, &children, OCI_INDEX);
    // Pushing by list ID works too.
    let list_id = compose(&http, "byid", &children, None);
    let r = push(
        &http,
        &list_id,
        &dest_ref(&w.reg, "quiet", "c"),
        "all=true&tlsVerify=false",
        &[],
    );
    r.assert_status(200);
    assert_eq!(quiet_id(&r), id);
}

/// Checks that the stream reports every child as podman does, in one block of its own:
/// `Copying image D (i/n)`, `Getting image source signatures`, a line for each of its layers,
/// then its config, then `Writing manifest to image destination` and `Storing signatures`.
#[track_caller]
fn assert_image_blocks(streams: &[String], children: &[&PushedImage]) {
    let n = children.len();
    for child in children {
        let start = streams
            .iter()
            .position(|l| l.starts_with(&format!("Copying image {} (", child.digest)))
            .unwrap_or_else(|| panic!("no block for {}:\n{}", child.digest, streams.concat()));
        assert!(
            streams[start].ends_with(&format!("/{n})\n")),
            "{}",
            streams[start]
        );
        let mut expected = vec!["Getting image source signatures\n".to_string()];
        let mut layers: Vec<&String> = vec![];
        for d in &child.layer_digests {
            if !layers.contains(&d) {
                layers.push(d);
            }
        }
        expected.extend(layers.iter().map(|d| format!("Copying blob {d} ")));
        expected.push(format!("Copying config {} ", child.config_digest));
        expected.push("Writing manifest to image destination\n".into());
        expected.push("Storing signatures\n".into());
        let block = &streams[start + 1..(start + 1 + expected.len()).min(streams.len())];
        assert_eq!(block.len(), expected.len(), "{}", streams.concat());
        for (line, want) in block.iter().zip(&expected) {
            assert!(
                line.starts_with(want.as_str()),
                "in the block of {}: {line:?} should start with {want:?}:\n{}",
                child.digest,
                streams.concat()
            );
        }
    }
}

#[test]
fn http_push_streams_progress_reports() {
    let w = World::new();
    let http = w.mf.http();
    let children = compose_list(&http, "pl", &w.singles);
    let (status, reports) = push_stream(
        &http,
        "pl",
        &docker_dest(&w.reg, "stream", "v1"),
        &format!("{CLI431}&quiet=false"),
        &[("X-Registry-Auth", "e30=")],
    );
    assert_eq!(status, 200);
    let (streams, outcome) = read_reports(&reports);
    let Outcome::Id(id) = outcome else {
        panic!("the push failed: {reports:?}")
    };
    let text = streams.concat();
    assert!(
        text.ends_with("Writing manifest list to image destination\nStoring list signatures\n"),
        "{text}"
    );
    assert_image_blocks(&streams, &children);
    // Each blob is reported mounted once; a child sharing it later says it was already there.
    for digest in blob_sizes(&children).keys() {
        let mounted = streams
            .iter()
            .filter(|l| l.contains(digest.as_str()) && l.contains("done: mounted from"))
            .count();
        assert_eq!(mounted, 1, "{digest} reported mounted once:\n{text}");
    }
    assert_pushed(&w.reg, "stream", "v1", &id, &children, OCI_INDEX);

    // The streamed Id equals the quiet one for the same list.
    let quiet = push_all_ok(&http, "pl", &dest_ref(&w.reg, "stream", "v2"));
    assert_eq!(quiet, id);
}

#[test]
fn http_v3_push_route() {
    let w = World::new();
    let http = w.mf.http();
    let children = compose_list(&http, "v3l", &w.singles[..3]);
    let idx = dest_ref(&w.reg, "v3", "idx");
    // v3's `all` defaults to false: the children are not at the destination yet.
    let r = v3_push(&http, "v3l", &idx, "tlsVerify=false");
    r.assert_status(400);
    assert!(
        error_message(&r).contains("manifest blob unknown"),
        "{}",
        r.text()
    );
    assert_no_tag(&w.reg, "v3", "idx");
    let r = v3_push(
        &http,
        "v3l",
        &docker_dest(&w.reg, "v3", "all"),
        "all=true&tlsVerify=false&removeSignatures=false",
    );
    r.assert_status(200);
    let id = quiet_id(&r);
    assert_pushed(&w.reg, "v3", "all", &id, &children, OCI_INDEX);
    // Now the children are there, the index alone can go.
    let r = v3_push(&http, "v3l", &idx, "tlsVerify=false");
    r.assert_status(200);
    assert_eq!(quiet_id(&r), id);
    assert_pushed(&w.reg, "v3", "idx", &id, &children, OCI_INDEX);
    // v3 errors: no destination, a non-registry destination, an unknown list.
    http.post(&format!("{V3}/manifests/v3l/push?all=true"), "", b"")
        .assert_status(400);
    http.post(
        &format!("{V3}/manifests/v3l/push?destination=oci%3A%2Fx"),
        "",
        b"",
    )
    .assert_status(400);
    let r = v3_push(
        &http,
        "nolist",
        &dest_ref(&w.reg, "v3", "none"),
        "tlsVerify=false",
    );
    r.assert_status(400);
    assert!(
        error_message(&r).contains("image not known"),
        "{}",
        r.text()
    );
}

#[test]
fn http_push_errors() {
    let w = World::new();
    let http = w.mf.http();
    compose_list(&http, "el", &w.singles[..2]);
    let dest = dest_ref(&w.reg, "errs", "v1");

    // Unknown list, quiet: 400 `pushing image "<dest>": …image not known`.
    let r = push(&http, "nolist", &dest, "tlsVerify=false", &[]);
    r.assert_status(400);
    let msg = error_message(&r);
    assert!(
        msg.starts_with(&format!("pushing image \"{dest}\": ")),
        "{msg}"
    );
    assert!(msg.ends_with("image not known"), "{msg}");
    assert_eq!(r.json()["cause"], "image not known");
    // Unknown list, streaming: 200 and a single error line without the prefix.
    let (status, reports) = push_stream(&http, "nolist", &dest, "tlsVerify=false&quiet=false", &[]);
    assert_eq!(status, 200, "{reports:?}");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (streams, outcome) = read_reports(&reports);
    assert!(streams.is_empty());
    let Outcome::Error(e) = outcome else {
        panic!("expected an error line: {reports:?}")
    };
    assert!(e.contains("image not known"), "{e}");
    assert!(!e.starts_with("pushing image"), "{e}");

    // Unknown format: 400 when quiet. Streaming, podman reports it in the stream (200 and an
    // error line) while an up-front 400 is as good for clients: either is accepted.
    for quiet in ["", "&quiet=false"] {
        let q = format!("all=true&tlsVerify=false&format=v1{quiet}");
        let msg = refusal(&http, "el", &dest, &q);
        assert!(msg.contains("unknown format \"v1\""), "{q}: {msg}");
    }

    // A real compression request: refused, saying manifold does not recompress. Empty values
    // are accepted (see the quiet test and the CLI tests).
    for q in [
        "compressionFormat=zstd",
        "compressionformat=zstd&forcecompressionformat=true",
        "compressionFormat=gzip&forceCompressionFormat=true",
        "addCompression=gzip",
        "addcompression=zstd",
        "addCompression=zstd&quiet=false",
        "compressionFormat=zstd&quiet=false",
    ] {
        let msg = refusal(&http, "el", &dest, &format!("all=true&tlsVerify=false&{q}"));
        assert!(msg.to_lowercase().contains("recompress"), "{q}: {msg}");
    }

    // Destinations that are not registry references.
    for bad in ["oci:/x", "dir:/tmp/x"] {
        let msg = refusal(&http, "el", bad, "all=true");
        assert!(msg.contains("unsupported transport"), "{bad}: {msg}");
    }

    // Undecodable parameters and headers.
    push(&http, "el", &dest, "all=maybe", &[]).assert_status(400);
    push(&http, "el", &dest, "all=true&tlsVerify=maybe", &[]).assert_status(400);
    push(&http, "el", &dest, "all=true&quiet=maybe", &[]).assert_status(400);
    let bad_auth = base64::engine::general_purpose::URL_SAFE.encode(b"{\"username\":");
    push(
        &http,
        "el",
        &dest,
        "all=true&tlsVerify=false",
        &[("X-Registry-Auth", &bad_auth)],
    )
    .assert_status(400);

    // Nothing reached the destination, and manifold is fine.
    assert_no_tag(&w.reg, "errs", "v1");
    assert!(fixtures::tags(&w.reg, "errs").is_empty());
    http.get("/_ping").assert_status(200);
    push_all_ok(&http, "el", &dest);
}

/// The error bodies podman 5.8's push handler writes, byte for byte (the README promises
/// podman's error bodies): the destination check happens in the handler, before the push, so a
/// bad transport is a bare 400 in both modes; everything inside the push (unknown list, unknown
/// format) carries `pushing image "<dest>": ` when quiet.
#[test]
fn http_push_error_bodies_match_podman() {
    let w = World::new();
    let http = w.mf.http();
    compose_list(&http, "el", &w.singles[..1]);
    let dest = dest_ref(&w.reg, "errs", "v1");
    let body = |status: u16, cause: &str, message: &str| json!({"cause": cause, "message": message, "response": status});

    let r = push(&http, "nolist", &dest, "tlsVerify=false", &[]);
    r.assert_status(400);
    assert_eq!(
        r.json(),
        body(
            400,
            "image not known",
            &format!("pushing image \"{dest}\": retrieving local image from image name nolist: nolist: image not known")
        )
    );
    let (status, reports) = push_stream(&http, "nolist", &dest, "tlsVerify=false&quiet=false", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        reports,
        vec![
            json!({"Id": "", "error": "retrieving local image from image name nolist: nolist: image not known"})
        ]
    );

    let r = push(&http, "el", &dest, "all=maybe", &[]);
    r.assert_status(400);
    let url = push_path("el", &dest, "all=maybe");
    assert_eq!(
        r.json(),
        body(
            400,
            "schema: error converting value for \"all\"",
            &format!(
                "failed to parse parameters for {url}: schema: error converting value for \"all\""
            )
        )
    );

    let transport = "unsupported transport oci in \"oci:/x\": only docker transport is supported";
    for q in ["all=true", "all=true&quiet=false"] {
        let r = push(&http, "el", "oci:/x", q, &[]);
        r.assert_status(400);
        assert_eq!(r.json(), body(400, transport, transport), "{q}");
    }

    let format = "unknown format \"v1\". Choose one of the supported formats: 'oci' or 'v2s2'";
    let r = push(
        &http,
        "el",
        &dest,
        "all=true&tlsVerify=false&format=v1",
        &[],
    );
    r.assert_status(400);
    assert_eq!(
        r.json(),
        body(400, format, &format!("pushing image \"{dest}\": {format}"))
    );
}

/// Source credentials in every header form podman clients use
/// (`docs/registry-auth-headers.md#what-clients-send`). The source is a basic-auth registry
/// manifold has no credentials for; each push goes to a fresh repository so it really reads the
/// source.
#[test]
fn http_push_credentials_header_forms() {
    let src = Registry::start(RegistryAuth::basic("gina", "hdr-s3cret"));
    let (user, pass) = creds_of(&src);
    let singles = fixtures::push_six_singles(&src, "secret");
    let dest = Registry::plain();
    let mf = manifold_for(&[&src, &dest]);
    let http = mf.http();
    let children: Vec<&PushedImage> = singles.iter().take(2).collect();
    let single = single_auth(&user, &pass);
    compose(&http, "hl", &children, Some(&single));
    let good = json!({"username": user, "password": pass});
    let wrong = json!({"username": user, "password": "wrong"});
    let host = src.host();

    let failing: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("none", vec![]),
        ("empty", vec![("X-Registry-Auth", "e30=".to_string())]),
        (
            "otherhost",
            vec![("X-Registry-Auth", b64(&json!({"example.invalid": good})))],
        ),
        ("wrong", vec![("X-Registry-Auth", b64(&wrong))]),
    ];
    for (repo, headers) in &failing {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = push(&http, "hl", &dest_ref(&dest, repo, "v1"), "all=true", &h);
        r.assert_status(400);
        let msg = error_message(&r).to_lowercase();
        assert!(DENIED.iter().any(|w| msg.contains(w)), "{repo}: {msg}");
        assert_no_tag(&dest, repo, "v1");
    }

    let working: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("single", vec![("X-Registry-Auth", single.clone())]),
        (
            "multi",
            vec![("X-Registry-Auth", b64(&json!({ host.clone(): good })))],
        ),
        (
            "multiurl",
            vec![(
                "X-Registry-Auth",
                b64(&json!({ format!("http://{host}"): good })),
            )],
        ),
        (
            "config",
            vec![("X-Registry-Config", b64(&json!({ host.clone(): good })))],
        ),
        (
            // X-Registry-Config wins over X-Registry-Auth.
            "configwins",
            vec![
                ("X-Registry-Config", b64(&json!({ host.clone(): good }))),
                ("X-Registry-Auth", b64(&wrong)),
            ],
        ),
    ];
    let mut ids = BTreeSet::new();
    for (repo, headers) in &working {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = push(&http, "hl", &dest_ref(&dest, repo, "v1"), "all=true", &h);
        assert_eq!(r.status, 200, "{repo}: {}", r.text());
        let id = quiet_id(&r);
        assert_pushed(&dest, repo, "v1", &id, &children, OCI_INDEX);
        ids.insert(id);
    }
    assert_eq!(
        ids.len(),
        1,
        "the same list gives the same index everywhere"
    );
    assert!(
        !mf.log().contains(&pass),
        "the password appears in manifold's log"
    );
}

/// `tlsVerify` governs a destination manifold's configuration does not mark insecure.
#[test]
fn http_push_tls_verify_param_controls_the_destination() {
    let reg = Registry::plain();
    let singles = fixtures::push_six_singles(&reg, "app");
    // The destination is listed in manifold's configuration, but not as insecure.
    let dest = Registry::plain();
    let config = format!(
        "{}[[registry]]\nlocation = \"{}\"\n",
        insecure_entry(&reg.host()),
        dest.host()
    );
    let mf = Manifold::start(ManifoldOptions::with_config(&config));
    let w = World { reg, singles, mf };
    let http = w.mf.http();
    let children = compose_list(&http, "tl", &w.singles[..2]);
    for q in ["all=true", "all=true&tlsVerify=true"] {
        let msg = refusal(&http, "tl", &dest_ref(&dest, "tls", "v1"), q);
        assert!(msg.starts_with("pushing image "), "{q}: {msg}");
        assert_no_tag(&dest, "tls", "v1");
    }
    let id = push_all_ok(&http, "tl", &dest_ref(&dest, "tls", "v1"));
    assert_pushed(&dest, "tls", "v1", &id, &children, OCI_INDEX);
}

// ---------------------------------------------------------------------------------------------
// Failures leave the destination tag alone.

#[test]
fn failed_push_all_false_with_children_missing_moves_no_tag() {
    let w = World::new();
    let http = w.mf.http();
    let children = compose_list(&http, "pl", &w.singles);
    let old = old_version(&w.reg, "rel", "v1");
    let dest = dest_ref(&w.reg, "rel", "v1");
    // `all` defaults to false on v4+, and all=false pushes only the index.
    for q in ["tlsVerify=false", "all=false&tlsVerify=false"] {
        let msg = refusal(&http, "pl", &dest, q);
        assert!(
            msg.starts_with(&format!("pushing image \"{dest}\": ")),
            "{msg}"
        );
        assert!(
            msg.to_lowercase().contains("manifest blob unknown"),
            "{q}: {msg}"
        );
    }
    let e = streamed_error(
        &http,
        "pl",
        &dest,
        "all=false&tlsVerify=false&quiet=false",
        "all=false without the children must fail",
    );
    assert!(e.contains("manifest blob unknown"), "{e}");
    assert_untouched(&w.reg, "rel", "v1", &old.digest);
    for c in &children {
        assert!(
            fixtures::try_get_manifest(&w.reg, "rel", &c.digest).is_none(),
            "all=false writes no child"
        );
    }

    // Once the children are in the repository, all=false writes exactly the index.
    let full = push_all_ok(&http, "pl", &dest_ref(&w.reg, "rel", "full"));
    let mark = w.reg.access_mark();
    let id = push_ok(&http, "pl", &dest, "all=false&tlsVerify=false", &[]);
    let log = w.reg.access_log_since(mark);
    assert_eq!(id, full);
    assert_eq!(
        manifest_puts(&log, "rel"),
        vec!["v1".to_string()],
        "all=false writes only the index:\n{}",
        show(&log)
    );
    assert!(
        !log.iter().any(|l| is_write(l) && !l.is_manifest_put()),
        "all=false writes no blob:\n{}",
        show(&log)
    );
    assert!(blob_gets(&log).is_empty(), "{}", show(&log));
    assert_pushed(&w.reg, "rel", "v1", &id, &children, OCI_INDEX);
}

#[test]
fn failed_push_destination_down_names_it() {
    let mut dest = Registry::plain();
    let w = world_with(&[&dest]);
    let old = old_version(&dest, "rel", "v1");
    let http = w.mf.http();
    let children = compose_list(&http, "dl", &w.singles[..2]);
    dest.stop();
    let target = dest_ref(&dest, "rel", "v1");

    let msg = refusal(&http, "dl", &target, "all=true&tlsVerify=false");
    assert!(
        msg.starts_with(&format!("pushing image \"{target}\": ")),
        "{msg}"
    );
    let e = streamed_error(
        &http,
        "dl",
        &target,
        "all=true&tlsVerify=false&quiet=false",
        "a push to a stopped registry must fail",
    );
    assert!(
        e.contains(&dest.host()),
        "the error names the destination {}: {e}",
        dest.host()
    );
    let p = Podman::new(&w.mf.url());
    let out = cli_push(
        &p,
        &["--all", "--tls-verify=false"],
        "dl",
        &format!("docker://{target}"),
    );
    out.assert_failure("CLI push to a stopped registry");
    assert!(out.stderr.contains(&dest.host()), "{}", out.stderr);

    dest.restart();
    assert_untouched(&dest, "rel", "v1", &old.digest);
    // And with the registry back, the push works.
    let id = push_all_ok(&http, "dl", &target);
    assert_pushed(&dest, "rel", "v1", &id, &children, OCI_INDEX);
}

#[test]
fn failed_push_corrupt_source_blob_writes_no_tag_nor_blob() {
    let src = Registry::plain();
    let singles = fixtures::push_six_singles(&src, "app");
    let dest = Registry::plain();
    let old = old_version(&dest, "rel", "v1");
    let mf = manifold_for(&[&src, &dest]);
    let http = mf.http();
    let children = compose_list(&http, "cl", &singles[..4]);

    // Same length, different bytes, in the source registry's storage.
    let victim = children[3]
        .layer_digests
        .last()
        .expect("the image has an own layer")
        .clone();
    let hex = victim.strip_prefix("sha256:").expect("sha256 digest");
    let data = src
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let bytes = std::fs::read(&data).unwrap_or_else(|e| panic!("read {}: {e}", data.display()));
    let corrupt: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).collect();
    std::fs::write(&data, &corrupt).expect("corrupt the blob");
    let served = manifold_tests::regclient::RegClient::for_registry(&src)
        .get_blob("app", &victim)
        .expect("the source still serves the blob");
    assert_eq!(served.len(), bytes.len());
    assert_ne!(manifold_tests::sha256_digest(&served), victim);

    let msg = refusal(&http, "cl", &dest_ref(&dest, "rel", "v1"), "all=true");
    assert!(msg.to_lowercase().contains("digest"), "{msg}");
    assert_untouched(&dest, "rel", "v1", &old.digest);
    assert_eq!(
        fixtures::head_blob(&dest, "rel", &victim),
        None,
        "the corrupt blob must not land at the destination"
    );
    assert!(
        fixtures::try_get_manifest(&dest, "rel", &children[3].digest).is_none(),
        "the child with the corrupt blob is not written"
    );
}

// ---------------------------------------------------------------------------------------------
// Plan: full cross-registry copy, idempotent re-push, token refresh.

/// A source with six small images and one of two 8 MiB layers, an empty destination, and a
/// manifold that lists both.
fn two_registries() -> (Registry, Vec<PushedImage>, Registry, Manifold) {
    let a = Registry::plain();
    let mut images = fixtures::push_six_singles(&a, "app");
    images.push(fixtures::large_image(&a, "app", "big", 8, 77));
    let b = Registry::plain();
    let mf = manifold_for(&[&a, &b]);
    (a, images, b, mf)
}

#[test]
fn cross_registry_push_copies_every_blob_once() {
    let (a, images, b, mf) = two_registries();
    let http = mf.http();
    let children = compose_list(&http, "xl", &images);
    let (ma, mb) = (a.access_mark(), b.access_mark());
    let id = push_ok(&http, "xl", &dest_ref(&b, "copy", "v1"), "all=true", &[]);
    let (la, lb) = (a.access_log_since(ma), b.access_log_since(mb));
    let blobs: Vec<String> = blob_sizes(&children).into_keys().collect();
    assert_eq!(blobs.len(), 16);
    assert_streamed_copy(&la, &lb, "copy", "v1", &children);
    assert_pushed(&b, "copy", "v1", &id, &children, OCI_INDEX);
    // The big layers arrived intact.
    let big = &images[6];
    for d in &big.layer_digests {
        let got = manifold_tests::regclient::RegClient::for_registry(&b)
            .get_blob("copy", d)
            .expect("big layer at the destination");
        assert_eq!(&manifold_tests::sha256_digest(&got), d);
    }
}

/// After a restart the manifest cache is empty: the configs a push writes from memory are read
/// from the source again, once each, and the push is complete.
#[test]
fn cross_registry_push_after_restart_reads_configs_again() {
    let (a, images, b, mut mf) = two_registries();
    let children = compose_list(&mf.http(), "rs", &images);
    mf.restart();
    let ma = a.access_mark();
    let id = push_ok(
        &mf.http(),
        "rs",
        &dest_ref(&b, "after", "v1"),
        "all=true",
        &[],
    );
    let la = a.access_log_since(ma);
    assert_eq!(
        sorted(blob_gets(&la)),
        blob_sizes(&children).into_keys().collect::<Vec<_>>(),
        "every blob read from the source once, configs included:\n{}",
        show(&la)
    );
    assert_pushed(&b, "after", "v1", &id, &children, OCI_INDEX);
}

#[test]
fn idempotent_repush_writes_nothing() {
    let (a, images, b, mf) = two_registries();
    let http = mf.http();
    let children = compose_list(&http, "il", &images);
    let dest = dest_ref(&b, "same", "v1");
    let first = push_ok(&http, "il", &dest, "all=true", &[]);
    let (ma, mb) = (a.access_mark(), b.access_mark());
    let second = push_ok(&http, "il", &dest, "all=true", &[]);
    let (la, lb) = (a.access_log_since(ma), b.access_log_since(mb));
    assert_eq!(first, second, "the same list gives the same Id");
    for (name, log) in [("source", &la), ("destination", &lb)] {
        assert!(
            !log.iter().any(is_write),
            "a re-push writes nothing to the {name} (no PUT, POST, PATCH):\n{}",
            show(log)
        );
        assert!(
            blob_gets(log).is_empty(),
            "a re-push reads no blob from the {name}:\n{}",
            show(log)
        );
        assert!(
            log.iter().all(
                |l| l.method == "HEAD" || (l.method == "GET" && l.path.contains("/manifests/"))
            ),
            "only HEADs and manifest GETs on the {name}:\n{}",
            show(log)
        );
    }
    assert_pushed(&b, "same", "v1", &second, &children, OCI_INDEX);
    // The streamed variant of a re-push still ends with the Id.
    let (status, reports) = push_stream(&http, "il", &dest, "all=true&quiet=false", &[]);
    assert_eq!(status, 200);
    assert_eq!(read_reports(&reports).1, Outcome::Id(first));
}

/// Tokens that expire between pushes (and are refused by the registry right after their
/// lifetime) are fetched again.
#[test]
fn token_expiry_between_pushes_refreshes() {
    let mut opts = RegistryOptions::new(RegistryAuth::token("hank", "expiry-s3cret"));
    opts.token_expiry = Duration::from_secs(2);
    let dest = Registry::start_with(opts);
    let w = world_with(&[&dest]);
    dest.token_server()
        .expect("token registry has a token server")
        .set_hard_expiry(Duration::from_secs(2));
    let (user, pass) = creds_of(&dest);
    let auth = single_auth(&user, &pass);
    let http = w.mf.http();
    let first = compose_list(&http, "t1", &w.singles[..3]);
    let second = compose_list(&http, "t2", &w.singles[3..]);
    let headers = [("X-Registry-Auth", auth.as_str())];
    let id1 = push_ok(
        &http,
        "t1",
        &dest_ref(&dest, "tok", "a"),
        "all=true&tlsVerify=false",
        &headers,
    );
    let before = dest.token_requests();
    std::thread::sleep(Duration::from_secs(3));
    let id2 = push_ok(
        &http,
        "t2",
        &dest_ref(&dest, "tok", "b"),
        "all=true&tlsVerify=false",
        &headers,
    );
    assert!(
        dest.token_requests() > before,
        "a fresh token was fetched for the second push"
    );
    assert_pushed(&dest, "tok", "a", &id1, &first, OCI_INDEX);
    assert_pushed(&dest, "tok", "b", &id2, &second, OCI_INDEX);
}
