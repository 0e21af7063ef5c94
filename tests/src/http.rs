//! A raw HTTP/1.1 client over a unix socket (manifold's and podman's API socket) or TCP.
//!
//! It sends exactly what the test says: any method, an already-escaped path and query (never
//! normalised), any headers and body. It reads `Content-Length`, chunked and read-to-EOF bodies,
//! skips `1xx` interim responses, and can stream a body line by line (push progress) or keep a
//! connection open for several requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Percent-escapes a path value as Go's `url.PathEscape` does for image-reference characters
/// (`%` and `/`), e.g. a list name or a `docker://` destination in a libpod API path.
pub fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
}

impl Target {
    /// Parses `unix:///path`, `unix:/path`, `/path`, `tcp://host:port` or `http://host:port`.
    pub fn parse(url: &str) -> Target {
        if let Some(p) = url.strip_prefix("unix://") {
            Target::Unix(PathBuf::from(p))
        } else if let Some(p) = url.strip_prefix("unix:") {
            Target::Unix(PathBuf::from(p))
        } else if url.starts_with('/') {
            Target::Unix(PathBuf::from(url))
        } else if let Some(a) = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))
        {
            Target::Tcp(a.trim_end_matches('/').to_string())
        } else {
            panic!("unsupported HTTP target {url:?}")
        }
    }
}

/// A connected stream.
#[derive(Debug)]
pub enum Stream {
    /// Over a unix socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

impl Stream {
    /// Connects to `target` with a read/write timeout.
    pub fn connect(target: &Target, timeout: Duration) -> std::io::Result<Stream> {
        let s = match target {
            Target::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Stream::Unix(s)
            }
            Target::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        Ok(s)
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("body of {} is not JSON ({e}): {}", self.status, self.text())
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Panics with the body unless the status is `status`; returns `self`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Response {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    None,
    Length(u64),
    Chunked { remaining: u64, done: bool },
    Eof,
}

/// Reads a response body, decoding chunked transfer encoding.
#[derive(Debug)]
pub struct BodyReader<R: BufRead> {
    inner: R,
    kind: BodyKind,
}

impl<R: BufRead> BodyReader<R> {
    fn read_crlf_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        let n = self.inner.read_line(&mut line)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside a chunked body",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.kind {
            BodyKind::None => Ok(0),
            BodyKind::Eof => self.inner.read(buf),
            BodyKind::Length(0) => Ok(0),
            BodyKind::Length(rem) => {
                let max = buf.len().min(rem as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("connection closed with {rem} body bytes missing"),
                    ));
                }
                self.kind = BodyKind::Length(rem - n as u64);
                Ok(n)
            }
            BodyKind::Chunked { done: true, .. } => Ok(0),
            BodyKind::Chunked {
                remaining: 0,
                done: false,
            } => {
                let line = self.read_crlf_line()?;
                let size_str = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_str, 16).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("bad chunk size line {line:?}"),
                    )
                })?;
                if size == 0 {
                    // Trailers until an empty line.
                    loop {
                        if self.read_crlf_line()?.is_empty() {
                            break;
                        }
                    }
                    self.kind = BodyKind::Chunked {
                        remaining: 0,
                        done: true,
                    };
                    return Ok(0);
                }
                self.kind = BodyKind::Chunked {
                    remaining: size,
                    done: false,
                };
                self.read(buf)
            }
            BodyKind::Chunked {
                remaining,
                done: false,
            } => {
                let max = buf.len().min(remaining as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed inside a chunk",
                    ));
                }
                let left = remaining - n as u64;
                if left == 0 {
                    let crlf = self.read_crlf_line()?;
                    if !crlf.is_empty() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "chunk not followed by CRLF",
                        ));
                    }
                }
                self.kind = BodyKind::Chunked {
                    remaining: left,
                    done: false,
                };
                Ok(n)
            }
        }
    }
}

