//! Durable storage of manifest lists: the [`ListStore`] trait and its file backend.
//!
//! [`FileStore`] keeps one JSON record per list in `<dir>/lists/<id>.json`. Every write is
//! atomic: the record goes to a temporary file in the same directory, which is fsynced, renamed
//! over the old record, and then the directory is fsynced. A crash at any point leaves either the
//! old or the new record, never a torn one. Temporary files a crash left behind (`.tmp-*`) are
//! removed by [`ListStore::load_all`].
//!
//! Records carry a format version ([`FORMAT_VERSION`]). On load:
//! * a record that cannot be read or parsed, or whose `id` is not its file name, is **logged
//!   with `tracing::warn!` and skipped**; the file is left in place for an operator to inspect
//!   (manifold never deletes what it cannot read);
//! * a record written by a **newer** format version is an **error**: starting anyway would hide
//!   those lists and let their names be taken, so an accidental downgrade refuses to start.
//!
//! IDs become file names only after they are checked to be 64 lowercase hex characters, so
//! nothing derived from a request can name a path outside the directory. One process owns a
//! store directory at a time (the catalog above it is the only writer).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::list::{is_list_id, ManifestList};

/// The record format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Prefix of the temporary files an atomic write uses.
const TMP_PREFIX: &str = ".tmp-";

/// Where manifest lists live durably.
#[async_trait]
pub trait ListStore: Send + Sync {
    /// Every stored list, ordered by creation time, then ID.
    async fn load_all(&self) -> Result<Vec<ManifestList>>;
    /// Writes `list` atomically, replacing any earlier record with its ID.
    async fn save(&self, list: &ManifestList) -> Result<()>;
    /// Deletes the record with this ID. Deleting a record that does not exist succeeds.
    async fn delete(&self, id: &str) -> Result<()>;
}

/// A [`ListStore`] of JSON files in a local directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    lists: PathBuf,
}

/// The record on disk: the list plus the format version.
#[derive(Serialize)]
struct RecordOut<'a> {
    format_version: u32,
    #[serde(flatten)]
    list: &'a ManifestList,
}

#[derive(Deserialize)]
struct RecordIn {
    format_version: u32,
    #[serde(flatten)]
    list: ManifestList,
}

fn io_error(action: &str, path: &Path, e: &io::Error) -> Error {
    Error::with_message(
        ErrorKind::Storage,
        format!("{action} {}: {e}", path.display()),
        e.to_string(),
    )
}

fn invalid_id(id: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "invalid manifest list ID {}: expected 64 lowercase hex characters",
            manifold_gocompat::strconv::quote(id)
        ),
    )
}

fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| io_error("creating directory", path, &e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing directory", dir, &e))
}

impl FileStore {
    /// Opens (creating, with mode 0700) the store under `dir`; records go to `dir/lists/`.
    pub fn open(dir: &Path) -> Result<Self> {
        let lists = dir.join("lists");
        create_private_dir(&lists)?;
        sync_dir(dir)?;
        Ok(FileStore { lists })
    }

    /// The record path for an ID, after checking the ID.
    fn record_path(&self, id: &str) -> Result<PathBuf> {
        if !is_list_id(id) {
            return Err(invalid_id(id));
        }
        Ok(self.lists.join(format!("{id}.json")))
    }

    fn load_all_blocking(&self) -> Result<Vec<ManifestList>> {
        let dir = &self.lists;
        let entries = fs::read_dir(dir).map_err(|e| io_error("reading directory", dir, &e))?;
        let mut lists = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("reading directory", dir, &e))?;
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                tracing::warn!(path = %path.display(), "ignoring a file with a non-UTF-8 name in the list store");
                continue;
            };
            if name.starts_with(TMP_PREFIX) {
                // Left by a write that never reached its rename.
                match fs::remove_file(&path) {
                    Ok(()) => tracing::info!(path = %path.display(), "removed an unfinished write"),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "could not remove an unfinished write")
                    }
                }
                continue;
            }
            let Some(id) = name.strip_suffix(".json").filter(|id| is_list_id(id)) else {
                tracing::warn!(path = %path.display(), "ignoring a file that is not a list record");
                continue;
            };
            if let Some(list) = Self::read_record(&path, id)? {
                lists.push(list);
            }
        }
        lists.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(lists)
    }

    /// Reads one record. `Ok(None)` for a corrupt record (logged); `Err` only for a record of a
    /// newer format.
    fn read_record(path: &Path, id: &str) -> Result<Option<ManifestList>> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable list record");
                return Ok(None);
            }
        };
        let record: RecordIn = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping a corrupt list record");
                return Ok(None);
            }
        };
        if record.format_version > FORMAT_VERSION {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "reading {}: the record has format version {}, this manifold reads up to {FORMAT_VERSION}; run a newer manifold or move the record away",
                    path.display(),
                    record.format_version
                ),
            ));
        }
        if record.list.id != id {
            tracing::warn!(path = %path.display(), record_id = %record.list.id, "skipping a list record whose ID is not its file name");
            return Ok(None);
        }
        Ok(Some(record.list))
    }

    fn save_blocking(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = &self.lists;
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| io_error("creating a temporary file in", dir, &e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io_error("writing", tmp.path(), &e))?;
        tmp.persist(path)
            .map_err(|e| io_error("replacing", path, &e.error))?;
        sync_dir(dir)
    }

    fn delete_blocking(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => sync_dir(&self.lists),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting", path, &e)),
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Error::new(
            ErrorKind::Storage,
            format!("list store task did not finish: {e}"),
        )
    })?
}

