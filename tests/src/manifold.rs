//! The `manifold` binary under test, one process per test.
//!
//! It is started as
//! `manifold serve --config FILE --listen unix:///TMP/manifold.sock [--listen tcp://127.0.0.1:PORT]
//! --data-dir DIR [--backend URI]` with stdout and stderr captured to a log file, and is ready when
//! the unix socket answers `GET /_ping` with 200. The binary is `$MANIFOLD_BIN`, or `manifold`
//! next to the directory of the running test executable (`target/debug/deps/..`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::http::Client;
use crate::process::{free_port, read_log, ChildGuard, Output, Startup};

/// A `[[registry]]` configuration entry marking `host` (`HOST:PORT`) insecure (plain HTTP), as
/// operators configure it.
pub fn insecure_entry(host: &str) -> String {
    format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n\n")
}

/// The path of the `manifold` binary: `$MANIFOLD_BIN`, else `<test exe dir>/../manifold`.
pub fn manifold_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MANIFOLD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current test executable");
    let dir = exe.parent().expect("test executable has a directory");
    // Test binaries live in target/<profile>/deps; the binary in target/<profile>.
    let candidates = [dir.join("../manifold"), dir.join("manifold")];
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    candidates[0].clone()
}

/// How to start manifold.
#[derive(Debug, Clone)]
pub struct ManifoldOptions {
    /// The TOML configuration text (written to a temporary file).
    pub config: String,
    /// Listen on an extra free TCP port (`tcp://127.0.0.1:PORT`), see [`Manifold::tcp_url`].
    pub tcp: bool,
    /// Further `--listen` values, verbatim.
    pub extra_listens: Vec<String>,
    /// `--backend URI`.
    pub backend: Option<String>,
    /// `--data-dir`: an existing directory to reuse (e.g. across instances); a temporary one
    /// when `None`.
    pub data_dir: Option<PathBuf>,
    /// Extra environment variables (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments appended after the standard ones.
    pub args: Vec<String>,
    /// How long to wait for readiness (default 20 s).
    pub start_timeout: Duration,
    /// The binary to run instead of [`manifold_bin`] (e.g. a stand-in).
    pub bin: Option<PathBuf>,
}

impl Default for ManifoldOptions {
    fn default() -> Self {
        ManifoldOptions {
            config: String::new(),
            tcp: false,
            extra_listens: vec![],
            backend: None,
            data_dir: None,
            env: vec![],
            args: vec![],
            start_timeout: Duration::from_secs(20),
            bin: None,
        }
    }
}

impl ManifoldOptions {
    /// Options with this configuration text and defaults otherwise.
    pub fn with_config(config: &str) -> ManifoldOptions {
        ManifoldOptions {
            config: config.into(),
            ..Default::default()
        }
    }
}

