//! The manifest cache: ask a registry once, answer everyone else from memory, and never serve
//! one client what its own credentials could not read.
//!
//! [`ManifestCache`] has the read verbs of [`RegistryClient`] ([`ManifestCache::manifest_get`],
//! [`ManifestCache::blob_get`], each at a resolved [`Route`]) and sits in front of one. It keeps,
//! in one moka cache bounded in bytes (`[cache] max_bytes`; the `entry` module describes keys and
//! weights):
//!
//! - **content by digest**: manifests and image configs, keyed by registry, repository and
//!   digest. Immutable, so they stay until evicted for space.
//! - **tag resolutions**: tag -> (digest, media type, size), with the instant the registry last
//!   said so. Fresh for `tag_ttl`; after that one HEAD revalidates, and a GET follows only when
//!   the digest changed. The bytes live once, under the digest.
//! - **access confirmations**: per (registry, repository, credential `Identity`, TLS mode), the
//!   instant a read with that credential last succeeded. Fresh for `tag_ttl` as well.
//!
//! # Where and as whom
//!
//! Callers resolve every read into routes first (allow-list, prefix rewrites, mirrors, the
//! credential per place), trying the places in order with [`RegistryClient::first_answer`].
//! Everything here is keyed by the *effective* place: a manifest read from a mirror is cached
//! under the mirror's registry and repository, and a confirmation of access there says nothing
//! about the primary location. A configured credential has an identity of
//! its own, derived from where it is configured, never from its secret.
//!
//! # Credentials
//!
//! Content fetched with one client's credentials is served to another only once that client's
//! own access to the repository is confirmed: a fresh confirmation for its identity, or else a
//! HEAD with its credentials of the manifest (which also revalidates the tag) or blob it asked
//! for. A refused request returns the
//! registry's error (401, 403, 404), never cached bytes. Identities are salted hashes of the
//! credential (anonymous is one too); secrets are never keys, and never logged.
//!
//! # Single flight
//!
//! Concurrent requests that would make the same upstream request *with the same identity* share it
//! (the `flight` module): 50 clients adding one tag cost one manifest GET and one config GET.
//! Flights are per identity because a flight's outcome (an error especially) is that credential's
//! answer, not anyone else's; clients with different credentials each make at most their one
//! confirming request. Errors are never cached.
//!
//! # Stale if error
//!
//! Tag resolutions and confirmations are kept `tag_ttl + max_stale` (one tier, freshness checked
//! here, not by moka, so an expired entry is still there to answer). When revalidation fails
//! because the registry failed (408, 429, 5xx, unreachable: [`ErrorKind::Registry`]), an entry
//! still within `max_stale`, for an identity confirmed within `max_stale`, answers, and a warning
//! is logged; otherwise the registry's error is returned. Refusals (401, 403, 404) are always
//! returned.
//!
//! # Cost of a warm read
//!
//! A fresh tag (or a digest) for a confirmed identity with its content in memory costs no I/O
//! at all: three in-memory lookups and a hash of the credential.

mod entry;
mod flight;
mod identity;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt as _;

use crate::error::{Error, ErrorKind, Result};
use crate::oci::{self, RawManifest};
use crate::reference::ImageRef;
use crate::registry::{CredentialSource, ManifestHead, RegistryClient, Route};
use entry::{EntryExpiry, Freshness, Key, Repo, TagEntry, Value, Who};
use flight::Flights;

use identity::Identity;

/// A caching, single-flight, credential-respecting reader in front of a [`RegistryClient`];
/// cheap to clone (clones share everything).
#[derive(Clone)]
pub struct ManifestCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for ManifestCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManifestCache")
            .field("entries", &self.inner.entries.entry_count())
            .field("weighted_size", &self.inner.entries.weighted_size())
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: RegistryClient,
    entries: moka::future::Cache<Key, Value>,
    expiry: EntryExpiry,
    /// Salt of every [`Identity`] this cache derives.
    salt: [u8; 32],
    /// Tag resolutions (a HEAD, or the first GET) in flight.
    tags: Flights<(Key, Who), TagOutcome>,
    /// Manifest GETs in flight.
    manifests: Flights<(Key, Who), Arc<RawManifest>>,
    /// Manifest HEADs by digest (access confirmations) in flight.
    heads: Flights<(Key, Who), Option<ManifestHead>>,
    /// Blob GETs in flight.
    blobs: Flights<(Key, Who), Bytes>,
    /// Blob HEADs (access confirmations) in flight: true when the blob may be served.
    blob_heads: Flights<(Key, Who), bool>,
}