#[async_trait]
impl ListStore for FileStore {
    async fn load_all(&self) -> Result<Vec<ManifestList>> {
        let this = self.clone();
        blocking(move || this.load_all_blocking()).await
    }

    async fn save(&self, list: &ManifestList) -> Result<()> {
        let path = self.record_path(&list.id)?;
        let mut bytes = serde_json::to_vec(&RecordOut {
            format_version: FORMAT_VERSION,
            list,
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("encoding manifest list {}: {e}", list.id),
            )
        })?;
        bytes.push(b'\n');
        let this = self.clone();
        blocking(move || this.save_blocking(&path, &bytes)).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let path = self.record_path(id)?;
        let this = self.clone();
        blocking(move || this.delete_blocking(&path)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Instance;
    use crate::oci::OCI_MANIFEST;
    use std::os::unix::fs::PermissionsExt as _;

    fn sample(name: &str, created: u64) -> ManifestList {
        let mut list = ManifestList::new(name);
        list.created = created;
        list.add_instance(Instance {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 3,
            source: Some("127.0.0.1:5000/app@sha256:aaaa".into()),
            ..Default::default()
        });
        list.annotations.insert("k".into(), "v".into());
        list
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn round_trip_and_reopen() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("data");
        let store = FileStore::open(&root).expect("opens");
        let mode = fs::metadata(store.lists.as_path())
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "lists dir is private: {mode:o}");
        assert!(store.load_all().await.expect("loads").is_empty());

        let a = sample("localhost/a:latest", 20);
        let b = sample("localhost/b:latest", 10);
        store.save(&a).await.expect("saves");
        store.save(&b).await.expect("saves");
        let mut a2 = a.clone();
        a2.names.push("localhost/a2:latest".into());
        store.save(&a2).await.expect("overwrites");

        let reopened = FileStore::open(&root).expect("reopens");
        let all = reopened.load_all().await.expect("loads");
        assert_eq!(all, vec![b.clone(), a2.clone()], "ordered by created");
        assert_eq!(
            files(store.lists.as_path()),
            {
                let mut v = vec![format!("{}.json", a.id), format!("{}.json", b.id)];
                v.sort();
                v
            },
            "no temporary files are left behind"
        );
        let text = fs::read_to_string(store.lists.as_path().join(format!("{}.json", a.id)))
            .expect("readable");
        assert!(text.starts_with(r#"{"format_version":1,"id":""#), "{text}");

        store.delete(&a.id).await.expect("deletes");
        store.delete(&a.id).await.expect("deleting twice is fine");
        assert_eq!(reopened.load_all().await.expect("loads"), vec![b]);
    }

    /// A record byte for byte as manifold wrote it before list subjects became oci-spec
    /// descriptors, with every optional field set: every later build must go on reading it.
    const FORMAT_1_RECORD: &str = concat!(
        r#"{"format_version":1,"id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","names":["localhost/ml:v1","localhost/other:latest"],"created":1700000000,"owner":"uid:1000","owner_gid":1000,"artifact_type":"application/x-index","annotations":{"org.example":"1"},"#,
        r#""subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":7,"artifactType":"application/x-sub"},"#,
        r#""instances":[{"media_type":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":528,"platform":{"architecture":"arm64","os":"linux","variant":"v8","features":["sse4"]},"source":"127.0.0.1:5000/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"#,
        r#"{"media_type":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1204,"urls":["https://example.com/b"],"platform":{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1234","os.features":["win32k"]},"annotations":{"k":"v"},"artifact_type":"application/x-art","data":"e30=","source":"127.0.0.1:5000/win@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"#,
        r#"{"media_type":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":665}]}"#,
    );

    #[tokio::test]
    async fn records_of_format_1_still_read() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(tmp.path()).expect("opens");
        let id = "0123456789abcdef".repeat(4);
        fs::write(
            store.lists.as_path().join(format!("{id}.json")),
            FORMAT_1_RECORD,
        )
        .expect("writes");
        let lists = store.load_all().await.expect("loads");
        let [list] = &lists[..] else {
            panic!("one list: {lists:?}");
        };
        assert_eq!(list.id, id);
        assert_eq!(list.names, ["localhost/ml:v1", "localhost/other:latest"]);
        assert_eq!(list.created, 1_700_000_000);
        assert_eq!(
            (list.owner.as_deref(), list.owner_gid),
            (Some("uid:1000"), Some(1000))
        );
        assert_eq!(list.artifact_type.as_deref(), Some("application/x-index"));
        assert_eq!(
            list.annotations.get("org.example").map(String::as_str),
            Some("1")
        );
        let subject = list.subject.as_ref().expect("a subject");
        assert_eq!(subject.media_type().as_ref(), OCI_MANIFEST);
        assert_eq!(
            subject.digest().as_ref(),
            format!("sha256:{}", "d".repeat(64))
        );
        assert_eq!(subject.size(), 7);
        assert_eq!(
            subject.artifact_type().as_ref().map(AsRef::as_ref),
            Some("application/x-sub")
        );
        let [docker, windows, bare] = &list.instances[..] else {
            panic!("three instances: {:?}", list.instances);
        };
        assert_eq!(docker.media_type, crate::oci::DOCKER_MANIFEST);
        assert_eq!(docker.platform.features, ["sse4"]);
        assert_eq!(docker.platform.variant, "v8");
        assert_eq!(windows.platform.os_version, "10.0.17763.1234");
        assert_eq!(windows.platform.os_features, ["win32k"]);
        assert_eq!(windows.urls, ["https://example.com/b"]);
        assert_eq!(windows.data.as_deref(), Some("e30="));
        assert_eq!(windows.artifact_type.as_deref(), Some("application/x-art"));
        assert_eq!(
            windows.source.as_deref(),
            Some(format!("127.0.0.1:5000/win@sha256:{}", "b".repeat(64)).as_str())
        );
        assert_eq!((bare.size, bare.platform.is_empty()), (665, true));
        // Written again and read back, it is the same list.
        store.save(list).await.expect("saves");
        assert_eq!(store.load_all().await.expect("loads"), lists);
    }

    #[tokio::test]
    async fn ids_never_become_paths_unchecked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(tmp.path()).expect("opens");
        let mut list = sample("localhost/x:latest", 1);
        for bad in ["../../etc/passwd", "", "ABC", &"a".repeat(65)] {
            list.id = bad.to_string();
            let e = store.save(&list).await.expect_err("rejected");
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert_eq!(
                store.delete(bad).await.expect_err("rejected").kind(),
                ErrorKind::InvalidInput
            );
        }
        assert!(files(store.lists.as_path()).is_empty());
    }

