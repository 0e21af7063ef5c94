//! Turning what went wrong on the wire into composer [`Error`]s.
//!
//! Texts follow containers/image, because podman clients show them and some compare them
//! (`docs/go-compat.md#registry-error-texts`, `docs/go-compat.md#network-error-texts`):
//! a registry's own words from its error body (`manifest unknown`, `unauthorized: authentication
//! required`), and for transport failures Go's `net/http` words (`Get "https://h/v2/": dial tcp
//! h: connect: connection refused`, `x509: ...`), which come from [`manifold_gocompat::nethttp`]
//! once the failure is classified here. The innermost phrase becomes the error's `cause`;
//! callers add context such as `reading manifest X in Y`.
//! Nothing here ever includes request headers, so secrets cannot leak into messages.

use std::error::Error as StdError;
use std::io;
use std::time::SystemTime;

use manifold_gocompat::nethttp::{self, CertificateProblem, NetText};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::challenge::{Challenge, Scheme};
use super::transport::retry::{self, Failure};
use crate::error::{Error, ErrorKind};

/// How much of an error body is read; registries send a few hundred bytes.
pub(crate) const MAX_ERROR_BODY: usize = 64 << 10;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// `MANIFEST_UNKNOWN` -> `manifest unknown`, as distribution's `ErrorCode.Error()` prints codes.
fn code_words(code: &str) -> String {
    code.to_ascii_lowercase().replace('_', " ")
}

/// One registry error as text: `code words: message`, or just the message when it only repeats
/// the code (`manifest unknown`).
fn entry_text(code: &str, message: &str) -> String {
    let words = code_words(code);
    if message.is_empty() {
        words
    } else if words.is_empty() || words == message.to_ascii_lowercase() {
        message.to_string()
    } else {
        format!("{words}: {message}")
    }
}

fn kind_for(status: StatusCode, code: Option<&str>) -> ErrorKind {
    match code {
        Some("UNAUTHORIZED" | "DENIED") => return ErrorKind::RegistryUnauthorized,
        Some(c) if c.ends_with("_UNKNOWN") => return ErrorKind::RegistryNotFound,
        _ => {}
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::RegistryUnauthorized,
        StatusCode::NOT_FOUND => ErrorKind::RegistryNotFound,
        other => refused_or_failed(other),
    }
}

/// Whether an error status is the registry's answer ([`ErrorKind::RegistryRefused`]: a client
/// error it would repeat) or a failure ([`ErrorKind::Registry`]: the statuses a retry may get
/// past, and anything else unexpected).
pub(crate) fn refused_or_failed(status: StatusCode) -> ErrorKind {
    if status.is_client_error() && !retry::retryable_status(status) {
        ErrorKind::RegistryRefused
    } else {
        ErrorKind::Registry
    }
}

/// The error for a registry response with an unwanted status, from its `WWW-Authenticate`
/// challenges and (the start of) its body. Message and cause are the same text; callers add
/// context.
///
/// Like containers/image, an RFC 6750 `error` in a Bearer challenge wins over the body, JSON
/// `{"errors":[...]}` bodies give the registry's words, a 401 without them is `unauthorized:
/// authentication required`, and anything else reports the HTTP status.
pub(crate) fn from_status(status: StatusCode, challenges: &[Challenge], body: &[u8]) -> Error {
    if status.is_client_error() {
        for c in challenges.iter().filter(|c| c.scheme == Scheme::Bearer) {
            let (code, default) = match c.error() {
                Some("invalid_token") => ("UNAUTHORIZED", "authentication required"),
                Some("insufficient_scope") => {
                    ("DENIED", "requested access to the resource is denied")
                }
                _ => continue,
            };
            let message = c
                .param("error_description")
                .filter(|d| !d.is_empty())
                .unwrap_or(default);
            return Error::new(kind_for(status, Some(code)), entry_text(code, message));
        }
    }
    let entries = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default();
    match entries.as_slice() {
        [] if status == StatusCode::UNAUTHORIZED => Error::new(
            ErrorKind::RegistryUnauthorized,
            "unauthorized: authentication required",
        ),
        [] if status == StatusCode::TOO_MANY_REQUESTS => {
            Error::new(ErrorKind::Registry, "too many requests to registry")
        }
        [] => Error::new(
            kind_for(status, None),
            format!("received unexpected HTTP status: {status}"),
        ),
        [only] => Error::new(
            kind_for(status, Some(&only.code)),
            entry_text(&only.code, &only.message),
        ),
        // distribution's `errcode.Errors` prints several errors this way (seen in podman's
        // "manifest blob unknown" push failures).
        [first, ..] => {
            let mut text = String::from("errors:\n");
            for e in &entries {
                text.push_str(&entry_text(&e.code, &e.message));
                text.push('\n');
            }
            Error::new(kind_for(status, Some(&first.code)), text)
        }
    }
}

