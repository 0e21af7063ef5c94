//! The bottom layer: the HTTP clients, and one debug line for every request they send.
//!
//! Two pooled clients: one verifying certificates against the platform roots, one not (for
//! registries that are insecure by configuration or by the client's `tlsVerify=false`; the
//! handshake signatures are still checked). Every
//! request of the layers above (pings, token requests, registry requests) goes out here and is
//! logged with its method, its URL without the query (upload locations carry opaque state and
//! sometimes pre-signed storage signatures; token requests carry the account) and its status.
//! Headers are never logged, so credentials cannot reach the log.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, Url};

use super::super::{errors, tls};
use crate::error::{Error, ErrorKind, Result};

/// How long establishing a connection (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read may wait for the next bytes. Not a total timeout: big blobs take long.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections are closed after this.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on pooled connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// The HTTP clients.
#[derive(Debug)]
pub(crate) struct Http {
    verified: reqwest::Client,
    unverified: reqwest::Client,
}

fn build_client(verify: bool) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("manifold/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(TCP_KEEPALIVE)
        .tls_backend_preconfigured(tls::client_config(verify)?)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Registry,
                format!("building the registry HTTP client: {e}"),
            )
        })
}

impl Http {
    /// Both clients, with TLS settings that name ring themselves (see `tls`).
    pub(crate) fn new() -> Result<Self> {
        Ok(Http {
            verified: build_client(true)?,
            unverified: build_client(false)?,
        })
    }

    /// A request to `url`, over unverified TLS (or plain HTTP) when `insecure`.
    pub(crate) fn request(&self, insecure: bool, method: Method, url: Url) -> RequestBuilder {
        let client = if insecure {
            &self.unverified
        } else {
            &self.verified
        };
        client.request(method, url)
    }

    /// Sends `request` and logs it.
    pub(crate) async fn send(&self, request: RequestBuilder) -> reqwest::Result<Response> {
        let (client, request) = request.build_split();
        let request = request?;
        let method = request.method().clone();
        let url = errors::without_query(request.url());
        let sent = client.execute(request).await;
        match &sent {
            Ok(resp) => tracing::debug!(
                %method,
                %url,
                status = resp.status().as_u16(),
                "registry request"
            ),
            // The caller reports the error itself, in its own words.
            Err(_) => tracing::debug!(%method, %url, "registry request got no response"),
        }
        sent
    }
}