    #[tokio::test]
    async fn leftovers_are_cleaned_and_corrupt_records_skipped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(tmp.path()).expect("opens");
        let good = sample("localhost/good:latest", 1);
        store.save(&good).await.expect("saves");
        let dir = store.lists.as_path();
        // A crash before the rename leaves a temporary file (possibly torn).
        fs::write(dir.join(".tmp-abc123"), b"{\"format_ver").expect("writes");
        // Torn or garbage records, a record under the wrong name, unrelated files.
        let torn = "b".repeat(64);
        fs::write(
            dir.join(format!("{torn}.json")),
            b"{\"format_version\":1,\"id\":",
        )
        .expect("writes");
        let garbage = "c".repeat(64);
        fs::write(dir.join(format!("{garbage}.json")), b"\xff\xfe").expect("writes");
        let mut moved = good.clone();
        moved.id = "d".repeat(64);
        let moved_text = serde_json::to_vec(&RecordOut {
            format_version: 1,
            list: &moved,
        })
        .expect("encodes");
        fs::write(dir.join(format!("{}.json", "e".repeat(64))), moved_text).expect("writes");
        fs::write(dir.join("README"), b"hello").expect("writes");

        let all = store.load_all().await.expect("loads despite corruption");
        assert_eq!(all, vec![good]);
        let left = files(dir);
        assert!(!left.iter().any(|f| f.starts_with(".tmp-")), "{left:?}");
        assert!(
            left.contains(&format!("{torn}.json")),
            "corrupt records stay for inspection"
        );
    }

    #[tokio::test]
    async fn newer_format_refuses_to_load() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(tmp.path()).expect("opens");
        let list = sample("localhost/new:latest", 1);
        let text = serde_json::to_vec(&RecordOut {
            format_version: FORMAT_VERSION + 1,
            list: &list,
        })
        .expect("encodes");
        fs::write(
            store.lists.as_path().join(format!("{}.json", list.id)),
            text,
        )
        .expect("writes");
        let e = store.load_all().await.expect_err("newer format");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(e.message().contains("format version 2"), "{}", e.message());
    }

    #[tokio::test]
    async fn io_errors_name_the_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = FileStore::open(tmp.path()).expect("opens");
        fs::remove_dir(store.lists.as_path()).expect("removes");
        let list = sample("localhost/x:latest", 1);
        let e = store.save(&list).await.expect_err("no directory");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(
            e.message()
                .contains(&store.lists.as_path().display().to_string()),
            "{}",
            e.message()
        );
        let e = store.load_all().await.expect_err("no directory");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(e.message().contains("lists"), "{}", e.message());
    }
}
