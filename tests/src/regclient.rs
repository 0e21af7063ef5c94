//! A small blocking client for the registry HTTP API (distribution spec), independent of manifold:
//! the fixtures push through it and tests verify with it what really landed in a registry.
//!
//! It handles anonymous registries, HTTP Basic and bearer tokens: on a 401 it parses the
//! `WWW-Authenticate` challenge, and for `Bearer` fetches a token from the realm (with Basic
//! credentials when it has some) for the scopes the request needs, caches it per scope set and
//! retries once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use reqwest::blocking::{Client, Response};
use reqwest::Method;

use crate::registry::Registry;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header sent for manifest reads: every manifest and index type.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A manifest as a registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The exact bytes served.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The `Docker-Content-Digest` header, if sent.
    pub digest: Option<String>,
}

impl FetchedManifest {
    /// `sha256:` of the bytes.
    pub fn computed_digest(&self) -> String {
        crate::sha256_digest(&self.bytes)
    }

    /// The bytes parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).expect("manifest is JSON")
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `Basic` or `Bearer` (as sent).
    pub scheme: String,
    /// The parameters (`realm`, `service`, `scope`, `error`, ...), keys lower-cased.
    pub params: HashMap<String, String>,
}

impl Challenge {
    /// Parses `Scheme k="v",k2="v2"` (values may contain commas inside quotes).
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = match header.split_once(' ') {
            Some((s, r)) => (s, r),
            None => (header, ""),
        };
        if scheme.is_empty() {
            return None;
        }
        let mut params = HashMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                key.push(c);
                chars.next();
            }
            if key.is_empty() || chars.next().is_none() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.insert(key.trim().to_ascii_lowercase(), value);
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            params,
        })
    }
}

#[derive(Debug, Default)]
struct AuthState {
    basic: bool,
    tokens: HashMap<String, String>,
}

/// A registry API client bound to one registry host.
#[derive(Debug)]
pub struct RegClient {
    base: String,
    host: String,
    creds: Option<(String, String)>,
    http: Client,
    auth: Mutex<AuthState>,
}

/// The scope for reading `repo`.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The scope for writing `repo`.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Panics with the status and body of an unexpected response.
#[track_caller]
fn fail(what: &str, resp: Response) -> ! {
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    panic!("{what}: unexpected {status}: {body}");
}

impl RegClient {
    /// A client for `host` (`127.0.0.1:PORT`, plain HTTP) with optional credentials.
    pub fn new(host: &str, creds: Option<(String, String)>) -> RegClient {
        crate::init();
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("build registry HTTP client");
        RegClient {
            base: format!("http://{host}"),
            host: host.to_string(),
            creds,
            http,
            auth: Mutex::new(AuthState::default()),
        }
    }

    /// A client for `reg` with its credentials.
    pub fn for_registry(reg: &Registry) -> RegClient {
        RegClient::new(&reg.host(), reg.creds())
    }

    /// An anonymous client for `reg` (ignores its credentials).
    pub fn anonymous(reg: &Registry) -> RegClient {
        RegClient::new(&reg.host(), None)
    }

    /// The registry host (`127.0.0.1:PORT`).
    pub fn host(&self) -> &str {
        &self.host
    }

    fn cached_auth(&self, key: &str) -> Option<String> {
        let st = self.auth.lock().expect("auth lock");
        if st.basic {
            return self.basic_header();
        }
        st.tokens.get(key).map(|t| format!("Bearer {t}"))
    }

    fn basic_header(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    /// Answers a challenge for `scopes`; `None` when it cannot be answered.
    fn authenticate(&self, challenge: &str, scopes: &[String]) -> Option<String> {
        let ch = Challenge::parse(challenge)?;
        if ch.scheme.eq_ignore_ascii_case("basic") {
            let h = self.basic_header()?;
            self.auth.lock().expect("auth lock").basic = true;
            return Some(h);
        }
        if !ch.scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let realm = ch.params.get("realm")?;
        let mut url = format!("{realm}?");
        if let Some(service) = ch.params.get("service") {
            url.push_str(&format!("service={}", query_escape(service)));
        }
        let mut all: Vec<String> = scopes.to_vec();
        if let Some(s) = ch.params.get("scope") {
            for s in s.split(' ') {
                if !all.iter().any(|x| x == s) {
                    all.push(s.to_string());
                }
            }
        }
        for s in &all {
            url.push_str(&format!("&scope={}", query_escape(s)));
        }
        let mut req = self.http.get(&url);
        if let Some(h) = self.basic_header() {
            req = req.header("Authorization", h);
        }
        let resp = req.send().expect("token request");
        if !resp.status().is_success() {
            return None;
        }
        let v: serde_json::Value = resp.json().expect("token response is JSON");
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())?
            .to_string();
        self.auth
            .lock()
            .expect("auth lock")
            .tokens
            .insert(scopes.join(" "), token.clone());
        Some(format!("Bearer {token}"))
    }