/// The challenges of every `WWW-Authenticate` header of a response.
pub(crate) fn challenges_of(headers: &reqwest::header::HeaderMap) -> Vec<Challenge> {
    super::challenge::parse_all(
        headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// [`from_status`] for a response, reading at most [`MAX_ERROR_BODY`] of its body. A failure
/// while reading the body still reports the status.
pub(crate) async fn from_response(mut resp: reqwest::Response) -> Error {
    let status = resp.status();
    let challenges = challenges_of(resp.headers());
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    from_status(status, &challenges, &body)
}

/// `host:port` as Go's dialer prints it.
fn dial_address(url: &Url) -> String {
    nethttp::dial_address(url.host_str().unwrap_or(""), url.port_or_known_default())
}

/// A TLS failure in the words of Go's `crypto/tls` and `crypto/x509`.
fn describe_tls(err: &rustls::Error, url: &Url) -> NetText {
    use rustls::CertificateError as C;
    let problem = match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => CertificateProblem::UnknownAuthority,
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                CertificateProblem::NotValidForName(url.host_str().unwrap_or("").to_string())
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => CertificateProblem::ExpiredOrNotYetValid,
            other => CertificateProblem::Other(format!("{other:?}")),
        },
        // The first bytes back were not a TLS record: the server speaks plain HTTP.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            return nethttp::plain_http_answer();
        }
        other => return nethttp::tls_failure(&other.to_string()),
    };
    nethttp::certificate(&problem)
}

fn describe_io(err: &io::Error, url: &Url) -> Option<NetText> {
    nethttp::io_failure(err.kind(), &dial_address(url))
}

/// Every error in `err`'s chain. `io::Error::source()` skips the error it wraps (rustls reports
/// through `io::Error::other(rustls::Error)`, sometimes twice wrapped), so wrapped errors are
/// followed through `get_ref()` as well.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        if out.len() > 32 {
            break;
        }
        out.push(e);
        current = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &'a (dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// A failed request in Go's words where Go has them (TLS, I/O, DNS, timeouts); anything else is
/// described by its innermost source.
fn describe(err: &reqwest::Error, url: &Url) -> NetText {
    let all = chain(err);
    if let Some(tls) = all.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return describe_tls(tls, url);
    }
    // The innermost I/O error with a kind Go has words for.
    if let Some(found) = all
        .iter()
        .rev()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .find_map(|e| describe_io(e, url))
    {
        return found;
    }
    if all.iter().any(|e| e.to_string().starts_with("dns error")) {
        return nethttp::no_such_host(url.host_str().unwrap_or(""));
    }
    if err.is_timeout() {
        let address = err.is_connect().then(|| dial_address(url));
        return nethttp::timeout(address.as_deref());
    }
    NetText::same(
        all.last()
            .map_or_else(|| err.to_string(), |e| e.to_string()),
    )
}

/// The error for a request that got no (complete) response: `Get "URL": detail`, like Go's
/// `url.Error`, with the innermost phrase (`connection refused`, `x509: ...`) as cause.
pub(crate) fn transport(method: &Method, url: &Url, err: &reqwest::Error) -> Error {
    let text = describe(err, url);
    Error::with_message(
        ErrorKind::Registry,
        nethttp::url_error(method.as_str(), url.as_str(), &text.detail),
        text.cause,
    )
}

