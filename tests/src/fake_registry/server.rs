//! The fake registry's HTTP side: hyper serving HTTP/1.1 (over TLS when asked), the distribution
//! API routes manifold uses, the token endpoint, fault hooks applied to answers, and the record
//! of every exchange.
//!
//! Each request is decided in order: a fault that replaces the answer (a status, a `429`, a
//! reset, a redirect); authentication ([`Gate`]); the route's own answer; then a fault that bends
//! that answer (a refused mount, `200` for `202`, a cut, truncated, chunked or corrupted body).
//! The exchange is recorded when the answer is decided, before its body is sent.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use sha2::Digest as _;

use super::auth::{Action, Gate, Need, Refusal};
use super::faults::{Fault, Faults, RetryAfter};
use super::store::{is_sha256, Store};
use crate::registry::AccessLine;
use crate::token_server::parse_query;

/// Response bodies: whole, streamed from a file, or shaped by a fault.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// The largest manifest (or token form) the fake reads.
const MAX_SMALL_BODY: usize = 4 << 20;

/// How much of a blob file goes into one body chunk.
const CHUNK: usize = 64 << 10;

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// One request the fake registry answered (or hung up on).
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request and its answer as a registry's access log shows them. `status` is `0` when
    /// the connection was closed without an answer ([`Fault::Reset`]); `size` counts the body
    /// bytes the fake meant to send.
    pub line: AccessLine,
    /// The scheme of the `Authorization` header the request carried (`Basic`, `Bearer`), never
    /// its credentials.
    pub authorization: Option<String>,
    /// The other request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// When the request arrived.
    pub at: Instant,
}

impl Exchange {
    /// The value of request header `name`; `authorization` is never kept (see
    /// [`Exchange::authorization`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The state every connection of one fake registry shares.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub gate: Mutex<Gate>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<Exchange>>,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// The host upload `Location`s name instead of the one the request was sent to.
    pub location_host: Option<String>,
}

/// Locks `m`; a test that panicked while holding it left data that is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
pub(crate) struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by a fault hook")
    }
}

impl std::error::Error for Hangup {}

/// Accepts connections on `listener` until `stop` fires; each is served by hyper, after a TLS
/// handshake when `tls` is given.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listen on tokio");
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (shared, tls) = (Arc::clone(&shared), tls.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
            let http = hyper::server::conn::http1::Builder::new();
            // A connection that fails (a reset, a refused certificate) only ends itself.
            let _ = match tls {
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        http.serve_connection(io, service).await
                    }
                    Err(_) => return,
                },
                None => {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    http.serve_connection(io, service).await
                }
            };
        });
    }
}

/// What the fake needs to know of a request, read once.
struct Call {
    method: String,
    path: String,
    query: String,
    /// `query`, decoded.
    params: Vec<(String, String)>,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
    arrived: Instant,
}