    /// Sends a request to `path` (`/v2/...`, or an absolute URL) needing `scopes`, answering an
    /// auth challenge once. Returns whatever the registry finally answered.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Response {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let key = scopes.join(" ");
        let send = |auth: Option<&str>| {
            let mut req = self.http.request(method.clone(), &url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"))
        };
        let auth = self.cached_auth(&key);
        let resp = send(auth.as_deref());
        if resp.status().as_u16() != 401 {
            return resp;
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match challenge.and_then(|c| self.authenticate(&c, scopes)) {
            Some(a) => send(Some(&a)),
            None => resp,
        }
    }

    /// GETs a manifest by tag or digest; `None` on 404.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<FetchedManifest> {
        let resp = self.request(
            Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[pull_scope(repo)],
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        );
        if resp.status().as_u16() == 404 {
            return None;
        }
        if !resp.status().is_success() {
            fail(&format!("GET manifest {repo}:{reference}"), resp);
        }
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let digest = header("docker-content-digest");
        let bytes = resp.bytes().expect("read manifest body").to_vec();
        Some(FetchedManifest {
            bytes,
            content_type,
            digest,
        })
    }

    /// HEADs a manifest: `Some((digest, content_type, size))`, `None` on 404.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Option<(String, String, u64)> {
        let resp = self.request(
            Method::HEAD,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[pull_scope(repo)],
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        );
        if resp.status().as_u16() == 404 {
            return None;
        }
        if !resp.status().is_success() {
            fail(&format!("HEAD manifest {repo}:{reference}"), resp);
        }
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        Some((
            h("docker-content-digest"),
            h("content-type"),
            h("content-length").parse().unwrap_or(0),
        ))
    }

    /// PUTs a manifest under `reference` (tag or digest) and returns the registry's digest;
    /// panics unless the registry answers 201.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self.request(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[push_scope(repo)],
            &[("Content-Type", media_type)],
            Some(Bytes::copy_from_slice(bytes)),
        );
        if resp.status().as_u16() != 201 {
            fail(&format!("PUT manifest {repo}:{reference}"), resp);
        }
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| crate::sha256_digest(bytes));
        assert_eq!(
            digest,
            crate::sha256_digest(bytes),
            "registry digest differs from the bytes' digest"
        );
        digest
    }

    /// HEADs a blob: `Some(size)` when present, `None` on 404.
    pub fn head_blob(&self, repo: &str, digest: &str) -> Option<u64> {
        let resp = self.request(
            Method::HEAD,
            &format!("/v2/{repo}/blobs/{digest}"),
            &[pull_scope(repo)],
            &[],
            None,
        );
        match resp.status().as_u16() {
            404 => None,
            200 => Some(
                resp.headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            ),
            _ => fail(&format!("HEAD blob {repo}@{digest}"), resp),
        }
    }

    /// GETs a blob; `None` on 404.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let resp = self.request(
            Method::GET,
            &format!("/v2/{repo}/blobs/{digest}"),
            &[pull_scope(repo)],
            &[],
            None,
        );
        match resp.status().as_u16() {
            404 => None,
            200 => Some(resp.bytes().expect("read blob").to_vec()),
            _ => fail(&format!("GET blob {repo}@{digest}"), resp),
        }
    }

    /// Uploads a blob monolithically (POST then PUT `?digest=`) unless HEAD says it is present.
    /// Returns `(digest, uploaded)`.
    pub fn push_blob(&self, repo: &str, data: impl Into<Bytes>) -> (String, bool) {
        let data: Bytes = data.into();
        let digest = crate::sha256_digest(&data);
        if self.head_blob(repo, &digest).is_some() {
            return (digest, false);
        }
        self.upload_blob(repo, &digest, data);
        (digest, true)
    }

    /// Uploads a blob monolithically without checking whether it exists.
    pub fn upload_blob(&self, repo: &str, digest: &str, data: Bytes) {
        let scopes = [push_scope(repo)];
        let resp = self.request(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/"),
            &scopes,
            &[],
            None,
        );
        if resp.status().as_u16() != 202 {
            fail(&format!("POST upload {repo}"), resp);
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location header")
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", query_escape(digest));
        let len = data.len().to_string();
        let resp = self.request(
            Method::PUT,
            &url,
            &scopes,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &len),
            ],
            Some(data),
        );
        if resp.status().as_u16() != 201 {
            fail(&format!("PUT upload {repo}@{digest}"), resp);
        }
    }

    /// Attempts a cross-repository mount of `digest` from `from` into `repo`; returns the status
    /// (201 mounted, 202 the registry started an upload instead).
    pub fn mount_blob(&self, repo: &str, from: &str, digest: &str) -> u16 {
        let resp = self.request(
            Method::POST,
            &format!(
                "/v2/{repo}/blobs/uploads/?mount={}&from={}",
                query_escape(digest),
                query_escape(from)
            ),
            &[push_scope(repo), pull_scope(from)],
            &[],
            None,
        );
        resp.status().as_u16()
    }

    /// The tags of `repo` (empty when the repository is unknown).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let resp = self.request(
            Method::GET,
            &format!("/v2/{repo}/tags/list"),
            &[pull_scope(repo)],
            &[],
            None,
        );
        if resp.status().as_u16() == 404 {
            return vec![];
        }
        if !resp.status().is_success() {
            fail(&format!("GET tags {repo}"), resp);
        }
        let v: serde_json::Value = resp.json().expect("tags list is JSON");
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:1/token",service="svc",scope="repository:a/b:pull,push""#,
        )
        .expect("parses");
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.params["realm"], "http://127.0.0.1:1/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let b = Challenge::parse(r#"Basic realm="manifold-test""#).expect("parses");
        assert_eq!(b.scheme, "Basic");
        assert_eq!(b.params["realm"], "manifold-test");
    }
}
