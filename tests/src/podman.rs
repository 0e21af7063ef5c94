//! podman 4.3.1 as a client (CLI in remote mode) and as a peer (a real `podman system service`).
//!
//! The remote client runs with an isolated environment ([`IsolatedEnv`]): a temporary `HOME`,
//! `XDG_RUNTIME_DIR` (where the client looks for `containers/auth.json`, whose credentials it
//! would send as `X-Registry-Auth`), `XDG_CONFIG_HOME`, and empty `CONTAINERS_CONF` /
//! `CONTAINERS_REGISTRIES_CONF`, so nothing from the host leaks in. `--url` selects the service;
//! no `CONTAINER_HOST`/`CONTAINER_CONNECTION` is inherited.
//!
//! The service runs as root with its own storage, tmpdir and network config dir:
//! `podman --root R --runroot RR --tmpdir T --network-config-dir N --storage-driver vfs
//! --cgroup-manager cgroupfs --events-backend file system service --time=0 unix://SOCK`, with
//! `CONTAINERS_REGISTRIES_CONF` marking each test registry `insecure = true`. One thing cannot be
//! isolated: as root, podman's blob-info cache is `/var/lib/containers/cache`, shared by every run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::http::Client;
use crate::process::{read_log, ChildGuard, IsolatedEnv, Output, Startup};
use crate::registry::Registry;

/// The podman binary, overridable with `MANIFOLD_PODMAN`.
pub fn podman_bin() -> String {
    std::env::var("MANIFOLD_PODMAN").unwrap_or_else(|_| "podman".into())
}

/// Runs `podman --remote --url URL args…` in a fresh isolated environment.
pub fn podman_remote(url: &str, args: &[&str]) -> Output {
    Podman::new(url).run(args)
}

/// A podman remote client with a persistent isolated environment (so tests can write an
/// `auth.json` that several commands share).
#[derive(Debug)]
pub struct Podman {
    url: String,
    env: IsolatedEnv,
}

impl Podman {
    /// A client for the service at `url` (`unix:///…` or `tcp://127.0.0.1:PORT`).
    pub fn new(url: &str) -> Podman {
        Podman {
            url: url.into(),
            env: IsolatedEnv::new(),
        }
    }

    /// The service URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The isolated environment (HOME, auth file, extra variables).
    pub fn env(&self) -> &IsolatedEnv {
        &self.env
    }

    /// Stores credentials for `host` in this client's `auth.json` (podman then sends them to
    /// the service as `X-Registry-Auth` on push).
    pub fn login(&self, host: &str, user: &str, pass: &str) {
        self.env.write_auth(host, user, pass);
    }

    /// The command `podman --remote --url URL args…` with the isolated environment applied.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(podman_bin());
        cmd.arg("--remote").arg("--url").arg(&self.url).args(args);
        self.env.apply(&mut cmd);
        cmd
    }

    /// Runs `podman --remote --url URL args…` (default command timeout, see
    /// [`crate::process::command_timeout`]).
    pub fn run(&self, args: &[&str]) -> Output {
        Output::of(&mut self.command(args))
    }
}

/// How to start a [`PodmanService`].
#[derive(Debug, Clone, Default)]
pub struct PodmanServiceOptions {
    /// Registry hosts (`127.0.0.1:PORT`) to mark `insecure = true` (plain HTTP).
    pub insecure_registries: Vec<String>,
    /// Listen on `tcp:127.0.0.1:PORT` instead of a unix socket (podman serves one URI).
    pub tcp: bool,
    /// Extra environment variables for the service.
    pub env: Vec<(String, String)>,
}

/// A real `podman system service` (root, vfs storage in a temporary directory); killed on drop.
#[derive(Debug)]
pub struct PodmanService {
    child: Option<ChildGuard>,
    socket: PathBuf,
    url: String,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

impl PodmanService {
    /// Starts a service that treats `registries` as plain-HTTP registries, on a unix socket.
    pub fn start(registries: &[&Registry]) -> PodmanService {
        PodmanService::start_with(PodmanServiceOptions {
            insecure_registries: registries.iter().map(|r| r.host()).collect(),
            ..Default::default()
        })
    }

    /// Starts a service with all options.
    pub fn start_with(opts: PodmanServiceOptions) -> PodmanService {
        crate::init();
        let dir = tempfile::Builder::new()
            .prefix("mf-podman-")
            .tempdir()
            .expect("create podman service dir");
        let d = dir.path();
        let mut conf = String::new();
        for host in &opts.insecure_registries {
            conf.push_str(&format!(
                "[[registry]]\nlocation = \"{host}\"\ninsecure = true\n\n"
            ));
        }
        std::fs::write(d.join("registries.conf"), conf).expect("write registries.conf");
        std::fs::write(d.join("containers.conf"), "").expect("write containers.conf");
        for sub in ["root", "runroot", "tmp", "net", "home", "xdg"] {
            std::fs::create_dir_all(d.join(sub)).expect("create podman service subdir");
        }
        let socket = d.join("podman.sock");
        // The service is told `tcp:HOST:PORT`; clients are given `tcp://HOST:PORT`.
        let (listen, url) = match opts.tcp.then(crate::process::free_port) {
            Some(p) => (format!("tcp:127.0.0.1:{p}"), format!("tcp://127.0.0.1:{p}")),
            None => {
                let url = format!("unix://{}", socket.display());
                (url.clone(), url)
            }
        };
        let mut cmd = Command::new(podman_bin());
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--network-config-dir")
            .arg(d.join("net"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "system",
                "service",
                "--time=0",
            ])
            .arg(&listen)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into()),
            )
            .env("HOME", d.join("home"))
            .env("XDG_RUNTIME_DIR", d.join("xdg"))
            .env("TMPDIR", d.join("tmp"))
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"));
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let log_path = d.join("podman.log");
        let client = Client::new(&url).with_timeout(Duration::from_secs(2));
        let child = ChildGuard::spawn_ready(
            "podman system service",
            &mut cmd,
            &log_path,
            Duration::from_secs(30),
            Duration::from_millis(25),
            || matches!(client.try_request("GET", "/_ping", &[], b""), Ok(r) if r.status == 200),
        )
        .unwrap_or_else(|e| {
            panic!(
                "podman service did not become ready ({}); log:\n{}",
                match e {
                    Startup::TimedOut => "timeout",
                    Startup::Exited(_) => "exited",
                },
                read_log(&log_path)
            )
        });
        PodmanService {
            child: Some(child),
            socket,
            url,
            log_path,
            dir,
        }
    }

    /// The unix socket path (meaningless when started with `tcp: true`).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix:///…/podman.sock`, or `tcp://127.0.0.1:PORT` when started with `tcp: true`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The service's temporary directory (storage, config, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The service log.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The process id of the service while it runs (for `/proc/<pid>/status`, e.g. peak RSS).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(ChildGuard::pid)
    }

    /// A raw HTTP client on the service.
    pub fn http(&self) -> Client {
        Client::new(&self.url())
    }

    /// Runs `podman --remote --url <this> args…` in an isolated environment.
    pub fn podman(&self, args: &[&str]) -> Output {
        podman_remote(&self.url(), args)
    }

    /// Stops the service (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        self.stop();
        // The storage holds read-only copies of layers in vfs dirs; make sure removal succeeds.
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
