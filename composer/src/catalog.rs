//! The catalog: every list in memory, indexed by ID and name, over a durable [`ListStore`].
//!
//! * **Lookup** ([`Catalog::resolve_for`]) follows libimage's `LookupImage`
//!   (`docs/libpod-api.md#list-names-and-lookup`): `sha256:<id>`, a full ID, the name's candidates
//!   (short names try `localhost/` first, then the `docker.io` normalisation), an unambiguous ID
//!   prefix, and finally the "fuzzy" repo-tag match for short names (`foobar` finds
//!   `quay.io/libpod/foobar:latest`).
//! * **Mutations are serialised per list**: each list sits behind its own async mutex. A
//!   mutation works on a copy, writes it to the store, and only then replaces the in-memory list,
//!   so a failed write changes nothing. The write-and-commit step runs in its own task, so a
//!   caller that goes away (a client that disconnects) cannot leave memory and disk apart.
//! * **Owners and viewers**: a list records the identity that created it. Every lookup is made
//!   for a [`Viewer`]; a list the viewer may not see is skipped as if it did not exist, so
//!   another identity's list is "image not known", exactly like a missing one. Without a policy
//!   (and for [`Viewer::ALL`]) every list is visible.
//! * **Names are unique per namespace**: without a policy the whole store is one namespace, as
//!   in podman; with a policy each owner has its own, so two teams can both have `mylist`
//!   without seeing each other's. Name checks and name changes happen under one index lock, so
//!   of two concurrent creates of one name in one namespace exactly one wins.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use manifold_config::policy::{Identity, Policy};
use manifold_gocompat::strconv::quote;
use tokio::sync::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::list::{is_list_id, new_list_id, ManifestList};
use crate::reference::{normalize_list_name, ImageRef};
use crate::store::ListStore;

/// Who looks lists up: the identity whose lists are "its own" (and who owns the lists it
/// creates), and the policy that decides what else it sees.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    identity: Option<&'a Identity>,
    policy: Option<&'a Policy>,
}

impl Viewer<'static> {
    /// Sees every list; names are unique across the store; created lists have no owner.
    pub const ALL: Viewer<'static> = Viewer {
        identity: None,
        policy: None,
    };
}

impl<'a> Viewer<'a> {
    /// `identity` under `policy`: with no rules it sees every list (and names stay unique across
    /// the store), but the lists it creates still record it as their owner.
    pub fn new(identity: &'a Identity, policy: &'a Policy) -> Self {
        Viewer {
            identity: Some(identity),
            policy: Some(policy),
        }
    }

    /// The identity and policy when a policy restricts what this viewer sees.
    fn restricted(&self) -> Option<(&'a Identity, &'a Policy)> {
        match (self.identity, self.policy) {
            (Some(i), Some(p)) if !p.is_empty() => Some((i, p)),
            _ => None,
        }
    }

    /// True when the viewer may see a list whose owner is `owner`.
    fn sees(&self, owner: &Owner) -> bool {
        let Some((identity, policy)) = self.restricted() else {
            return true;
        };
        match owner {
            Owner::Nobody => policy.sees(identity, None),
            Owner::Is(o) => policy.sees(identity, Some(o)),
            // A record whose owner cannot be read is nobody's to see under a policy.
            Owner::Unreadable => false,
        }
    }

    /// True when the list's namespace is the viewer's own.
    fn owns(&self, namespace: Option<&str>) -> bool {
        self.identity.map(Identity::principal).as_deref() == namespace
    }

    /// The namespace a name must be unique in for this viewer: `None` for the whole store.
    fn name_scope(&self) -> Option<Option<String>> {
        self.restricted().map(|(i, _)| Some(i.principal()))
    }
}

/// The in-memory index of all lists over a [`ListStore`].
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ListStore>,
    index: RwLock<Index>,
}

type Cell = Arc<Mutex<ManifestList>>;

#[derive(Default)]
struct Index {
    /// ID -> list.
    lists: HashMap<String, Entry>,
    /// Name -> IDs of the lists with that name, oldest first (one per namespace).
    names: HashMap<String, Vec<String>>,
}

/// Who a stored list belongs to, as far as visibility goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// Stored before owners were recorded.
    Nobody,
    /// This identity.
    Is(Identity),
    /// An owner text that is no identity (a hand-edited record).
    Unreadable,
}

impl Owner {
    fn of(list: &ManifestList) -> Owner {
        match &list.owner {
            None => Owner::Nobody,
            Some(p) => Identity::from_principal(p, list.owner_gid)
                .map(Owner::Is)
                .unwrap_or(Owner::Unreadable),
        }
    }
}

/// What lookups need to know about a list without locking it.
struct Entry {
    cell: Cell,
    names: Vec<String>,
    created: u64,
    /// Digest of the list's serialised manifest (for `name@digest` lookups).
    digest: String,
    /// The owner, for visibility.
    owner: Owner,
    /// The owner as recorded: the namespace the list's names are unique in under a policy.
    namespace: Option<String>,
}

/// A lookup result: the ID, and the stored name that matched (`None` when matched by ID or by
/// the list's digest).
struct Found {
    id: String,
    name: Option<String>,
}

fn not_known(name: &str) -> Error {
    Error::with_message(
        ErrorKind::NotFound,
        format!("{name}: image not known"),
        "image not known",
    )
}

fn name_in_use(name: &str, id: &str) -> Error {
    Error::with_message(
        ErrorKind::NameInUse,
        format!(
            "image name {} is already associated with image {}: that name is already in use",
            quote(name),
            quote(id)
        ),
        "that name is already in use",
    )
}

