//! The Debian podman 4.3.1 CLI in `--remote` mode against manifold: every manifest subcommand it
//! can run remotely, checked against what the registry serves (raw HTTP).

use manifold_tests::fixtures::{self, Format};
use manifold_tests::podman::Podman;
use manifold_tests::Registry;
use serde_json::Value;

use crate::common::{digests, entries, manifold_for, World};

fn inspect(p: &Podman, name: &str) -> Value {
    p.run(&["manifest", "inspect", name])
        .assert_success("manifest inspect")
        .json()
}

#[test]
fn create_add_six_inspect_exists_remove_rm() {
    let w = World::new();
    let p = Podman::new(&w.mf.url());
    let id = p
        .run(&["manifest", "create", "ml:v1"])
        .assert_success("create")
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "create prints a 64-hex ID: {id}");
    for img in &w.singles {
        let out = p.run(&[
            "manifest",
            "add",
            "--tls-verify=false",
            "ml:v1",
            &img.docker_reference(),
        ]);
        out.assert_success("add");
        assert_eq!(
            out.stdout.trim(),
            id,
            "the ID stays the same across modifications"
        );
    }
    let doc = inspect(&p, "ml:v1");
    assert_eq!(doc["schemaVersion"], 2);
    let expected: Vec<String> = w.singles.iter().map(|i| i.digest.clone()).collect();
    assert_eq!(digests(&doc), expected);
    for (entry, img) in entries(&doc).iter().zip(&w.singles) {
        // What the registry serves, read independently of manifold.
        let served = fixtures::get_manifest(&w.reg, "app", img.tag.as_deref().unwrap_or_default());
        assert_eq!(
            manifold_tests::sha256_digest(&served.bytes),
            entry["digest"]
        );
        assert_eq!(entry["size"], served.bytes.len());
        assert_eq!(entry["mediaType"], img.media_type);
        assert_eq!(entry["platform"]["architecture"], img.platform.architecture);
        assert_eq!(entry["platform"]["os"], img.platform.os);
        let variant = entry["platform"]["variant"].as_str().unwrap_or("");
        assert_eq!(variant, img.platform.variant.as_deref().unwrap_or(""));
    }
    // Lookup by short name, full name and ID.
    p.run(&["manifest", "exists", "ml:v1"])
        .assert_success("exists by short name");
    p.run(&["manifest", "exists", "localhost/ml:v1"])
        .assert_success("exists by full name");
    p.run(&["manifest", "exists", &id])
        .assert_success("exists by ID");
    p.run(&["manifest", "exists", &id[..12]])
        .assert_success("exists by ID prefix");
    p.run(&["manifest", "exists", "nosuchlist"])
        .assert_failure("exists of a missing list");

    let removed = &w.singles[2].digest;
    p.run(&["manifest", "remove", "ml:v1", removed])
        .assert_success("remove");
    let doc = inspect(&p, "ml:v1");
    assert_eq!(entries(&doc).len(), 5);
    assert!(!digests(&doc).contains(removed));
    p.run(&["manifest", "remove", "ml:v1", removed])
        .assert_failure("removing twice");

    let out = p.run(&["manifest", "rm", "ml:v1"]);
    out.assert_success("manifest rm");
    assert!(
        out.stdout.contains("Untagged: localhost/ml:v1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("Deleted: {id}")),
        "{}",
        out.stdout
    );
    p.run(&["manifest", "exists", "ml:v1"])
        .assert_failure("exists after rm");
    let out = p.run(&["manifest", "rm", "ml:v1"]);
    out.assert_failure("rm of a missing list");
    assert!(out.stderr.contains("image not known"), "{}", out.stderr);
}