/// What resolving a tag found.
#[derive(Debug, Clone)]
enum TagOutcome {
    /// The tag's resolution, and its manifest when that is in memory.
    Found {
        entry: Arc<TagEntry>,
        manifest: Option<Arc<RawManifest>>,
    },
    /// The registry answered 404 to this client's HEAD.
    Missing,
}

/// One request as the cache sees it: the route (effective place, TLS mode and the one
/// credential it needs, owned, so a flight can outlive the request that started it), and the
/// keys derived from it.
#[derive(Clone)]
struct Caller {
    route: Route,
    repo: Repo,
    who: Who,
}

impl Caller {
    /// The effective reference.
    fn image(&self) -> &ImageRef {
        self.route.image()
    }

    fn access_key(&self) -> Key {
        Key::Access {
            repo: self.repo.clone(),
            who: self.who,
        }
    }

    /// The key of this reference's tag (`latest` when it names none).
    fn tag_key(&self) -> Key {
        Key::Tag {
            repo: self.repo.clone(),
            tag: self
                .image()
                .tag
                .clone()
                .unwrap_or_else(|| "latest".to_string()),
            insecure: self.who.insecure,
        }
    }

    fn manifest_key(&self, digest: &str) -> Key {
        Key::Manifest {
            repo: self.repo.clone(),
            digest: digest.to_string(),
        }
    }

    fn blob_key(&self, digest: &str) -> Key {
        Key::Blob {
            repo: self.repo.clone(),
            digest: digest.to_string(),
        }
    }
}

/// True when the registry *failed* rather than answered: it could not be reached, or it said
/// 408, 429 or 5xx. The registry client reports those as [`ErrorKind::Registry`]; refusals (401,
/// 403: `RegistryUnauthorized`; 404: `RegistryNotFound`; other 4xx: `RegistryRefused`), bad
/// content and bad input are answers and must reach the client.
fn is_upstream_failure(e: &Error) -> bool {
    e.kind() == ErrorKind::Registry
}

impl ManifestCache {
    /// A cache in front of `client`, sized and timed by `settings` (`[cache]`).
    pub fn new(client: RegistryClient, settings: &manifold_config::Cache) -> Self {
        let expiry = EntryExpiry {
            tag_ttl: settings.tag_ttl.get(),
            max_stale: settings.max_stale.get(),
        };
        let entries = moka::future::Cache::builder()
            .name("manifold-manifests")
            .max_capacity(settings.max_bytes.0)
            .weigher(entry::weigh)
            .expire_after(expiry)
            .build();
        ManifestCache {
            inner: Arc::new(Inner {
                client,
                entries,
                expiry,
                salt: rand::random(),
                tags: Flights::default(),
                manifests: Flights::default(),
                heads: Flights::default(),
                blobs: Flights::default(),
                blob_heads: Flights::default(),
            }),
        }
    }

    /// The registry client behind the cache: for resolving reads into routes, and for what must
    /// not be cached (writes, and reads of a push destination: what it has *now*).
    pub fn client(&self) -> &RegistryClient {
        &self.inner.client
    }

    /// [`RegistryClient::manifest_get`] through the cache: the exact bytes of the manifest the
    /// route names, from memory when the tag is fresh (or the reference is a digest) and the
    /// caller's access is confirmed.
    pub async fn manifest_get(&self, route: &Route) -> Result<RawManifest> {
        let caller = self.inner.caller(route);
        let m = match &route.image().digest {
            Some(digest) => self.inner.manifest_by_digest(&caller, digest).await?,
            None => self.inner.manifest_by_tag(&caller).await?,
        };
        Ok(RawManifest::clone(&m))
    }