impl Call {
    fn new(parts: &http::request::Parts) -> Call {
        let mut authorization = None;
        let mut headers = Vec::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == http::header::AUTHORIZATION {
                authorization = Some(value);
            } else {
                headers.push((name.as_str().to_string(), value));
            }
        }
        let query = parts.uri.query().unwrap_or("");
        Call {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: query.to_string(),
            params: parse_query(query),
            authorization,
            headers,
            arrived: Instant::now(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A decoded query parameter.
    fn param(&self, key: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn is_mount(&self) -> bool {
        self.method == "POST" && self.param("mount").is_some()
    }

    /// The media type of the request body, without parameters.
    fn content_type(&self) -> Option<&str> {
        self.header("content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim())
    }
}

/// What a request is about.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    /// `/v2/`.
    Ping,
    /// `/v2/<repo>/manifests/<reference>`.
    Manifest { repo: String, reference: String },
    /// `/v2/<repo>/blobs/<digest>`.
    Blob { repo: String, digest: String },
    /// `/v2/<repo>/blobs/uploads/` (start) or `/v2/<repo>/blobs/uploads/<id>` (a session).
    Uploads { repo: String, id: Option<String> },
    /// `/v2/<repo>/tags/list`.
    Tags { repo: String },
}

impl Resource {
    fn parse(path: &str) -> Option<Resource> {
        if path == "/v2/" {
            return Some(Resource::Ping);
        }
        let rest = path.strip_prefix("/v2/")?;
        let named = |repo: &str| (!repo.is_empty()).then(|| repo.to_string());
        if let Some(repo) = rest.strip_suffix("/tags/list") {
            return Some(Resource::Tags { repo: named(repo)? });
        }
        if let Some((repo, id)) = rest.rsplit_once("/blobs/uploads/") {
            let id = (!id.is_empty()).then(|| id.to_string());
            return Some(Resource::Uploads {
                repo: named(repo)?,
                id,
            });
        }
        if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
            return Some(Resource::Manifest {
                repo: named(repo)?,
                reference: reference.to_string(),
            });
        }
        let (repo, digest) = rest.rsplit_once("/blobs/")?;
        Some(Resource::Blob {
            repo: named(repo)?,
            digest: digest.to_string(),
        })
    }

    /// What `method` on this resource needs (a mount also needs pull on `from`).
    fn needs(&self, method: &str, mount_from: Option<String>) -> Vec<Need> {
        let read = matches!(method, "GET" | "HEAD");
        let (repo, write) = match self {
            Resource::Ping => return Vec::new(),
            Resource::Manifest { repo, .. } => (repo, !read),
            Resource::Blob { repo, .. } | Resource::Tags { repo } => (repo, false),
            Resource::Uploads { repo, .. } => (repo, true),
        };
        let mut needs = vec![(repo.clone(), Action::Pull)];
        if write {
            needs.push((repo.clone(), Action::Push));
        }
        needs.extend(mount_from.map(|from| (from, Action::Pull)));
        needs
    }
}

/// A response body's bytes, before any fault shapes them.
enum Content {
    Empty,
    Bytes(Bytes),
    File { path: PathBuf, size: u64 },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Empty => 0,
            Content::Bytes(b) => b.len() as u64,
            Content::File { size, .. } => *size,
        }
    }

    /// The bytes in memory (faulted bodies only: tests fault small blobs).
    fn load(self) -> Bytes {
        match self {
            Content::Empty => Bytes::new(),
            Content::Bytes(b) => b,
            Content::File { path, .. } => {
                Bytes::from(std::fs::read(path).expect("read stored content"))
            }
        }
    }
}

/// How a body goes out: whole, or as a fault bends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Whole,
    Cut(usize),
    Truncate(usize),
    Chunked,
    Corrupt,
}

impl Shape {
    fn of(fault: Option<&Fault>) -> Shape {
        match fault {
            Some(Fault::CutBody { after }) => Shape::Cut(*after),
            Some(Fault::Truncate { keep }) => Shape::Truncate(*keep),
            Some(Fault::Chunked) => Shape::Chunked,
            Some(Fault::Corrupt) => Shape::Corrupt,
            _ => Shape::Whole,
        }
    }

    /// The body bytes that go out for a body of `len` bytes.
    fn sent(self, len: u64, head: bool) -> u64 {
        match self {
            _ if head => 0,
            Shape::Cut(n) | Shape::Truncate(n) => len.min(n as u64),
            Shape::Whole | Shape::Chunked | Shape::Corrupt => len,
        }
    }
}

/// An answer before it becomes a hyper response.
struct Answer {
    status: u16,
    headers: Vec<(HeaderName, String)>,
    content: Content,
}

