//! What the cache holds: keys, values, their weight in bytes and their lifetimes (pure).
//!
//! One moka cache holds four kinds of entries, so that one byte budget bounds all of them:
//!
//! - manifests and blobs (image configs) by registry, repository and digest: immutable, so
//!   they never expire by time and leave only when evicted for space;
//! - tag resolutions (tag -> digest, media type, size) by registry, repository, tag and TLS
//!   mode, each with the instant it was last confirmed by the registry;
//! - access confirmations by registry, repository, credential [`Identity`] and TLS mode, each
//!   with the instant a read with that credential last succeeded.
//!
//! Tag resolutions and access confirmations are *fresh* for `tag_ttl` after that instant. The
//! cache keeps them for `tag_ttl + max_stale` (one tier, freshness checked by the reader rather
//! than by moka) because an expired entry must still be there to answer while the registry
//! fails; past that moka drops them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;

use super::identity::Identity;
use crate::oci::RawManifest;
use crate::registry::ManifestHead;

/// A repository at a registry: where content lives and what access is granted to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Repo {
    /// Registry host (`127.0.0.1:5001`, `docker.io`).
    pub registry: String,
    /// Repository path.
    pub repository: String,
}

/// Who reads: the credential's identity, and whether the read may be insecure (unverified TLS
/// or plain HTTP). The TLS mode is part of it so that nothing learnt over an insecure channel
/// answers a client that asked for verified TLS without that client's own (secure) request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Who {
    /// The credential's identity.
    pub identity: Identity,
    /// The read goes over unverified TLS or plain HTTP.
    pub insecure: bool,
}

/// A cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A manifest by digest (the digest it was asked for, which its bytes match).
    Manifest { repo: Repo, digest: String },
    /// A blob (an image config) by digest.
    Blob { repo: Repo, digest: String },
    /// A tag's resolution, learnt in one TLS mode.
    Tag {
        repo: Repo,
        tag: String,
        insecure: bool,
    },
    /// A confirmation that `who` may read `repo`.
    Access { repo: Repo, who: Who },
}

impl Key {
    /// Bytes of text in the key, for its weight.
    fn text_len(&self) -> usize {
        let repo_len = |r: &Repo| r.registry.len() + r.repository.len();
        match self {
            Key::Manifest { repo, digest } | Key::Blob { repo, digest } => {
                repo_len(repo) + digest.len()
            }
            Key::Tag { repo, tag, .. } => repo_len(repo) + tag.len(),
            Key::Access { repo, .. } => repo_len(repo) + 32,
        }
    }

    /// True for content addressed by digest, which never changes.
    fn is_immutable(&self) -> bool {
        matches!(self, Key::Manifest { .. } | Key::Blob { .. })
    }
}

/// What a tag pointed at, and when the registry last said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagEntry {
    /// The manifest the tag resolved to.
    pub head: ManifestHead,
    /// When the registry last confirmed this resolution.
    pub validated_at: Instant,
}

/// A cache value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A manifest's exact bytes.
    Manifest(Arc<RawManifest>),
    /// A blob's bytes.
    Blob(Bytes),
    /// A tag resolution.
    Tag(Arc<TagEntry>),
    /// An access confirmation: when a read with the identity last succeeded.
    Access(Instant),
}

/// What every entry costs beyond its bytes: moka's bookkeeping, the key and value structs.
/// A nominal figure; it keeps many tiny entries (confirmations) from being free.
pub(crate) const ENTRY_OVERHEAD: usize = 256;

/// The weight of an entry in bytes, for moka's `weigher`: the content's length plus the key's
/// text plus [`ENTRY_OVERHEAD`], saturating at `u32::MAX` (moka's weight type).
pub(crate) fn weigh(key: &Key, value: &Value) -> u32 {
    let payload = match value {
        Value::Manifest(m) => m.bytes.len() + m.digest.len() + m.media_type.len(),
        Value::Blob(b) => b.len(),
        Value::Tag(t) => t.head.digest.len() + t.head.media_type.len(),
        Value::Access(_) => 0,
    };
    let total = payload
        .saturating_add(key.text_len())
        .saturating_add(ENTRY_OVERHEAD);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Per-entry lifetimes: content by digest lives until evicted, tag resolutions and access
/// confirmations for `tag_ttl + max_stale` after they were (re)written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryExpiry {
    /// How long a resolution or confirmation is fresh.
    pub tag_ttl: Duration,
    /// How long past that it may answer while the registry fails.
    pub max_stale: Duration,
}

impl EntryExpiry {
    /// How long an entry under `key` is kept after it is written.
    pub(crate) fn lifetime(&self, key: &Key) -> Option<Duration> {
        if key.is_immutable() {
            None
        } else {
            Some(self.tag_ttl.saturating_add(self.max_stale))
        }
    }

    /// How an entry validated (or confirmed) at `at` stands at `now`.
    pub(crate) fn freshness(&self, at: Instant, now: Instant) -> Freshness {
        let age = now.saturating_duration_since(at);
        if age < self.tag_ttl {
            Freshness::Fresh
        } else if age < self.tag_ttl.saturating_add(self.max_stale) {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }
}

impl Expiry<Key, Value> for EntryExpiry {
    fn expire_after_create(&self, key: &Key, _value: &Value, _at: Instant) -> Option<Duration> {
        self.lifetime(key)
    }