/// Splits a reference into repository, tag and digest, without normalising it.
fn split_name(n: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match n.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (n, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// Docker compat: a reference with both tag and digest loses the tag.
fn strip_tag_of_digested(input: &str) -> String {
    match split_name(input) {
        (repo, Some(_), Some(digest)) => format!("{repo}@{digest}"),
        _ => input.to_string(),
    }
}

/// c/image's short-name test: no registry (a first component with `.` or `:`, or `localhost`).
fn is_short_name(name: &str) -> bool {
    match name.split_once('/') {
        None => true,
        Some((first, _)) => !(first.contains('.') || first.contains(':') || first == "localhost"),
    }
}

/// libimage's "backwards compat" candidate: the docker.io normalisation of a short name.
fn docker_candidate(name: &str) -> Option<String> {
    let r = ImageRef::parse(name).ok()?;
    let mut s = r.to_string();
    if r.tag.is_none() && r.digest.is_none() {
        s.push_str(":latest");
    }
    Some(s)
}

fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Index {
    /// Adds a list. A name another list of the same namespace holds already is left out (and
    /// logged): that can only happen when records were edited by hand.
    fn insert(&mut self, list: &ManifestList, cell: Cell) {
        let mut names = Vec::with_capacity(list.names.len());
        for name in &list.names {
            let holder = self.holder_in(name, list.owner.as_deref());
            match holder {
                Some(other) if other != list.id => {
                    tracing::warn!(list = %list.id, other = %other, name = %name, "two stored lists of one owner have the same name; keeping it on the older one");
                }
                _ => {
                    let ids = self.names.entry(name.clone()).or_default();
                    if !ids.contains(&list.id) {
                        ids.push(list.id.clone());
                    }
                    names.push(name.clone());
                }
            }
        }
        self.lists.insert(
            list.id.clone(),
            Entry {
                cell,
                names,
                created: list.created,
                digest: list.digest(),
                owner: Owner::of(list),
                namespace: list.owner.clone(),
            },
        );
    }

    /// The list that holds `name` in `namespace`.
    fn holder_in(&self, name: &str, namespace: Option<&str>) -> Option<String> {
        self.names.get(name)?.iter().find_map(|id| {
            let entry = self.lists.get(id)?;
            (entry.namespace.as_deref() == namespace).then(|| id.clone())
        })
    }

    /// The list a new list named `name` would clash with, for a viewer whose names are unique in
    /// `scope` (`None`: the whole store).
    fn clash(&self, name: &str, scope: Option<Option<String>>) -> Option<String> {
        match scope {
            None => self.names.get(name)?.first().cloned(),
            Some(namespace) => self.holder_in(name, namespace.as_deref()),
        }
    }

    /// Drops `id` from the IDs holding `name`.
    fn unname(&mut self, name: &str, id: &str) {
        if let Some(ids) = self.names.get_mut(name) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.names.remove(name);
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(entry) = self.lists.remove(id) {
            for name in entry.names {
                self.unname(&name, id);
            }
        }
    }

    /// True when `id` is still in the index with this very cell (not deleted meanwhile).
    fn is_current(&self, id: &str, cell: &Cell) -> bool {
        self.lists
            .get(id)
            .is_some_and(|e| Arc::ptr_eq(&e.cell, cell))
    }

    fn visible(&self, id: &str, viewer: &Viewer<'_>) -> bool {
        self.lists.get(id).is_some_and(|e| viewer.sees(&e.owner))
    }

    /// Entries the viewer may see, in a stable order: oldest first, then by ID.
    fn ordered(&self, viewer: &Viewer<'_>) -> Vec<(&String, &Entry)> {
        let mut v: Vec<_> = self
            .lists
            .iter()
            .filter(|(_, e)| viewer.sees(&e.owner))
            .collect();
        v.sort_by(|(ia, a), (ib, b)| (a.created, ia).cmp(&(b.created, ib)));
        v
    }

    fn by_id(&self, id: &str, viewer: &Viewer<'_>) -> Option<Found> {
        self.visible(id, viewer).then(|| Found {
            id: id.to_string(),
            name: None,
        })
    }

    /// The visible list named exactly `name`: the viewer's own first, else the oldest.
    fn by_name(&self, name: &str, viewer: &Viewer<'_>) -> Option<String> {
        let ids = self.names.get(name)?;
        let visible = ids.iter().filter(|id| self.visible(id, viewer));
        let own = visible.clone().find(|id| {
            self.lists
                .get(*id)
                .is_some_and(|e| viewer.owns(e.namespace.as_deref()))
        });
        own.or_else(|| visible.clone().next()).cloned()
    }

    /// A candidate name (normalised, `:latest` added): an exact name, or for `repo@digest` a name
    /// of that repository with that digest or whose manifest has that digest, or for
    /// `repo:tag` a stored `repo:tag@digest`.
    fn match_candidate(&self, candidate: &str, viewer: &Viewer<'_>) -> Option<Found> {
        if let Some(id) = self.by_name(candidate, viewer) {
            return Some(Found {
                id,
                name: Some(candidate.to_string()),
            });
        }
        let (repo, tag, digest) = split_name(candidate);
        for (id, entry) in self.ordered(viewer) {
            for stored in &entry.names {
                let (srepo, stag, sdigest) = split_name(stored);
                if srepo != repo {
                    continue;
                }
                let found = |name: Option<&String>| Found {
                    id: id.clone(),
                    name: name.cloned(),
                };
                match (digest, tag) {
                    (Some(d), _) if sdigest == Some(d) => return Some(found(Some(stored))),
                    (Some(d), _) if entry.digest == d => return Some(found(None)),
                    (None, Some(t)) if stag == Some(t) => return Some(found(Some(stored))),
                    _ => {}
                }
            }
        }
        None
    }

    /// libimage's `lookupImageInDigestsAndRepoTags` for a short name: a stored name whose
    /// repository ends with `/<repo>` (or is it) and whose tag matches (`latest` by default);
    /// with a digest, any tag, but the list's digest must match.
    fn fuzzy(&self, name: &str, viewer: &Viewer<'_>) -> Option<Found> {
        let (repo, tag, digest) = split_name(name);
        let required_tag = if digest.is_some() {
            None
        } else {
            Some(tag.unwrap_or("latest"))
        };
        for (id, entry) in self.ordered(viewer) {
            for stored in &entry.names {
                let (srepo, stag, _) = split_name(stored);
                if required_tag.is_some_and(|t| stag != Some(t)) {
                    continue;
                }
                let repo_matches = srepo == repo
                    || srepo
                        .strip_suffix(repo)
                        .is_some_and(|head| head.ends_with('/'));
                if !repo_matches {
                    continue;
                }
                if let Some(d) = digest {
                    if entry.digest != d {
                        continue;
                    }
                    return Some(Found {
                        id: id.clone(),
                        name: None,
                    });
                }
                return Some(Found {
                    id: id.clone(),
                    name: Some(stored.clone()),
                });
            }
        }
        None
    }
}

impl Inner {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a store write and its in-memory commit to the end even if the caller stops waiting.
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work).await.map_err(|e| {
        Error::new(
            ErrorKind::Storage,
            format!("manifest list update did not finish: {e}"),
        )
    })?
}

impl Catalog {
    /// Loads every list from `store`.
    pub async fn open(store: Arc<dyn ListStore>) -> Result<Self> {
        let mut lists = store.load_all().await?;
        // Oldest first, whatever the backend's order: on a duplicate name the older list keeps it.
        lists.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        let mut index = Index::default();
        for list in lists {
            if !is_list_id(&list.id) {
                tracing::warn!(id = %list.id, "skipping a stored list with an invalid ID");
                continue;
            }
            if let (Some(owner), Owner::Unreadable) = (&list.owner, Owner::of(&list)) {
                tracing::warn!(id = %list.id, owner = %owner, "a stored list has an owner that is no identity; no one sees it while a policy is configured");
            }
            let cell = Arc::new(Mutex::new(list.clone()));
            index.insert(&list, cell);
        }
        Ok(Catalog {
            inner: Arc::new(Inner {
                store,
                index: RwLock::new(index),
            }),
        })
    }

    /// Resolves a list by normalised name, short name, full ID, ID prefix or `sha256:<id>`
    /// (podman's lookup rules, `docs/libpod-api.md#list-names-and-lookup`), returning its ID, among
    /// the lists `viewer` may see: the others do not exist for it (same error, same message). A
    /// name held by the viewer's own list and by a list shared with it resolves to its own. With
    /// [`Viewer::ALL`] every list is a candidate.
    ///
    /// Errors:
    /// * [`ErrorKind::NotFound`], message `<name>: image not known`, cause `image not known`;
    /// * [`ErrorKind::InvalidInput`] when `name` is not a reference at all, as podman's lookup
    ///   fails before searching: message `parsing reference "<name>": <cause>` with the reference
    ///   error as cause (e.g. `invalid reference format: repository name must be lowercase`);
    ///   and `sha256:<not 64 hex>` gives `<name>: invalid format: no 64-byte hexadecimal value`
    ///   (cause = message). podman answers these with 500 on `exists` and `DELETE`, not 404.
    pub fn resolve_for(&self, name: &str, viewer: &Viewer<'_>) -> Result<String> {
        self.lookup(name, viewer).map(|f| f.id)
    }

    fn lookup(&self, input: &str, viewer: &Viewer<'_>) -> Result<Found> {
        let name = strip_tag_of_digested(input);
        let normalized = normalize_list_name(&name).map_err(|e| {
            Error::with_message(
                ErrorKind::InvalidInput,
                format!("parsing reference {}: {}", quote(input), e.cause()),
                e.cause(),
            )
        })?;
        let index = self.inner.read();
        if let Some(hex) = name.strip_prefix("sha256:") {
            if !is_list_id(hex) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{name}: invalid format: no 64-byte hexadecimal value"),
                ));
            }
            return index.by_id(hex, viewer).ok_or_else(|| not_known(&name));
        }
        if is_list_id(&name) {
            return index.by_id(&name, viewer).ok_or_else(|| not_known(&name));
        }
        let short = is_short_name(&name);
        let mut candidates = vec![normalized];
        if short {
            if let Some(c) = docker_candidate(&name) {
                if !candidates.contains(&c) {
                    candidates.push(c);
                }
            }
        }
        for candidate in &candidates {
            if let Some(found) = index.match_candidate(candidate, viewer) {
                return Ok(found);
            }
        }
        if is_hex_prefix(&name) {
            // Only visible lists count: another identity's list must neither match nor make a
            // prefix ambiguous (that would tell that it exists).
            let mut hits = index
                .lists
                .iter()
                .filter(|(id, e)| id.starts_with(&name) && viewer.sees(&e.owner))
                .map(|(id, _)| id);
            if let (Some(id), None) = (hits.next(), hits.next()) {
                return Ok(Found {
                    id: id.clone(),
                    name: None,
                });
            }
        }
        if short {
            if let Some(found) = index.fuzzy(&name, viewer) {
                return Ok(found);
            }
        }
        Err(not_known(&name))
    }

    fn cell(&self, id: &str) -> Result<Cell> {
        self.inner
            .read()
            .lists
            .get(id)
            .map(|e| e.cell.clone())
            .ok_or_else(|| not_known(id))
    }

    /// Creates and saves a new empty list named `name`, which must be normalised already
    /// ([`normalize_list_name`]'s output), owned by the viewer's identity. The name must be free
    /// in the viewer's namespace: the whole store without a policy, the viewer's own lists with
    /// one. [`Viewer::ALL`] checks the name against every list and creates a list with no
    /// owner.
    ///
    /// Errors: [`ErrorKind::NameInUse`] when a list has the name (message `image name "<name>"
    /// is already associated with image "<ID>": that name is already in use`, cause `that name
    /// is already in use`); [`ErrorKind::InvalidInput`] for a name that is not normalised; the
    /// store's error when the write fails (then nothing was created).
    pub async fn create_for(&self, name: &str, viewer: &Viewer<'_>) -> Result<ManifestList> {
        match normalize_list_name(name) {
            Ok(n) if n == name => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{}: not a normalised manifest list name", quote(name)),
                ))
            }
        }
        let (list, cell, guard) = {
            let mut index = self.inner.write();
            if let Some(holder) = index.clash(name, viewer.name_scope()) {
                return Err(name_in_use(name, &holder));
            }
            let mut list = ManifestList::new(name);
            if let Some(identity) = viewer.identity {
                list.owner = Some(identity.principal());
                list.owner_gid = identity.gid();
            }
            while index.lists.contains_key(&list.id) {
                list.id = new_list_id();
            }
            let cell: Cell = Arc::new(Mutex::new(list.clone()));
            // Held until the record is durable: readers of the new list wait for it.
            let guard = cell.clone().try_lock_owned().map_err(|_| {
                Error::new(ErrorKind::Storage, "a new manifest list was locked already")
            })?;
            index.insert(&list, cell.clone());
            (list, cell, guard)
        };
        let inner = self.inner.clone();
        detached(async move {
            let saved = inner.store.save(&list).await;
            if saved.is_err() {
                let mut index = inner.write();
                if index.is_current(&list.id, &cell) {
                    index.remove(&list.id);
                }
            }
            drop(guard);
            saved.map(|()| list)
        })
        .await
    }

    /// Runs `f` on the list under its lock and saves the result atomically if `f` returns `Ok`.
    /// On `Err` from `f` or from the store, nothing is saved and the list is unchanged. A result
    /// equal to the current list is not written again.
    ///
    /// `f` may not change the list's `id`, `names` or owner (that is an
    /// [`ErrorKind::InvalidInput`] error); names change only through [`Catalog::create_for`] and
    /// [`Catalog::remove_for`], owners never.
    pub async fn update<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut ManifestList) -> Result<T>,
    ) -> Result<T> {
        let cell = self.cell(id)?;
        let guard = cell.clone().lock_owned().await;
        if !self.inner.read().is_current(id, &cell) {
            return Err(not_known(id));
        }
        let mut next = guard.clone();
        let out = f(&mut next)?;
        if next.id != guard.id
            || next.names != guard.names
            || next.owner != guard.owner
            || next.owner_gid != guard.owner_gid
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a manifest list update may not change the list's ID, names or owner",
            ));
        }
        if next == *guard {
            return Ok(out);
        }
        let inner = self.inner.clone();
        detached(async move {
            let mut guard = guard;
            inner.store.save(&next).await?;
            let digest = next.digest();
            if let Some(entry) = inner.write().lists.get_mut(&next.id) {
                entry.digest = digest;
            }
            *guard = next;
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// A snapshot of the list with this ID (exact ID, not a lookup).
    pub async fn get(&self, id: &str) -> Result<ManifestList> {
        let cell = self.cell(id)?;
        let guard = cell.lock().await;
        if !self.inner.read().is_current(id, &cell) {
            return Err(not_known(id));
        }
        Ok(guard.clone())
    }

    /// podman's `RemoveImages` for one name, among the lists `viewer` may see: a name (when the
    /// list has other names too) is untagged; an ID, full or prefix, `sha256:<id>`,
    /// `name@<list digest>`, or the list's last name deletes the record with all its names.
    /// Returns (untagged names, deleted ID).
    ///
    /// Errors as [`Catalog::resolve_for`], and the store's error (then nothing changed).
    pub async fn remove_for(
        &self,
        name: &str,
        viewer: &Viewer<'_>,
    ) -> Result<(Vec<String>, Option<String>)> {
        let found = self.lookup(name, viewer)?;
        let cell = self.cell(&found.id)?;
        let guard = cell.clone().lock_owned().await;
        let still_there = self.inner.read().is_current(&found.id, &cell)
            && found.name.as_ref().is_none_or(|n| guard.has_name(n));
        if !still_there {
            return Err(not_known(name));
        }
        let inner = self.inner.clone();
        detached(async move {
            let mut guard = guard;
            match found.name {
                Some(untag) if guard.names.len() > 1 => {
                    let mut next = guard.clone();
                    next.names.retain(|n| n != &untag);
                    inner.store.save(&next).await?;
                    {
                        let mut index = inner.write();
                        index.unname(&untag, &next.id);
                        if let Some(entry) = index.lists.get_mut(&next.id) {
                            entry.names.retain(|n| n != &untag);
                        }
                    }
                    *guard = next;
                    Ok((vec![untag], None))
                }
                _ => {
                    inner.store.delete(&guard.id).await?;
                    inner.write().remove(&guard.id);
                    Ok((guard.names.clone(), Some(guard.id.clone())))
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many lists `catalog` holds.
    fn count(catalog: &Catalog) -> usize {
        catalog.inner.read().lists.len()
    }
    use crate::list::Instance;
    use crate::oci::OCI_MANIFEST;
    use crate::store::FileStore;
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An in-memory store that can be told to fail.
    #[derive(Default)]
    struct MemStore {
        lists: std::sync::Mutex<BTreeMap<String, ManifestList>>,
        fail: AtomicBool,
    }

    impl MemStore {
        fn with(lists: Vec<ManifestList>) -> Arc<Self> {
            let store = MemStore::default();
            {
                let mut map = store.lists.lock().expect("not poisoned");
                for l in lists {
                    map.insert(l.id.clone(), l);
                }
            }
            Arc::new(store)
        }

        fn check(&self) -> Result<()> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Storage, "disk full"));
            }
            Ok(())
        }

        fn stored(&self, id: &str) -> Option<ManifestList> {
            self.lists.lock().expect("not poisoned").get(id).cloned()
        }
    }

    #[async_trait]
    impl ListStore for MemStore {
        async fn load_all(&self) -> Result<Vec<ManifestList>> {
            Ok(self
                .lists
                .lock()
                .expect("not poisoned")
                .values()
                .cloned()
                .collect())
        }
        async fn save(&self, list: &ManifestList) -> Result<()> {
            self.check()?;
            self.lists
                .lock()
                .expect("not poisoned")
                .insert(list.id.clone(), list.clone());
            Ok(())
        }
        async fn delete(&self, id: &str) -> Result<()> {
            self.check()?;
            self.lists.lock().expect("not poisoned").remove(id);
            Ok(())
        }
    }

    fn list(id_char: char, id_rest: char, names: &[&str], created: u64) -> ManifestList {
        ManifestList {
            id: format!("{id_char}{}", id_rest.to_string().repeat(63)),
            names: names.iter().map(|n| n.to_string()).collect(),
            created,
            ..Default::default()
        }
    }

    fn instance(n: usize) -> Instance {
        Instance {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{n:064x}"),
            size: 100,
            ..Default::default()
        }
    }

    async fn fixture() -> (Catalog, Arc<MemStore>) {
        let store = MemStore::with(vec![
            list('a', '1', &["localhost/foo:latest"], 1),
            list('a', '2', &["quay.io/libpod/foobar:latest"], 2),
            list('b', '3', &["localhost/ml:v1"], 3),
            list('c', '4', &["localhost/a/b:v1"], 4),
            list('d', '5', &["docker.io/library/alpine:latest"], 5),
            list('e', '6', &["localhost/two:latest", "localhost/other:v2"], 6),
        ]);
        let catalog = Catalog::open(store.clone()).await.expect("opens");
        (catalog, store)
    }

    fn id(c: char, rest: char) -> String {
        format!("{c}{}", rest.to_string().repeat(63))
    }

    #[tokio::test]
    async fn lookup_rules() {
        let (catalog, _) = fixture().await;
        assert_eq!(count(&catalog), 6);
        let foo = id('a', '1');
        let foobar = id('a', '2');
        let ml = id('b', '3');
        let cases: &[(&str, &str)] = &[
            ("foo", &foo),
            ("foo:latest", &foo),
            ("localhost/foo", &foo),
            ("localhost/foo:latest", &foo),
            ("foobar", &foobar),
            ("foobar:latest", &foobar),
            ("libpod/foobar", &foobar),
            ("quay.io/libpod/foobar", &foobar),
            ("ml:v1", &ml),
            ("localhost/ml:v1", &ml),
            ("a/b:v1", &id('c', '4')),
            ("alpine", &id('d', '5')),
            ("docker.io/alpine", &id('d', '5')),
            ("library/alpine", &id('d', '5')),
            ("other:v2", &id('e', '6')),
            // IDs: full, sha256:, unambiguous prefixes.
            (&foo, &foo),
            (&format!("sha256:{ml}"), &ml),
            ("b3", &ml),
            ("b", &ml),
            ("c4444", &id('c', '4')),
        ];
        for (name, want) in cases {
            assert_eq!(
                catalog.resolve_for(name, &Viewer::ALL).as_deref(),
                Ok(*want),
                "resolving {name}"
            );
        }
        for missing in [
            "ml",
            "foobar:v2",
            "quay.io/foobar",
            "nolist",
            "a",
            "localhost/libpod/foobar",
        ] {
            let e = catalog
                .resolve_for(missing, &Viewer::ALL)
                .expect_err(missing);
            assert_eq!(e.kind(), ErrorKind::NotFound, "{missing}");
            assert_eq!(e.message(), format!("{missing}: image not known"));
            assert_eq!(e.cause(), "image not known");
        }
        let e = catalog
            .resolve_for(&format!("sha256:{}", "f".repeat(64)), &Viewer::ALL)
            .expect_err("unknown id");
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn invalid_names_fail_before_lookup() {
        let (catalog, _) = fixture().await;
        let e = catalog
            .resolve_for("ThisIsInvalid", &Viewer::ALL)
            .expect_err("invalid");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "parsing reference \"ThisIsInvalid\": invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            e.cause(),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            catalog
                .resolve_for("", &Viewer::ALL)
                .expect_err("empty")
                .kind(),
            ErrorKind::InvalidInput
        );
        let e = catalog
            .resolve_for("sha256:abc", &Viewer::ALL)
            .expect_err("short sha");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "sha256:abc: invalid format: no 64-byte hexadecimal value"
        );
    }

    #[tokio::test]
    async fn ambiguous_prefix_is_not_known() {
        let (catalog, _) = fixture().await;
        // Both a111… and a222… start with "a".
        let e = catalog
            .resolve_for("a", &Viewer::ALL)
            .expect_err("ambiguous");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            catalog.resolve_for("a1", &Viewer::ALL).as_deref(),
            Ok(id('a', '1').as_str())
        );
    }

    #[tokio::test]
    async fn digest_references_match_the_list_manifest() {
        let (catalog, _) = fixture().await;
        let foo = id('a', '1');
        let digest = catalog.get(&foo).await.expect("exists").digest();
        for name in [
            format!("localhost/foo@{digest}"),
            format!("foo@{digest}"),
            format!("foo:latest@{digest}"),
        ] {
            assert_eq!(
                catalog.resolve_for(&name, &Viewer::ALL).as_deref(),
                Ok(foo.as_str()),
                "{name}"
            );
        }
        let other = format!("sha256:{}", "9".repeat(64));
        assert!(catalog
            .resolve_for(&format!("foo@{other}"), &Viewer::ALL)
            .is_err());
        // The digest follows updates.
        catalog
            .update(&foo, |l| {
                l.add_instance(instance(1));
                Ok(())
            })
            .await
            .expect("updates");
        let new_digest = catalog.get(&foo).await.expect("exists").digest();
        assert_ne!(new_digest, digest);
        assert!(catalog
            .resolve_for(&format!("foo@{digest}"), &Viewer::ALL)
            .is_err());
        assert_eq!(
            catalog
                .resolve_for(&format!("foo@{new_digest}"), &Viewer::ALL)
                .as_deref(),
            Ok(foo.as_str())
        );
    }

    #[tokio::test]
    async fn create_checks_names() {
        let (catalog, store) = fixture().await;
        let created = catalog
            .create_for("localhost/new:latest", &Viewer::ALL)
            .await
            .expect("free");
        assert!(is_list_id(&created.id));
        assert_eq!(created.names, ["localhost/new:latest"]);
        assert!(created.instances.is_empty());
        assert_eq!(store.stored(&created.id), Some(created.clone()));
        assert_eq!(
            catalog.resolve_for("new", &Viewer::ALL).as_deref(),
            Ok(created.id.as_str())
        );

        let e = catalog
            .create_for("localhost/new:latest", &Viewer::ALL)
            .await
            .expect_err("taken");
        assert_eq!(e.kind(), ErrorKind::NameInUse);
        assert_eq!(
            e.message(),
            format!(
                "image name \"localhost/new:latest\" is already associated with image \"{}\": that name is already in use",
                created.id
            )
        );
        assert_eq!(e.cause(), "that name is already in use");
        // A second name of an existing list is taken too.
        assert_eq!(
            catalog
                .create_for("localhost/other:v2", &Viewer::ALL)
                .await
                .expect_err("taken")
                .kind(),
            ErrorKind::NameInUse
        );
        for unnormalised in ["new", "Upper", "localhost/new"] {
            assert_eq!(
                catalog
                    .create_for(unnormalised, &Viewer::ALL)
                    .await
                    .expect_err(unnormalised)
                    .kind(),
                ErrorKind::InvalidInput
            );
        }
        assert_eq!(count(&catalog), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_of_one_name_have_one_winner() {
        let store = MemStore::with(Vec::new());
        let catalog = Arc::new(Catalog::open(store).await.expect("opens"));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let c = catalog.clone();
                tokio::spawn(
                    async move { c.create_for("localhost/race:latest", &Viewer::ALL).await },
                )
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.expect("task ran") {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::NameInUse),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(count(&catalog), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_updates_lose_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(FileStore::open(tmp.path()).expect("opens"));
        let catalog = Arc::new(Catalog::open(store).await.expect("opens"));
        let id = catalog
            .create_for("localhost/busy:latest", &Viewer::ALL)
            .await
            .expect("creates")
            .id;
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let c = catalog.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    c.update(&id, |l| {
                        l.add_instance(instance(n));
                        Ok(l.instances.len())
                    })
                    .await
                })
            })
            .collect();
        let mut lens = Vec::new();
        for t in tasks {
            lens.push(t.await.expect("task ran").expect("updated"));
        }
        lens.sort_unstable();
        assert_eq!(
            lens,
            (1..=20).collect::<Vec<_>>(),
            "each saw the previous ones"
        );
        let list = catalog.get(&id).await.expect("exists");
        assert_eq!(list.instances.len(), 20);

        // Everything is on disk.
        let reopened = Catalog::open(Arc::new(FileStore::open(tmp.path()).expect("opens")))
            .await
            .expect("reopens");
        assert_eq!(reopened.get(&id).await.expect("exists"), list);
        assert_eq!(
            reopened.resolve_for("busy", &Viewer::ALL).as_deref(),
            Ok(id.as_str())
        );
    }

    #[tokio::test]
    async fn failed_updates_change_nothing() {
        let (catalog, store) = fixture().await;
        let ml = id('b', '3');
        let before = catalog.get(&ml).await.expect("exists");

        let e = catalog
            .update(&ml, |l| {
                l.add_instance(instance(1));
                l.remove_instance("sha256:nope")
            })
            .await
            .expect_err("f failed");
        assert_eq!(e.kind(), ErrorKind::InstanceNotFound);
        assert_eq!(catalog.get(&ml).await.expect("exists"), before);

        store.fail.store(true, Ordering::SeqCst);
        let e = catalog
            .update(&ml, |l| {
                l.add_instance(instance(2));
                Ok(())
            })
            .await
            .expect_err("store failed");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert_eq!(catalog.get(&ml).await.expect("exists"), before);
        assert_eq!(store.stored(&ml), Some(before.clone()));
        store.fail.store(false, Ordering::SeqCst);

        let e = catalog
            .update(&ml, |l| {
                l.names.push("localhost/sneaky:latest".into());
                Ok(())
            })
            .await
            .expect_err("names are not for update");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(catalog.resolve_for("sneaky", &Viewer::ALL).is_err());

        let e = catalog
            .update(&id('f', 'f'), |_| Ok(()))
            .await
            .expect_err("unknown");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            catalog.get("nope").await.expect_err("unknown").kind(),
            ErrorKind::NotFound
        );
    }

    #[tokio::test]
    async fn failed_create_leaves_the_name_free() {
        let store = MemStore::with(Vec::new());
        let catalog = Catalog::open(store.clone()).await.expect("opens");
        store.fail.store(true, Ordering::SeqCst);
        let e = catalog
            .create_for("localhost/x:latest", &Viewer::ALL)
            .await
            .expect_err("store failed");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert_eq!(count(&catalog), 0);
        assert!(catalog.resolve_for("x", &Viewer::ALL).is_err());
        store.fail.store(false, Ordering::SeqCst);
        catalog
            .create_for("localhost/x:latest", &Viewer::ALL)
            .await
            .expect("free again");
    }

    #[tokio::test]
    async fn remove_by_name_untags_and_by_id_deletes() {
        let (catalog, store) = fixture().await;
        let two = id('e', '6');

        // A name of a list with two names: untag only.
        let (untagged, deleted) = catalog
            .remove_for("two", &Viewer::ALL)
            .await
            .expect("removes");
        assert_eq!(untagged, ["localhost/two:latest"]);
        assert_eq!(deleted, None);
        assert!(catalog.resolve_for("two", &Viewer::ALL).is_err());
        assert_eq!(
            catalog.resolve_for("other:v2", &Viewer::ALL).as_deref(),
            Ok(two.as_str())
        );
        assert_eq!(
            store.stored(&two).map(|l| l.names),
            Some(vec!["localhost/other:v2".to_string()])
        );
        // The name is free for a new list.
        catalog
            .create_for("localhost/two:latest", &Viewer::ALL)
            .await
            .expect("name is free");

        // The last name deletes the record.
        let (untagged, deleted) = catalog
            .remove_for("localhost/other:v2", &Viewer::ALL)
            .await
            .expect("removes");
        assert_eq!(untagged, ["localhost/other:v2"]);
        assert_eq!(deleted.as_deref(), Some(two.as_str()));
        assert!(store.stored(&two).is_none());
        assert_eq!(
            catalog.get(&two).await.expect_err("gone").kind(),
            ErrorKind::NotFound
        );

        // By ID (or prefix): delete with every name.
        let mut multi = list('f', '7', &["localhost/m1:latest", "localhost/m2:latest"], 9);
        multi.add_instance(instance(3));
        let store2 = MemStore::with(vec![multi.clone()]);
        let catalog2 = Catalog::open(store2.clone()).await.expect("opens");
        let (untagged, deleted) = catalog2
            .remove_for("f7", &Viewer::ALL)
            .await
            .expect("removes");
        assert_eq!(untagged, multi.names);
        assert_eq!(deleted.as_deref(), Some(multi.id.as_str()));
        assert_eq!(count(&catalog2), 0);
        assert!(store2.stored(&multi.id).is_none());

        let e = catalog
            .remove_for("nolist", &Viewer::ALL)
            .await
            .expect_err("missing");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.message(), "nolist: image not known");
    }

    #[tokio::test]
    async fn remove_with_a_failing_store_changes_nothing() {
        let (catalog, store) = fixture().await;
        store.fail.store(true, Ordering::SeqCst);
        assert_eq!(
            catalog
                .remove_for("foo", &Viewer::ALL)
                .await
                .expect_err("fails")
                .kind(),
            ErrorKind::Storage
        );
        assert_eq!(
            catalog
                .remove_for("two", &Viewer::ALL)
                .await
                .expect_err("fails")
                .kind(),
            ErrorKind::Storage
        );
        store.fail.store(false, Ordering::SeqCst);
        assert_eq!(
            catalog.resolve_for("foo", &Viewer::ALL).as_deref(),
            Ok(id('a', '1').as_str())
        );
        assert_eq!(
            catalog.resolve_for("two", &Viewer::ALL).as_deref(),
            Ok(id('e', '6').as_str())
        );
        assert_eq!(count(&catalog), 6);
    }

    #[tokio::test]
    async fn survives_a_restart() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let open = || async {
            Catalog::open(Arc::new(FileStore::open(tmp.path()).expect("opens")))
                .await
                .expect("opens")
        };
        let catalog = open().await;
        let a = catalog
            .create_for("localhost/a:latest", &Viewer::ALL)
            .await
            .expect("creates");
        let b = catalog
            .create_for("quay.io/x/b:v1", &Viewer::ALL)
            .await
            .expect("creates");
        catalog
            .update(&a.id, |l| {
                l.add_instance(instance(1));
                l.annotate_index(&BTreeMap::from([("k".into(), "v".into())]), None);
                Ok(())
            })
            .await
            .expect("updates");
        catalog
            .remove_for(&b.id, &Viewer::ALL)
            .await
            .expect("removes");
        let before = catalog.get(&a.id).await.expect("exists");
        drop(catalog);

        let catalog = open().await;
        assert_eq!(count(&catalog), 1);
        assert_eq!(catalog.get(&a.id).await.expect("exists"), before);
        assert!(catalog.resolve_for("quay.io/x/b:v1", &Viewer::ALL).is_err());
        assert_eq!(
            catalog
                .create_for("localhost/a:latest", &Viewer::ALL)
                .await
                .expect_err("taken")
                .kind(),
            ErrorKind::NameInUse
        );
    }

    #[tokio::test]
    async fn duplicate_stored_names_keep_the_older_list() {
        let store = MemStore::with(vec![
            // Listed first by ID, but created later.
            list(
                'a',
                '1',
                &["localhost/dup:latest", "localhost/own:latest"],
                2,
            ),
            list('b', '2', &["localhost/dup:latest"], 1),
        ]);
        let catalog = Catalog::open(store).await.expect("opens");
        assert_eq!(
            catalog.resolve_for("dup", &Viewer::ALL).as_deref(),
            Ok(id('b', '2').as_str())
        );
        assert_eq!(
            catalog.resolve_for("own", &Viewer::ALL).as_deref(),
            Ok(id('a', '1').as_str())
        );
    }

    fn rule(identity: &str, share: &[&str]) -> manifold_config::policy::PolicyRule {
        manifold_config::policy::PolicyRule {
            identity: identity.into(),
            pull: vec!["*".into()],
            push: vec!["*".into()],
            use_configured_credentials: false,
            prefer_client_credentials: true,
            share_lists_with: share.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn uid(n: u32) -> Identity {
        Identity::Unix {
            uid: n,
            gid: Some(n + 100),
        }
    }

    /// uid 1 shares with uid 3; uid 2 and uid 3 share nothing.
    fn team_policy() -> Policy {
        Policy::from_rules(
            &[
                rule("uid:1", &["uid:3"]),
                rule("uid:2", &[]),
                rule("uid:3", &[]),
            ],
            None,
        )
        .expect("valid policy")
    }

    #[tokio::test]
    async fn viewers_see_their_own_lists_and_those_shared_with_them() {
        let store = MemStore::with(Vec::new());
        let catalog = Catalog::open(store.clone()).await.expect("opens");
        let policy = team_policy();
        let (one, two, three) = (uid(1), uid(2), uid(3));
        let (v1, v2, v3) = (
            Viewer::new(&one, &policy),
            Viewer::new(&two, &policy),
            Viewer::new(&three, &policy),
        );
        let a = catalog
            .create_for("localhost/alpha:latest", &v1)
            .await
            .expect("creates");
        assert_eq!(a.owner.as_deref(), Some("uid:1"));
        assert_eq!(a.owner_gid, Some(101));
        assert_eq!(store.stored(&a.id).and_then(|l| l.owner), a.owner);
        let b = catalog
            .create_for("localhost/beta:latest", &v2)
            .await
            .expect("creates");

        assert_eq!(
            catalog.resolve_for("alpha", &v1).as_deref(),
            Ok(a.id.as_str())
        );
        assert_eq!(
            catalog.resolve_for("alpha", &v3).as_deref(),
            Ok(a.id.as_str())
        );
        assert_eq!(
            catalog.resolve_for("beta", &v2).as_deref(),
            Ok(b.id.as_str())
        );
        // Every way of naming another identity's list fails exactly as a missing list does.
        let prefix = &a.id[..12];
        let sha = format!("sha256:{}", a.id);
        for name in [
            "alpha",
            "localhost/alpha:latest",
            "alpha:latest",
            a.id.as_str(),
            prefix,
            sha.as_str(),
        ] {
            let e = catalog.resolve_for(name, &v2).expect_err(name);
            assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");
            assert_eq!(e.message(), format!("{name}: image not known"));
            assert_eq!(e.cause(), "image not known");
        }
        assert!(catalog.resolve_for("beta", &v1).is_err());
        assert!(catalog.resolve_for("beta", &v3).is_err());
        // Removal is a lookup too.
        assert_eq!(
            catalog
                .remove_for("alpha", &v2)
                .await
                .expect_err("not visible")
                .kind(),
            ErrorKind::NotFound
        );
        assert!(store.stored(&a.id).is_some());
        // Without a viewer (and with an empty policy) everything is visible.
        assert_eq!(
            catalog.resolve_for("beta", &Viewer::ALL).as_deref(),
            Ok(b.id.as_str())
        );
        let open = Policy::from_rules(&[], None).expect("no rules");
        assert_eq!(
            catalog
                .resolve_for("beta", &Viewer::new(&one, &open))
                .as_deref(),
            Ok(b.id.as_str())
        );
        // Whoever a list is shared with may also remove it.
        catalog.remove_for("alpha", &v3).await.expect("shared");
        assert!(store.stored(&a.id).is_none());
    }

    #[tokio::test]
    async fn names_are_unique_per_owner_under_a_policy_and_global_without() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let open = || async {
            Catalog::open(Arc::new(FileStore::open(tmp.path()).expect("opens")))
                .await
                .expect("opens")
        };
        let catalog = open().await;
        let policy = team_policy();
        let (one, two, three) = (uid(1), uid(2), uid(3));
        let (v1, v2, v3) = (
            Viewer::new(&one, &policy),
            Viewer::new(&two, &policy),
            Viewer::new(&three, &policy),
        );
        let name = "localhost/same:latest";
        let l1 = catalog.create_for(name, &v1).await.expect("uid 1");
        let l2 = catalog
            .create_for(name, &v2)
            .await
            .expect("uid 2 has its own namespace");
        let e = catalog.create_for(name, &v1).await.expect_err("taken");
        assert_eq!(e.kind(), ErrorKind::NameInUse);
        assert!(e.message().contains(&l1.id), "{}", e.message());
        // uid 3 sees uid 1's list (shared) and may still have its own, which then wins.
        assert_eq!(
            catalog.resolve_for("same", &v3).as_deref(),
            Ok(l1.id.as_str())
        );
        let l3 = catalog.create_for(name, &v3).await.expect("own namespace");
        assert_eq!(
            catalog.resolve_for("same", &v3).as_deref(),
            Ok(l3.id.as_str())
        );
        // Without a policy names are unique across the store, as in podman.
        let open_policy = Policy::from_rules(&[], None).expect("no rules");
        let e = catalog
            .create_for(name, &Viewer::new(&two, &open_policy))
            .await
            .expect_err("global namespace");
        assert_eq!(e.kind(), ErrorKind::NameInUse);
        assert_eq!(
            catalog
                .create_for(name, &Viewer::ALL)
                .await
                .expect_err("global")
                .kind(),
            ErrorKind::NameInUse
        );
        drop(catalog);

        // Namespaces survive a restart.
        let catalog = open().await;
        assert_eq!(count(&catalog), 3);
        assert_eq!(
            catalog.resolve_for("same", &v1).as_deref(),
            Ok(l1.id.as_str())
        );
        assert_eq!(
            catalog.resolve_for("same", &v2).as_deref(),
            Ok(l2.id.as_str())
        );
        assert_eq!(
            catalog.resolve_for("same", &v3).as_deref(),
            Ok(l3.id.as_str())
        );
        // Removing a name removes it from one namespace only.
        let (untagged, deleted) = catalog.remove_for("same", &v2).await.expect("removes");
        assert_eq!(untagged, [name]);
        assert_eq!(deleted.as_deref(), Some(l2.id.as_str()));
        assert!(catalog.resolve_for("same", &v2).is_err());
        assert_eq!(
            catalog.resolve_for("same", &v1).as_deref(),
            Ok(l1.id.as_str())
        );
        catalog
            .create_for(name, &v2)
            .await
            .expect("free again for uid 2");
    }

    #[tokio::test]
    async fn hidden_lists_neither_match_nor_make_prefixes_ambiguous() {
        let mut mine = list('a', '1', &["localhost/mine:latest"], 1);
        mine.owner = Some("uid:1".into());
        let mut theirs = list('a', '2', &["quay.io/x/mine:latest"], 0);
        theirs.owner = Some("uid:2".into());
        let catalog = Catalog::open(MemStore::with(vec![mine.clone(), theirs.clone()]))
            .await
            .expect("opens");
        let policy = team_policy();
        let one = uid(1);
        let v1 = Viewer::new(&one, &policy);
        // Both start with "a": only the visible one counts.
        assert_eq!(
            catalog.resolve_for("a", &v1).as_deref(),
            Ok(mine.id.as_str())
        );
        assert!(
            catalog.resolve_for("a", &Viewer::ALL).is_err(),
            "ambiguous for everyone"
        );
        // The fuzzy match skips the older, hidden quay.io/x/mine.
        assert_eq!(
            catalog.resolve_for("mine", &v1).as_deref(),
            Ok(mine.id.as_str())
        );
        assert_eq!(
            catalog
                .resolve_for("x/mine", &v1)
                .expect_err("hidden")
                .kind(),
            ErrorKind::NotFound
        );
    }

    #[tokio::test]
    async fn lists_without_an_owner_are_everyones_and_unreadable_owners_no_ones() {
        let legacy = list('a', '1', &["localhost/legacy:latest"], 1);
        let mut odd = list('b', '2', &["localhost/odd:latest"], 2);
        odd.owner = Some("root".into());
        let catalog = Catalog::open(MemStore::with(vec![legacy.clone(), odd.clone()]))
            .await
            .expect("opens");
        let policy = team_policy();
        let two = uid(2);
        let v2 = Viewer::new(&two, &policy);
        assert_eq!(
            catalog.resolve_for("legacy", &v2).as_deref(),
            Ok(legacy.id.as_str())
        );
        assert!(catalog.resolve_for("odd", &v2).is_err());
        assert_eq!(
            catalog.resolve_for("odd", &Viewer::ALL).as_deref(),
            Ok(odd.id.as_str())
        );
    }

    #[tokio::test]
    async fn updates_may_not_change_the_owner() {
        let (catalog, _) = fixture().await;
        let foo = id('a', '1');
        for change in [
            |l: &mut ManifestList| l.owner = Some("uid:0".into()),
            |l: &mut ManifestList| l.owner_gid = Some(0),
        ] {
            let e = catalog
                .update(&foo, |l| {
                    change(l);
                    Ok(())
                })
                .await
                .expect_err("owner is fixed");
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
        assert_eq!(catalog.get(&foo).await.expect("exists").owner, None);
    }

    fn assert_send<T: Send>(t: T) -> T {
        t
    }

    #[tokio::test]
    async fn futures_are_send() {
        let (catalog, _) = fixture().await;
        let created = assert_send(catalog.create_for("localhost/s:latest", &Viewer::ALL))
            .await
            .expect("creates");
        assert_send(catalog.update(&created.id, |_| Ok(())))
            .await
            .expect("updates");
        assert_send(catalog.get(&created.id)).await.expect("gets");
        assert_send(catalog.remove_for("s", &Viewer::ALL))
            .await
            .expect("removes");
    }

    #[test]
    fn name_helpers() {
        assert_eq!(
            split_name("localhost/a/b:v1"),
            ("localhost/a/b", Some("v1"), None)
        );
        assert_eq!(
            split_name("localhost:5000/a@sha256:x"),
            ("localhost:5000/a", None, Some("sha256:x"))
        );
        assert_eq!(
            split_name("localhost:5000/a:t@sha256:x"),
            ("localhost:5000/a", Some("t"), Some("sha256:x"))
        );
        assert_eq!(split_name("foo"), ("foo", None, None));
        assert_eq!(strip_tag_of_digested("foo:t@sha256:x"), "foo@sha256:x");
        assert_eq!(strip_tag_of_digested("foo:t"), "foo:t");
        assert!(is_short_name("foo:v1"));
        assert!(is_short_name("library/foo"));
        assert!(!is_short_name("localhost/foo"));
        assert!(!is_short_name("quay.io/foo"));
        assert!(!is_short_name("host:5000/foo"));
        assert_eq!(
            docker_candidate("foo").as_deref(),
            Some("docker.io/library/foo:latest")
        );
    }
}
