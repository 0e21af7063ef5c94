//! Set-up the composer's registry tests share: configurations written as TOML, clients,
//! accesses, references, and the verbs by image (reads, writes and the push-side copy) resolved
//! as production resolves them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use manifold_composer::cache::ManifestCache;
use manifold_composer::credentials::{Auth, Credentials};
use manifold_composer::oci::RawManifest;
use manifold_composer::reference::ImageRef;
use manifold_composer::registry::{
    Access, BlobCopy, BlobSource, ManifestHead, RegistryClient, Route,
};
use manifold_composer::Result;
use manifold_config::{parse_file, Config, Environment, Overrides};
use manifold_tests::fake_registry::{FakeRegistry, Fault};
use manifold_tests::PushedImage;

/// The client's `tlsVerify=false`: the fake registries speak plain HTTP.
pub const INSECURE: Option<bool> = Some(false);

/// A runtime for tests that set up synchronously and then run the async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Loads `toml` as manifold's configuration with only `vars` in the environment.
pub fn load(toml: &str, vars: &[(&str, &str)]) -> Arc<Config> {
    manifold_tests::init();
    let file = parse_file(toml, "test.toml").unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let env = Environment {
        vars: Some(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Environment::default()
    };
    let config = Config::from_file(file, "test.toml", &Overrides::default(), &env)
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
    Arc::new(config)
}

/// A client over `toml` (see [`load`]).
pub fn client(toml: &str) -> RegistryClient {
    RegistryClient::new(load(toml, &[])).expect("a registry client")
}

/// `[push]` with `retries` after the first attempt, starting at `backoff_ms`.
pub fn retries(retries: u32, backoff_ms: u64) -> String {
    format!("[push]\nretries = {retries}\nretry_backoff_ms = {backoff_ms}\n")
}

/// A manifest cache over a client of `config`, with `config`'s cache settings.
pub fn cache(config: &Arc<Config>) -> ManifestCache {
    let client = RegistryClient::new(Arc::clone(config)).expect("a registry client");
    ManifestCache::new(client, &config.cache)
}

/// A client whose retry policy is `retries` after the first attempt, starting at `backoff_ms`.
pub fn retrying_client(retries: u32, backoff_ms: u64) -> RegistryClient {
    client(&self::retries(retries, backoff_ms))
}

/// A `[[registry]]` entry making `location` an insecure (plain HTTP) registry, with `extra`
/// lines.
pub fn insecure_entry(location: &str, extra: &str) -> String {
    format!("[[registry]]\nlocation = \"{location}\"\ninsecure = true\n{extra}\n")
}

/// A reference that parses.
pub fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `host/repo`.
pub fn repo(reg: &FakeRegistry, repo: &str) -> ImageRef {
    image(&format!("{}/{repo}", reg.host()))
}

/// What a request brings: `credentials` and the client's `tlsVerify`.
pub fn access(credentials: &Credentials, tls_verify: Option<bool>) -> Access<'_> {
    Access {
        credentials,
        tls_verify,
    }
}

/// `user`'s Basic credentials for any registry.
pub fn basic(user: &str, password: &str) -> Credentials {
    let mut c = Credentials::anonymous();
    c.any_registry = Some(Auth::basic(user, password));
    c
}

/// `user`'s Basic credentials for `host` only.
pub fn basic_at(host: &str, user: &str, password: &str) -> Credentials {
    let mut c = Credentials::anonymous();
    c.per_registry
        .insert(host.to_string(), Auth::basic(user, password));
    c
}

/// The verbs by image, for the registry client and for the cache in front of one (whose reads
/// go through the cache, and writes to its client): a read runs at the first read route that
/// answers (mirrors, then the primary location), a write or an existence check at the write
/// route, as production resolves them.
pub trait ByImage {
    /// The client that resolves, and writes.
    fn client(&self) -> &RegistryClient;
    /// The manifest GET at one route.
    async fn manifest_at(&self, route: &Route) -> Result<RawManifest>;
    /// The blob GET at one route.
    async fn blob_at(&self, route: &Route, digest: &str) -> Result<Bytes>;

    /// The manifest `image` names, from the first place that has it, with that place.
    async fn get_manifest_with_route(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
    ) -> Result<(RawManifest, Route)> {
        self.client()
            .first_answer(image, access, |route| async move {
                self.manifest_at(&route).await
            })
            .await
    }

    /// The manifest `image` names, from the first place that has it.
    async fn get_manifest(&self, image: &ImageRef, access: &Access<'_>) -> Result<RawManifest> {
        Ok(self.get_manifest_with_route(image, access).await?.0)
    }

    /// Blob `digest` of `image`'s repository, from the first place that has it.
    async fn get_blob(&self, image: &ImageRef, digest: &str, access: &Access<'_>) -> Result<Bytes> {
        let read = self
            .client()
            .first_answer(image, access, |route| async move {
                self.blob_at(&route, digest).await
            });
        Ok(read.await?.0)
    }