impl Answer {
    fn new(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            content: Content::Empty,
        }
    }

    fn header(mut self, name: HeaderName, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    fn json(status: u16, body: String) -> Answer {
        let mut a = Answer::new(status).header(CONTENT_TYPE, "application/json; charset=utf-8");
        a.content = Content::Bytes(Bytes::from(body));
        a
    }

    /// A registry error body with one entry per `(code, message, detail)`.
    fn errors(status: u16, entries: &[(&str, &str, serde_json::Value)]) -> Answer {
        let errors: Vec<_> = entries
            .iter()
            .map(|(code, message, detail)| {
                serde_json::json!({"code": code, "message": message, "detail": detail})
            })
            .collect();
        Answer::json(status, serde_json::json!({ "errors": errors }).to_string())
    }

    fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer::errors(status, &[(code, message, serde_json::Value::Null)])
    }

    fn refusal(r: Refusal) -> Answer {
        let answer = Answer::error(r.status, r.code, r.message);
        match r.challenge {
            Some(c) => answer.header(WWW_AUTHENTICATE, c),
            None => answer,
        }
    }

    /// What a proxy in front of a registry answers: the status and an HTML page.
    fn proxy_error(status: u16) -> Answer {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut a = Answer::new(status).header(CONTENT_TYPE, "text/html");
        a.content = Content::Bytes(Bytes::from(format!(
            "<html><body><h1>{status} {reason}</h1></body></html>"
        )));
        a
    }

    fn too_many(after: &RetryAfter) -> Answer {
        let mut a = Answer::new(429)
            .header(RETRY_AFTER, after.header_value())
            .header(CONTENT_TYPE, "text/plain");
        a.content = Content::Bytes(Bytes::from_static(b"too many requests"));
        a
    }

    /// `201 Created` for blob `digest` of `repo`.
    fn blob_created(repo: &str, digest: &str) -> Answer {
        Answer::new(201)
            .header(LOCATION, format!("/v2/{repo}/blobs/{digest}"))
            .header(DOCKER_CONTENT_DIGEST, digest)
    }

    /// The hyper response, its body shaped by `shape`; no body for a `HEAD`.
    fn into_response(self, shape: Shape, head: bool) -> Response<Body> {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let len = self.content.len();
        let body = match (shape, self.content) {
            _ if head => {
                builder = builder.header(CONTENT_LENGTH, len);
                empty()
            }
            (Shape::Whole, Content::Empty) => empty(),
            (Shape::Whole, Content::Bytes(b)) => full(b),
            (Shape::Whole, Content::File { path, size }) => {
                builder = builder.header(CONTENT_LENGTH, size);
                file_body(path)
            }
            (Shape::Corrupt, content) => {
                let mut bytes = content.load().to_vec();
                if let Some(last) = bytes.last_mut() {
                    *last = !*last;
                }
                full(Bytes::from(bytes))
            }
            (Shape::Cut(after), content) => {
                builder = builder.header(CONTENT_LENGTH, len);
                let sent = content.load().slice(..after.min(len as usize));
                let hangup = std::io::Error::other(Hangup);
                chunks(vec![Ok(sent), Err(hangup)])
            }
            (Shape::Truncate(keep), content) => {
                let kept = content.load();
                chunks(vec![Ok(kept.slice(..keep.min(kept.len())))])
            }
            (Shape::Chunked, content) => chunks(vec![Ok(content.load())]),
        };
        builder
            .body(body)
            .unwrap_or_else(|e| panic!("fake registry built a bad response: {e}"))
    }
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// A body of unknown length (hyper sends it chunked unless a `Content-Length` is set).
fn chunks(items: Vec<std::io::Result<Bytes>>) -> Body {
    let frames = futures_util::stream::iter(items).map(|item| item.map(Frame::data));
    BodyExt::boxed(StreamBody::new(frames))
}

/// A file's bytes, read chunk by chunk as the body is sent.
fn file_body(path: PathBuf) -> Body {
    let frames = futures_util::stream::unfold(Some(std::fs::File::open(path)), |state| async {
        let mut file = match state? {
            Ok(file) => file,
            Err(e) => return Some((Err(e), None)),
        };
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), Some(Ok(file))))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// Reads a whole (small) request body; `None` when it fails or is larger than `max`.
async fn read_body(mut body: Incoming, max: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if out.len() + data.len() > max {
                return None;
            }
            out.extend_from_slice(&data);
        }
    }
    Some(out)
}

/// Answers one request; `Err` makes hyper close the connection without an answer.
async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Hangup> {
    let (parts, body) = req.into_parts();
    let call = Call::new(&parts);
    let fault = lock(&shared.faults).take(&call.method, &call.path, call.is_mount());
    let answer = match &fault {
        Some(Fault::Reset) => {
            shared.record(&call, 0, 0);
            return Err(Hangup);
        }
        Some(Fault::Status(code)) => Answer::proxy_error(*code),
        Some(Fault::TooManyRequests(after)) => Answer::too_many(after),
        Some(Fault::Redirect(to)) => Answer::new(307).header(LOCATION, to.clone()),
        other => {
            if other == &Some(Fault::ExpireToken) {
                lock(&shared.gate).expire(call.authorization.as_deref());
            }
            let refuse_mount = other == &Some(Fault::RefuseMount);
            let mut answer = shared.answer(&call, body, refuse_mount).await;
            if other == &Some(Fault::OkInsteadOfAccepted) && answer.status == 202 {
                answer.status = 200;
            }
            answer
        }
    };
    let shape = Shape::of(fault.as_ref());
    let head = call.method == "HEAD";
    shared.record(&call, answer.status, shape.sent(answer.content.len(), head));
    Ok(answer.into_response(shape, head))
}