/// A running manifold process; killed when dropped.
#[derive(Debug)]
pub struct Manifold {
    child: Option<ChildGuard>,
    opts: ManifoldOptions,
    socket: PathBuf,
    config_path: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    tcp_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl Manifold {
    /// Starts manifold and waits until it answers `GET /_ping` on its unix socket.
    pub fn start(opts: ManifoldOptions) -> Manifold {
        crate::init();
        let dir = tempfile::Builder::new()
            .prefix("mf-")
            .tempdir()
            .expect("create manifold dir");
        let socket = dir.path().join("manifold.sock");
        let config_path = dir.path().join("manifold.toml");
        std::fs::write(&config_path, &opts.config).expect("write manifold config");
        let data_dir = match &opts.data_dir {
            Some(d) => d.clone(),
            None => dir.path().join("data"),
        };
        std::fs::create_dir_all(&data_dir).expect("create manifold data dir");
        let log_path = dir.path().join("manifold.log");
        let tcp_port = opts.tcp.then(free_port);
        let mut m = Manifold {
            child: None,
            opts,
            socket,
            config_path,
            data_dir,
            log_path,
            tcp_port,
            dir,
        };
        m.spawn_and_wait();
        m
    }

    /// The full command line (program and arguments).
    pub fn command_line(&self) -> Vec<String> {
        let mut v = vec![
            self.bin().to_string_lossy().into_owned(),
            "serve".into(),
            "--config".into(),
            self.config_path.to_string_lossy().into_owned(),
            "--listen".into(),
            self.url(),
        ];
        if let Some(p) = self.tcp_port {
            v.push("--listen".into());
            v.push(format!("tcp://127.0.0.1:{p}"));
        }
        for l in &self.opts.extra_listens {
            v.push("--listen".into());
            v.push(l.clone());
        }
        v.push("--data-dir".into());
        v.push(self.data_dir.to_string_lossy().into_owned());
        if let Some(b) = &self.opts.backend {
            v.push("--backend".into());
            v.push(b.clone());
        }
        v.extend(self.opts.args.iter().cloned());
        v
    }

    /// The binary this instance runs.
    pub fn bin(&self) -> PathBuf {
        self.opts.bin.clone().unwrap_or_else(manifold_bin)
    }

    fn spawn_and_wait(&mut self) {
        let bin = self.bin();
        assert!(
            bin.is_file(),
            "manifold binary not found at {} (build it with `cargo build -p manifold-proxy`, or set MANIFOLD_BIN)",
            bin.display()
        );
        let argv = self.command_line();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .expect("open manifold log");
            writeln!(f, "=== harness: {}", argv.join(" ")).expect("write manifold log");
        }
        let client = Client::unix(&self.socket).with_timeout(Duration::from_secs(2));
        let started = ChildGuard::spawn_ready(
            "manifold",
            &mut cmd,
            &self.log_path,
            self.opts.start_timeout,
            Duration::from_millis(20),
            || matches!(client.try_request("GET", "/_ping", &[], b""), Ok(r) if r.status == 200),
        );
        match started {
            Ok(child) => self.child = Some(child),
            Err(Startup::Exited(status)) => panic!(
                "manifold exited during startup ({status}); log:\n{}",
                self.log()
            ),
            Err(Startup::TimedOut) => panic!(
                "manifold did not answer GET /_ping on {} within {:?}; log:\n{}",
                self.socket.display(),
                self.opts.start_timeout,
                self.log()
            ),
        }
    }

    /// The unix socket path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix:///…/manifold.sock`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `tcp://127.0.0.1:PORT` when started with `tcp: true`.
    pub fn tcp_url(&self) -> Option<String> {
        self.tcp_port.map(|p| format!("tcp://127.0.0.1:{p}"))
    }

    /// The TCP port when started with `tcp: true`.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temporary directory holding socket, config, log (and data unless given).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the process wrote to stdout and stderr (all runs, separated by `=== harness:`
    /// lines).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// A raw HTTP client on the unix socket.
    pub fn http(&self) -> Client {
        Client::unix(&self.socket)
    }

    /// Runs `podman --remote --url <this> args…` in an isolated environment.
    pub fn podman(&self, args: &[&str]) -> Output {
        crate::podman::podman_remote(&self.url(), args)
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(ChildGuard::pid)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Sends a signal by name (`TERM`, `HUP`, `INT`, `KILL`, ...).
    pub fn signal(&self, signal: &str) {
        if let Some(c) = &self.child {
            c.signal(signal);
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns the status, or panics with
    /// the log when it does not exit in time (the process is then killed).
    pub fn sigterm(&mut self, timeout: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("manifold is not running");
        c.signal("TERM");
        match c.wait_timeout(timeout) {
            Some(st) => st,
            None => {
                c.kill();
                panic!(
                    "manifold did not exit within {timeout:?} after SIGTERM; log:\n{}",
                    self.log()
                )
            }
        }
    }

    /// Starts the process again with the same config, data dir, socket and TCP port (killing
    /// it first if it is still running). A stale socket file is left for manifold to handle.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn_and_wait();
    }
}
