//! [`Environment`]: what the configuration's defaults and secrets depend on outside the file —
//! who runs manifold, its XDG directories and home, and the environment variables
//! `password_env` may name. Read from the process once, or given whole by tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the defaults depend on: who runs manifold and the XDG directories.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// manifold's effective user ID. Without `[[policy]]` the configured registry credentials
    /// serve this user and root only; `None` (not known) leaves them to root.
    pub euid: Option<u32>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// Environment variables `password_env` may name: `None` reads the process environment,
    /// `Some` only these (tests).
    pub vars: Option<BTreeMap<String, String>>,
}

impl Environment {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Environment {
            euid: Some(nix::unistd::geteuid().as_raw()),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_data_home: var("XDG_DATA_HOME"),
            home: var("HOME"),
            vars: None,
        }
    }

    /// Running as root (effective user ID 0); the defaults then use system-wide paths.
    pub fn is_root(&self) -> bool {
        self.euid == Some(0)
    }

    /// The value of environment variable `name`, if it is set and valid UTF-8.
    pub fn var(&self, name: &str) -> Option<String> {
        match &self.vars {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}
