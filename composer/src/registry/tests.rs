//! Tests of the client as a whole: what it prints, and that it and every verb's future can
//! cross threads.

use std::sync::Arc;

use bytes::Bytes;
use manifold_config::Config;

use super::{Access, BlobSource, RegistryClient};
use crate::credentials::Credentials;
use crate::oci;
use crate::reference::ImageRef;

#[test]
fn debug_prints_nothing_inside() {
    let config = Arc::new(test_config());
    let client = RegistryClient::new(config).expect("client");
    assert_eq!(format!("{client:?}"), "RegistryClient { .. }");
}

fn test_config() -> Config {
    Config::from_file(
        manifold_config::FileConfig::default(),
        "<test>",
        &manifold_config::Overrides::default(),
        &manifold_config::Environment::default(),
    )
    .unwrap_or_else(|e| panic!("config: {e:?}"))
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn client_and_futures_can_cross_threads() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    send_sync_clone::<RegistryClient>();
    let client = RegistryClient::new(Arc::new(test_config())).expect("client");
    let creds = Credentials::anonymous();
    let access = Access {
        credentials: &creds,
        tls_verify: None,
    };
    let image = ImageRef::parse("127.0.0.1:1/app:v1").expect("reference");
    // Built, checked for Send, dropped unpolled: no I/O happens.
    assert_send(&client.write_route(&image, &access));
    assert_send(&client.first_answer(&image, &access, |route| {
        let client = &client;
        async move { client.manifest_get(&route).await }
    }));
    let route = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(client.write_route(&image, &access))
        .expect("a route for an allowed registry");
    assert_send(&client.manifest_head(&route));
    assert_send(&client.manifest_put(&route, Bytes::from_static(b"{}"), oci::OCI_INDEX));
    assert_send(&client.repository_exists(&route));
    assert_send(&client.blob_head(&route, "sha256:00"));
    assert_send(&client.blob_get(&route, "sha256:00"));
    assert_send(&client.blob_put(&route, "sha256:00", 1, BlobSource::Route(&route), false));
    let memory = BlobSource::Memory {
        bytes: Bytes::from_static(b"{}"),
        from: &image,
    };
    assert_send(&client.blob_put(&route, "sha256:00", 2, memory, true));
}
