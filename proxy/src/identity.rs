//! Who a client is, established from its connection and never from anything it sends:
//!
//! * over a unix socket, the peer's uid and gid as the kernel reports them (`SO_PEERCRED`):
//!   `uid:N`;
//! * over TLS with a client certificate (only requested, and then required, when
//!   `[tls] client_ca_file` is set), the subject of that certificate once rustls has verified it
//!   against the CA: `cert:CN=runner`;
//! * over TCP (or TLS without a client certificate) from a loopback address, the user owning the
//!   client's socket as the kernel lists it (see `socket_owner`): `uid:N` too, with the user's
//!   primary group from the user database as its gid (the kernel keeps no group for a TCP
//!   socket; supplementary groups count nowhere, as for unix peers). Only when the kernel does
//!   not tell (the client left, the tables cannot be read) is it `local`;
//! * anything else: `anonymous`.
//!
//! [`identify`] is the pure decision over what the connection revealed ([`PeerFacts`]);
//! [`of_session`] gathers those facts from a pingora session; [`ClientCertSubject`] is the TLS
//! handshake callback that records a verified certificate's subject on the connection.

mod socket_owner;

use std::any::Any;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use async_trait::async_trait;
use manifold_config::is_loopback;
use manifold_config::policy::Identity;
use pingora::listeners::TlsAccept;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::tls::TlsRef;
use pingora::proxy::Session;

/// What a connection tells about its client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerFacts {
    /// The subject of a client certificate the TLS layer verified.
    pub verified_subject: Option<String>,
    /// The connection came through a unix socket.
    pub unix: bool,
    /// The unix peer's (uid, gid), when the kernel told them.
    pub unix_credentials: Option<(u32, u32)>,
    /// The TCP peer's address.
    pub tcp_peer: Option<IpAddr>,
    /// The user owning a loopback TCP client's socket and that user's primary group, when the
    /// kernel told the user.
    pub tcp_owner: Option<(u32, Option<u32>)>,
}

/// The identity these facts establish. A verified certificate wins (it is the stronger
/// statement); a unix peer whose credentials cannot be read is anonymous, never "local"; a
/// loopback TCP client is its socket's owner, and `local` only when that is not known.
pub fn identify(facts: &PeerFacts) -> Identity {
    if let Some(subject) = &facts.verified_subject {
        return Identity::Cert(subject.clone());
    }
    if facts.unix {
        return match facts.unix_credentials {
            Some((uid, gid)) => Identity::Unix {
                uid,
                gid: Some(gid),
            },
            None => Identity::Anonymous,
        };
    }
    match (facts.tcp_peer, facts.tcp_owner) {
        (Some(ip), Some((uid, gid))) if is_loopback(ip) => Identity::Unix { uid, gid },
        (Some(ip), None) if is_loopback(ip) => Identity::Local,
        _ => Identity::Anonymous,
    }
}

/// The identity text of a certificate subject: `CN=<common name>` (the first CN), or the whole
/// subject (`O=acme, OU=ci`) when it has no CN; `None` for a certificate that does not parse or
/// has an empty subject. Control characters become `?`, so the text is safe in messages and
/// logs.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer as _, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let text = match subject.iter_common_name().next() {
        Some(cn) => format!("CN={}", cn.as_str().ok()?),
        None => subject.to_string(),
    };
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    (!text.trim().is_empty() && text != "CN=").then_some(text)
}

/// The subject of the client certificate verified during the TLS handshake, kept on the
/// connection (pingora's `SslDigest` extension) for every request on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSubject(pub String);

/// The TLS handshake callback that records [`VerifiedSubject`]. It runs after rustls accepted
/// the handshake, so a certificate it sees has been verified against `client_ca_file`; without
/// a client CA no certificate is requested and it records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCertSubject;

#[async_trait]
impl TlsAccept for ClientCertSubject {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let der = tls.peer_certificate_der()?;
        let subject = certificate_subject(der)?;
        Some(Arc::new(VerifiedSubject(subject)))
    }
}

