//! The pingora front: manifold's `ProxyHttp`, each phase used for its own purpose.
//!
//! - `new_ctx`: a request's [`RequestContext`] (its start, and its place in the [`Inflight`]
//!   count, held until the request is done, local or forwarded, so shutdown waits for both).
//! - `request_filter`: identifies the client, routes the request and evaluates the policy
//!   once, then either lets pingora forward it (`Ok(false)`) or reads the body, calls the
//!   handlers and writes their answer (`Ok(true)`).
//! - `upstream_peer`: the backend podman service; `fail_to_connect` records that it could not
//!   be reached (and does not retry: a local service that is down stays down for the next
//!   microseconds too).
//! - `fail_to_proxy`: a request that failed, local or forwarded, answered with the libpod error
//!   body; a backend that cannot be reached or breaks off is named, with the cause, so
//!   `podman --remote` prints that instead of failing to decode an empty 502.
//! - `logging`: one access-log line per request, local or forwarded: method, path (never the
//!   query, which can hold credentials), status, duration, identity, bytes sent, route.
//!
//! Every answer manifold writes itself starts with the headers every libpod response carries
//! (`docs/libpod-api.md#standard-headers`), `Server: Libpod/… manifold/…` among them. pingora's
//! `Server: Pingora` is not sent: pingora adds it only to the error answers of its own default
//! phases, which are replaced here, and forwarded answers keep the backend's headers as they are.
//! (Two answers pingora writes before any phase runs keep it: the 400 for a request whose header
//! does not parse and the 405 for `CONNECT`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use manifold_config::policy::Identity;
use manifold_config::Backend;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::ErrorSource;

use crate::exchange::{Answer, Reply, Request};
use crate::handlers::App;
use crate::identity;
use crate::libpod::response::{self, ErrorModel};
use crate::route::{route, Route};

/// How far past `limits.max_request_body` a body is still read (and dropped) before the 413.
const DRAIN_FACTOR: u64 = 16;

/// How many requests are in flight, local and forwarded alike.
#[derive(Debug, Clone, Default)]
pub struct Inflight(Arc<AtomicUsize>);

impl Inflight {
    /// The number of requests not done yet.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts one more request until the guard is dropped.
    fn enter(&self) -> InflightGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        InflightGuard(self.0.clone())
    }
}

/// One request counted in flight until dropped.
#[derive(Debug)]
struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What manifold knows about one request, from its header to its access-log line. pingora
/// drops it once the request is done, which ends its count in flight.
#[derive(Debug)]
pub struct RequestContext {
    started: Instant,
    /// Who sent it; `None` when it failed before it was routed.
    identity: Option<Identity>,
    /// [`Route::name`]; `None` when it failed before it was routed.
    route: Option<&'static str>,
    /// True when it goes to the backend.
    forwarded: bool,
    /// True when the connection to the backend could not be made.
    unreachable: bool,
    _inflight: InflightGuard,
}

/// The pingora front: routes each request, answers manifest calls, forwards the rest.
pub struct Front {
    app: Arc<App>,
    backend: Option<Backend>,
    inflight: Inflight,
}

impl Front {
    /// The front of `app`, forwarding to `backend`, counting its requests in `inflight`.
    pub fn new(app: Arc<App>, backend: Option<Backend>, inflight: Inflight) -> Self {
        Front {
            app,
            backend,
            inflight,
        }
    }
}

#[async_trait]
impl ProxyHttp for Front {
    type CTX = RequestContext;

