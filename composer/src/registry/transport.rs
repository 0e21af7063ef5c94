//! Sending requests to a registry: choosing the scheme, authenticating, retrying.
//!
//! The flow is containers/image's. The first request to a registry pings `GET /v2/` to learn
//! which scheme works and how to authenticate (its `WWW-Authenticate` challenges); both are
//! remembered per (registry, insecure). A secure registry is HTTPS with certificate
//! verification, nothing else. An insecure one is tried over HTTPS without verification first,
//! and over plain HTTP when that fails. Requests then carry credentials up front: a bearer token
//! for the request's scopes (cached, see [`super::token`]) or Basic credentials. A 401 gets one
//! retry when it teaches something new: a challenge the ping did not show, or a cached token the
//! registry no longer accepts. Transient failures (connection errors, `408`, `429`, `5xx`) are
//! retried with backoff by [`Transport::send`]; callers whose step spans several requests (a
//! blob copy) take single attempts ([`Transport::attempt`], [`Transport::attempt_once`] for
//! bodies that cannot be replayed) and retry the whole step with [`super::retry::run`].
//!
//! Credentials only ever travel in the `Authorization` header of the one request that needs
//! them; nothing here stores them. reqwest drops that header on redirects to another host, port
//! or scheme (blob downloads are often redirected to storage), and that is relied on; absolute
//! URLs the registry hands out (upload `Location`s) get credentials only on the registry's own
//! origin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::challenge::{Challenge, Scheme};
use super::errors;
use super::retry::{self, Failure, Policy, Retry};
use super::token::{self, TokenCache, TokenKey, TokenRequest};
use crate::credentials::Auth;
use crate::error::{Error, ErrorKind, Result};

/// How long establishing a connection (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read may wait for the next bytes. Not a total timeout: big blobs take long.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on pooled connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// The host that serves a registry's API: Docker Hub's name differs from its API host.
pub(crate) fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// What a registry told us at the ping: where its API is and how it wants to be authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `https://host` or `http://host`.
    pub base: Url,
    /// Challenges from the ping (or a later 401).
    pub challenges: Vec<Challenge>,
}

/// Who a request goes to, with what credential, needing which token scopes.
pub(crate) struct Target<'a> {
    /// The registry as named in the reference (`docker.io`, `127.0.0.1:5001`).
    pub registry: &'a str,
    /// Unverified TLS, then plain HTTP, are allowed.
    pub insecure: bool,
    /// The credential for this registry, if the request has one.
    pub auth: Option<&'a Auth>,
    /// Token scopes: `repository:NAME:pull` (and later `...:pull,push`).
    pub scopes: Vec<String>,
}

/// The `Authorization` a request was sent with.
enum Authorization {
    None,
    Basic(HeaderValue),
    Bearer {
        value: HeaderValue,
        key: TokenKey,
        cached: bool,
    },
}

impl Authorization {
    fn header(&self) -> Option<&HeaderValue> {
        match self {
            Authorization::None => None,
            Authorization::Basic(v) | Authorization::Bearer { value: v, .. } => Some(v),
        }
    }
}

/// A header value that hyper and reqwest will not print.
fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        // Never echo the value: it is a credential.
        Error::new(
            ErrorKind::InvalidInput,
            "credentials contain characters that cannot be sent in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// True when `challenges` offer a way in with `auth`.
fn can_authenticate(challenges: &[Challenge], auth: Option<&Auth>) -> bool {
    challenges.iter().any(|c| match c.scheme {
        Scheme::Bearer => true,
        Scheme::Basic => matches!(auth, Some(Auth::Basic { .. })),
        Scheme::Other(_) => false,
    })
}

/// Where a request goes.
#[derive(Clone, Copy)]
pub(crate) enum Dest<'a> {
    /// A path (and query) on the registry's API, starting `/v2/`.
    Path(&'a str),
    /// An absolute URL the registry handed out, such as an upload `Location`; it may point to
    /// another host (blob storage), which then gets no credentials.
    Url(&'a Url),
}

/// True when `url` is on the registry's own origin (scheme, host and port), the only place its
/// credentials may go.
fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// The HTTP clients, what was learnt about each registry, the token cache and the retry policy.
#[derive(Debug)]
pub(crate) struct Transport {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    endpoints: Mutex<HashMap<(String, bool), Arc<Endpoint>>>,
    tokens: TokenCache,
    policy: Policy,
}

fn build_client(verify: bool) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(TCP_KEEPALIVE)
        .tls_backend_preconfigured(super::tls::client_config(verify)?)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Registry,
                format!("building the registry HTTP client: {e}"),
            )
        })
}

