//! A bearer-token server (the "realm" of a token-auth registry), run in a background thread.
//!
//! It answers `GET /token?service=S&scope=repository:NAME:pull,push` (any number of `scope`
//! parameters, each possibly holding several space-separated scopes) and the OAuth2 form
//! `POST /token` (`grant_type=password`, `username`, `password`, `scope`, `service`) with
//! `{"token": JWT, "access_token": JWT, "expires_in": N}`. The JWT is RS256 with an `x5c` header
//! carrying a self-signed certificate (the registry's `rootcertbundle`), and claims `iss`, `sub`,
//! `aud` (= service), `exp`, `nbf`, `iat`, `jti` and `access`.
//!
//! With the right Basic credentials every requested action is granted; anonymous requests get a
//! token with an empty access list (so the registry denies them); wrong credentials get 401.
//! Requests are counted and recorded so tests can assert how many tokens a client fetched.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

/// An RSA key and its self-signed certificate (PEM), generated once per test process.
#[derive(Debug)]
pub struct KeyMaterial {
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The self-signed certificate (PEM): the registry's `rootcertbundle`.
    pub cert_pem: String,
    /// The certificate's DER, base64 (standard alphabet): the JWT `x5c` entry.
    pub cert_der_b64: String,
}

/// The process-wide key material, generated with the `openssl` CLI on first use.
pub fn key_material() -> &'static KeyMaterial {
    static KM: OnceLock<KeyMaterial> = OnceLock::new();
    KM.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("mf-key-")
            .tempdir()
            .expect("create key dir");
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let out = crate::process::Output::of(
            std::process::Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "3650",
                    "-subj",
                    "/CN=manifold-test-token-issuer",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        out.assert_success("openssl req -x509 (token signing key)");
        let key_pem = std::fs::read_to_string(&key).expect("read generated key");
        let cert_pem = std::fs::read_to_string(&cert).expect("read generated cert");
        let cert_der_b64: String = cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        // Round-trip to be sure it is valid base64 DER.
        base64::engine::general_purpose::STANDARD
            .decode(&cert_der_b64)
            .expect("certificate PEM body is base64");
        KeyMaterial {
            key_pem,
            cert_pem,
            cert_der_b64,
        }
    })
}

/// How a token server is set up.
#[derive(Debug, Clone)]
pub struct TokenServerOptions {
    /// The user whose Basic credentials are accepted.
    pub user: String,
    /// That user's password.
    pub pass: String,
    /// The `service` (JWT audience) the registry expects.
    pub service: String,
    /// The `iss` claim the registry expects.
    pub issuer: String,
    /// Token lifetime: both `expires_in` and `exp - iat` (default 300 s).
    pub expiry: Duration,
}

impl TokenServerOptions {
    /// Options for `user`/`pass` with service `manifold-test-registry`, issuer
    /// `manifold-test-issuer` and a 300 s expiry.
    pub fn new(user: &str, pass: &str) -> TokenServerOptions {
        TokenServerOptions {
            user: user.to_string(),
            pass: pass.to_string(),
            service: "manifold-test-registry".to_string(),
            issuer: "manifold-test-issuer".to_string(),
            expiry: Duration::from_secs(300),
        }
    }
}

/// One request the token server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The authenticated user (`None` when anonymous or refused).
    pub user: Option<String>,
    /// Whether credentials were presented and rejected (answered 401).
    pub refused: bool,
    /// The requested `service`.
    pub service: Option<String>,
    /// The requested scopes, one entry per scope (`repository:NAME:ACTIONS`).
    pub scopes: Vec<String>,
}

struct State {
    opts: TokenServerOptions,
    key: jsonwebtoken::EncodingKey,
    expiry_secs: AtomicU64,
    /// Seconds added to `exp` beyond `expires_in` (may be negative to mint already-expired tokens).
    exp_skew: std::sync::atomic::AtomicI64,
    requests: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
    stop: AtomicBool,
}