impl Shared {
    fn record(&self, call: &Call, status: u16, size: u64) {
        let uri = match call.query.as_str() {
            "" => call.path.clone(),
            q => format!("{}?{q}", call.path),
        };
        let line = AccessLine {
            method: call.method.clone(),
            uri,
            path: call.path.clone(),
            status,
            size,
            user_agent: call.header("user-agent").unwrap_or("").to_string(),
        };
        let authorization = call
            .authorization
            .as_deref()
            .map(|a| a.split(' ').next().unwrap_or("").to_string());
        lock(&self.log).push(Exchange {
            line,
            authorization,
            headers: call.headers.clone(),
            at: call.arrived,
        });
    }

    /// The token endpoint's URL, the realm of Bearer challenges.
    pub(crate) fn realm(&self) -> String {
        format!("{}://{}/token", self.scheme, self.host)
    }

    /// The route's answer, once the request is authorized.
    async fn answer(&self, call: &Call, body: Incoming, refuse_mount: bool) -> Answer {
        if call.path == "/token" {
            let Some(form) = read_body(body, MAX_SMALL_BODY).await else {
                return Answer::new(400);
            };
            let (status, json) = lock(&self.gate).token_endpoint(
                &call.method,
                call.authorization.as_deref(),
                call.content_type(),
                &call.query,
                &form,
            );
            return Answer::json(status, json);
        }
        let Some(resource) = Resource::parse(&call.path) else {
            return Answer::error(404, "NAME_INVALID", "invalid repository name");
        };
        let mount_from = call.is_mount().then(|| call.param("from")).flatten();
        let needs = resource.needs(&call.method, mount_from);
        let checked = lock(&self.gate).check(call.authorization.as_deref(), &needs, &self.realm());
        if let Err(refusal) = checked {
            return Answer::refusal(refusal);
        }
        match (call.method.as_str(), resource) {
            (_, Resource::Ping) => Answer::json(200, "{}".to_string()),
            ("GET" | "HEAD", Resource::Manifest { repo, reference }) => {
                self.get_manifest(&repo, &reference)
            }
            ("PUT", Resource::Manifest { repo, reference }) => {
                self.put_manifest(call, &repo, &reference, body).await
            }
            ("GET" | "HEAD", Resource::Blob { repo, digest }) => self.get_blob(&repo, &digest),
            ("POST", Resource::Uploads { repo, id: None }) => {
                self.start_upload(call, &repo, body, refuse_mount).await
            }
            ("PATCH", Resource::Uploads { repo, id: Some(id) }) => {
                match self.receive(&repo, &id, body).await {
                    Ok(size) => self.accepted(call, &repo, &id, size),
                    Err(refused) => refused,
                }
            }
            ("PUT", Resource::Uploads { repo, id: Some(id) }) => {
                let digest = call.param("digest").unwrap_or_default();
                self.finish_upload(&repo, &id, &digest, body).await
            }
            ("DELETE", Resource::Uploads { repo, id: Some(id) }) => {
                let mut store = lock(&self.store);
                if store.upload(&repo, &id).is_some() && store.cancel_upload(&id) {
                    Answer::new(204)
                } else {
                    upload_unknown()
                }
            }
            ("GET", Resource::Tags { repo }) => self.tags(call, &repo),
            _ => Answer::error(405, "UNSUPPORTED", "The operation is unsupported."),
        }
    }

    fn get_manifest(&self, repo: &str, reference: &str) -> Answer {
        let store = lock(&self.store);
        let Some(entry) = store.manifest(repo, reference) else {
            let detail = serde_json::json!({ "Tag": reference });
            return Answer::errors(404, &[("MANIFEST_UNKNOWN", "manifest unknown", detail)]);
        };
        let mut answer = Answer::new(200)
            .header(CONTENT_TYPE, entry.media_type)
            .header(DOCKER_CONTENT_DIGEST, entry.digest.clone());
        answer.content = Content::File {
            path: store.content_path(&entry.digest),
            size: entry.size,
        };
        answer
    }

