//! The auth layer: credentials on every request to a registry, and what a 401 teaches.
//!
//! Requests carry credentials up front, chosen by the first Bearer or Basic challenge of the
//! registry's endpoint: a bearer token for the request's scopes (cached, see [`super::token`]) or
//! Basic credentials. They go only to the registry's own origin (scheme, host and port): an
//! absolute URL the registry hands out (an upload `Location` on blob storage) gets nothing of
//! them, and reqwest drops the header on redirects to another origin, which is relied on.
//!
//! A 401 gets one more try when it teaches something new: a challenge the ping did not show (the
//! resource needs authentication, the registry root did not), or a cached token the registry no
//! longer accepts (expired early, revoked, its keys rotated, a clock step), which is dropped so a
//! fresh one is fetched. A request whose body cannot be sent twice is not repeated here: its 401
//! comes back as a [`Failure::reauth`], for the retry layer to repeat the whole step.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::super::challenge::{Challenge, Scheme};
use super::super::errors;
use super::retry::Failure;
use super::scheme::{Endpoint, Schemes};
use super::target::{Dest, Target};
use super::token::{self, TokenCache, TokenKey, TokenRequest};
use crate::credentials::Auth;
use crate::error::{Error, ErrorKind, Result};

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

/// A response, and how its request was authorized, for the 401 handling.
struct Answered {
    resp: Response,
    /// The request went to the registry's own origin.
    on_origin: bool,
    authorization: Authorization,
}

/// The token cache and the rules for using it, over the scheme layer.
#[derive(Debug)]
pub(crate) struct Authenticator {
    schemes: Schemes,
    tokens: TokenCache,
}

impl Authenticator {
    /// No tokens yet.
    pub(crate) fn new(schemes: Schemes) -> Self {
        Authenticator {
            schemes,
            tokens: TokenCache::new(),
        }
    }

    /// The scheme layer below.
    pub(crate) fn schemes(&self) -> &Schemes {
        &self.schemes
    }

    /// Sends a request with a replayable body to `dest`, authenticated, and a second time after
    /// a 401 that teaches something new. Any status comes back as a response; errors are
    /// transport, ping and token failures.
    pub(crate) async fn send(
        &self,
        target: &Target<'_>,
        method: &Method,
        dest: Dest<'_>,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let endpoint = self.schemes.endpoint(target).await?;
        let first = self
            .send_authorized(&endpoint, target, method, dest, false, &build)
            .await?;
        match self.learn_from_401(target, &endpoint, &first) {
            Some(learnt) => Ok(self
                .send_authorized(&learnt, target, method, dest, true, &build)
                .await?
                .resp),
            None => Ok(first.resp),
        }
    }

    /// Sends exactly one request, for bodies that cannot be sent twice (a blob streamed from
    /// another registry). A 401 that a fresh token could fix (the cached one was refused and
    /// has been dropped, or the resource turned out to need authentication) comes back as a
    /// [`Failure::reauth`], so the caller repeats its whole step.
    pub(crate) async fn send_once(
        &self,
        target: &Target<'_>,
        method: &Method,
        dest: Dest<'_>,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Failure> {
        let endpoint = self.schemes.endpoint(target).await?;
        let answered = self
            .send_authorized(&endpoint, target, method, dest, false, build)
            .await?;
        if self.learn_from_401(target, &endpoint, &answered).is_some() {
            return Err(Failure::reauth(errors::from_response(answered.resp).await));
        }
        Ok(answered.resp)
    }

    /// Sends one request to `dest` at `endpoint`, authenticated when it is on the registry's
    /// origin (`fresh`: not with a cached token).
    async fn send_authorized(
        &self,
        endpoint: &Endpoint,
        target: &Target<'_>,
        method: &Method,
        dest: Dest<'_>,
        fresh: bool,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Answered, Failure> {
        let out = endpoint.outgoing(method, dest)?;
        let authorization = if out.on_origin {
            self.authorize(endpoint, target, fresh).await?
        } else {
            Authorization::None
        };
        let mut request = build(self.schemes.http().request(
            target.insecure,
            method.clone(),
            out.url.clone(),
        ));
        if let Some(value) = authorization.header() {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let resp = self.schemes.send(target, &out, request).await?;
        Ok(Answered {
            resp,
            on_origin: out.on_origin,
            authorization,
        })
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
        let (token, expires_in) = token::fetch(self.schemes.http(), &request).await?;
        let value = sensitive(&format!("Bearer {}", token.expose()))?;
        self.tokens
            .insert(key.clone(), token, expires_in, Instant::now());
        Ok(Authorization::Bearer {
            value,
            key,
            cached: false,
        })
    }

    /// What to do about an answer that may be a 401: `Some(endpoint)` to try again with (after
    /// dropping a refused cached token, or learning the challenges of a resource the ping did
    /// not say needed authentication), or `None` when it is no 401 from the registry's origin or
    /// trying again cannot help.
    fn learn_from_401(
        &self,
        target: &Target<'_>,
        endpoint: &Arc<Endpoint>,
        answered: &Answered,
    ) -> Option<Arc<Endpoint>> {
        if answered.resp.status() != StatusCode::UNAUTHORIZED || !answered.on_origin {
            return None;
        }
        let challenges = errors::challenges_of(answered.resp.headers());
        match &answered.authorization {
            Authorization::Bearer {
                key, cached: true, ..
            } => {
                if challenges
                    .iter()
                    .any(|c| c.error() == Some("insufficient_scope"))
                {
                    // The token is valid but does not grant enough (a mount from a repository
                    // these credentials cannot pull): the same request for the same scopes
                    // would get the same answer.
                    return None;
                }
                tracing::debug!(
                    registry = target.registry,
                    "cached token refused; fetching a new one"
                );
                self.tokens.remove(key);
                Some(Arc::clone(endpoint))
            }
            Authorization::None if can_authenticate(&challenges, target.auth) => {
                // The ping did not ask for authentication but this resource does.
                Some(self.schemes.learn(target, endpoint, challenges))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use crate::registry::challenge;

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