    /// [`RegistryClient::blob_get`] through the cache (image configs: small blobs).
    ///
    /// A client whose access to the repository is not confirmed yet is served cached bytes
    /// after its own HEAD of the blob succeeds; in the add path the manifest read just before
    /// has confirmed access already, so the config comes from memory.
    pub async fn blob_get(&self, route: &Route, digest: &str) -> Result<Bytes> {
        oci::validate_digest(digest)?;
        let caller = self.inner.caller(route);
        let key = caller.blob_key(digest);
        if let Some(b) = self.inner.blob(&key).await {
            if self.inner.access(&caller).await == Freshness::Fresh {
                return Ok(b);
            }
            // Someone else fetched it: this caller's own HEAD must succeed first. On 404 the
            // GET below gives the registry's own words.
            if self.inner.confirm_blob(&caller, digest).await? {
                return Ok(b);
            }
        }
        self.inner.load_blob(&caller, digest).await
    }

    /// Forgets what the tag of `written` (the route manifold just wrote an index to: a push)
    /// resolved to, so the next read asks the registry. Reads of the same reference resolve to
    /// the same effective place, which is what the cache keys by.
    pub(crate) async fn invalidate_tag(&self, written: &Route) {
        let place = written.image();
        let repo = Repo {
            registry: place.registry.clone(),
            repository: place.repository.clone(),
        };
        let tag = place.tag.clone().unwrap_or_else(|| "latest".to_string());
        for insecure in [false, true] {
            self.inner
                .entries
                .invalidate(&Key::Tag {
                    repo: repo.clone(),
                    tag: tag.clone(),
                    insecure,
                })
                .await;
        }
    }

    /// The entries' total weight in bytes, after moka's pending maintenance (evictions) ran.
    #[cfg(test)]
    async fn weighted_size(&self) -> u64 {
        self.inner.entries.run_pending_tasks().await;
        self.inner.entries.weighted_size()
    }

    /// The number of entries, after moka's pending maintenance ran.
    #[cfg(test)]
    async fn entry_count(&self) -> u64 {
        self.inner.entries.run_pending_tasks().await;
        self.inner.entries.entry_count()
    }
}

/// The resolution a GET of a tag gives: the manifest it returned, as of `at`.
fn tag_entry_of(m: &RawManifest, at: Instant) -> Arc<TagEntry> {
    Arc::new(TagEntry {
        head: ManifestHead::of(m),
        validated_at: at,
    })
}

impl Inner {
    fn caller(&self, route: &Route) -> Caller {
        let image = route.image();
        let identity = match route.credential_source() {
            CredentialSource::Anonymous => Identity::Anonymous,
            CredentialSource::Client => Identity::of(&self.salt, route.auth()),
            CredentialSource::Configured(label) => Identity::configured(&self.salt, label),
        };
        Caller {
            route: route.clone(),
            repo: Repo {
                registry: image.registry.clone(),
                repository: image.repository.clone(),
            },
            who: Who {
                identity,
                insecure: route.insecure(),
            },
        }
    }

    // --- lookups (memory only) ------------------------------------------------------------

    async fn manifest(&self, key: &Key) -> Option<Arc<RawManifest>> {
        match self.entries.get(key).await {
            Some(Value::Manifest(m)) => Some(m),
            _ => None,
        }
    }

    async fn blob(&self, key: &Key) -> Option<Bytes> {
        match self.entries.get(key).await {
            Some(Value::Blob(b)) => Some(b),
            _ => None,
        }
    }

    /// The tag's resolution unless it is past `tag_ttl + max_stale`.
    async fn tag(&self, key: &Key) -> Option<Arc<TagEntry>> {
        match self.entries.get(key).await {
            Some(Value::Tag(t))
                if self.expiry.freshness(t.validated_at, Instant::now()) != Freshness::Expired =>
            {
                Some(t)
            }
            _ => None,
        }
    }

