//! The pingora server: listeners, the [`Front`] that answers manifest calls locally and
//! forwards the rest, and shutdown that lets requests in flight, local and forwarded, finish.
//!
//! Listeners: `tcp://` (plain), `tls://` (rustls, settings from [`crate::tls`]) and `unix://`
//! sockets with the configured `socket_mode`. pingora binds sockets inside `Server::run` and has
//! no hook after the bind, so `socket_group` is applied by a watcher thread that changes the
//! socket's group as soon as the socket file appears (stale files are removed before start, so
//! the first socket seen is the new one). Until then the socket has manifold's own group; with
//! the default mode that only keeps the configured group out for those few milliseconds.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use manifold_composer::service::Composer;
use manifold_config::{Config, Listen, SocketGroup};
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};

use crate::front::{Front, Inflight};
use crate::handlers::App;

/// Installs the log subscriber (which also captures pingora's `log` output).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MANIFOLD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs manifold with `config` until SIGTERM or SIGINT.
pub fn serve(config: Config) -> Result<(), String> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    // The store is opened on a short-lived runtime: pingora builds its own runtimes in `run`.
    let composer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?
        .block_on(Composer::open(config.clone()))
        .map_err(|e| format!("cannot open the list store: {e}"))?;
    let inflight = Inflight::default();
    let app = Arc::new(App::new(Arc::new(composer), config.clone()));
    let front = Front::new(app, config.backend.clone(), inflight.clone());

    let conf = ServerConf {
        threads: config.threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, front);
    let socket_gid = config
        .socket_group
        .as_ref()
        .map(resolve_group)
        .transpose()?;
    let mut sockets = Vec::new();
    for listen in &config.listen {
        match listen {
            Listen::Tcp(addr) => service.add_tcp(&addr.to_string()),
            Listen::Tls(addr) => {
                let files = config.tls.as_ref().ok_or_else(|| {
                    format!("{listen} needs a [tls] section with cert_file and key_file")
                })?;
                let settings = crate::tls::settings(files)?;
                service.add_tls_with_settings(&addr.to_string(), None, settings);
            }
            Listen::Unix(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!("cannot create socket directory {}: {e}", dir.display())
                    })?;
                }
                // A socket file left by a previous run would make the bind fail.
                if path.exists() {
                    let _ = std::fs::remove_file(path);
                }
                let path = path
                    .to_str()
                    .ok_or_else(|| format!("socket path {} is not UTF-8", path.display()))?;
                service.add_uds(
                    path,
                    Some(std::fs::Permissions::from_mode(config.socket_mode)),
                );
                sockets.push(std::path::PathBuf::from(path));
            }
        }
        tracing::info!(%listen, "listening");
    }
    server.add_service(service);
    if let Some(gid) = socket_gid {
        if !sockets.is_empty() {
            set_group_when_bound(sockets, gid);
        }
    }
    let shutdown = DrainingShutdown {
        inflight,
        timeout: Duration::from_secs(config.shutdown_timeout_seconds),
    };
    server.run(RunArgs {
        shutdown_signal: Box::new(shutdown),
    });
    tracing::info!("stopped");
    Ok(())
}

/// The group ID `socket_group` names.
fn resolve_group(group: &SocketGroup) -> Result<u32, String> {
    match group {
        SocketGroup::Gid(gid) => Ok(*gid),
        SocketGroup::Name(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            Ok(None) => Err(format!(
                "socket_group: there is no group named {name:?} on this system"
            )),
            Err(e) => Err(format!("socket_group: cannot look up group {name:?}: {e}")),
        },
    }
}

/// How long the group watcher waits for pingora to bind the sockets.
const BIND_WAIT: Duration = Duration::from_secs(30);

/// Gives every socket in `paths` the group `gid` as soon as pingora has bound it.
fn set_group_when_bound(mut paths: Vec<std::path::PathBuf>, gid: u32) {
    use std::os::unix::fs::FileTypeExt as _;
    let spawned = std::thread::Builder::new()
        .name("socket-group".into())
        .spawn(move || {
            let deadline = std::time::Instant::now() + BIND_WAIT;
            while !paths.is_empty() && std::time::Instant::now() < deadline {
                paths.retain(|path| {
                    let bound = std::fs::symlink_metadata(path)
                        .is_ok_and(|m| m.file_type().is_socket());
                    if !bound {
                        return true;
                    }
                    match std::os::unix::fs::chown(path, None, Some(gid)) {
                        Ok(()) => tracing::info!(socket = %path.display(), gid, "socket group set"),
                        Err(e) => tracing::error!(socket = %path.display(), gid, error = %e, "cannot set the socket group (socket_group)"),
                    }
                    false
                });
                std::thread::sleep(Duration::from_millis(2));
            }
            for path in paths {
                tracing::error!(socket = %path.display(), "the socket did not appear; its group is not set");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the socket group watcher");
    }
}

/// Waits for SIGTERM or SIGINT, then for the requests in flight, local and forwarded, to finish
/// (bounded), then asks pingora for an immediate stop. Lists are safe either way: every store
/// write is atomic.
struct DrainingShutdown {
    inflight: Inflight,
    timeout: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainingShutdown {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = int.recv() => tracing::info!("SIGINT: stopping"),
                }
            }
            _ => {
                tracing::error!("cannot install signal handlers; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        while self.inflight.count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ShutdownSignal::FastShutdown
    }
}