    /// A HEAD of the manifest at `image`'s write route: what a push destination has.
    async fn head_manifest(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
    ) -> Result<Option<ManifestHead>> {
        let route = self.client().write_route(image, access).await?;
        self.client().manifest_head(&route).await
    }

    /// Writes a manifest at `image`'s write route.
    async fn put_manifest(
        &self,
        image: &ImageRef,
        bytes: Bytes,
        media_type: &str,
        access: &Access<'_>,
    ) -> Result<String> {
        let route = self.client().write_route(image, access).await?;
        self.client().manifest_put(&route, bytes, media_type).await
    }
}

impl ByImage for RegistryClient {
    fn client(&self) -> &RegistryClient {
        self
    }

    async fn manifest_at(&self, route: &Route) -> Result<RawManifest> {
        self.manifest_get(route).await
    }

    async fn blob_at(&self, route: &Route, digest: &str) -> Result<Bytes> {
        self.blob_get(route, digest).await
    }
}

impl ByImage for ManifestCache {
    fn client(&self) -> &RegistryClient {
        ManifestCache::client(self)
    }

    async fn manifest_at(&self, route: &Route) -> Result<RawManifest> {
        self.manifest_get(route).await
    }

    async fn blob_at(&self, route: &Route, digest: &str) -> Result<Bytes> {
        self.blob_get(route, digest).await
    }
}

/// [`RegistryClient::blob_put`] from the first place of `source` that has the blob into `dest`'s
/// write route for `dest_access`, resolved first as a push resolves its destination.
pub async fn copy_into(
    c: &RegistryClient,
    source: &ImageRef,
    dest: &ImageRef,
    digest: &str,
    size: u64,
    source_access: &Access<'_>,
    dest_access: &Access<'_>,
) -> manifold_composer::Result<BlobCopy> {
    let route = &c.write_route(dest, dest_access).await?;
    let put = c.first_answer(source, source_access, |from| async move {
        c.blob_put(route, digest, size, BlobSource::Route(&from), false)
            .await
    });
    Ok(put.await?.0)
}

/// Copies `img`'s first layer from `src` into `dst`, reading with `source_credentials` and
/// writing with `dest_credentials`.
pub async fn copy_first_layer(
    c: &RegistryClient,
    (src, source_credentials): (&ImageRef, &Credentials),
    (dst, dest_credentials): (&ImageRef, &Credentials),
    img: &PushedImage,
) -> manifold_composer::Result<BlobCopy> {
    let (digest, size) = (&img.layer_digests[0], img.layer_sizes[0]);
    let source_access = access(source_credentials, INSECURE);
    let dest_access = access(dest_credentials, INSECURE);
    copy_into(c, src, dst, digest, size, &source_access, &dest_access).await
}

/// Copies `img`'s first layer from `source`'s `app` into `dest`'s `dst`, anonymously.
pub async fn copy_layer(
    c: &RegistryClient,
    source: &FakeRegistry,
    dest: &FakeRegistry,
    img: &PushedImage,
) -> manifold_composer::Result<BlobCopy> {
    let anonymous = Credentials::anonymous();
    let (src, dst) = (repo(source, "app"), repo(dest, "dst"));
    copy_first_layer(c, (&src, &anonymous), (&dst, &anonymous), img).await
}

/// A Basic-auth registry (`user`, `password`) whose blob `GET`s in `app` are redirected to blob
/// storage on another host (an anonymous registry holding `blob`); returns both and the blob's
/// digest.
pub fn redirecting_registry(
    blob: &[u8],
    user: &str,
    password: &str,
) -> (FakeRegistry, FakeRegistry, String) {
    let storage = FakeRegistry::anonymous();
    let digest = storage.put_blob("app", blob);
    let registry = FakeRegistry::basic(user, password);
    let to = format!("{}/v2/app/blobs/{digest}?sig=abc", storage.url());
    registry.inject("GET", "/v2/app/blobs/*", usize::MAX, Fault::Redirect(to));
    (registry, storage, digest)
}

/// Checks that the blob read through [`redirecting_registry`] sent credentials to the registry,
/// which accepted them and redirected, and none to the storage it redirected to.
#[track_caller]
pub fn assert_credentials_stayed_home(registry: &FakeRegistry, storage: &FakeRegistry) {
    let at_registry: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.line.path.contains("/blobs/"))
        .collect();
    assert_eq!(at_registry.len(), 1, "{at_registry:#?}");
    assert_eq!(at_registry[0].line.status, 307, "{at_registry:#?}");
    assert_eq!(at_registry[0].authorization.as_deref(), Some("Basic"));
    let at_storage = storage.requests();
    assert_eq!(at_storage.len(), 1, "{at_storage:#?}");
    assert!(
        at_storage[0].line.uri.ends_with("?sig=abc"),
        "{at_storage:#?}"
    );
    assert_eq!(at_storage[0].authorization, None, "{at_storage:#?}");
}

/// What a request brings when the configuration decides TLS: `credentials`, no `tlsVerify`.
pub fn tls_by_configuration(credentials: &Credentials) -> Access<'_> {
    access(credentials, None)
}
