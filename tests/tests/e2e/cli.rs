//! The `manifold` command line: version, check-config, and refusals at start-up.

use std::process::Command;

use manifold_tests::manifold::manifold_bin;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(manifold_bin())
        .args(args)
        .output()
        .expect("run manifold")
}

#[test]
fn version_prints_the_version() {
    let out = run(&["version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("manifold "));
}

#[test]
fn check_config_prints_the_effective_configuration_or_names_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[registry]]\nlocation = \"127.0.0.1:5001\"\ninsecure = true\n",
    )
    .expect("write");
    let out = run(&["check-config", good.to_str().unwrap_or_default()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("location = \"127.0.0.1:5001\""), "{text}");
    assert!(text.contains("data_dir"), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[registry]]\nlocation = \"127.0.0.1:5001\"\ninsecur = true\n",
    )
    .expect("write");
    let out = run(&["check-config", bad.to_str().unwrap_or_default()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("registry[0]"), "{err}");
    assert!(err.contains("insecur"), "{err}");
}

#[test]
fn non_loopback_plain_tcp_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = run(&[
        "serve",
        "--listen",
        "tcp://0.0.0.0:18585",
        "--data-dir",
        data.to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("allow_insecure_tcp_listen"), "{err}");
    assert!(err.contains("TLS"), "{err}");
}
