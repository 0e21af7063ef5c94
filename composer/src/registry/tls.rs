//! The TLS settings of registry connections, built with the ring provider named explicitly.
//!
//! reqwest (built without a provider of its own) would otherwise take rustls' process-wide
//! default provider and panic when the program installed none. Naming ring here keeps the
//! library independent of start-up code: the `manifold` binary installs the process default
//! once for everything else, and a library user needs nothing.
//!
//! What reqwest would build itself is rebuilt here: certificates checked against the platform's
//! roots (`rustls-platform-verifier`, reqwest's own choice), TLS 1.2 and 1.3, ALPN offering
//! HTTP/2 and HTTP/1.1. For insecure registries the certificate is accepted whatever it is, but
//! the handshake signatures are still checked against it, so the server at least holds the key
//! of the certificate it shows.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, ErrorKind, Result};

/// The rustls client settings: certificates verified against the platform's roots when
/// `verify`, accepted unverified otherwise (insecure registries only).
pub(crate) fn client_config(verify: bool) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let failed = |e: rustls::Error| {
        Error::new(
            ErrorKind::Registry,
            format!("building the registry TLS settings: {e}"),
        )
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        Arc::new(rustls_platform_verifier::Verifier::new(provider.clone()).map_err(failed)?)
    } else {
        Arc::new(AnyCertificate(provider.clone()))
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(failed)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any server certificate; checks the handshake signatures made with its key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// That no process-wide provider is needed is proven by `tests/no_crypto_provider.rs`,
    /// whose process never installs one (some unit tests here use the harness, which does).
    #[test]
    fn settings_offer_http2_and_make_a_client() {
        for verify in [true, false] {
            let config = client_config(verify).expect("settings");
            assert_eq!(
                config.alpn_protocols,
                [b"h2".to_vec(), b"http/1.1".to_vec()]
            );
            reqwest::Client::builder()
                .tls_backend_preconfigured(config)
                .build()
                .expect("a client");
        }
    }
}