/// A response whose body is read incrementally (for streamed push progress).
#[derive(Debug)]
pub struct StreamingResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    body: BufReader<BodyReader<BufReader<Stream>>>,
}

impl StreamingResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The next line of the body (without the newline); `None` at the end.
    pub fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.body.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => panic!("reading streamed body: {e}"),
        }
    }

    /// Every remaining body line.
    pub fn lines(mut self) -> Vec<String> {
        let mut v = vec![];
        while let Some(l) = self.next_line() {
            v.push(l);
        }
        v
    }

    /// The rest of the body.
    pub fn read_to_end(mut self) -> Vec<u8> {
        let mut v = vec![];
        self.body
            .read_to_end(&mut v)
            .expect("read streamed body to the end");
        v
    }
}

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, sent as is.
    pub method: &'a str,
    /// The request target (escaped path and query), sent as is.
    pub path: &'a str,
    /// Headers; `Host` and `Content-Length` are added when missing.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

fn encode_request(req: &Request<'_>, close: bool) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.path).into_bytes();
    let has = |n: &str| req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        out.extend_from_slice(b"Host: d\r\n");
    }
    for (k, v) in req.headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let needs_length = !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
    }
    if close && !has("connection") {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
    out
}

/// A parsed response head: status, reason, headers, and how the body is delimited.
type Head = (u16, String, Vec<(String, String)>, BodyKind);

/// Reads a response head (skipping 1xx except 101) and decides how the body is delimited.
fn read_head(reader: &mut impl BufRead, head_request: bool) -> std::io::Result<Head> {
    loop {
        let mut status_line = String::new();
        if reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status_line = status_line.trim_end_matches(['\r', '\n']).to_string();
        let mut parts = status_line.splitn(3, ' ');
        let proto = parts.next().unwrap_or("");
        if !proto.starts_with("HTTP/") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let status: u16 = parts.next().unwrap_or("").parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        let reason = parts.next().unwrap_or("").to_string();
        let mut headers = vec![];
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside response headers",
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let kind = if head_request || status == 204 || status == 304 || status == 101 {
            BodyKind::None
        } else if find_header(&headers, "transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            BodyKind::Chunked {
                remaining: 0,
                done: false,
            }
        } else if let Some(len) = find_header(&headers, "content-length") {
            BodyKind::Length(len.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad Content-Length {len:?}"),
                )
            })?)
        } else {
            BodyKind::Eof
        };
        return Ok((status, reason, headers, kind));
    }
}

/// A persistent (keep-alive) connection.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<Stream>,
}

impl Connection {
    /// Connects to `target`.
    pub fn open(target: &Target, timeout: Duration) -> std::io::Result<Connection> {
        Ok(Connection {
            reader: BufReader::new(Stream::connect(target, timeout)?),
        })
    }

    /// Writes raw bytes to the connection.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let s = self.reader.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Reads one response (`head_request`: the request was HEAD, so no body follows).
    pub fn read_response(&mut self, head_request: bool) -> std::io::Result<Response> {
        let (status, reason, headers, kind) = read_head(&mut self.reader, head_request)?;
        let mut body = vec![];
        BodyReader {
            inner: &mut self.reader,
            kind,
        }
        .read_to_end(&mut body)?;
        Ok(Response {
            status,
            reason,
            headers,
            body,
        })
    }

    /// Sends a request (keeping the connection open) and reads its response.
    pub fn send(&mut self, req: &Request<'_>) -> std::io::Result<Response> {
        self.write_raw(&encode_request(req, false))?;
        self.read_response(req.method == "HEAD")
    }
}

/// A client for one target; every request uses a new connection (`Connection: close`).
#[derive(Debug, Clone)]
pub struct Client {
    target: Target,
    timeout: Duration,
}

impl Client {
    /// A client for `url` (see [`Target::parse`]); 120 s timeout.
    pub fn new(url: &str) -> Client {
        Client {
            target: Target::parse(url),
            timeout: Duration::from_secs(120),
        }
    }

