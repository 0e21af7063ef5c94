//! Configured registry credentials are never lent by accident. Without `[[policy]]` they serve
//! only manifold's own user (root here) and root: another user of the machine reaching the
//! default loopback TCP listener is told apart by the owner of its socket (`uid:65534`) and
//! reaches the registry with its own credentials, here none, so the registry refuses it. The
//! other user is a real process (`podman --remote` run as `nobody` with `setpriv`); what reached
//! the registry is checked in the registry's own storage and access log, never through
//! manifold.

use std::path::Path;
use std::process::Command;

use manifold_tests::fixtures;
use manifold_tests::podman::{podman_bin, Podman};
use manifold_tests::process::IsolatedEnv;
use manifold_tests::{ImageSpec, Manifold, ManifoldOptions, Output, Registry, RegistryAuth};

use crate::common::setpriv;

/// The other local user (`nobody`/`nogroup`).
const NOBODY: u32 = 65534;

/// Runs `podman --remote --url URL args…` as `nobody`, in an isolated environment it owns.
fn podman_as_nobody(url: &str, args: &[&str]) -> Output {
    let env = IsolatedEnv::new();
    chown_tree(env.path(), NOBODY);
    let mut argv = setpriv(NOBODY, NOBODY);
    argv.extend([podman_bin(), "--remote".into(), "--url".into(), url.into()]);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).args(args);
    env.apply(&mut cmd);
    Output::of(&mut cmd)
}

/// Gives `dir` and everything below it to `uid` (and the group of the same number).
fn chown_tree(dir: &Path, uid: u32) {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid)).expect("chown");
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            chown_tree(&path, uid);
        } else {
            std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).expect("chown");
        }
    }
}

/// True when the registry stores a repository named `repo`.
fn stores_repository(reg: &Registry, repo: &str) -> bool {
    reg.storage_dir()
        .join("docker/registry/v2/repositories")
        .join(repo)
        .exists()
}

#[test]
fn without_a_policy_another_user_over_loopback_tcp_gets_the_registrys_refusal() {
    let pass = "lend-s3cret";
    let reg = Registry::start(RegistryAuth::basic("ci", pass));
    let image = fixtures::push_image(&reg, "team/app", "v1", &ImageSpec::linux("amd64").seed(701));
    let host = reg.host();
    let config = format!(
        "[[registry]]\nlocation = \"{host}\"\ninsecure = true\n[registry.credentials]\nusername = \"ci\"\npassword = \"{pass}\"\n"
    );
    let mf = Manifold::start(ManifoldOptions {
        config,
        tcp: true,
        ..Default::default()
    });
    let url = mf.tcp_url().expect("a tcp listener");
    assert!(
        mf.log().contains(
            "configured registry credentials serve: uid:0 (manifold's own user); other clients use their own credentials"
        ),
        "{}",
        mf.log()
    );

    // manifold's own user composes over loopback TCP; the configured credentials read for it.
    let root = Podman::new(&url);
    root.run(&["manifest", "create", "lent"])
        .assert_success("create as root");
    root.run(&["manifest", "add", "lent", &image.docker_reference()])
        .assert_success("add from the basic-auth registry as root");

    // nobody sees the list (no policy: lists are everyone's) and pushes it over the same
    // listener, without credentials of its own: the registry refuses.
    let mark = reg.access_mark();
    let stolen = format!("docker://{host}/team/stolen:v1");
    let out = podman_as_nobody(&url, &["manifest", "push", "--all", "lent", &stolen]);
    out.assert_failure("push as nobody");
    assert!(
        out.stderr.contains("unauthorized") || out.stderr.contains("authentication required"),
        "the registry's refusal: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(pass), "{}", out.stderr);
    let asked = reg.access_log_since(mark);
    assert!(!asked.is_empty(), "the push reached the registry");
    assert!(
        asked.iter().all(|l| l.status == 401),
        "the registry answered nobody's push with nothing but 401: {asked:?}"
    );
    assert!(!stores_repository(&reg, "team/stolen"));
    assert!(fixtures::try_get_manifest(&reg, "team/stolen", "v1").is_none());
    // manifold's log names the client by its user.
    let log = mf.log();
    assert!(log.contains("identity=uid:65534"), "{log}");
    assert!(!log.contains(pass), "{log}");

    // The same push as manifold's own user goes through with the configured credentials.
    root.run(&[
        "manifest",
        "push",
        "--all",
        "lent",
        &format!("docker://{host}/team/lent:v1"),
    ])
    .assert_success("push as root");
    let pushed = fixtures::get_manifest(&reg, "team/lent", "v1");
    assert!(
        String::from_utf8_lossy(&pushed.bytes).contains(&image.digest),
        "the index lists the image"
    );
    assert!(mf.log().contains("identity=uid:0"), "{}", mf.log());
}