/// A running token server; stopped when dropped.
pub struct TokenServer {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

impl TokenServer {
    /// Starts a token server on a free loopback port.
    pub fn start(opts: TokenServerOptions) -> TokenServer {
        crate::init();
        let km = key_material();
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(km.key_pem.as_bytes())
            .expect("load RSA key for token signing");
        // A plain listener with a thread per connection and `Connection: close`: a pooled HTTP
        // server (tiny_http) left concurrent clients queued behind kept-alive connections.
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind token server on loopback");
        let addr = listener.local_addr().expect("token server address");
        let port = addr.port();
        let state = Arc::new(State {
            expiry_secs: AtomicU64::new(opts.expiry.as_secs()),
            exp_skew: std::sync::atomic::AtomicI64::new(0),
            opts,
            key,
            requests: AtomicUsize::new(0),
            log: Mutex::new(vec![]),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let state = state.clone();
            std::thread::Builder::new()
                .name(format!("token-server-{port}"))
                .spawn(move || serve(listener, state))
                .expect("spawn token server thread")
        };
        TokenServer {
            addr,
            state,
            thread: Some(thread),
            port,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The realm URL: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The `service` value.
    pub fn service(&self) -> &str {
        &self.state.opts.service
    }

    /// The `issuer` value.
    pub fn issuer(&self) -> &str {
        &self.state.opts.issuer
    }

    /// How many token requests have been answered (any outcome).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Every token request answered so far, in order.
    pub fn request_log(&self) -> Vec<TokenRequest> {
        self.state.log.lock().expect("token log lock").clone()
    }

    /// Changes the lifetime of tokens issued from now on.
    pub fn set_expiry(&self, expiry: Duration) {
        self.state
            .expiry_secs
            .store(expiry.as_secs(), Ordering::SeqCst);
    }

    /// Shifts the `exp` claim of tokens issued from now on by `secs` relative to `expires_in`
    /// (negative values mint tokens that the registry already considers expired; note the
    /// registry allows some clock-skew leeway).
    pub fn set_exp_skew(&self, secs: i64) {
        self.state.exp_skew.store(secs, Ordering::SeqCst);
    }

    /// Makes tokens issued from now on unusable `lifetime` after issue as far as the registry is
    /// concerned: `expires_in` = `lifetime` and `exp` = now + `lifetime` - 60 s, compensating
    /// distribution's 60 s clock-skew leeway on `exp`. (With [`TokenServer::set_expiry`] alone the
    /// registry keeps accepting a token for 60 s after `exp`.) `exp` counts whole seconds, so the
    /// registry refuses the token somewhere between `lifetime` - 1 s and `lifetime` after issue.
    pub fn set_hard_expiry(&self, lifetime: Duration) {
        self.set_expiry(lifetime);
        self.set_exp_skew(-60);
    }

    /// Mints a token directly (as if `user` had asked for `scopes`).
    pub fn mint(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        mint(&self.state, user, &scopes)
    }
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("port", &self.port)
            .field("service", &self.state.opts.service)
            .field("requests", &self.requests())
            .finish()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the stop flag.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let state = state.clone();
        std::thread::spawn(move || {
            let _ = serve_connection(conn, &state);
        });
    }
}

/// One request per connection: read the head (and a form body), answer, close.
fn serve_connection(mut conn: std::net::TcpStream, state: &State) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let url = parts.next().unwrap_or_default().to_string();
    let mut authorization = None;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim().to_string());
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v);
            } else if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let (status, text) = handle(
        &method,
        &url,
        authorization.as_deref(),
        &String::from_utf8_lossy(&body),
        state,
    );
    let reason = if status == 200 { "OK" } else { "Error" };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Decodes `%XX` escapes and `+` (as space) of a query or form value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The `service` and the scopes (every `scope` parameter, each possibly holding several
/// space-separated scopes) of a token request's decoded parameters.
pub fn service_and_scopes(params: &[(String, String)]) -> (Option<String>, Vec<String>) {
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let scopes = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    (service, scopes)
}

/// The user and password of a `Basic` authorization (the scheme in any case, as Go's
/// `Request.BasicAuth` reads it).
pub(crate) fn basic_credentials(authorization: Option<&str>) -> Option<(String, String)> {
    let v = authorization?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(decoded).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Answers one token request: (status, JSON body).
fn handle(
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: &str,
    state: &State,
) -> (u16, String) {
    let method = method.to_string();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if path != "/token" || !(method == "GET" || method == "POST") {
        return (404, r#"{"error":"not found"}"#.to_string());
    }
    let mut params = parse_query(query);
    let mut creds = basic_credentials(authorization);
    if method == "POST" {
        let form = parse_query(body);
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if let (Some(u), Some(p)) = (get("username"), get("password")) {
            creds = Some((u, p));
        }
        params.extend(form);
    }
    let (service, scopes) = service_and_scopes(&params);
    state.requests.fetch_add(1, Ordering::SeqCst);
    let (user, refused) = match &creds {
        None => (None, false),
        Some((u, p)) if *u == state.opts.user && *p == state.opts.pass => (Some(u.clone()), false),
        Some(_) => (None, true),
    };
    state
        .log
        .lock()
        .expect("token log lock")
        .push(TokenRequest {
            method,
            user: user.clone(),
            refused,
            service,
            scopes: scopes.clone(),
        });
    if refused {
        let body =
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#;
        return (401, body.to_string());
    }
    let token = mint(state, user.as_deref(), &scopes);
    let expires_in = state.expiry_secs.load(Ordering::SeqCst);
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
    });
    (200, body.to_string())
}

/// The type, name and comma-separated actions of a `type:name:actions` scope; the name may
/// itself hold `:` (`repository:host:5000/app:pull`).
pub(crate) fn split_scope(scope: &str) -> Option<(&str, &str, &str)> {
    let (typ, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((typ, name, actions))
}

/// Turns `type:name:actions` scopes into JWT `access` entries (merging actions per resource).
fn access_entries(scopes: &[String]) -> Vec<serde_json::Value> {
    let mut out: Vec<(String, String, Vec<String>)> = vec![];
    for scope in scopes {
        let Some((typ, name, actions)) = split_scope(scope) else {
            continue;
        };
        let actions: Vec<String> = actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        match out.iter_mut().find(|(t, n, _)| t == typ && n == name) {
            Some((_, _, acts)) => {
                let mut set: HashSet<String> = acts.drain(..).collect();
                set.extend(actions);
                let mut v: Vec<String> = set.into_iter().collect();
                v.sort();
                *acts = v;
            }
            None => out.push((typ.to_string(), name.to_string(), actions)),
        }
    }
    out.into_iter()
        .map(|(t, n, a)| serde_json::json!({"type": t, "name": n, "actions": a}))
        .collect()
}

fn mint(state: &State, user: Option<&str>, scopes: &[String]) -> String {
    let now = now_secs();
    let expiry = state.expiry_secs.load(Ordering::SeqCst) as i64;
    let skew = state.exp_skew.load(Ordering::SeqCst);
    let access = if user.is_some() {
        access_entries(scopes)
    } else {
        vec![]
    };
    let claims = serde_json::json!({
        "iss": state.opts.issuer,
        "sub": user.unwrap_or(""),
        "aud": state.opts.service,
        "exp": now + expiry + skew,
        "nbf": now - 1,
        "iat": now,
        "jti": format!("{:016x}", rand::random::<u64>()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5c = Some(vec![key_material().cert_der_b64.clone()]);
    jsonwebtoken::encode(&header, &claims, &state.key).expect("sign JWT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(
            percent_decode("repository%3Afoo%2Fbar%3Apull%2Cpush"),
            "repository:foo/bar:pull,push"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn merges_access() {
        let a = access_entries(&[
            "repository:a/b:pull".to_string(),
            "repository:a/b:push".to_string(),
            "repository:c:pull".to_string(),
            "registry:catalog:*".to_string(),
        ]);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0]["actions"], serde_json::json!(["pull", "push"]));
        assert_eq!(a[2]["type"], "registry");
    }
}