    /// The tag's resolution when it is fresh *and* the caller's access is confirmed: the case
    /// that answers without any I/O.
    async fn fresh_tag_for(&self, caller: &Caller) -> Option<Arc<TagEntry>> {
        let entry = self.tag(&caller.tag_key()).await?;
        let fresh = self.expiry.freshness(entry.validated_at, Instant::now()) == Freshness::Fresh;
        (fresh && self.access(caller).await == Freshness::Fresh).then_some(entry)
    }

    /// How the caller's access to its repository stands (`Expired` when never confirmed).
    async fn access(&self, caller: &Caller) -> Freshness {
        match self.entries.get(&caller.access_key()).await {
            Some(Value::Access(at)) => self.expiry.freshness(at, Instant::now()),
            _ => Freshness::Expired,
        }
    }

    // --- writes ---------------------------------------------------------------------------

    /// Records that a read by `caller` that started at `at` succeeded.
    async fn confirm(&self, caller: &Caller, at: Instant) {
        self.entries
            .insert(caller.access_key(), Value::Access(at))
            .await;
    }

    async fn put_tag(&self, caller: &Caller, entry: Arc<TagEntry>) {
        self.entries
            .insert(caller.tag_key(), Value::Tag(entry))
            .await;
    }

    fn warn_stale(&self, caller: &Caller, what: &str, err: &Error) {
        // The error text never contains credentials (the registry client guarantees it), and
        // the identity is not logged at all.
        tracing::warn!(
            registry = %caller.repo.registry,
            repository = %caller.repo.repository,
            reference = %what,
            error = %err,
            "registry failed; answering from the cache (stale)"
        );
    }

    // --- flows ----------------------------------------------------------------------------

    async fn manifest_by_tag(self: &Arc<Self>, caller: &Caller) -> Result<Arc<RawManifest>> {
        if let Some(entry) = self.fresh_tag_for(caller).await {
            if let Some(m) = self
                .manifest(&caller.manifest_key(&entry.head.digest))
                .await
            {
                return Ok(m);
            }
            // Resolution fresh, bytes evicted: fetch them by digest.
            let target = caller.route.with_digest(&entry.head.digest);
            return self.load_manifest(caller, target).await;
        }
        match self.resolve_tag(caller).await? {
            TagOutcome::Found {
                manifest: Some(m), ..
            } => Ok(m),
            TagOutcome::Found {
                entry,
                manifest: None,
            } => {
                let target = caller.route.with_digest(&entry.head.digest);
                self.load_manifest(caller, target).await
            }
            // The HEAD said 404: a GET gives the registry's own words (or, if the tag appeared
            // meanwhile, the manifest).
            TagOutcome::Missing => self.load_manifest(caller, caller.route.clone()).await,
        }
    }

    async fn manifest_by_digest(
        self: &Arc<Self>,
        caller: &Caller,
        digest: &str,
    ) -> Result<Arc<RawManifest>> {
        if let Some(m) = self.manifest(&caller.manifest_key(digest)).await {
            if self.access(caller).await == Freshness::Fresh {
                return Ok(m);
            }
            // Someone else fetched it: this caller's own HEAD must succeed first.
            if self.head_digest(caller, digest).await?.is_some() {
                return Ok(m);
            }
        }
        self.load_manifest(caller, caller.route.clone()).await
    }

    /// Revalidates (HEAD) or first resolves (GET: one request gives resolution and bytes) the
    /// caller's tag with the caller's credentials, once per (tag, identity) at a time;
    /// stale-if-error.
    async fn resolve_tag(self: &Arc<Self>, caller: &Caller) -> Result<TagOutcome> {
        let inner = Arc::clone(self);
        let c = caller.clone();
        let key = (caller.tag_key(), caller.who);
        self.tags
            .run(key, move || {
                async move {
                    let started = Instant::now();
                    let tag_key = c.tag_key();
                    let known = inner.tag(&tag_key).await;
                    let access = inner.access(&c).await;
                    if let Some(e) = &known {
                        // A flight that just ended may have done this work already.
                        let fresh =
                            inner.expiry.freshness(e.validated_at, started) == Freshness::Fresh;
                        if fresh && access == Freshness::Fresh {
                            let manifest = inner.manifest(&c.manifest_key(&e.head.digest)).await;
                            return Ok(TagOutcome::Found {
                                entry: Arc::clone(e),
                                manifest,
                            });
                        }
                    }
                    let result = if known.is_some() {
                        inner.head_tag(&c, started).await
                    } else {
                        inner.get_tag(&c, started).await
                    };
                    match (result, known) {
                        (Err(err), Some(e))
                            if is_upstream_failure(&err) && access != Freshness::Expired =>
                        {
                            inner.warn_stale(&c, c.image().reference(), &err);
                            let manifest = inner.manifest(&c.manifest_key(&e.head.digest)).await;
                            Ok(TagOutcome::Found { entry: e, manifest })
                        }
                        (result, _) => result,
                    }
                }
                .boxed()
            })
            .await
    }

