//! The words of Go's `net/http`, `net` and `crypto/x509` for a request that got no response.
//!
//! podman's push and add report a registry that cannot be reached in Go's words, wrapped by
//! containers/image: `pinging container registry H: Get "https://H/v2/": dial tcp H: connect:
//! connection refused`. The podman CLI prints that message and podman-py raises it; podman's own
//! API test (`test/apiv2/15-manifest.at`) pushes to a registry with a self-signed certificate and
//! compares the error body's `cause` with `x509: certificate signed by unknown authority`, and
//! users search for these phrases (`server gave HTTP response to HTTPS client` is what makes
//! them reach for `--tls-verify=false`). The registry client classifies its errors (TLS, I/O,
//! DNS, timeout) and takes the texts from here; each comes as a [`NetText`]: the detail for the
//! message and the innermost phrase for the `cause`.

use std::io;

/// A failure in Go's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetText {
    /// What follows `Get "URL": ` in the message, e.g. `dial tcp h:443: connect: connection
    /// refused`.
    pub detail: String,
    /// The innermost phrase, for the error body's `cause`: `connection refused`.
    pub cause: String,
}

impl NetText {
    /// One phrase as both detail and cause, where nothing wraps the innermost error: Go's
    /// `http: server gave HTTP response to HTTPS client`, or a failure Go has no words for,
    /// described by the library that saw it.
    pub fn same(text: String) -> Self {
        NetText {
            detail: text.clone(),
            cause: text,
        }
    }
}

/// Go's `url.Error` text: `Get "https://h/v2/": <detail>`. The operation is the method as Go
/// names it (`Get`, `Head`, `Put`, `Patch`).
pub fn url_error(method: &str, url: &str, detail: &str) -> String {
    let mut op = String::with_capacity(method.len());
    for (i, ch) in method.chars().enumerate() {
        op.push(if i == 0 {
            ch.to_ascii_uppercase()
        } else {
            ch.to_ascii_lowercase()
        });
    }
    format!("{op} \"{url}\": {detail}")
}

/// The address as Go's dialer prints it: `host:port`, or the host alone without a port.
pub fn dial_address(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// An I/O failure Go's `net` package has words for, on a connection to `address`
/// ([`dial_address`]); `None` for the kinds it has none for.
pub fn io_failure(kind: io::ErrorKind, address: &str) -> Option<NetText> {
    let (detail, cause) = match kind {
        io::ErrorKind::ConnectionRefused => (
            format!("dial tcp {address}: connect: connection refused"),
            "connection refused",
        ),
        io::ErrorKind::ConnectionReset => (
            "read: connection reset by peer".to_string(),
            "connection reset by peer",
        ),
        io::ErrorKind::ConnectionAborted => {
            ("read: connection aborted".to_string(), "connection aborted")
        }
        io::ErrorKind::TimedOut => return Some(timeout(Some(address))),
        io::ErrorKind::UnexpectedEof => ("EOF".to_string(), "EOF"),
        io::ErrorKind::BrokenPipe => ("write: broken pipe".to_string(), "broken pipe"),
        _ => return None,
    };
    Some(NetText {
        detail,
        cause: cause.to_string(),
    })
}

/// A host name that does not resolve.
pub fn no_such_host(host: &str) -> NetText {
    NetText {
        detail: format!("dial tcp: lookup {host}: no such host"),
        cause: "no such host".to_string(),
    }
}

/// A timeout: while connecting to `address` (`Some`), or while waiting for the response.
pub fn timeout(connecting_to: Option<&str>) -> NetText {
    let detail = match connecting_to {
        Some(address) => format!("dial tcp {address}: i/o timeout"),
        None => "net/http: timeout awaiting response".to_string(),
    };
    NetText {
        detail,
        cause: "i/o timeout".to_string(),
    }
}

/// Why a server's certificate was refused, as `crypto/x509` distinguishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateProblem {
    /// No trusted root signed it.
    UnknownAuthority,
    /// It does not name the host (the host is given).
    NotValidForName(String),
    /// Outside its validity period.
    ExpiredOrNotYetValid,
    /// Anything else, described by the TLS library.
    Other(String),
}

/// A refused certificate: `tls: failed to verify certificate: x509: ...`, with the `x509: ...`
/// phrase as cause.
pub fn certificate(problem: &CertificateProblem) -> NetText {
    let x509 = match problem {
        CertificateProblem::UnknownAuthority => {
            "x509: certificate signed by unknown authority".to_string()
        }
        CertificateProblem::NotValidForName(host) => {
            format!("x509: certificate is not valid for {host}")
        }
        CertificateProblem::ExpiredOrNotYetValid => {
            "x509: certificate has expired or is not yet valid".to_string()
        }
        CertificateProblem::Other(what) => format!("x509: {what}"),
    };
    NetText {
        detail: format!("tls: failed to verify certificate: {x509}"),
        cause: x509,
    }
}

/// The first bytes back were not a TLS record: the server speaks plain HTTP.
pub fn plain_http_answer() -> NetText {
    NetText::same("http: server gave HTTP response to HTTPS client".to_string())
}

/// Any other TLS failure, described by the TLS library: `tls: <what>`.
pub fn tls_failure(what: &str) -> NetText {
    NetText::same(format!("tls: {what}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;

    #[test]
    fn url_errors_name_the_method_as_go_does() {
        assert_eq!(
            url_error("GET", "https://h/v2/", "EOF"),
            r#"Get "https://h/v2/": EOF"#
        );
        assert_eq!(url_error("HEAD", "u", "x"), r#"Head "u": x"#);
        assert_eq!(url_error("PATCH", "u", "x"), r#"Patch "u": x"#);
    }

    #[test]
    fn certificate_and_plain_http_texts() {
        let t = certificate(&CertificateProblem::UnknownAuthority);
        assert_eq!(t.cause, "x509: certificate signed by unknown authority");
        assert_eq!(
            t.detail,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        let t = certificate(&CertificateProblem::NotValidForName("h".into()));
        assert_eq!(t.cause, "x509: certificate is not valid for h");
        let t = plain_http_answer();
        assert_eq!(t.detail, "http: server gave HTTP response to HTTPS client");
        assert_eq!(t.cause, t.detail);
    }

    #[test]
    fn io_and_dial_texts() {
        let address = dial_address("127.0.0.1", Some(5001));
        let t = io_failure(io::ErrorKind::ConnectionRefused, &address).unwrap();
        assert_eq!(
            t.detail,
            "dial tcp 127.0.0.1:5001: connect: connection refused"
        );
        assert_eq!(t.cause, "connection refused");
        assert_eq!(io_failure(io::ErrorKind::Other, &address), None);
        assert_eq!(dial_address("h", None), "h");
        assert_eq!(
            no_such_host("nx.invalid").detail,
            "dial tcp: lookup nx.invalid: no such host"
        );
        assert_eq!(timeout(Some("h:443")).detail, "dial tcp h:443: i/o timeout");
        assert_eq!(timeout(None).detail, "net/http: timeout awaiting response");
    }
}