    /// Stores a manifest after checking what distribution checks: the digest of a digest
    /// reference, that the body is JSON, and that every blob and child it references is in the
    /// repository.
    async fn put_manifest(
        &self,
        call: &Call,
        repo: &str,
        reference: &str,
        body: Incoming,
    ) -> Answer {
        let Some(bytes) = read_body(body, MAX_SMALL_BODY).await else {
            return Answer::error(400, "MANIFEST_INVALID", "manifest invalid");
        };
        if reference.contains(':') && crate::sha256_digest(&bytes) != reference {
            return digest_invalid();
        }
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Answer::error(400, "MANIFEST_INVALID", "manifest invalid");
        };
        let digests = |key: &str| -> Vec<String> {
            let list = match &doc[key] {
                serde_json::Value::Array(items) => items.clone(),
                serde_json::Value::Object(_) => vec![doc[key].clone()],
                _ => Vec::new(),
            };
            list.iter()
                .filter_map(|d| d["digest"].as_str().map(str::to_string))
                .collect()
        };
        let mut store = lock(&self.store);
        let missing: Vec<String> = [digests("config"), digests("layers")]
            .concat()
            .into_iter()
            .filter(|d| store.blob_size(repo, d).is_none())
            .chain(
                digests("manifests")
                    .into_iter()
                    .filter(|d| !store.has_manifest(repo, d)),
            )
            .collect();
        if !missing.is_empty() {
            let entries: Vec<_> = missing
                .iter()
                .map(|d| {
                    (
                        "MANIFEST_BLOB_UNKNOWN",
                        "blob unknown to registry",
                        d.as_str().into(),
                    )
                })
                .collect();
            return Answer::errors(400, &entries);
        }
        let media_type = call
            .content_type()
            .filter(|t| !t.is_empty())
            .or(doc["mediaType"].as_str())
            .unwrap_or("application/octet-stream")
            .to_string();
        let digest = store.put_manifest(repo, reference, &media_type, &bytes);
        Answer::new(201)
            .header(LOCATION, format!("/v2/{repo}/manifests/{digest}"))
            .header(DOCKER_CONTENT_DIGEST, digest)
    }

    fn get_blob(&self, repo: &str, digest: &str) -> Answer {
        if !is_sha256(digest) {
            return digest_invalid();
        }
        let store = lock(&self.store);
        let Some(size) = store.blob_size(repo, digest) else {
            let detail = serde_json::Value::from(digest);
            return Answer::errors(404, &[("BLOB_UNKNOWN", "blob unknown to registry", detail)]);
        };
        let mut answer = Answer::new(200)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(DOCKER_CONTENT_DIGEST, digest);
        answer.content = Content::File {
            path: store.content_path(digest),
            size,
        };
        answer
    }

    /// `POST …/blobs/uploads/`: a mount (`?mount=&from=`), a monolithic upload (`?digest=`), or
    /// a new session.
    async fn start_upload(
        &self,
        call: &Call,
        repo: &str,
        body: Incoming,
        refuse_mount: bool,
    ) -> Answer {
        if let (Some(digest), Some(from)) = (call.param("mount"), call.param("from")) {
            let mut store = lock(&self.store);
            if !refuse_mount && store.blob_size(&from, &digest).is_some() {
                store.link_blob(repo, &digest);
                return Answer::blob_created(repo, &digest);
            }
            // Declined: an upload session instead, as distribution answers.
            let id = store.open_upload(repo);
            return self.accepted(call, repo, &id, 0);
        }
        let id = lock(&self.store).open_upload(repo);
        match call.param("digest") {
            Some(digest) => self.finish_upload(repo, &id, &digest, body).await,
            None => self.accepted(call, repo, &id, 0),
        }
    }

    /// `202 Accepted` for session `id` holding `size` bytes, with its absolute `Location`.
    fn accepted(&self, call: &Call, repo: &str, id: &str, size: u64) -> Answer {
        let host = self
            .location_host
            .as_deref()
            .or(call.header("host"))
            .unwrap_or(&self.host);
        let state = format!("{:016x}", rand::random::<u64>());
        let location = format!(
            "{}://{host}/v2/{repo}/blobs/uploads/{id}?_state={state}",
            self.scheme
        );
        Answer::new(202)
            .header(LOCATION, location)
            .header(DOCKER_UPLOAD_UUID, id)
            .header(http::header::RANGE, format!("0-{}", size.saturating_sub(1)))
    }

    /// Appends a request body to session `id`, hashing it on the way; the session's size after.
    /// A body that fails to arrive whole (the client gave up) leaves the session as it was.
    async fn receive(&self, repo: &str, id: &str, mut body: Incoming) -> Result<u64, Answer> {
        let Some(mut upload) = lock(&self.store).upload(repo, id) else {
            return Err(upload_unknown());
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&upload.path)
            .expect("open upload file");
        let before = upload.size;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                file.set_len(before).expect("drop a failed chunk");
                return Err(Answer::error(
                    400,
                    "BLOB_UPLOAD_INVALID",
                    "blob upload invalid",
                ));
            };
            if let Ok(data) = frame.into_data() {
                file.write_all(&data).expect("write upload file");
                upload.hasher.update(&data);
                upload.size += data.len() as u64;
            }
        }
        let size = upload.size;
        lock(&self.store).update_upload(id, upload);
        Ok(size)
    }

    /// The closing `PUT ?digest=` (or a monolithic `POST ?digest=`): the body is appended and the
    /// blob stored when the digest matches.
    async fn finish_upload(&self, repo: &str, id: &str, digest: &str, body: Incoming) -> Answer {
        if let Err(refused) = self.receive(repo, id, body).await {
            return refused;
        }
        if lock(&self.store).finish_upload(id, digest) {
            Answer::blob_created(repo, digest)
        } else {
            digest_invalid()
        }
    }

    fn tags(&self, call: &Call, repo: &str) -> Answer {
        let Some(mut tags) = lock(&self.store).tags(repo) else {
            let detail = serde_json::json!({ "name": repo });
            let entry = (
                "NAME_UNKNOWN",
                "repository name not known to registry",
                detail,
            );
            return Answer::errors(404, &[entry]);
        };
        if let Some(n) = call.param("n").and_then(|n| n.parse().ok()) {
            tags.truncate(n);
        }
        Answer::json(
            200,
            serde_json::json!({"name": repo, "tags": tags}).to_string(),
        )
    }
}