    /// One HEAD of the caller's tag; on success the resolution and the caller's access are
    /// recorded.
    async fn head_tag(&self, caller: &Caller, started: Instant) -> Result<TagOutcome> {
        let Some(head) = self.client.manifest_head(&caller.route).await? else {
            return Ok(TagOutcome::Missing);
        };
        let entry = Arc::new(TagEntry {
            head,
            validated_at: started,
        });
        self.put_tag(caller, Arc::clone(&entry)).await;
        self.confirm(caller, started).await;
        // Unchanged digest: the bytes are (normally) still here, and no GET follows.
        let manifest = self
            .manifest(&caller.manifest_key(&entry.head.digest))
            .await;
        Ok(TagOutcome::Found { entry, manifest })
    }

    /// One GET of the caller's tag; on success bytes, resolution and access are recorded.
    async fn get_tag(&self, caller: &Caller, started: Instant) -> Result<TagOutcome> {
        let m = Arc::new(self.client.manifest_get(&caller.route).await?);
        let entry = tag_entry_of(&m, started);
        let key = caller.manifest_key(&m.digest);
        self.record_manifest(caller, key, &m, Some(Arc::clone(&entry)), started)
            .await;
        Ok(TagOutcome::Found {
            entry,
            manifest: Some(m),
        })
    }

    /// Stores a manifest the caller just read under `key`, the resolution of the caller's tag
    /// when it was read by tag, and the caller's access.
    async fn record_manifest(
        &self,
        caller: &Caller,
        key: Key,
        m: &Arc<RawManifest>,
        tag: Option<Arc<TagEntry>>,
        started: Instant,
    ) {
        self.entries
            .insert(key, Value::Manifest(Arc::clone(m)))
            .await;
        if let Some(entry) = tag {
            self.put_tag(caller, entry).await;
        }
        self.confirm(caller, started).await;
    }

    /// GETs `target` (the caller's repository, by digest or by the caller's tag) with the
    /// caller's credentials, once per (target, identity) at a time; stale-if-error for digests.
    async fn load_manifest(
        self: &Arc<Self>,
        caller: &Caller,
        target: Route,
    ) -> Result<Arc<RawManifest>> {
        let digest = target.image().digest.clone();
        let key = match &digest {
            Some(d) => caller.manifest_key(d),
            None => caller.tag_key(),
        };
        let inner = Arc::clone(self);
        let c = caller.clone();
        self.manifests
            .run((key, caller.who), move || {
                async move {
                    let started = Instant::now();
                    let cached = match &digest {
                        Some(d) => inner.manifest(&c.manifest_key(d)).await,
                        None => None,
                    };
                    if let Some(m) = &cached {
                        // A flight that just ended may have loaded it for this caller.
                        if inner.access(&c).await == Freshness::Fresh {
                            return Ok(Arc::clone(m));
                        }
                    }
                    match inner.client.manifest_get(&target).await {
                        Ok(m) => {
                            let m = Arc::new(m);
                            let tag = match &digest {
                                Some(_) => None,
                                None => Some(tag_entry_of(&m, started)),
                            };
                            let key = c.manifest_key(digest.as_deref().unwrap_or(&m.digest));
                            inner.record_manifest(&c, key, &m, tag, started).await;
                            Ok(m)
                        }
                        Err(err) => match cached {
                            Some(m)
                                if is_upstream_failure(&err)
                                    && inner.access(&c).await != Freshness::Expired =>
                            {
                                inner.warn_stale(&c, target.image().reference(), &err);
                                Ok(m)
                            }
                            _ => Err(err),
                        },
                    }
                }
                .boxed()
            })
            .await
    }

