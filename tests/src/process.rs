//! Process helpers shared by the harness: free loopback ports, child processes that are killed on
//! drop with their output captured to a log file, polling with a deadline, signals, command output,
//! and isolated client environments (temporary HOME and XDG directories, empty containers config).

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Ports handed out by [`free_port`] in this process, never handed out twice.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free TCP port on 127.0.0.1: binds port 0, reads the port, drops the listener.
///
/// A port is never returned twice within one process, so parallel tests of one test binary cannot
/// collide; another process can still grab it in between, so starters verify that the process they
/// spawned is the one answering (and retry with another port otherwise).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local address of a bound listener")
            .port();
        drop(listener);
        let mut guard = HANDED_OUT.lock().expect("port set lock");
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("could not find a free loopback port in 100 attempts");
}

/// Polls `f` every `interval` until it returns `Some`, or `None` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// Opens (creating, appending) a log file and returns two handles for a child's stdout and stderr.
pub fn log_stdio(path: &Path) -> (Stdio, Stdio) {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open log file {}: {e}", path.display()));
    let err = file.try_clone().expect("clone log file handle");
    (Stdio::from(file), Stdio::from(err))
}

/// Reads a log file as (lossy) UTF-8; empty when it does not exist.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Why [`ChildGuard::spawn_ready`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// The process exited before it was ready.
    Exited(ExitStatus),
    /// The process was not ready within the timeout.
    TimedOut,
}

/// A spawned child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin closed and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> ChildGuard {
        let (out, err) = log_stdio(log);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({cmd:?}): {e}"));
        ChildGuard {
            child: Some(child),
            name: name.to_string(),
        }
    }

    /// Spawns `cmd` like [`ChildGuard::spawn`] and polls every `interval`, for at most `timeout`,
    /// until `probe` returns `true` (ready) or the process exits.
    ///
    /// On [`Startup::Exited`] or [`Startup::TimedOut`] the process is killed (by the dropped
    /// guard); callers decide whether to retry or panic (typically printing the log).
    pub fn spawn_ready(
        name: &str,
        cmd: &mut Command,
        log: &Path,
        timeout: Duration,
        interval: Duration,
        mut probe: impl FnMut() -> bool,
    ) -> Result<ChildGuard, Startup> {
        let mut child = ChildGuard::spawn(name, cmd, log);
        let ready = wait_until(timeout, interval, || {
            if let Some(status) = child.try_wait() {
                return Some(Err(Startup::Exited(status)));
            }
            probe().then_some(Ok(()))
        });
        match ready {
            Some(Ok(())) => Ok(child),
            Some(Err(e)) => Err(e),
            None => Err(Startup::TimedOut),
        }
    }

    /// The process id, if the process has not been reaped yet.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` when the process has exited (it is reaped), `None` while it runs.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            Ok(None) => None,
            Err(e) => panic!("try_wait on {}: {e}", self.name),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Sends a signal by name (`TERM`, `KILL`, `HUP`, `INT`, `STOP`, `CONT`, ...) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            send_signal(pid, signal);
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its status, or `None` on timeout.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, Duration::from_millis(20), || {
            status = self.try_wait();
            status.map(|_| ())
        });
        status
    }

    /// Kills the process with SIGKILL and reaps it; returns its status (`None` if already gone).
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `signal` (a name such as `TERM` or `KILL`) to `pid` with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run kill(1)");
    if !status.success() {
        eprintln!("kill -{signal} {pid} failed: {status}");
    }
}

