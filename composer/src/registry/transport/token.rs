//! Bearer tokens: fetching them from a registry's token server and caching them
//! (`docs/registry-protocol.md#token-flow`).
//!
//! A token is cached per (registry, set of scopes, credential identity) until shortly before it
//! expires. The identity is a salted hash of the credential, so the cache never holds a
//! password or identity token, and two clients with different credentials never share a token.
//! Token servers are asked the way containers/image asks them: `GET realm?service=&scope=` with
//! Basic credentials (or none), or `POST realm` with an OAuth2 `grant_type=refresh_token` form
//! for identity tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::super::errors;
use super::log::Http;
use super::retry::{self, Failure};
use crate::credentials::{Auth, Secret};
use crate::error::{Error, ErrorKind, Result};

/// Lifetime of a token whose response has no `expires_in` (distribution's token spec).
pub(crate) const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(60);

/// The most a token is retired early, so a request never goes out with one about to expire.
const MAX_MARGIN: Duration = Duration::from_secs(10);

/// Cached tokens beyond which expired ones are swept (and, failing that, the oldest dropped).
const MAX_ENTRIES: usize = 4096;

/// Largest token response read; JWTs are a few KiB.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// What a cached token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    registry: String,
    /// Sorted, deduplicated scopes joined by spaces.
    scopes: String,
    /// `anonymous` or a salted hash of the credential.
    identity: String,
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    use_until: Instant,
}