/// Gathers the facts of the session's connection and returns its identity.
pub fn of_session(session: &Session) -> Identity {
    let mut facts = PeerFacts::default();
    if let Some(digest) = session.digest() {
        facts.verified_subject = digest
            .ssl_digest
            .as_ref()
            .and_then(|ssl| ssl.extension.get::<VerifiedSubject>())
            .map(|s| s.0.clone());
    }
    // A unix client's own address is unnamed, which pingora reports as no address at all; the
    // listener's (local) address tells the transport.
    let unix = matches!(session.server_addr(), Some(SocketAddr::Unix(_)))
        || matches!(session.client_addr(), Some(SocketAddr::Unix(_)));
    match session.client_addr() {
        Some(SocketAddr::Inet(addr)) if !unix => {
            facts.tcp_peer = Some(addr.ip());
            if facts.verified_subject.is_none() && is_loopback(addr.ip()) {
                if let Some(SocketAddr::Inet(server)) = session.server_addr() {
                    facts.tcp_owner = loopback_owner(*addr, *server);
                }
            }
        }
        _ if unix => {
            facts.unix = true;
            facts.unix_credentials = session
                .stream()
                // `as_ref` first: the boxed stream's own type is wanted, not the box's.
                .and_then(|s| {
                    s.as_ref()
                        .as_any()
                        .downcast_ref::<pingora::protocols::l4::stream::Stream>()
                })
                .and_then(peer_credentials);
        }
        _ => {}
    }
    identify(&facts)
}

/// The user owning the client end of the loopback TCP connection from `client` to `server`, and
/// that user's primary group (`None` for a uid the user database does not list).
fn loopback_owner(
    client: std::net::SocketAddr,
    server: std::net::SocketAddr,
) -> Option<(u32, Option<u32>)> {
    let uid = socket_owner::owner(client, server)?;
    let group = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|user| user.gid.as_raw());
    Some((uid, group))
}