/// The default timeout of commands run through [`Output::of`]: `$MANIFOLD_CMD_TIMEOUT` seconds,
/// else 120 s.
pub fn command_timeout() -> Duration {
    std::env::var("MANIFOLD_CMD_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(120), Duration::from_secs)
}

/// The output of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Runs `cmd` to completion, capturing stdout and stderr, with the default timeout
    /// ([`command_timeout`]).
    pub fn of(cmd: &mut Command) -> Output {
        Output::of_timeout(cmd, command_timeout())
    }

    /// Runs `cmd` to completion, capturing stdout and stderr; kills it and panics (showing what
    /// it printed) when it runs longer than `timeout`.
    pub fn of_timeout(cmd: &mut Command, timeout: Duration) -> Output {
        use std::io::Read;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        let pipe = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = vec![];
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = pipe(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let err = pipe(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = child.kill();
                    break child.wait().expect("reap killed command");
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("wait for {cmd:?}: {e}"),
            }
        };
        let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        assert!(
            !timed_out,
            "{cmd:?} did not finish within {timeout:?} (killed)\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with stdout and stderr unless the command succeeded; returns `self` for chaining.
    #[track_caller]
    pub fn assert_success(&self, what: &str) -> &Output {
        assert!(
            self.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed; returns `self` for chaining.
    #[track_caller]
    pub fn assert_failure(&self, what: &str) -> &Output {
        assert!(
            !self.success(),
            "{what} unexpectedly succeeded:\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Parses stdout as JSON, panicking with the output when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A private environment for container clients (podman, skopeo, python) so that nothing of the
/// host's configuration or credentials leaks in, and nothing they write leaks out.
///
/// It provides a temporary `HOME`, `XDG_RUNTIME_DIR` (where containers/image keeps `auth.json`),
/// `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_CACHE_HOME`, `TMPDIR`, and empty `containers.conf` and
/// `registries.conf` files (via `CONTAINERS_CONF` and `CONTAINERS_REGISTRIES_CONF`). The process
/// environment is cleared except for `PATH` (and `LANG`).
#[derive(Debug)]
pub struct IsolatedEnv {
    dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
}

impl Default for IsolatedEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolatedEnv {
    /// Creates the temporary directories and empty configuration files.
    pub fn new() -> IsolatedEnv {
        let dir = tempfile::Builder::new()
            .prefix("mf-env-")
            .tempdir()
            .expect("create isolated env dir");
        for sub in ["home", "run", "config", "data", "cache", "tmp", "etc"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("create isolated env subdir");
        }
        std::fs::set_permissions(
            dir.path().join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod runtime dir");
        std::fs::write(dir.path().join("etc/containers.conf"), "").expect("write containers.conf");
        std::fs::write(dir.path().join("etc/registries.conf"), "").expect("write registries.conf");
        IsolatedEnv { dir, extra: vec![] }
    }

    /// The root of the temporary directories.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The temporary `HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The temporary `XDG_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// Where podman and skopeo look for credentials first: `$XDG_RUNTIME_DIR/containers/auth.json`.
    pub fn auth_file(&self) -> PathBuf {
        self.runtime_dir().join("containers/auth.json")
    }

    /// Writes `auth.json` with credentials for `host` (adds to existing entries).
    pub fn write_auth(&self, host: &str, user: &str, pass: &str) {
        use base64::Engine;
        let path = self.auth_file();
        std::fs::create_dir_all(path.parent().expect("auth file has a parent"))
            .expect("create auth dir");
        let mut doc: serde_json::Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({"auths": {}}));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        doc["auths"][host] = serde_json::json!({ "auth": token });
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&doc).expect("serialise auth.json"),
        )
        .expect("write auth.json");
    }

    /// Adds (or overrides) an environment variable for commands configured by this environment.
    pub fn set(&mut self, key: &str, value: &str) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_string(), value.to_string()));
    }

    /// Clears `cmd`'s environment and applies this one.
    pub fn apply(&self, cmd: &mut Command) {
        let p = self.dir.path();
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH")
                    .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into()),
            )
            .env("LANG", "C.UTF-8")
            .env("HOME", p.join("home"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_CACHE_HOME", p.join("cache"))
            .env("TMPDIR", p.join("tmp"))
            .env("CONTAINERS_CONF", p.join("etc/containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", p.join("etc/registries.conf"));
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
    }

    /// Runs `program args` in this environment.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(program);
        cmd.args(args);
        self.apply(&mut cmd);
        Output::of(&mut cmd)
    }
}
