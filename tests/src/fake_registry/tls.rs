//! The fake registry's TLS: a self-signed certificate for 127.0.0.1, made in process. No client
//! trusts it, which is the point: a secure client must refuse it, an insecure one may use it.

use std::sync::Arc;

use tokio_rustls::rustls;

/// A TLS acceptor with a fresh self-signed certificate (an end-entity certificate, not a CA, so
/// verifiers report an unknown issuer).
pub(crate) fn acceptor() -> tokio_rustls::TlsAcceptor {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("make a self-signed certificate");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key.into())
    .expect("a certificate rustls accepts");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
