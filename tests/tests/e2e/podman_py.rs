//! podman-py 5.8 against manifold: create, get, exists, add, remove.

use manifold_tests::run_podman_py;

use crate::common::World;

#[test]
fn podman_py_create_get_exists_add_remove() {
    let w = World::new();
    let script = format!(
        r#"
import json, os, podman
c = podman.PodmanClient(base_url=os.environ["PODMAN_URL"])
m = c.manifests.create("pylist:v1")
assert c.manifests.exists("pylist:v1")
assert not c.manifests.exists("nosuchlist")
m = c.manifests.get("pylist:v1")
assert m.attrs["manifests"] in ([], None), m.attrs
m.add(["{a}"])
m.add(["{b}"], arch="riscv64", os="linux", variant="rv1")
m = c.manifests.get("pylist:v1")
digests = [e["digest"] for e in m.attrs["manifests"]]
m.remove(digests[0])
m = c.manifests.get("pylist:v1")
print(json.dumps({{"before": digests, "after": m.attrs["manifests"], "version": m.version}}))
try:
    c.manifests.create("InvalidManifestName")
    raise SystemExit("an invalid name was accepted")
except podman.errors.APIError as e:
    pass
c.manifests.remove("pylist:v1")
assert not c.manifests.exists("pylist:v1")
"#,
        a = w.singles[0].reference(),
        b = w.singles[1].reference(),
    );
    let out = run_podman_py(&w.mf.url(), &script);
    out.assert_success("podman-py script");
    let result = out.json();
    assert_eq!(
        result["before"],
        serde_json::json!([w.singles[0].digest, w.singles[1].digest])
    );
    let after = result["after"].as_array().cloned().unwrap_or_default();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["digest"], w.singles[1].digest);
    assert_eq!(after[0]["platform"]["architecture"], "riscv64");
    assert_eq!(after[0]["platform"]["variant"], "rv1");
    assert_eq!(result["version"], 2);
}