/// True when `err` failed before any response arrived, so the endpoint (scheme, challenges) may
/// have changed and should be probed again.
pub(crate) fn is_connection_failure(err: &reqwest::Error) -> bool {
    err.is_connect() || err.is_timeout()
}

/// True when a failed request may well succeed if sent again: the connection was refused, reset
/// or closed early, or timed out. TLS failures (a certificate will not become valid by waiting,
/// and a plain-HTTP server will not start speaking TLS) and unknown hosts are final, as are
/// errors of our own making (building the request, redirect loops).
pub(crate) fn is_transient(err: &reqwest::Error) -> bool {
    if err.is_builder() || err.is_redirect() || err.is_decode() {
        return false;
    }
    let all = chain(err);
    if all
        .iter()
        .any(|e| e.downcast_ref::<rustls::Error>().is_some())
    {
        return false;
    }
    if all.iter().any(|e| e.to_string().starts_with("dns error")) {
        return false;
    }
    err.is_connect() || err.is_timeout() || err.is_request() || err.is_body()
}

/// [`transport`] as a [`Failure`]: transient when [`is_transient`] says so.
pub(crate) fn transport_failure(method: &Method, url: &Url, err: &reqwest::Error) -> Failure {
    let error = transport(method, url, err);
    if is_transient(err) {
        Failure::transient(error, None)
    } else {
        Failure::fatal(error)
    }
}

/// [`from_response`] as a [`Failure`]: transient for `408`, `429` and `5xx` (with the registry's
/// `Retry-After`, if any), final otherwise.
pub(crate) async fn failure_from_response(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let after = retry::retry_after(status, resp.headers(), SystemTime::now());
    let error = from_response(resp).await;
    if retry::retryable_status(status) {
        Failure::busy(status, error, after)
    } else {
        Failure::fatal(error)
    }
}

