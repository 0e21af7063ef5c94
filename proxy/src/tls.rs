//! The rustls settings of `tls://` listeners, built from the `[tls]` section.
//!
//! Certificate, key and client CA are read and checked here, at start-up, so a bad file stops
//! manifold with a message that names the key, instead of a panic inside pingora: the server
//! certificate is handed to pingora as a ready resolver, and pingora never reads the files.
//! With `client_ca_file`, rustls requires a client certificate that chains to that CA (TLS 1.2
//! and 1.3); [`crate::identity::ClientCertSubject`] then records its subject as the client's
//! identity.

use std::path::Path;
use std::sync::Arc;

use manifold_config::TlsFiles;
use pingora::listeners::tls::TlsSettings;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::RootCertStore;

use crate::identity::ClientCertSubject;

/// Reads every certificate of a PEM file.
fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// The server's certificate chain and key, checked to belong together.
pub fn server_key(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let chain = certificates(&files.cert_file, "tls.cert_file")?;
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| {
        format!(
            "tls.key_file {}: no usable PEM private key ({e})",
            files.key_file.display()
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        format!(
            "tls.key_file {} does not fit tls.cert_file {}: {e}",
            files.key_file.display(),
            files.cert_file.display()
        )
    })
}

/// The verifier that requires a client certificate chaining to `client_ca_file`.
pub fn client_verifier(
    ca_file: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_file, "tls.client_ca_file")? {
        roots.add(cert).map_err(|e| {
            format!(
                "tls.client_ca_file {}: not a usable CA certificate: {e}",
                ca_file.display()
            )
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| format!("tls.client_ca_file {}: {e}", ca_file.display()))
}

/// pingora's settings for one `tls://` listener.
pub fn settings(files: &TlsFiles) -> Result<TlsSettings, String> {
    let key = server_key(files)?;
    let mut settings = TlsSettings::with_callbacks(Box::new(ClientCertSubject))
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    settings.set_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    if let Some(ca) = &files.client_ca_file {
        settings.set_client_cert_verifier(client_verifier(ca)?);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let c = dir.join("cert.pem");
        let k = dir.join("key.pem");
        std::fs::write(&c, cert).expect("write cert");
        std::fs::write(&k, key).expect("write key");
        TlsFiles {
            cert_file: c,
            key_file: k,
            client_ca_file: None,
        }
    }

    /// A self-signed certificate and its key made by `openssl` (a test dependency) in `dir`.
    fn openssl_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl failed");
        (cert, key)
    }

    #[test]
    fn keys_must_fit_their_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a_cert, a_key) = openssl_pair(dir.path(), "a");
        let (_, b_key) = openssl_pair(dir.path(), "b");
        let good = TlsFiles {
            cert_file: a_cert.clone(),
            key_file: a_key,
            client_ca_file: Some(a_cert.clone()),
        };
        server_key(&good).expect("a matching pair");
        settings(&good).expect("settings with a client CA");
        let wrong = TlsFiles {
            key_file: b_key,
            ..good
        };
        let e = server_key(&wrong).expect_err("mismatch");
        assert!(e.contains("does not fit tls.cert_file"), "{e}");
    }

    #[test]
    fn bad_files_are_explained_with_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = files(dir.path(), "not pem", "not pem");
        let e = server_key(&f).expect_err("no cert");
        assert!(e.starts_with("tls.cert_file "), "{e}");
        assert!(e.contains("no PEM certificate"), "{e}");
        let missing = TlsFiles {
            cert_file: PathBuf::from("/nonexistent/cert.pem"),
            ..f.clone()
        };
        assert!(server_key(&missing)
            .expect_err("missing")
            .starts_with("tls.cert_file /nonexistent/cert.pem"));
        let e = client_verifier(&dir.path().join("key.pem")).expect_err("no CA");
        assert!(e.starts_with("tls.client_ca_file "), "{e}");
    }
}