/// Tokens by [`TokenKey`].
#[derive(Debug)]
pub(crate) struct TokenCache {
    /// Per-process salt, so identity hashes cannot be looked up in precomputed tables.
    salt: [u8; 32],
    entries: Mutex<HashMap<TokenKey, Cached>>,
    /// One lock per key, held while a token for that key is fetched, so that many parallel
    /// requests of one push ask the token server once instead of once each.
    flights: Mutex<HashMap<TokenKey, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    /// An empty cache with a fresh salt.
    pub(crate) fn new() -> Self {
        TokenCache {
            salt: rand::random(),
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The fetch lock of `key`.
    pub(crate) fn flight(&self, key: &TokenKey) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.entry(key.clone()).or_default().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenKey, Cached>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for a token on `registry` for `scopes`, obtained with `auth`.
    pub(crate) fn key(&self, registry: &str, scopes: &[String], auth: Option<&Auth>) -> TokenKey {
        let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        TokenKey {
            registry: registry.to_string(),
            scopes: sorted.join(" "),
            identity: self.identity(auth),
        }
    }

    /// `anonymous`, or the first 128 bits of sha256(salt, kind, fields) in hex.
    fn identity(&self, auth: Option<&Auth>) -> String {
        let mut h = Sha256::new();
        h.update(self.salt);
        match auth {
            None => return "anonymous".to_string(),
            Some(Auth::Basic { username, password }) => {
                h.update(b"basic\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(password.expose().as_bytes());
            }
            Some(Auth::IdentityToken(token)) => {
                h.update(b"identity\0");
                h.update(token.expose().as_bytes());
            }
        }
        hex::encode(&h.finalize()[..16])
    }

    /// The cached token for `key`, if it is still good at `now`.
    pub(crate) fn get(&self, key: &TokenKey, now: Instant) -> Option<Secret> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(c) if now < c.use_until => Some(c.token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Caches `token`, valid for `expires_in` from `now`, minus a safety margin.
    pub(crate) fn insert(&self, key: TokenKey, token: Secret, expires_in: Duration, now: Instant) {
        let use_until = now + usable_for(expires_in);
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, c| now < c.use_until);
        }
        if entries.len() >= MAX_ENTRIES {
            let oldest = entries
                .iter()
                .min_by_key(|(_, c)| c.use_until)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(key, Cached { token, use_until });
    }

    /// Forgets the token for `key` (the registry refused it).
    pub(crate) fn remove(&self, key: &TokenKey) {
        self.lock().remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// How long a token with lifetime `expires_in` is used: its lifetime minus a fifth of it, at most
/// [`MAX_MARGIN`], so clock steps and request latency do not send an expired token.
pub(crate) fn usable_for(expires_in: Duration) -> Duration {
    expires_in.saturating_sub((expires_in / 5).min(MAX_MARGIN))
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Reads a token server's answer: `token` or else `access_token`, and `expires_in` seconds
/// (absent, zero, negative or not a number: [`DEFAULT_EXPIRES_IN`]).
pub(crate) fn parse_token_response(body: &[u8]) -> Result<(Secret, Duration)> {
    // serde's messages can quote values ("invalid type: integer `5`"), and a value here may be
    // a token: report only where decoding failed.
    let r: TokenResponse = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Registry,
            format!(
                "decoding bearer token response: not the expected JSON object (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let token = r
        .token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Registry,
                "decoding bearer token response: no token in the response",
            )
        })?;
    let expires_in = r
        .expires_in
        .as_ref()
        .and_then(serde_json::Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 1.0)
        // A year caps absurd values and keeps the `Duration` arithmetic in range.
        .map(|s| Duration::from_secs(s.min(365.0 * 86400.0) as u64))
        .unwrap_or(DEFAULT_EXPIRES_IN);
    Ok((Secret::new(token), expires_in))
}

/// What to ask a token server for.
pub(crate) struct TokenRequest<'a> {
    /// The challenge's `realm`.
    pub realm: &'a str,
    /// The challenge's `service`.
    pub service: Option<&'a str>,
    /// `repository:NAME:ACTIONS` scopes.
    pub scopes: &'a [String],
    /// The credential to present, if any.
    pub auth: Option<&'a Auth>,
    /// Whether the registry is insecure, which alone allows credentials to a plain-HTTP realm.
    pub insecure: bool,
}

/// Asks the token server; returns the token and its lifetime. Connection failures, `429` and
/// `5xx` from the token server are transient failures (see [`super::retry`]).
pub(crate) async fn fetch(
    http: &Http,
    req: &TokenRequest<'_>,
) -> Result<(Secret, Duration), Failure> {
    let mut url = Url::parse(req.realm).map_err(|e| {
        Error::new(
            ErrorKind::Registry,
            format!("invalid bearer token realm {:?}: {e}", req.realm),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::fatal(Error::new(
            ErrorKind::Registry,
            format!(
                "invalid bearer token realm {:?}: not an http(s) URL",
                req.realm
            ),
        )));
    }
    if req.auth.is_some() && url.scheme() == "http" && !req.insecure {
        return Err(Failure::fatal(Error::new(
            ErrorKind::Registry,
            format!(
                "refusing to send credentials over plain HTTP to the token server {}; mark the registry insecure in the configuration or pass tlsVerify=false to allow it",
                req.realm
            ),
        )));
    }
    let (method, builder) = match req.auth {
        Some(Auth::IdentityToken(refresh)) => {
            // An OAuth2 form, built with `Url`'s form-urlencoded serializer (reqwest's `form`
            // feature is not enabled in this workspace).
            let mut form = Url::parse("http://form.invalid/").map_err(|e| {
                Error::new(ErrorKind::Registry, format!("building token request: {e}"))
            })?;
            {
                let mut q = form.query_pairs_mut();
                if let Some(s) = req.service.filter(|s| !s.is_empty()) {
                    q.append_pair("service", s);
                }
                for scope in req.scopes {
                    q.append_pair("scope", scope);
                }
                q.append_pair("grant_type", "refresh_token");
                q.append_pair("refresh_token", refresh.expose());
                q.append_pair("client_id", "manifold");
            }
            let body = form.query().unwrap_or("").to_string();
            (
                Method::POST,
                http.request(req.insecure, Method::POST, url.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body),
            )
        }
        basic => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(Auth::Basic { username, .. }) = basic {
                    if !username.is_empty() {
                        q.append_pair("account", username);
                    }
                }
                if let Some(s) = req.service.filter(|s| !s.is_empty()) {
                    q.append_pair("service", s);
                }
                for scope in req.scopes {
                    q.append_pair("scope", scope);
                }
            }
            let mut b = http.request(req.insecure, Method::GET, url.clone());
            if let Some(Auth::Basic { username, password }) = basic {
                b = b.basic_auth(username, Some(password.expose()));
            }
            (Method::GET, b)
        }
    };
    let mut resp = http
        .send(builder)
        .await
        .map_err(|e| errors::transport_failure(&method, &url, &e))?;
    let status = resp.status();
    let after = retry::retry_after(status, resp.headers(), SystemTime::now());
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| errors::transport_failure(&method, &url, &e))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            return Err(Failure::fatal(Error::new(
                ErrorKind::Registry,
                format!(
                    "bearer token response from {} is larger than {MAX_TOKEN_RESPONSE} bytes",
                    req.realm
                ),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    match status {
        StatusCode::OK => parse_token_response(&body).map_err(Failure::fatal),
        StatusCode::UNAUTHORIZED => {
            let inner = errors::from_status(status, &[], &body);
            // containers/image's ErrUnauthorizedForCredentials; it does not unwrap, so the whole
            // text is also the cause.
            let text = format!(
                "unable to retrieve auth token: invalid username/password: {}",
                inner.cause()
            );
            Err(Failure::fatal(Error::new(
                ErrorKind::RegistryUnauthorized,
                text,
            )))
        }
        StatusCode::TOO_MANY_REQUESTS => Err(Failure::busy(
            StatusCode::TOO_MANY_REQUESTS,
            Error::new(ErrorKind::Registry, "too many requests to registry"),
            after,
        )),
        other => {
            let kind = if other == StatusCode::FORBIDDEN {
                ErrorKind::RegistryUnauthorized
            } else {
                errors::refused_or_failed(other)
            };
            let error = Error::new(
                kind,
                format!(
                    "requesting bearer token: invalid status code from registry {} ({})",
                    other.as_u16(),
                    other.canonical_reason().unwrap_or("")
                ),
            );
            if retry::retryable_status(other) {
                Err(Failure::busy(other, error, after))
            } else {
                Err(Failure::fatal(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn keys_sort_scopes_and_separate_identities() {
        let cache = TokenCache::new();
        let a = cache.key(
            "r",
            &scopes(&["repository:b:pull", "repository:a:pull,push"]),
            None,
        );
        let b = cache.key(
            "r",
            &scopes(&[
                "repository:a:pull,push",
                "repository:b:pull",
                "repository:b:pull",
            ]),
            None,
        );
        assert_eq!(a, b);
        assert_eq!(a.identity, "anonymous");
        assert_ne!(
            a,
            cache.key(
                "other",
                &scopes(&["repository:b:pull", "repository:a:pull,push"]),
                None
            )
        );
        let s = scopes(&["repository:a:pull"]);
        let alice = cache.key("r", &s, Some(&Auth::basic("alice", "pw1")));
        let alice2 = cache.key("r", &s, Some(&Auth::basic("alice", "pw2")));
        let bob = cache.key("r", &s, Some(&Auth::basic("bob", "pw1")));
        let ident = cache.key("r", &s, Some(&Auth::IdentityToken(Secret::new("pw1"))));
        let anon = cache.key("r", &s, None);
        let all = [&alice, &alice2, &bob, &ident, &anon];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(
            alice,
            cache.key("r", &s, Some(&Auth::basic("alice", "pw1")))
        );
        // The user/password boundary is unambiguous.
        assert_ne!(
            cache.key("r", &s, Some(&Auth::basic("ab", "c"))),
            cache.key("r", &s, Some(&Auth::basic("a", "bc")))
        );
    }

    #[test]
    fn keys_never_contain_the_secret_and_are_salted() {
        let cache = TokenCache::new();
        let s = scopes(&["repository:a:pull"]);
        let k = cache.key("r", &s, Some(&Auth::basic("alice", "hunter2")));
        let printed = format!("{k:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!format!(
            "{:?}",
            cache.key("r", &s, Some(&Auth::IdentityToken(Secret::new("hunter2"))))
        )
        .contains("hunter2"));
        assert_eq!(k.identity.len(), 32);
        let other = TokenCache::new();
        assert_ne!(
            k,
            other.key("r", &s, Some(&Auth::basic("alice", "hunter2")))
        );
    }

    #[test]
    fn tokens_expire_with_a_margin() {
        let cache = TokenCache::new();
        let key = cache.key("r", &scopes(&["repository:a:pull"]), None);
        let t0 = Instant::now();
        cache.insert(key.clone(), Secret::new("tok"), Duration::from_secs(60), t0);
        assert_eq!(
            cache.get(&key, t0).map(|s| s.expose().to_string()),
            Some("tok".into())
        );
        assert!(cache.get(&key, t0 + Duration::from_secs(49)).is_some());
        assert!(cache.get(&key, t0 + Duration::from_secs(50)).is_none());
        // Expired entries are dropped when looked at.
        assert_eq!(cache.len(), 0);
        cache.insert(key.clone(), Secret::new("tok"), Duration::from_secs(60), t0);
        cache.remove(&key);
        assert!(cache.get(&key, t0).is_none());
    }

    #[test]
    fn margins() {
        assert_eq!(usable_for(Duration::from_secs(60)), Duration::from_secs(50));
        assert_eq!(
            usable_for(Duration::from_secs(300)),
            Duration::from_secs(290)
        );
        assert_eq!(usable_for(Duration::from_secs(5)), Duration::from_secs(4));
        assert_eq!(
            usable_for(Duration::from_secs(1)),
            Duration::from_millis(800)
        );
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn cache_is_bounded() {
        let cache = TokenCache::new();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES + 10 {
            let key = cache.key(&format!("r{i}"), &[], None);
            cache.insert(
                key,
                Secret::new("t"),
                Duration::from_secs(60 + i as u64),
                t0,
            );
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // The newest survive.
        let last = cache.key(&format!("r{}", MAX_ENTRIES + 9), &[], None);
        assert!(cache.get(&last, t0).is_some());
    }

    #[test]
    fn token_responses() {
        let (t, e) = parse_token_response(br#"{"token":"a","access_token":"b","expires_in":300}"#)
            .expect("parses");
        assert_eq!(t.expose(), "a");
        assert_eq!(e, Duration::from_secs(300));
        let (t, e) = parse_token_response(br#"{"access_token":"b"}"#).expect("parses");
        assert_eq!(t.expose(), "b");
        assert_eq!(e, DEFAULT_EXPIRES_IN);
        let (t, _) = parse_token_response(br#"{"token":"","access_token":"b"}"#).expect("parses");
        assert_eq!(t.expose(), "b");
        for odd in [r#"0"#, r#"-5"#, r#""300""#, r#"null"#, r#"0.5"#] {
            let body = format!(r#"{{"token":"a","expires_in":{odd}}}"#);
            let (_, e) = parse_token_response(body.as_bytes()).expect("parses");
            assert_eq!(e, DEFAULT_EXPIRES_IN, "{odd}");
        }
        let (_, e) = parse_token_response(br#"{"token":"a","expires_in":1e300}"#).expect("parses");
        assert_eq!(e, Duration::from_secs(365 * 86400));
        let (_, e) = parse_token_response(br#"{"token":"a","expires_in":5,"issued_at":"2026-01-01T00:00:00Z","refresh_token":"r"}"#).expect("parses");
        assert_eq!(e, Duration::from_secs(5));
    }

    #[test]
    fn bad_token_responses_do_not_echo_the_body() {
        let e = parse_token_response(br#"{"expires_in":3}"#).expect_err("no token");
        assert_eq!(e.kind(), ErrorKind::Registry);
        assert!(e.message().contains("no token"));
        let e = parse_token_response(b"secret-looking garbage").expect_err("not json");
        assert!(!e.message().contains("secret"), "{}", e.message());
        let e = parse_token_response(br#"{"token":12345}"#).expect_err("not a string");
        assert!(!e.message().contains("12345"), "{}", e.message());
    }
}