impl Transport {
    /// Two pooled clients: one verifying certificates (platform roots), one not (insecure
    /// registries only). `policy` governs [`Transport::send`]'s retries.
    pub(crate) fn new(policy: Policy) -> Result<Self> {
        Ok(Transport {
            verified: build_client(true)?,
            unverified: build_client(false)?,
            endpoints: Mutex::new(HashMap::new()),
            tokens: TokenCache::new(),
            policy,
        })
    }

    /// The retry policy.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    fn client(&self, insecure: bool) -> &reqwest::Client {
        if insecure {
            &self.unverified
        } else {
            &self.verified
        }
    }

    fn endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<(String, bool), Arc<Endpoint>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets what was learnt about a registry, so the next request pings again.
    fn forget(&self, registry: &str, insecure: bool) {
        self.endpoints().remove(&(registry.to_string(), insecure));
    }

    /// The scheme a registry was reached with, if it has been pinged (for tests and logs).
    pub(crate) fn known_scheme(&self, registry: &str, insecure: bool) -> Option<String> {
        self.endpoints()
            .get(&(registry.to_string(), insecure))
            .map(|e| e.base.scheme().to_string())
    }

    /// The endpoint of `registry`, pinging it the first time.
    pub(crate) async fn endpoint(
        &self,
        registry: &str,
        insecure: bool,
    ) -> Result<Arc<Endpoint>, Failure> {
        let key = (registry.to_string(), insecure);
        if let Some(e) = self.endpoints().get(&key) {
            return Ok(Arc::clone(e));
        }
        let host = api_host(registry);
        // Like containers/image: when an insecure registry fails over HTTPS, for whatever
        // reason, try HTTP, and report HTTP's error if that fails too.
        let pinged = match self.ping("https", host, insecure).await {
            Ok(e) => Ok(e),
            Err(https_err) if insecure => {
                tracing::debug!(registry, error = %https_err.error, "HTTPS ping failed, trying HTTP");
                self.ping("http", host, insecure).await
            }
            Err(e) => Err(e),
        };
        let endpoint =
            Arc::new(pinged.map_err(|f| f.context(format!("pinging container registry {host}")))?);
        tracing::debug!(registry, base = %endpoint.base, "registry endpoint");
        self.endpoints().insert(key, Arc::clone(&endpoint));
        Ok(endpoint)
    }

    async fn ping(&self, scheme: &str, host: &str, insecure: bool) -> Result<Endpoint, Failure> {
        let url = Url::parse(&format!("{scheme}://{host}/v2/")).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid registry host {host:?}: {e}"),
            )
        })?;
        let resp = self
            .client(insecure)
            .get(url.clone())
            .send()
            .await
            .map_err(|e| errors::transport_failure(&Method::GET, &url, &e))?;
        match resp.status() {
            StatusCode::OK | StatusCode::UNAUTHORIZED => {
                let challenges = errors::challenges_of(resp.headers());
                let mut base = url;
                base.set_path("");
                Ok(Endpoint { base, challenges })
            }
            _ => Err(errors::failure_from_response(resp).await),
        }
    }

    /// Chooses the `Authorization` for a request from the endpoint's challenges: the first
    /// Bearer or Basic challenge decides. `fresh` skips the token cache.
    async fn authorize(
        &self,
        endpoint: &Endpoint,
        target: &Target<'_>,
        fresh: bool,
    ) -> Result<Authorization, Failure> {
        for c in &endpoint.challenges {
            match c.scheme {
                Scheme::Bearer => return self.bearer(c, target, fresh).await,
                Scheme::Basic => {
                    return match target.auth {
                        Some(Auth::Basic { username, password }) => {
                            let raw = format!("{username}:{}", password.expose());
                            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                            Ok(Authorization::Basic(sensitive(&format!(
                                "Basic {encoded}"
                            ))?))
                        }
                        _ => Ok(Authorization::None),
                    };
                }
                Scheme::Other(_) => {}
            }
        }
        Ok(Authorization::None)
    }

    async fn bearer(
        &self,
        challenge: &Challenge,
        target: &Target<'_>,
        fresh: bool,
    ) -> Result<Authorization, Failure> {
        let realm = challenge.realm().filter(|r| !r.is_empty()).ok_or_else(|| {
            Error::new(
                ErrorKind::Registry,
                "missing realm in bearer auth challenge",
            )
        })?;
        let key = self
            .tokens
            .key(target.registry, &target.scopes, target.auth);
        let cached = |key: &TokenKey| -> Result<Option<Authorization>, Failure> {
            match self.tokens.get(key, Instant::now()) {
                Some(token) => Ok(Some(Authorization::Bearer {
                    value: sensitive(&format!("Bearer {}", token.expose()))?,
                    key: key.clone(),
                    cached: true,
                })),
                None => Ok(None),
            }
        };
        if !fresh {
            if let Some(auth) = cached(&key)? {
                return Ok(auth);
            }
        }
        // Single flight: whoever holds the key's lock fetches; the others then find the token
        // in the cache. A refresh after a rejected token (`fresh`) always fetches anew.
        let flight = self.tokens.flight(&key);
        let _guard = flight.lock().await;
        if !fresh {
            if let Some(auth) = cached(&key)? {
                return Ok(auth);
            }
        }
        let request = TokenRequest {
            realm,
            service: challenge.service(),
            scopes: &target.scopes,
            auth: target.auth,
            insecure: target.insecure,
        };
        let (token, expires_in) = token::fetch(self.client(target.insecure), &request).await?;
        let value = sensitive(&format!("Bearer {}", token.expose()))?;
        self.tokens
            .insert(key.clone(), token, expires_in, Instant::now());
        Ok(Authorization::Bearer {
            value,
            key,
            cached: false,
        })
    }

    /// The URL of `dest` on `endpoint`.
    fn resolve(endpoint: &Endpoint, dest: Dest<'_>) -> Result<Url, Failure> {
        match dest {
            Dest::Url(url) => Ok(url.clone()),
            Dest::Path(path) => endpoint.base.join(path).map_err(|e| {
                Failure::fatal(Error::new(
                    ErrorKind::InvalidInput,
                    format!("invalid registry path {path:?}: {e}"),
                ))
            }),
        }
    }

    /// The failure of a request that got no response. A connection failure on the registry's
    /// own origin makes it be pinged again next time (it may have restarted with or without
    /// TLS). Messages show URLs the registry handed out without their query.
    fn request_failure(
        &self,
        target: &Target<'_>,
        method: &Method,
        url: &Url,
        dest: Dest<'_>,
        on_origin: bool,
        err: &reqwest::Error,
    ) -> Failure {
        if on_origin && errors::is_connection_failure(err) {
            self.forget(target.registry, target.insecure);
        }
        match dest {
            Dest::Url(_) => errors::transport_failure(method, &errors::without_query(url), err),
            Dest::Path(_) => errors::transport_failure(method, url, err),
        }
    }

    /// Sends `method path` (path starting `/v2/`) to the target's registry with authentication,
    /// retrying transient failures (connection errors, `408`, `429`, `5xx`) under the policy.
    /// `build` adds headers and body; it may run several times, so it must not consume a
    /// one-shot body. Any status comes back as a response (a retryable one once the retries are
    /// used up); errors are transport, ping and token failures.
    pub(crate) async fn send(
        &self,
        target: &Target<'_>,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let mut retries = retry::Retries::new(&self.policy);
        loop {
            let outcome = self
                .attempt(target, method.clone(), Dest::Path(path), &build)
                .await;
            let after = match &outcome {
                Ok(resp) if retry::retryable_status(resp.status()) => {
                    retry::retry_after(resp.status(), resp.headers(), SystemTime::now())
                }
                Err(Failure {
                    retry: Retry::Backoff(after),
                    ..
                }) => *after,
                _ => return outcome.map_err(|f| f.error),
            };
            let Some(delay) = retries.next(after) else {
                return outcome.map_err(|f| f.error);
            };
            match &outcome {
                Ok(resp) => tracing::warn!(
                    registry = target.registry,
                    %method,
                    path,
                    status = resp.status().as_u16(),
                    retry = retries.used(),
                    delay_ms = delay.as_millis() as u64,
                    "registry request failed; retrying"
                ),
                Err(f) => tracing::warn!(
                    registry = target.registry,
                    %method,
                    path,
                    error = %f.error,
                    retry = retries.used(),
                    delay_ms = delay.as_millis() as u64,
                    "registry request failed; retrying"
                ),
            }
            // Release the connection before sleeping.
            drop(outcome);
            tokio::time::sleep(delay).await;
        }
    }

    /// The request for `url`, with the registry's credentials when `url` is on the registry's
    /// own origin; another host (blob storage) gets nothing of them. Returns whether the URL
    /// is on the origin and the authorization used, for the caller's 401 handling.
    async fn authorized_request(
        &self,
        endpoint: &Endpoint,
        target: &Target<'_>,
        method: &Method,
        url: &Url,
        fresh: bool,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<(bool, Authorization, RequestBuilder), Failure> {
        let on_origin = same_origin(url, &endpoint.base);
        let authorization = if on_origin {
            self.authorize(endpoint, target, fresh).await?
        } else {
            Authorization::None
        };
        let mut request = build(
            self.client(target.insecure)
                .request(method.clone(), url.clone()),
        );
        if let Some(value) = authorization.header() {
            request = request.header(AUTHORIZATION, value.clone());
        }
        Ok((on_origin, authorization, request))
    }

    /// Sends one request to `dest` at `endpoint`, authenticated when it is on the registry's
    /// origin (`fresh`: not with a cached token). Returns the response, whether it came from
    /// the origin and the authorization sent, for the caller's 401 handling.
    async fn send_once(
        &self,
        endpoint: &Endpoint,
        target: &Target<'_>,
        method: &Method,
        dest: Dest<'_>,
        fresh: bool,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<(Response, bool, Authorization), Failure> {
        let url = Self::resolve(endpoint, dest)?;
        let (on_origin, authorization, request) = self
            .authorized_request(endpoint, target, method, &url, fresh, build)
            .await?;
        let resp = request
            .send()
            .await
            .map_err(|e| self.request_failure(target, method, &url, dest, on_origin, &e))?;
        tracing::debug!(
            %method,
            url = %errors::without_query(&url),
            status = resp.status().as_u16(),
            "registry request"
        );
        Ok((resp, on_origin, authorization))
    }

    /// One attempt at a request with a replayable body: authenticated, and sent a second time
    /// after a 401 that teaches something new (a challenge the ping did not show, or a cached
    /// token the registry no longer accepts). No retries of transient failures here; those are
    /// the caller's (see [`Transport::send`]), which knows what a whole step is.
    pub(crate) async fn attempt(
        &self,
        target: &Target<'_>,
        method: Method,
        dest: Dest<'_>,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let mut endpoint = self.endpoint(target.registry, target.insecure).await?;
        let mut fresh = false;
        let mut retried = false;
        loop {
            let (resp, on_origin, authorization) = self
                .send_once(&endpoint, target, &method, dest, fresh, &build)
                .await?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried || !on_origin {
                return Ok(resp);
            }
            match self.learn_from_401(target, &endpoint, &authorization, &resp) {
                Some(learnt) => {
                    endpoint = learnt;
                    fresh = true;
                }
                None => return Ok(resp),
            }
            retried = true;
        }
    }

    /// What to do about a 401: `Some(endpoint)` to try again with (after dropping a refused
    /// cached token, or learning the challenges of a resource the ping did not say needed
    /// authentication), or `None` when trying again cannot help.
    fn learn_from_401(
        &self,
        target: &Target<'_>,
        endpoint: &Arc<Endpoint>,
        authorization: &Authorization,
        resp: &Response,
    ) -> Option<Arc<Endpoint>> {
        match authorization {
            Authorization::Bearer {
                key, cached: true, ..
            } => {
                let challenges = errors::challenges_of(resp.headers());
                if challenges
                    .iter()
                    .any(|c| c.error() == Some("insufficient_scope"))
                {
                    // The token is valid but does not grant enough (a mount from a repository
                    // these credentials cannot pull): the same request for the same scopes
                    // would get the same answer.
                    return None;
                }
                // The registry no longer accepts a token we cached (expired early, revoked,
                // its keys rotated, a clock step): get a new one.
                tracing::debug!(
                    registry = target.registry,
                    "cached token refused; fetching a new one"
                );
                self.tokens.remove(key);
                Some(Arc::clone(endpoint))
            }
            Authorization::None => {
                let challenges = errors::challenges_of(resp.headers());
                if !can_authenticate(&challenges, target.auth) {
                    return None;
                }
                // The ping did not ask for authentication but this resource does.
                let learnt = Arc::new(Endpoint {
                    base: endpoint.base.clone(),
                    challenges,
                });
                self.endpoints().insert(
                    (target.registry.to_string(), target.insecure),
                    Arc::clone(&learnt),
                );
                Some(learnt)
            }
            _ => None,
        }
    }

    /// Exactly one request, for bodies that cannot be sent twice (a blob streamed from another
    /// registry). A 401 that a fresh token could fix (the cached one was refused and has been
    /// dropped, or the resource turned out to need authentication) comes back as a
    /// [`Retry::Reauth`] failure, so the caller repeats its whole step.
    pub(crate) async fn attempt_once(
        &self,
        target: &Target<'_>,
        method: Method,
        dest: Dest<'_>,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let endpoint = self.endpoint(target.registry, target.insecure).await?;
        let (resp, on_origin, authorization) = self
            .send_once(&endpoint, target, &method, dest, false, build)
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED
            && on_origin
            && self
                .learn_from_401(target, &endpoint, &authorization, &resp)
                .is_some()
        {
            let error = errors::from_response(resp).await;
            return Err(Failure {
                error,
                retry: Retry::Reauth,
            });
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use crate::registry::challenge;

    #[test]
    fn docker_hub_is_served_elsewhere() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn which_challenges_can_be_answered() {
        let basic = Auth::basic("u", "p");
        let ident = Auth::IdentityToken(Secret::new("t"));
        let bearer = challenge::parse(r#"Bearer realm="http://t/token""#);
        let basic_c = challenge::parse(r#"Basic realm="r""#);
        assert!(can_authenticate(&bearer, None));
        assert!(can_authenticate(&bearer, Some(&ident)));
        assert!(can_authenticate(&basic_c, Some(&basic)));
        assert!(!can_authenticate(&basic_c, None));
        assert!(!can_authenticate(&basic_c, Some(&ident)));
        assert!(!can_authenticate(
            &challenge::parse("Negotiate"),
            Some(&basic)
        ));
        assert!(!can_authenticate(&[], Some(&basic)));
    }

    #[test]
    fn sensitive_values_do_not_print() {
        let v = sensitive("Bearer hunter2").expect("valid");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("hunter2"));
        let e = sensitive("Basic a\nb").expect_err("newline");
        assert!(!e.message().contains("a\nb"));
    }
}