fn digest_invalid() -> Answer {
    Answer::error(
        400,
        "DIGEST_INVALID",
        "provided digest did not match uploaded content",
    )
}

fn upload_unknown() -> Answer {
    Answer::error(
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_resource() {
        let parse = |p: &str| Resource::parse(p);
        assert_eq!(parse("/v2/"), Some(Resource::Ping));
        assert_eq!(
            parse("/v2/team/app/manifests/v1"),
            Some(Resource::Manifest {
                repo: "team/app".into(),
                reference: "v1".into()
            })
        );
        assert_eq!(
            parse("/v2/app/blobs/uploads/"),
            Some(Resource::Uploads {
                repo: "app".into(),
                id: None
            })
        );
        assert_eq!(
            parse("/v2/app/blobs/uploads/abc"),
            Some(Resource::Uploads {
                repo: "app".into(),
                id: Some("abc".into())
            })
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:00"),
            Some(Resource::Blob {
                repo: "a".into(),
                digest: "sha256:00".into()
            })
        );
        assert_eq!(
            parse("/v2/a/b/tags/list"),
            Some(Resource::Tags { repo: "a/b".into() })
        );
        assert_eq!(parse("/v2//manifests/v1"), None);
        assert_eq!(parse("/token"), None);
    }

    #[test]
    fn writes_need_push_and_mounts_pull_on_their_source() {
        let uploads = Resource::Uploads {
            repo: "dst".into(),
            id: None,
        };
        assert_eq!(
            uploads.needs("POST", Some("src".into())),
            vec![
                ("dst".to_string(), Action::Pull),
                ("dst".to_string(), Action::Push),
                ("src".to_string(), Action::Pull)
            ]
        );
        let manifest = Resource::Manifest {
            repo: "app".into(),
            reference: "v1".into(),
        };
        assert_eq!(
            manifest.needs("HEAD", None),
            vec![("app".to_string(), Action::Pull)]
        );
        assert_eq!(manifest.needs("PUT", None).len(), 2);
        assert!(Resource::Ping.needs("GET", None).is_empty());
    }
}