    /// A rewrite (revalidation, reconfirmation) starts the lifetime again.
    fn expire_after_update(
        &self,
        key: &Key,
        _value: &Value,
        _at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        self.lifetime(key)
    }
}

/// How a tag resolution or access confirmation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Younger than `tag_ttl`: trusted without asking the registry.
    Fresh,
    /// Older, but younger than `tag_ttl + max_stale`: must be revalidated, and may answer only
    /// if the registry fails.
    Stale,
    /// Too old to answer at all.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Repo {
        Repo {
            registry: "127.0.0.1:5000".into(),
            repository: "app".into(),
        }
    }

    fn expiry() -> EntryExpiry {
        EntryExpiry {
            tag_ttl: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
        }
    }

    fn tag_key() -> Key {
        Key::Tag {
            repo: repo(),
            tag: "v1".into(),
            insecure: false,
        }
    }

    #[test]
    fn content_never_expires_by_time() {
        let e = expiry();
        let now = Instant::now();
        let manifest = Key::Manifest {
            repo: repo(),
            digest: "sha256:aa".into(),
        };
        let blob = Key::Blob {
            repo: repo(),
            digest: "sha256:bb".into(),
        };
        let value = Value::Blob(Bytes::from_static(b"{}"));
        assert_eq!(e.expire_after_create(&manifest, &value, now), None);
        assert_eq!(e.expire_after_create(&blob, &value, now), None);
        assert_eq!(
            e.expire_after_update(&blob, &value, now, Some(Duration::from_secs(1))),
            None
        );
    }

    #[test]
    fn tags_and_confirmations_live_for_ttl_plus_max_stale() {
        let e = expiry();
        let now = Instant::now();
        let keep = Some(Duration::from_secs(3630));
        let tag = Value::Access(now);
        assert_eq!(e.expire_after_create(&tag_key(), &tag, now), keep);
        let access = Key::Access {
            repo: repo(),
            who: Who {
                identity: Identity::Anonymous,
                insecure: true,
            },
        };
        assert_eq!(e.expire_after_create(&access, &tag, now), keep);
        // A revalidation starts over, whatever was left.
        assert_eq!(
            e.expire_after_update(&tag_key(), &tag, now, Some(Duration::from_millis(5))),
            keep
        );
        // No overflow with absurd settings.
        let huge = EntryExpiry {
            tag_ttl: Duration::MAX,
            max_stale: Duration::MAX,
        };
        assert_eq!(huge.lifetime(&tag_key()), Some(Duration::MAX));
    }

    #[test]
    fn freshness_by_age() {
        let e = expiry();
        let at = Instant::now();
        assert_eq!(e.freshness(at, at), Freshness::Fresh);
        assert_eq!(
            e.freshness(at, at + Duration::from_secs(29)),
            Freshness::Fresh
        );
        assert_eq!(
            e.freshness(at, at + Duration::from_secs(30)),
            Freshness::Stale
        );
        assert_eq!(
            e.freshness(at, at + Duration::from_secs(3629)),
            Freshness::Stale
        );
        assert_eq!(
            e.freshness(at, at + Duration::from_secs(3630)),
            Freshness::Expired
        );
        // A clock read before `at` (another thread wrote it a moment later) is fresh.
        assert_eq!(
            e.freshness(at + Duration::from_secs(1), at),
            Freshness::Fresh
        );
        // No stale window: fresh, then expired.
        let strict = EntryExpiry {
            tag_ttl: Duration::from_secs(1),
            max_stale: Duration::ZERO,
        };
        assert_eq!(
            strict.freshness(at, at + Duration::from_secs(1)),
            Freshness::Expired
        );
        // No TTL: always revalidated.
        let always = EntryExpiry {
            tag_ttl: Duration::ZERO,
            max_stale: Duration::from_secs(1),
        };
        assert_eq!(always.freshness(at, at), Freshness::Stale);
    }

    #[test]
    fn weight_is_bytes_plus_key_plus_overhead() {
        let bytes = Bytes::from(vec![b'x'; 1000]);
        let key = Key::Blob {
            repo: repo(),
            digest: "sha256:bb".into(),
        };
        let expected = 1000 + "127.0.0.1:5000".len() + "app".len() + "sha256:bb".len();
        assert_eq!(
            weigh(&key, &Value::Blob(bytes)) as usize,
            expected + ENTRY_OVERHEAD
        );
        let raw = RawManifest::new(Bytes::from_static(b"{\"schemaVersion\":2}"), None)
            .expect("a manifest");
        let manifest_weight = weigh(
            &Key::Manifest {
                repo: repo(),
                digest: raw.digest.clone(),
            },
            &Value::Manifest(Arc::new(raw.clone())),
        ) as usize;
        assert!(manifest_weight > raw.bytes.len() + ENTRY_OVERHEAD);
        // Small entries are never free.
        assert!(weigh(&tag_key(), &Value::Access(Instant::now())) as usize >= ENTRY_OVERHEAD);
    }
}