    fn new_ctx(&self) -> Self::CTX {
        RequestContext {
            started: Instant::now(),
            identity: None,
            route: None,
            forwarded: false,
            unreachable: false,
            _inflight: self.inflight.enter(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        let header = session.req_header();
        let (method, path) = (header.method.as_str(), header.uri.path());
        let query = header.uri.query().unwrap_or("");
        let identity = identity::of_session(session);
        let route = route(method, path);
        ctx.identity = Some(identity.clone());
        ctx.route = Some(route.name());
        // The policy is evaluated here, once; the answer below reuses it.
        let policy = self.app.policy_for(&identity);
        // Identities without a rule reach nothing, the backend included: they get the 403 below.
        let forward = match (&self.backend, &policy) {
            (Some(_), Ok(grant)) => {
                route == Route::Forward || self.app.should_forward(&route, query, grant)
            }
            _ => false,
        };
        if forward {
            ctx.forwarded = true;
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
        let answer = match read_body(session, self.app.max_body()).await? {
            Ok(body) => {
                request.body = body;
                self.app.answer(route, &request, policy).await
            }
            Err(reply) => Answer::Full(reply),
        };
        match answer {
            Answer::Full(reply) => write_reply(session, reply).await?,
            Answer::Stream { headers, body } => write_stream(session, headers, body).await?,
        }
        Ok(true)
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

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.unreachable = true;
        e.set_retry(false);
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy
    where
        Self::CTX: Send + Sync,
    {
        let status = failure_status(e, ctx.forwarded);
        // Once a response has started, the client sees the connection end instead.
        if status != 0 && session.response_written().is_none() {
            let req = session.req_header();
            let (method, path) = (req.method.to_string(), req.uri.path().to_string());
            let at = match &self.backend {
                Some(backend) if ctx.unreachable => FailedAt::Connecting(backend),
                Some(backend) if ctx.forwarded => FailedAt::Backend(backend),
                _ => FailedAt::Manifold,
            };
            let model = failure_model(status, at, &method, &path, e);
            if let Err(write) = write_reply(session, model.into()).await {
                tracing::debug!(error = %write, "cannot send the error answer");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Self::CTX)
    where
        Self::CTX: Send + Sync,
    {
        let req = session.req_header();
        let status = session
            .response_written()
            .map_or_else(|| "-".to_string(), |r| r.status.as_u16().to_string());
        let identity = ctx
            .identity
            .as_ref()
            .map_or_else(|| "-".to_string(), ToString::to_string);
        tracing::info!(
            method = %req.method,
            path = req.uri.path(),
            %status,
            duration = ?ctx.started.elapsed(),
            %identity,
            bytes = session.body_bytes_sent(),
            route = ctx.route.unwrap_or("-"),
            forwarded = ctx.forwarded,
            "request"
        );
    }

    /// What pingora's error logs say about a request: method and path only. Query strings can
    /// carry credentials (podman 4.x sends `password=` in push and add queries).
    fn request_summary(&self, session: &Session, _ctx: &Self::CTX) -> String {
        let req = session.req_header();
        format!("{} {}", req.method, req.uri.path())
    }
}

/// Reads the request body, up to `max` bytes; beyond that, the 413 to answer with.
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

/// The response header of a local answer: `status`, the headers every local answer starts
/// with (as podman's service sends them, the request's `X-Reference-Id` echoed), then `headers`,
/// with room for one more (the body's framing).
fn response_header(
    session: &Session,
    status: u16,
    headers: Vec<(String, String)>,
) -> Result<ResponseHeader> {
    let reference_id = session
        .req_header()
        .headers
        .get("X-Reference-Id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let headers = [response::standard_headers(reference_id.as_deref()), headers].concat();
    let mut resp = ResponseHeader::build(status, Some(headers.len() + 1))?;
    for (k, v) in headers {
        resp.insert_header(k, v)?;
    }
    Ok(resp)
}

/// Writes a complete reply, the standard headers first.
async fn write_reply(session: &mut Session, reply: Reply) -> Result<()> {
    let Reply {
        status,
        headers,
        body,
    } = reply;
    let mut resp = response_header(session, status, headers)?;
    let has_body = !body.is_empty() && session.req_header().method != http::Method::HEAD;
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

/// Writes a 200 whose body arrives in chunks, each flushed as an HTTP chunk, the standard
/// headers first.
async fn write_stream(
    session: &mut Session,
    headers: Vec<(String, String)>,
    mut body: tokio::sync::mpsc::Receiver<Bytes>,
) -> Result<()> {
    let mut resp = response_header(session, 200, headers)?;
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

/// The status a failed request is answered with, as pingora's default `fail_to_proxy` decides
/// it, except that any failure of a request being forwarded that is not the client's is the
/// backend's (502). 0: the client's connection is gone, nothing can be sent.
fn failure_status(e: &Error, forwarded: bool) -> u16 {
    if let ErrorType::HTTPStatus(code) = e.etype() {
        return *code;
    }
    match e.esource() {
        ErrorSource::Downstream => match e.etype() {
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
            _ => 400,
        },
        _ if forwarded => 502,
        ErrorSource::Upstream => 502,
        ErrorSource::Internal | ErrorSource::Unset => 500,
    }
}

/// Where a request failed.
#[derive(Debug, Clone, Copy)]
enum FailedAt<'a> {
    /// In manifold itself (a local answer, or before the request went anywhere).
    Manifold,
    /// Connecting to the backend it was forwarded to.
    Connecting(&'a Backend),
    /// At the backend, after the connection was made.
    Backend(&'a Backend),
}

/// The libpod error body of a failed request: a message that names the backend and the cause
/// when the backend failed, else the request and the cause.
fn failure_model(status: u16, at: FailedAt<'_>, method: &str, path: &str, e: &Error) -> ErrorModel {
    let cause = root_cause(e);
    let message = match at {
        FailedAt::Connecting(backend) => format!(
            "cannot reach the backend podman service at {backend} to forward {method} {path}: {cause}; start it (podman system service) or point manifold's backend at one that runs"
        ),
        FailedAt::Backend(backend) => format!(
            "the backend podman service at {backend} failed while answering {method} {path}: {cause}"
        ),
        FailedAt::Manifold => format!("manifold could not answer {method} {path}: {cause}"),
    };
    ErrorModel::new(status, message, cause)
}

/// The innermost error, in its own words: the operating system's for a failed connection, else
/// pingora's context or error type.
fn root_cause(e: &Error) -> String {
    let root = e.root_cause();
    match root.downcast_ref::<Error>() {
        Some(inner) => match &inner.context {
            Some(context) => context.as_str().to_string(),
            None => inner.etype().as_str().to_string(),
        },
        None => root.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_unix_socket() -> Box<Error> {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let mut e = Error::because(
            ErrorType::ConnectError,
            "Fail to connect to /run/x.sock",
            io,
        )
        .more_context("Fail to connect to peer");
        e.as_up();
        e
    }

    #[test]
    fn a_backend_that_cannot_be_reached_is_named_with_the_cause() {
        let e = refused_unix_socket();
        let status = failure_status(&e, true);
        assert_eq!(status, 502);
        let backend = Backend::Unix("/run/x.sock".into());
        let at = FailedAt::Connecting(&backend);
        let model = failure_model(status, at, "GET", "/v4.3.1/libpod/info", &e);
        assert_eq!(model.response, 502);
        assert_eq!(model.cause, "No such file or directory (os error 2)");
        assert!(
            model.message.starts_with(
                "cannot reach the backend podman service at unix:///run/x.sock to forward GET /v4.3.1/libpod/info: No such file or directory (os error 2); "
            ),
            "{}",
            model.message
        );
    }

    #[test]
    fn a_backend_that_breaks_off_is_named_too() {
        let mut e = Error::explain(ErrorType::ReadError, "upstream closed the connection");
        e.as_up();
        let backend = Backend::Tcp("127.0.0.1:8080".parse().expect("addr"));
        let at = FailedAt::Backend(&backend);
        let model = failure_model(failure_status(&e, true), at, "GET", "/info", &e);
        assert_eq!(
            model,
            ErrorModel::new(
                502,
                "the backend podman service at tcp://127.0.0.1:8080 failed while answering GET /info: upstream closed the connection",
                "upstream closed the connection"
            )
        );
    }

    #[test]
    fn statuses_follow_who_failed() {
        let mut gone = Error::new(ErrorType::ConnectionClosed);
        gone.as_down();
        assert_eq!(failure_status(&gone, true), 0, "nobody to answer");
        let mut bad = Error::new(ErrorType::InvalidHTTPHeader);
        bad.as_down();
        assert_eq!(failure_status(&bad, false), 400);
        let internal = Error::explain(ErrorType::InternalError, "no backend configured");
        assert_eq!(failure_status(&internal, false), 500);
        assert_eq!(failure_status(&internal, true), 502);
        assert_eq!(
            failure_status(&Error::new(ErrorType::HTTPStatus(413)), false),
            413
        );
        let at = FailedAt::Manifold;
        let model = failure_model(500, at, "POST", "/v5.0.0/libpod/manifests/x", &internal);
        assert_eq!(
            model,
            ErrorModel::new(
                500,
                "manifold could not answer POST /v5.0.0/libpod/manifests/x: no backend configured",
                "no backend configured"
            )
        );
    }
}
