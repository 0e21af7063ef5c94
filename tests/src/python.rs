//! podman-py as a client: Python snippets run with the workspace's virtualenv.
//!
//! The venv is `<workspace>/.venv` (made by `python3 -m venv .venv && .venv/bin/pip install
//! podman`); `MANIFOLD_PYTHON` overrides the interpreter. Scripts run in an isolated environment
//! with `PODMAN_URL` set to the service URL, so a snippet starts with
//! `import os, podman; c = podman.PodmanClient(base_url=os.environ["PODMAN_URL"])`.

use std::path::PathBuf;
use std::process::Command;

use crate::process::{IsolatedEnv, Output};

/// The Python interpreter: `$MANIFOLD_PYTHON`, else `<workspace>/.venv/bin/python`.
pub fn python_bin() -> PathBuf {
    match std::env::var_os("MANIFOLD_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => crate::workspace_dir().join(".venv/bin/python"),
    }
}

/// Runs `script` with the venv's Python; `PODMAN_URL` is `socket_url` (e.g. `unix:///…sock` or
/// `http://127.0.0.1:PORT`).
pub fn run_podman_py(socket_url: &str, script: &str) -> Output {
    run_python(script, &[("PODMAN_URL", socket_url)])
}

/// Runs `script` with the venv's Python in an isolated environment plus `env`.
pub fn run_python(script: &str, env: &[(&str, &str)]) -> Output {
    let py = python_bin();
    assert!(
        py.exists(),
        "python interpreter {} not found: create the venv with `python3 -m venv .venv && .venv/bin/pip install podman` in the workspace, or set MANIFOLD_PYTHON",
        py.display()
    );
    let iso = IsolatedEnv::new();
    let file = iso.path().join("script.py");
    std::fs::write(&file, script).expect("write python script");
    let mut cmd = Command::new(&py);
    cmd.arg(&file);
    iso.apply(&mut cmd);
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Output::of(&mut cmd)
}
