//! What the fake registry holds: content by digest in files (so a large blob is streamed, never
//! held in memory), each repository's links to it (blobs, manifests with their media type,
//! tags), and open upload sessions.
//!
//! Like distribution, content is stored once and linked into repositories: a blob is in a
//! repository only when linked there (by an upload or a mount), whatever other repositories have.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// One repository's links.
#[derive(Debug, Default)]
struct Repo {
    blobs: HashSet<String>,
    /// Manifest digest -> media type.
    manifests: HashMap<String, String>,
    /// Tag -> manifest digest.
    tags: BTreeMap<String, String>,
}

/// An upload session: its repository and the bytes received so far (in a file), hashed as
/// they came.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The repository the session was opened for.
    pub repo: String,
    /// Where the bytes received so far are.
    pub path: PathBuf,
    /// How many bytes were received.
    pub size: u64,
    /// The hash of those bytes.
    pub hasher: Sha256,
}

/// A manifest as stored: its digest, media type and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManifestEntry {
    /// `sha256:…`.
    pub digest: String,
    /// The media type it was put with.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Content, repositories and upload sessions of one fake registry.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    /// Digest -> size of every stored content file.
    content: HashMap<String, u64>,
    repos: BTreeMap<String, Repo>,
    uploads: HashMap<String, Upload>,
}