    /// A client for a unix socket path.
    pub fn unix(path: &Path) -> Client {
        Client {
            target: Target::Unix(path.to_path_buf()),
            timeout: Duration::from_secs(120),
        }
    }

    /// With a different read/write timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Opens a keep-alive connection.
    pub fn connect(&self) -> Connection {
        Connection::open(&self.target, self.timeout)
            .unwrap_or_else(|e| panic!("connect to {:?}: {e}", self.target))
    }

    /// Sends a request; `Err` on connection or protocol errors.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut conn = Connection::open(&self.target, self.timeout)?;
        let req = Request {
            method,
            path,
            headers,
            body,
        };
        conn.write_raw(&encode_request(&req, true))?;
        conn.read_response(method == "HEAD")
    }

    /// Sends a request; panics on connection or protocol errors.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on {:?}: {e}", self.target))
    }

    /// Sends a request and returns as soon as the response head arrived; the body is streamed.
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> StreamingResponse {
        let mut conn = self.connect();
        let req = Request {
            method,
            path,
            headers,
            body,
        };
        conn.write_raw(&encode_request(&req, true))
            .unwrap_or_else(|e| panic!("{method} {path}: write: {e}"));
        let (status, reason, headers, kind) = read_head(&mut conn.reader, method == "HEAD")
            .unwrap_or_else(|e| panic!("{method} {path}: response head: {e}"));
        StreamingResponse {
            status,
            reason,
            headers,
            body: BufReader::new(BodyReader {
                inner: conn.reader,
                kind,
            }),
        }
    }

    /// Writes `bytes` verbatim on a new connection and reads one response (for malformed
    /// requests). `head_request`: no body will follow the response head.
    pub fn raw(&self, bytes: &[u8], head_request: bool) -> std::io::Result<Response> {
        let mut conn = Connection::open(&self.target, self.timeout)?;
        conn.write_raw(bytes)?;
        conn.read_response(head_request)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `HEAD path`.
    pub fn head(&self, path: &str) -> Response {
        self.request("HEAD", path, &[], b"")
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    /// `POST path` with a body and content type.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Response {
        self.request("POST", path, &[("Content-Type", content_type)], body)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let b = serde_json::to_vec(body).expect("serialise JSON body");
        self.post(path, "application/json", &b)
    }

    /// `PUT path` with a JSON body.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let b = serde_json::to_vec(body).expect("serialise JSON body");
        self.request("PUT", path, &[("Content-Type", "application/json")], &b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(raw: &str, head: bool) -> (u16, Vec<u8>) {
        let mut r = std::io::Cursor::new(raw.as_bytes().to_vec());
        let (status, _, _, kind) = read_head(&mut r, head).expect("head parses");
        let mut body = vec![];
        BodyReader { inner: r, kind }
            .read_to_end(&mut body)
            .expect("body reads");
        (status, body)
    }

    #[test]
    fn decodes_bodies() {
        let (s, b) = body_of(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n",
            false,
        );
        assert_eq!((s, b.as_slice()), (200, &b"hello!"[..]));
        let (s, b) = body_of(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef",
            false,
        );
        assert_eq!((s, b.as_slice()), (404, &b"abc"[..]));
        let (_, b) = body_of("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true);
        assert!(b.is_empty());
        let (_, b) = body_of("HTTP/1.0 200 OK\r\n\r\nuntil eof", false);
        assert_eq!(b, b"until eof");
    }

    #[test]
    fn encodes_requests_verbatim() {
        let r = encode_request(
            &Request {
                method: "POST",
                path: "/v4.3.1/libpod/manifests/a%2Fb:c/add?x=%20",
                headers: &[("X-A", "1")],
                body: b"{}",
            },
            true,
        );
        assert_eq!(
            String::from_utf8(r).expect("utf8"),
            "POST /v4.3.1/libpod/manifests/a%2Fb:c/add?x=%20 HTTP/1.1\r\nHost: d\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }
}
