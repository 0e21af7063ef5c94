//! The pingora server: listeners, the `ProxyHttp` front that answers manifest calls locally and
//! forwards the rest, and shutdown that lets requests in flight finish.
//!
//! Listeners: `tcp://` (plain), `tls://` (rustls, settings from [`crate::tls`]) and `unix://`
//! sockets with the configured `socket_mode`. pingora binds sockets inside `Server::run` and has
//! no hook after the bind, so `socket_group` is applied by a watcher thread that changes the
//! socket's group as soon as the socket file appears (stale files are removed before start, so
//! the first socket seen is the new one). Until then the socket has manifold's own group; with
//! the default mode that only keeps the configured group out for those few milliseconds.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use manifold_composer::service::Composer;
use manifold_config::{Backend, Config, Listen, SocketGroup};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};

use crate::exchange::{Answer, Reply, Request};
use crate::handlers::App;
use crate::identity;
use crate::libpod::response::{self, ErrorModel};
use crate::route::{route, Route};

/// How far past `limits.max_request_body` a body is still read (and dropped) before the 413.
const DRAIN_FACTOR: u64 = 16;

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
    let inflight = Arc::new(AtomicUsize::new(0));
    let front = Front {
        app: Arc::new(App::new(Arc::new(composer), config.clone())),
        backend: config.backend.clone(),
        inflight: inflight.clone(),
    };

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

/// Waits for SIGTERM or SIGINT, then for local requests in flight to finish (bounded), then
/// asks pingora for an immediate stop. Lists are safe either way: every store write is atomic.
struct DrainingShutdown {
    inflight: Arc<AtomicUsize>,
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
        while self.inflight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ShutdownSignal::FastShutdown
    }
}

/// The reply for a body over the configured limit.
fn body_too_large(max: u64) -> Reply {
    ErrorModel::plain(
        413,
        format!(
            "request body is larger than limits.max_request_body ({max} bytes); raise the limit in the configuration or send a smaller request"
        ),
    )
    .into()
}

/// The pingora front: routes each request, answers manifest calls, forwards the rest.
struct Front {
    app: Arc<App>,
    backend: Option<Backend>,
    inflight: Arc<AtomicUsize>,
}

/// Counts a local request as in flight until dropped.
struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Front {
    async fn read_body(session: &mut Session, max: u64) -> Result<Result<Bytes, Reply>> {
        let mut body = Vec::new();
        let mut seen: u64 = 0;
        while let Some(chunk) = session.read_request_body().await? {
            seen += chunk.len() as u64;
            if seen <= max {
                body.extend_from_slice(&chunk);
            } else if seen > max.saturating_mul(DRAIN_FACTOR) {
                // Far past the limit: answer now and let the connection close.
                break;
            }
            // Between the two, the rest of the body is read and dropped, so a client that
            // writes its whole body before reading gets the 413 instead of a broken pipe.
        }
        if seen > max {
            return Ok(Err(body_too_large(max)));
        }
        Ok(Ok(Bytes::from(body)))
    }

    /// Writes a 200 whose body arrives in chunks, each flushed as an HTTP chunk.
    async fn write_stream(
        session: &mut Session,
        headers: Vec<(String, String)>,
        mut body: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<()> {
        let mut resp = ResponseHeader::build(200, Some(headers.len() + 1))?;
        for (k, v) in headers {
            resp.insert_header(k, v)?;
        }
        // Explicit chunked framing keeps the connection reusable (a close-delimited body would not).
        resp.insert_header("Transfer-Encoding", "chunked")?;
        session.write_response_header(Box::new(resp), false).await?;
        while let Some(chunk) = body.recv().await {
            if session
                .write_response_body(Some(chunk), false)
                .await
                .is_err()
            {
                // The client left; the push itself carries on to its end.
                return Ok(());
            }
        }
        session.write_response_body(None, true).await
    }

    async fn write_reply(session: &mut Session, request: &Request, reply: Reply) -> Result<()> {
        let Reply {
            status,
            headers,
            body,
        } = reply;
        let mut resp = ResponseHeader::build(status, Some(headers.len() + 2))?;
        for (k, v) in headers {
            resp.insert_header(k, v)?;
        }
        let has_body = !body.is_empty() && request.method != "HEAD";
        if status != 204 && status != 304 {
            resp.insert_header("Content-Length", body.len().to_string())?;
        }
        session
            .write_response_header(Box::new(resp), !has_body)
            .await?;
        if has_body {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for Front {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut Self::CTX) -> Result<bool> {
        let header = session.req_header();
        let (method, path) = (header.method.as_str(), header.uri.path());
        let query = header.uri.query().unwrap_or("");
        let identity = identity::of_session(session);
        let route = route(method, path);
        // The policy is evaluated here, once; the answer below reuses it.
        let policy = self.app.policy_for(&identity);
        // Identities without a rule reach nothing, the backend included: they get the 403 below.
        let may_forward = self.backend.is_some() && policy.is_ok();
        if route == Route::Forward && may_forward {
            return Ok(false);
        }
        if may_forward && self.app.should_forward(&route, query, &policy) {
            return Ok(false);
        }
        // Answered locally: only now is the request copied out of the session.
        let mut request = Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: header
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: Bytes::new(),
            identity,
        };
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let _guard = InflightGuard(self.inflight.clone());
        let answer = match Self::read_body(session, self.app.max_body()).await? {
            Ok(body) => {
                request.body = body;
                self.app.answer(route, &request, policy).await
            }
            Err(reply) => Answer::Full(reply),
        };
        // Every local answer, errors included, starts with the headers every libpod response
        // carries (§1.3), as podman's service sends them.
        let standard = response::standard_headers(request.header("X-Reference-Id"));
        match answer {
            Answer::Full(mut reply) => {
                tracing::info!(method = %request.method, path = %request.path, identity = %request.identity, status = reply.status, "answered");
                reply.headers = [standard, reply.headers].concat();
                Self::write_reply(session, &request, reply).await?;
            }
            Answer::Stream { headers, body } => {
                tracing::info!(method = %request.method, path = %request.path, identity = %request.identity, status = 200, "streaming");
                Self::write_stream(session, [standard, headers].concat(), body).await?;
            }
        }
        Ok(true)
    }

    /// What pingora's error logs say about a request: method and path only. Query strings can
    /// carry credentials (podman 4.x sends `password=` in push and add queries).
    fn request_summary(&self, session: &Session, _ctx: &Self::CTX) -> String {
        let req = session.req_header();
        format!("{} {}", req.method, req.uri.path())
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        let peer = match &self.backend {
            Some(Backend::Unix(path)) => {
                let path = path.to_str().unwrap_or_default();
                HttpPeer::new_uds(path, false, String::new())?
            }
            Some(Backend::Tcp(addr)) => HttpPeer::new(*addr, false, String::new()),
            None => {
                return Err(Error::explain(
                    ErrorType::InternalError,
                    "no backend configured",
                ))
            }
        };
        Ok(Box::new(peer))
    }
}
