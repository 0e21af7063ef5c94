//! The scheme layer: where a registry's API is, learnt by a ping
//! (`docs/registry-protocol.md#ping-and-scheme`).
//!
//! The first request to a registry pings `GET /v2/`, as containers/image does, to learn which
//! scheme works and how the registry wants to be authenticated (its `WWW-Authenticate`
//! challenges); both are remembered per (registry, insecure). A secure registry is HTTPS with
//! certificate verification, nothing else. An insecure one is tried over HTTPS without
//! verification first, and over plain HTTP when that fails. A request that cannot reach the
//! registry's own origin makes it be pinged again next time: it may have restarted with or
//! without TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::super::challenge::Challenge;
use super::super::errors;
use super::log::Http;
use super::retry::Failure;
use super::target::{Dest, Target};
use crate::error::{Error, ErrorKind};

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

impl Endpoint {
    /// Where `method` on `dest` goes from here.
    pub(crate) fn outgoing<'a>(
        &self,
        method: &'a Method,
        dest: Dest<'a>,
    ) -> Result<Outgoing<'a>, Failure> {
        let url = match dest {
            Dest::Url(url) => url.clone(),
            Dest::Path(path) => self.base.join(path).map_err(|e| {
                Failure::fatal(Error::new(
                    ErrorKind::InvalidInput,
                    format!("invalid registry path {path:?}: {e}"),
                ))
            })?,
        };
        Ok(Outgoing {
            method,
            dest,
            on_origin: same_origin(&url, &self.base),
            url,
        })
    }
}

/// One request on its way: its method, what was asked for, the URL that resolved to, and
/// whether that URL is on the registry's own origin (the only place its credentials may go).
pub(crate) struct Outgoing<'a> {
    /// The method.
    pub method: &'a Method,
    /// What the caller asked for.
    pub dest: Dest<'a>,
    /// Where it goes.
    pub url: Url,
    /// `url` has the registry's scheme, host and port.
    pub on_origin: bool,
}

/// True when `url` is on the origin (scheme, host and port) of `base`.
fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// The endpoints learnt so far, over the HTTP layer.
#[derive(Debug)]
pub(crate) struct Schemes {
    http: Http,
    endpoints: Mutex<HashMap<(String, bool), Arc<Endpoint>>>,
}

impl Schemes {
    /// Nothing learnt yet.
    pub(crate) fn new(http: Http) -> Self {
        Schemes {
            http,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// The HTTP layer below.
    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    fn endpoints(&self) -> MutexGuard<'_, HashMap<(String, bool), Arc<Endpoint>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scheme a registry was reached with, if it has been pinged (for tests and logs).
    pub(crate) fn known_scheme(&self, registry: &str, insecure: bool) -> Option<String> {
        self.endpoints()
            .get(&(registry.to_string(), insecure))
            .map(|e| e.base.scheme().to_string())
    }

    /// The endpoint of the target's registry, pinging it the first time.
    pub(crate) async fn endpoint(&self, target: &Target<'_>) -> Result<Arc<Endpoint>, Failure> {
        let (registry, insecure) = (target.registry, target.insecure);
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
                tracing::debug!(registry, error = %https_err, "HTTPS ping failed, trying HTTP");
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
        let request = self.http.request(insecure, Method::GET, url.clone());
        let resp = self
            .http
            .send(request)
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

    /// Remembers that a resource of the target's registry asked for `challenges` (the ping did
    /// not), and returns the endpoint that now holds them.
    pub(crate) fn learn(
        &self,
        target: &Target<'_>,
        endpoint: &Endpoint,
        challenges: Vec<Challenge>,
    ) -> Arc<Endpoint> {
        let learnt = Arc::new(Endpoint {
            base: endpoint.base.clone(),
            challenges,
        });
        self.endpoints().insert(
            (target.registry.to_string(), target.insecure),
            Arc::clone(&learnt),
        );
        learnt
    }

    /// Sends `request`, built for `out`. A request that gets no response fails in Go's words;
    /// when it was for the registry's own origin and could not connect, the endpoint is
    /// forgotten. Messages show URLs the registry handed out without their query.
    pub(crate) async fn send(
        &self,
        target: &Target<'_>,
        out: &Outgoing<'_>,
        request: RequestBuilder,
    ) -> Result<Response, Failure> {
        self.http.send(request).await.map_err(|err| {
            if out.on_origin && errors::is_connection_failure(&err) {
                self.endpoints()
                    .remove(&(target.registry.to_string(), target.insecure));
            }
            match out.dest {
                Dest::Url(_) => {
                    errors::transport_failure(out.method, &errors::without_query(&out.url), &err)
                }
                Dest::Path(_) => errors::transport_failure(out.method, &out.url, &err),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_served_elsewhere() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn requests_resolve_on_the_endpoint_and_know_their_origin() {
        let endpoint = Endpoint {
            base: Url::parse("https://reg.example:5000").expect("url"),
            challenges: Vec::new(),
        };
        let get = Method::GET;
        let out = endpoint
            .outgoing(&get, Dest::Path("/v2/app/tags/list?n=1"))
            .unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(
            out.url.as_str(),
            "https://reg.example:5000/v2/app/tags/list?n=1"
        );
        assert!(out.on_origin);
        for (url, on_origin) in [
            (
                "https://reg.example:5000/v2/app/blobs/uploads/u1?_state=x",
                true,
            ),
            ("https://storage.example/up?sig=1", false),
            ("http://reg.example:5000/v2/", false),
            ("https://reg.example/v2/", false),
        ] {
            let url = Url::parse(url).expect("url");
            let out = endpoint
                .outgoing(&get, Dest::Url(&url))
                .unwrap_or_else(|f| panic!("{f}"));
            assert_eq!(out.on_origin, on_origin, "{url}");
        }
    }
}