    /// HEADs the caller's digest reference with its credentials, confirming its access on
    /// success, once per (digest, identity) at a time; stale-if-error when the bytes are here.
    async fn head_digest(
        self: &Arc<Self>,
        caller: &Caller,
        digest: &str,
    ) -> Result<Option<ManifestHead>> {
        let digest = digest.to_string();
        let key = (caller.manifest_key(&digest), caller.who);
        let inner = Arc::clone(self);
        let c = caller.clone();
        self.heads
            .run(key, move || {
                async move {
                    let started = Instant::now();
                    match inner.client.manifest_head(&c.route).await {
                        Ok(Some(found)) => {
                            inner.confirm(&c, started).await;
                            Ok(Some(found))
                        }
                        Ok(None) => Ok(None),
                        Err(err) if is_upstream_failure(&err) => {
                            let cached = inner.manifest(&c.manifest_key(&digest)).await;
                            match cached {
                                Some(m) if inner.access(&c).await != Freshness::Expired => {
                                    inner.warn_stale(&c, &digest, &err);
                                    Ok(Some(ManifestHead::of(&m)))
                                }
                                _ => Err(err),
                            }
                        }
                        Err(err) => Err(err),
                    }
                }
                .boxed()
            })
            .await
    }

    /// HEADs a blob with the caller's credentials, confirming its access on success, once per
    /// (blob, identity) at a time: true when the cached blob may be served to the caller
    /// (confirmed, or stale-if-error), false on 404.
    async fn confirm_blob(self: &Arc<Self>, caller: &Caller, digest: &str) -> Result<bool> {
        let key = caller.blob_key(digest);
        let inner = Arc::clone(self);
        let c = caller.clone();
        let digest = digest.to_string();
        self.blob_heads
            .run((key, caller.who), move || {
                async move {
                    let started = Instant::now();
                    match inner.client.blob_head(&c.route, &digest).await {
                        Ok(Some(_)) => {
                            inner.confirm(&c, started).await;
                            Ok(true)
                        }
                        Ok(None) => Ok(false),
                        Err(err)
                            if is_upstream_failure(&err)
                                && inner.access(&c).await != Freshness::Expired =>
                        {
                            inner.warn_stale(&c, &digest, &err);
                            Ok(true)
                        }
                        Err(err) => Err(err),
                    }
                }
                .boxed()
            })
            .await
    }

    /// GETs a blob with the caller's credentials, once per (blob, identity) at a time;
    /// stale-if-error when the bytes are here.
    async fn load_blob(self: &Arc<Self>, caller: &Caller, digest: &str) -> Result<Bytes> {
        let key = caller.blob_key(digest);
        let inner = Arc::clone(self);
        let c = caller.clone();
        let digest = digest.to_string();
        self.blobs
            .run((key.clone(), caller.who), move || {
                async move {
                    let started = Instant::now();
                    let cached = inner.blob(&key).await;
                    if let Some(b) = &cached {
                        if inner.access(&c).await == Freshness::Fresh {
                            return Ok(b.clone());
                        }
                    }
                    match inner.client.blob_get(&c.route, &digest).await {
                        Ok(b) => {
                            inner.entries.insert(key, Value::Blob(b.clone())).await;
                            inner.confirm(&c, started).await;
                            Ok(b)
                        }
                        Err(err) => match cached {
                            Some(b)
                                if is_upstream_failure(&err)
                                    && inner.access(&c).await != Freshness::Expired =>
                            {
                                inner.warn_stale(&c, &digest, &err);
                                Ok(b)
                            }
                            _ => Err(err),
                        },
                    }
                }
                .boxed()
            })
            .await
    }
}

#[cfg(test)]
mod tests;