/// `url` without its query and fragment, for messages and logs: upload locations carry opaque
/// state and, on some registries, pre-signed storage signatures that must not be shown.
pub(crate) fn without_query(url: &Url) -> Url {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::challenge;

    fn status(code: u16, www: &[&str], body: &str) -> Error {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
        from_status(
            status,
            &challenge::parse_all(www.iter().copied()),
            body.as_bytes(),
        )
    }

    #[test]
    fn manifest_unknown_keeps_the_registrys_words() {
        let e = status(
            404,
            &[],
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"amd64"}}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
        assert_eq!(e.cause(), "manifest unknown");
        assert_eq!(e.message(), "manifest unknown");
        let e = e.context("reading manifest amd64 in 127.0.0.1:5001/app");
        assert_eq!(
            e.message(),
            "reading manifest amd64 in 127.0.0.1:5001/app: manifest unknown"
        );
    }

    #[test]
    fn name_unknown_and_blob_unknown_prefix_the_code() {
        let e = status(
            404,
            &[],
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"nope"}}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
        assert_eq!(
            e.cause(),
            "name unknown: repository name not known to registry"
        );
        let e = status(
            400,
            &[],
            r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
        assert_eq!(e.cause(), "manifest blob unknown: blob unknown to registry");
    }

    #[test]
    fn several_errors_are_listed_like_errcode_errors() {
        let e = status(
            400,
            &[],
            r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
        );
        assert_eq!(
            e.cause(),
            "errors:\nmanifest blob unknown: blob unknown to registry\nmanifest blob unknown: blob unknown to registry\n"
        );
    }

    #[test]
    fn unauthorized_body_and_bare_401() {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        let e = status(401, &[r#"Basic realm="r""#], body);
        assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
        assert_eq!(e.cause(), "unauthorized: authentication required");
        let e = status(401, &[], "");
        assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
        assert_eq!(e.cause(), "unauthorized: authentication required");
        let e = status(401, &[], "<html>nope</html>");
        assert_eq!(e.cause(), "unauthorized: authentication required");
    }

    #[test]
    fn bearer_error_parameter_wins_over_the_body() {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let e = status(
            401,
            &[
                r#"Bearer realm="t",service="s",scope="repository:a:pull",error="insufficient_scope""#,
            ],
            body,
        );
        assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
        assert_eq!(
            e.cause(),
            "denied: requested access to the resource is denied"
        );
        let e = status(
            401,
            &[r#"Bearer realm="t",error="invalid_token",error_description="token expired""#],
            body,
        );
        assert_eq!(e.cause(), "unauthorized: token expired");
        // A challenge without `error` defers to the body.
        let e = status(401, &[r#"Bearer realm="t""#], body);
        assert_eq!(e.cause(), "unauthorized: authentication required");
    }

    #[test]
    fn denied_is_unauthorized_kind() {
        let e = status(
            403,
            &[],
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RegistryUnauthorized);
        assert_eq!(
            e.cause(),
            "denied: requested access to the resource is denied"
        );
    }

    #[test]
    fn bodies_that_are_not_registry_json_report_the_status() {
        let e = status(502, &[], "<html>bad gateway</html>");
        assert_eq!(e.kind(), ErrorKind::Registry);
        assert_eq!(
            e.cause(),
            "received unexpected HTTP status: 502 Bad Gateway"
        );
        let e = status(404, &[], "404 page not found\n");
        assert_eq!(e.kind(), ErrorKind::RegistryNotFound);
        assert_eq!(e.cause(), "received unexpected HTTP status: 404 Not Found");
        let e = status(500, &[], r#"{"errors":[]}"#);
        assert_eq!(
            e.cause(),
            "received unexpected HTTP status: 500 Internal Server Error"
        );
        let e = status(429, &[], "");
        assert_eq!(e.cause(), "too many requests to registry");
        let e = status(500, &[], r#"{"errors":"#);
        assert_eq!(e.kind(), ErrorKind::Registry);
    }

    #[test]
    fn unknown_codes_and_empty_messages() {
        let e = status(400, &[], r#"{"errors":[{"code":"SIZE_INVALID"}]}"#);
        assert_eq!(e.cause(), "size invalid");
        assert_eq!(e.kind(), ErrorKind::RegistryRefused);
        let e = status(400, &[], r#"{"errors":[{"message":"just words"}]}"#);
        assert_eq!(e.cause(), "just words");
    }

    #[test]
    fn client_errors_are_answers_and_retryable_statuses_failures() {
        let body = r#"{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}"#;
        assert_eq!(status(400, &[], body).kind(), ErrorKind::RegistryRefused);
        assert_eq!(status(405, &[], "").kind(), ErrorKind::RegistryRefused);
        assert_eq!(status(409, &[], "").kind(), ErrorKind::RegistryRefused);
        assert_eq!(status(408, &[], "").kind(), ErrorKind::Registry);
        assert_eq!(status(429, &[], "").kind(), ErrorKind::Registry);
        assert_eq!(status(503, &[], body).kind(), ErrorKind::Registry);
        // An error code still says more than the status.
        let unknown = r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#;
        assert_eq!(
            status(400, &[], unknown).kind(),
            ErrorKind::RegistryNotFound
        );
    }

    #[test]
    fn tls_and_io_descriptions() {
        let url = Url::parse("https://127.0.0.1:5001/v2/").expect("url");
        let text = describe_tls(
            &rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            &url,
        );
        assert_eq!(text.cause, "x509: certificate signed by unknown authority");
        assert_eq!(
            text.detail,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        let text = describe_tls(
            &rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            &url,
        );
        assert_eq!(
            text.detail,
            "http: server gave HTTP response to HTTPS client"
        );
        assert_eq!(text.cause, text.detail);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let text = describe_io(&refused, &url).expect("described");
        assert_eq!(
            text.detail,
            "dial tcp 127.0.0.1:5001: connect: connection refused"
        );
        assert_eq!(text.cause, "connection refused");
        let plain = Url::parse("http://localhost/v2/").expect("url");
        let text = describe_io(&refused, &plain).expect("described");
        assert_eq!(
            text.detail,
            "dial tcp localhost:80: connect: connection refused"
        );
    }
}