/// The uid and gid of the process at the other end of a unix stream socket (`SO_PEERCRED`).
#[allow(unsafe_code)]
fn peer_credentials(stream: &impl AsRawFd) -> Option<(u32, u32)> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    use std::os::fd::BorrowedFd;
    // SAFETY: the descriptor belongs to `stream`, which is borrowed for the whole call, so it
    // stays open (and means this socket) for as long as the borrowed handle exists; the handle
    // is only read from and does not outlive this function.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let creds = getsockopt(&fd, PeerCredentials).ok()?;
    Some((creds.uid(), creds.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PeerFacts {
        PeerFacts::default()
    }

    #[test]
    fn unix_peers_are_their_uid() {
        let f = PeerFacts {
            unix: true,
            unix_credentials: Some((1000, 100)),
            ..facts()
        };
        assert_eq!(
            identify(&f),
            Identity::Unix {
                uid: 1000,
                gid: Some(100)
            }
        );
        let f = PeerFacts {
            unix: true,
            ..facts()
        };
        assert_eq!(identify(&f), Identity::Anonymous, "unknown peer");
    }

    #[test]
    fn loopback_tcp_clients_are_the_user_owning_their_socket() {
        let f = PeerFacts {
            tcp_peer: Some("127.0.0.1".parse().expect("ip")),
            tcp_owner: Some((65534, Some(65534))),
            ..facts()
        };
        let nobody = identify(&f);
        assert_eq!(
            nobody,
            Identity::Unix {
                uid: 65534,
                gid: Some(65534)
            }
        );
        assert_eq!(nobody.to_string(), "uid:65534");
        let f = PeerFacts {
            tcp_peer: Some("::1".parse().expect("ip")),
            tcp_owner: Some((1000, None)),
            ..facts()
        };
        assert_eq!(
            identify(&f),
            Identity::Unix {
                uid: 1000,
                gid: None
            }
        );
        // An owner never makes a remote client local or a user.
        let f = PeerFacts {
            tcp_peer: Some("10.0.0.1".parse().expect("ip")),
            tcp_owner: Some((0, Some(0))),
            ..facts()
        };
        assert_eq!(identify(&f), Identity::Anonymous);
        // A verified certificate still wins.
        let f = PeerFacts {
            verified_subject: Some("CN=runner".into()),
            tcp_peer: Some("127.0.0.1".parse().expect("ip")),
            tcp_owner: Some((0, Some(0))),
            ..facts()
        };
        assert_eq!(identify(&f), Identity::Cert("CN=runner".into()));
    }

    #[test]
    fn tcp_peers_are_local_only_on_loopback_when_their_user_is_not_known() {
        for (ip, want) in [
            ("127.0.0.1", Identity::Local),
            ("127.8.9.10", Identity::Local),
            ("::1", Identity::Local),
            ("::ffff:127.0.0.1", Identity::Local),
            ("10.0.0.1", Identity::Anonymous),
            ("::ffff:10.0.0.1", Identity::Anonymous),
            ("2001:db8::1", Identity::Anonymous),
        ] {
            let f = PeerFacts {
                tcp_peer: Some(ip.parse().expect("ip")),
                ..facts()
            };
            assert_eq!(identify(&f), want, "{ip}");
        }
        assert_eq!(identify(&facts()), Identity::Anonymous);
    }

    #[test]
    fn a_verified_certificate_wins() {
        let f = PeerFacts {
            verified_subject: Some("CN=runner".into()),
            tcp_peer: Some("127.0.0.1".parse().expect("ip")),
            ..facts()
        };
        assert_eq!(identify(&f), Identity::Cert("CN=runner".into()));
    }

    /// Self-signed, subject `O=acme, CN=runner`.
    const WITH_CN: &str = "\
-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUSy/PA/FbPzqaM93zs+OYzOtBi/kwCgYIKoZIzj0EAwIw
IDENMAsGA1UECgwEYWNtZTEPMA0GA1UEAwwGcnVubmVyMCAXDTI2MTEyNzA0NDA1
NFoYDzIxMjYxMTAzMDQ0MDU0WjAgMQ0wCwYDVQQKDARhY21lMQ8wDQYDVQQDDAZy
dW5uZXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARDRzgZ+99r9CdKIm9ZtNqJ
tnUq6FARuRbpaPBTdWmiyu+IG3D13yoxx3mQMS2F3m0cdi6fn/mmB/MjuoB9MdHq
o1MwUTAdBgNVHQ4EFgQUaV7MFOi+ZG1iBpVYyC3dC0GOz4swHwYDVR0jBBgwFoAU
aV7MFOi+ZG1iBpVYyC3dC0GOz4swDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAg/zsLyTvJb23eLLbxg6eWu9sXapGxULosrYr7EUPPJUCIHaxdyp2
QzX1GoYrA26w2h7luHkXxQh6LefWyuvXvy2s
-----END CERTIFICATE-----";

    /// Self-signed, subject `O=acme, OU=ci`.
    const WITHOUT_CN: &str = "\
-----BEGIN CERTIFICATE-----
MIIBkDCCATWgAwIBAgIUJ96HjMi/HhBFiaWDGO7nEC0LTa8wCgYIKoZIzj0EAwIw
HDENMAsGA1UECgwEYWNtZTELMAkGA1UECwwCY2kwIBcNMjYxMTI3MDQ0MDU0WhgP
MjEyNjExMDMwNDQwNTRaMBwxDTALBgNVBAoMBGFjbWUxCzAJBgNVBAsMAmNpMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEckKm18fZ4ewU4fbcixAJaZdO7u/quQJ+
3N2eH/myCN28eoLGESg4lrOf+lyVEjBpE01Uld8nPN0UtHyjqM43F6NTMFEwHQYD
VR0OBBYEFBGEquq97Itwg57mx1ZgD9SWgpQgMB8GA1UdIwQYMBaAFBGEquq97Itw
g57mx1ZgD9SWgpQgMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIh
AKehA7qX4sBAsODWZth/+7dc6Nrm3T8aW9ch3t8+bWvHAiEAzrCRfIwup/4e0co0
EjcK7Bw/YBAi8RXXyobkjNct7EU=
-----END CERTIFICATE-----";

    fn der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::{pem::PemObject as _, CertificateDer};
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("test certificate")
            .to_vec()
    }

    #[test]
    fn certificate_subjects_are_their_common_name() {
        assert_eq!(
            certificate_subject(&der(WITH_CN)).as_deref(),
            Some("CN=runner")
        );
        assert_eq!(
            certificate_subject(&der(WITHOUT_CN)).as_deref(),
            Some("O=acme, OU=ci")
        );
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(certificate_subject(b""), None);
        assert_eq!(certificate_subject(b"not a certificate"), None);
    }
}
