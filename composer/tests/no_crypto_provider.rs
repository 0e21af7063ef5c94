//! The registry client needs no process-wide rustls crypto provider: it names ring itself. This
//! test binary never installs one (the `manifold` binary installs it at start-up for
//! everything else), so building a client here would panic if the library relied on it.

use std::sync::Arc;

use manifold_composer::registry::RegistryClient;
use manifold_config::{Config, Environment, FileConfig, Overrides};

#[test]
fn a_registry_client_builds_without_a_process_wide_crypto_provider() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    let config = Config::from_file(
        FileConfig::default(),
        "<test>",
        &Overrides::default(),
        &Environment::default(),
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    RegistryClient::new(Arc::new(config)).expect("a registry client");
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "nothing installed one on the way"
    );
}