#[test]
fn add_all_of_oci_index_and_docker_list() {
    let reg = Registry::plain();
    let oci = fixtures::push_index(
        &reg,
        "multi",
        "oci",
        &fixtures::six_platforms(),
        Format::Oci,
    );
    let docker = fixtures::push_index(
        &reg,
        "multi",
        "docker",
        &fixtures::six_platforms(),
        Format::Docker,
    );
    let mf = manifold_for(&[&reg]);
    let p = Podman::new(&mf.url());
    for (name, index) in [("all-oci", &oci), ("all-docker", &docker)] {
        p.run(&["manifest", "create", name])
            .assert_success("create");
        p.run(&[
            "manifest",
            "add",
            "--all",
            "--tls-verify=false",
            name,
            &format!("docker://{}", index.reference()),
        ])
        .assert_success("add --all");
        let doc = inspect(&p, name);
        let source: Value =
            serde_json::from_slice(&fixtures::get_manifest(&reg, "multi", &index.tag).bytes)
                .expect("index JSON");
        let want = source["manifests"].as_array().cloned().unwrap_or_default();
        let got = entries(&doc);
        assert_eq!(got.len(), 6, "{name}");
        for (g, s) in got.iter().zip(&want) {
            assert_eq!(g["digest"], s["digest"]);
            assert_eq!(g["size"], s["size"]);
            assert_eq!(g["mediaType"], s["mediaType"]);
            assert_eq!(g["platform"]["architecture"], s["platform"]["architecture"]);
            assert_eq!(g["platform"]["os"], s["platform"]["os"]);
            assert_eq!(g["platform"]["variant"], s["platform"]["variant"]);
            assert_eq!(g["platform"]["os.version"], s["platform"]["os.version"]);
        }
    }
    // Without --all, the instance for this machine's platform is chosen.
    p.run(&["manifest", "create", "one"])
        .assert_success("create");
    p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "one",
        &format!("docker://{}", oci.reference()),
    ])
    .assert_success("add without --all");
    let doc = inspect(&p, "one");
    assert_eq!(entries(&doc).len(), 1);
    assert_eq!(doc["manifests"][0]["platform"]["os"], "linux");
}

#[test]
fn add_with_platform_overrides() {
    let w = World::new();
    let p = Podman::new(&w.mf.url());
    p.run(&["manifest", "create", "ov"])
        .assert_success("create");
    p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--arch",
        "riscv64",
        "--os",
        "plan9",
        "--variant",
        "rv1",
        "--os-version",
        "9.4",
        "ov",
        &w.singles[0].docker_reference(),
    ])
    .assert_success("add with overrides");
    let doc = inspect(&p, "ov");
    let platform = &doc["manifests"][0]["platform"];
    assert_eq!(platform["architecture"], "riscv64");
    assert_eq!(platform["os"], "plan9");
    assert_eq!(platform["variant"], "rv1");
    assert_eq!(platform["os.version"], "9.4");
    // --arch alone clears the variant (podman's rule).
    p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "--arch",
        "arm64",
        "ov",
        &w.singles[1].docker_reference(),
    ])
    .assert_success("add with --arch");
    let doc = inspect(&p, "ov");
    assert_eq!(doc["manifests"][1]["platform"]["architecture"], "arm64");
    assert!(
        doc["manifests"][1]["platform"].get("variant").is_none(),
        "{doc}"
    );
}

#[test]
fn create_with_images_and_amend() {
    let w = World::new();
    let p = Podman::new(&w.mf.url());
    let first = w.singles[0].docker_reference();
    let id = p
        .run(&["manifest", "create", "am", &first])
        .assert_success("create with an image")
        .stdout
        .trim()
        .to_string();
    let out = p.run(&["manifest", "create", "am"]);
    out.assert_failure("create of a taken name");
    assert!(
        out.stderr.contains("that name is already in use"),
        "{}",
        out.stderr
    );
    let again = p
        .run(&[
            "manifest",
            "create",
            "--amend",
            "am",
            &w.singles[1].docker_reference(),
        ])
        .assert_success("create --amend")
        .stdout
        .trim()
        .to_string();
    assert_eq!(again, id);
    let doc = inspect(&p, "am");
    assert_eq!(
        digests(&doc),
        vec![w.singles[0].digest.clone(), w.singles[1].digest.clone()]
    );
}

#[test]
fn errors_reach_the_cli() {
    let w = World::new();
    let p = Podman::new(&w.mf.url());
    let out = p.run(&[
        "manifest",
        "add",
        "--tls-verify=false",
        "nolist",
        &w.singles[0].docker_reference(),
    ]);
    out.assert_failure("add to a missing list");
    assert!(out.stderr.contains("image not known"), "{}", out.stderr);
    p.run(&["manifest", "create", "e"]).assert_success("create");
    let missing = format!("docker://{}/app:nosuchtag", w.reg.host());
    let out = p.run(&["manifest", "add", "--tls-verify=false", "e", &missing]);
    out.assert_failure("add of a missing tag");
    let out = p.run(&[
        "manifest",
        "add",
        "e",
        "containers-storage:localhost/img:amd64",
    ]);
    out.assert_failure("add of a local image");
    let doc = inspect(&p, "e");
    assert!(
        entries(&doc).is_empty(),
        "failed adds leave the list unchanged: {doc}"
    );
    let out = p.run(&["manifest", "inspect", "nosuchlist"]);
    out.assert_failure("inspect of a missing list");
}