/// `sha256:<hex>` of a finished hash.
pub(crate) fn digest_of(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Whether `digest` is a well-formed sha256 digest (the only algorithm the fake stores).
pub(crate) fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Store {
    /// An empty store keeping its files under `dir`.
    pub(crate) fn new(dir: &Path) -> Store {
        for sub in ["content", "uploads"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create fake registry storage");
        }
        Store {
            dir: dir.to_path_buf(),
            content: HashMap::new(),
            repos: BTreeMap::new(),
            uploads: HashMap::new(),
        }
    }

    /// The file of stored content `digest`.
    pub(crate) fn content_path(&self, digest: &str) -> PathBuf {
        self.dir.join("content").join(digest.replace(':', "-"))
    }

    /// The size of stored content `digest`, if any.
    pub(crate) fn content_size(&self, digest: &str) -> Option<u64> {
        self.content.get(digest).copied()
    }

    /// Stores `reader`'s bytes as content (streamed through a file, hashed on the way); returns
    /// the digest and size.
    pub(crate) fn add_content(&mut self, mut reader: impl Read) -> (String, u64) {
        let tmp = self
            .dir
            .join(format!("uploads/seed-{:016x}", rand::random::<u64>()));
        let mut file = std::fs::File::create(&tmp).expect("create content file");
        let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = reader.read(&mut buf).expect("read content to store");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).expect("write content file");
            size += n as u64;
        }
        drop(file);
        let digest = digest_of(hasher);
        self.commit(&tmp, &digest, size);
        (digest, size)
    }

    /// Moves a finished file into the content store as `digest`.
    fn commit(&mut self, file: &Path, digest: &str, size: u64) {
        std::fs::rename(file, self.content_path(digest)).expect("move content into place");
        self.content.insert(digest.to_string(), size);
    }

    /// The stored bytes of `digest`.
    pub(crate) fn read(&self, digest: &str) -> Option<Vec<u8>> {
        self.content.get(digest)?;
        Some(std::fs::read(self.content_path(digest)).expect("read stored content"))
    }

    /// Replaces the stored bytes of `digest` (they no longer match it).
    pub(crate) fn overwrite(&mut self, digest: &str, bytes: &[u8]) {
        std::fs::write(self.content_path(digest), bytes).expect("rewrite stored content");
        self.content.insert(digest.to_string(), bytes.len() as u64);
    }

    fn repo_mut(&mut self, repo: &str) -> &mut Repo {
        self.repos.entry(repo.to_string()).or_default()
    }

    /// Links stored content into `repo` as a blob.
    pub(crate) fn link_blob(&mut self, repo: &str, digest: &str) {
        self.repo_mut(repo).blobs.insert(digest.to_string());
    }

    /// The size of blob `digest` in `repo`, if linked there.
    pub(crate) fn blob_size(&self, repo: &str, digest: &str) -> Option<u64> {
        let linked = self.repos.get(repo)?.blobs.contains(digest);
        linked.then(|| self.content_size(digest)).flatten()
    }

    /// Stores `bytes` as a manifest of `repo` with `media_type`, by digest and, when `reference`
    /// is a tag, under that tag; returns the digest.
    pub(crate) fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let (digest, _) = self.add_content(bytes);
        let r = self.repo_mut(repo);
        r.manifests.insert(digest.clone(), media_type.to_string());
        if !reference.contains(':') {
            r.tags.insert(reference.to_string(), digest.clone());
        }
        digest
    }

    /// The manifest `reference` (a tag or a digest) of `repo`.
    pub(crate) fn manifest(&self, repo: &str, reference: &str) -> Option<ManifestEntry> {
        let r = self.repos.get(repo)?;
        let digest = match r.tags.get(reference) {
            Some(d) => d.clone(),
            None => reference.to_string(),
        };
        let media_type = r.manifests.get(&digest)?.clone();
        let size = self.content_size(&digest)?;
        Some(ManifestEntry {
            digest,
            media_type,
            size,
        })
    }

    /// Whether `repo` has manifest `digest`.
    pub(crate) fn has_manifest(&self, repo: &str, digest: &str) -> bool {
        self.repos
            .get(repo)
            .is_some_and(|r| r.manifests.contains_key(digest))
    }

    /// The tags of `repo`, sorted; `None` for a repository the registry has never seen.
    pub(crate) fn tags(&self, repo: &str) -> Option<Vec<String>> {
        Some(self.repos.get(repo)?.tags.keys().cloned().collect())
    }

    /// Opens an upload session for `repo`; returns its id.
    pub(crate) fn open_upload(&mut self, repo: &str) -> String {
        let id = format!("{:032x}", rand::random::<u128>());
        let path = self.dir.join("uploads").join(&id);
        std::fs::File::create(&path).expect("create upload file");
        self.uploads.insert(
            id.clone(),
            Upload {
                repo: repo.to_string(),
                path,
                size: 0,
                hasher: Sha256::new(),
            },
        );
        id
    }

    /// The session `id`, if it is open for `repo`.
    pub(crate) fn upload(&self, repo: &str, id: &str) -> Option<Upload> {
        self.uploads.get(id).filter(|u| u.repo == repo).cloned()
    }

    /// Records what a session received meanwhile.
    pub(crate) fn update_upload(&mut self, id: &str, upload: Upload) {
        self.uploads.insert(id.to_string(), upload);
    }

    /// Closes session `id`, dropping what it received.
    pub(crate) fn cancel_upload(&mut self, id: &str) -> bool {
        match self.uploads.remove(id) {
            Some(u) => {
                let _ = std::fs::remove_file(&u.path);
                true
            }
            None => false,
        }
    }

    /// Closes session `id` as blob `digest` of its repository: `true` when what it received
    /// has that digest (then the blob is stored and linked), `false` otherwise (then it is
    /// dropped).
    pub(crate) fn finish_upload(&mut self, id: &str, digest: &str) -> bool {
        let Some(upload) = self.uploads.remove(id) else {
            return false;
        };
        if digest_of(upload.hasher) != digest {
            let _ = std::fs::remove_file(&upload.path);
            return false;
        }
        self.commit(&upload.path, digest, upload.size);
        self.link_blob(&upload.repo, digest);
        true
    }

    /// How many upload sessions are open.
    pub(crate) fn open_uploads(&self) -> usize {
        self.uploads.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_linked_per_repository() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::new(dir.path());
        let (digest, size) = store.add_content(&b"layer"[..]);
        assert_eq!(digest, crate::sha256_digest(b"layer"));
        assert_eq!(size, 5);
        assert_eq!(store.blob_size("app", &digest), None, "stored, not linked");
        store.link_blob("app", &digest);
        assert_eq!(store.blob_size("app", &digest), Some(5));
        assert_eq!(store.blob_size("other", &digest), None);
        assert_eq!(store.read(&digest).as_deref(), Some(&b"layer"[..]));

        let m = store.put_manifest("app", "v1", "application/x-test", b"{}");
        let by_tag = store.manifest("app", "v1").expect("by tag");
        assert_eq!(store.manifest("app", &m), Some(by_tag.clone()));
        assert_eq!(by_tag.media_type, "application/x-test");
        assert_eq!(store.tags("app"), Some(vec!["v1".to_string()]));
        assert_eq!(store.tags("nothing"), None);
    }

    #[test]
    fn uploads_commit_only_their_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::new(dir.path());
        for (sent, claimed, stored) in [(&b"abc"[..], &b"abc"[..], true), (b"abc", b"abd", false)] {
            let id = store.open_upload("app");
            let mut upload = store.upload("app", &id).expect("open");
            assert!(store.upload("other", &id).is_none());
            std::fs::write(&upload.path, sent).expect("write");
            upload.hasher.update(sent);
            upload.size = sent.len() as u64;
            store.update_upload(&id, upload);
            let digest = crate::sha256_digest(claimed);
            assert_eq!(store.finish_upload(&id, &digest), stored);
            assert_eq!(store.blob_size("app", &digest).is_some(), stored);
            assert_eq!(store.open_uploads(), 0);
        }
    }
}
