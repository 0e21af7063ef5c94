//! The `Composer` facade the proxy calls: create, add, annotate, remove, inspect, exists, delete
//! and push ([`Composer::authorize_push`], then [`Composer::push`]), built from the catalog
//! (lists), the manifest cache over the registry client (reads, and the push's writes), the pure
//! list model and the push executor.
//!
//! Registry reads happen before a list is locked, so slow registries never hold up other
//! clients of the same list, and a request whose reads fail changes nothing.
//!
//! Every call acts for one identity, carried by a [`Grant`] (in [`RegistryAccess::grant`] or
//! passed alone): lists are looked up among those the identity may see (others are "image not
//! known", exactly like missing ones), lists it creates record it as their owner, and every
//! registry reference a call would read or push to is checked against the grant *before* any
//! registry is contacted; a refusal is an [`ErrorKind::Denied`] error naming the rule.

use std::collections::BTreeMap;
use std::sync::Arc;

use manifold_config::policy::Grant;
use manifold_config::Config;

use crate::cache::ManifestCache;
use crate::catalog::{Catalog, Viewer};
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::list::{Instance, InstanceUpdate, ManifestList};
use crate::oci::{
    go_arch, is_image_config, validate_digest, Descriptor, ImageConfig, ImageManifest, IndexEntry,
    Platform, RawManifest,
};
use crate::parallel::bounded;
use crate::push::events::PushEventSender;
use crate::push::{execute::push_list, PushOptions};
use crate::reference::{create_list_name, ImageRef};
use crate::registry::{Access, RegistryClient, Route};
use crate::store::FileStore;

/// A push [`Composer::authorize_push`] allowed: the list as it was when checked, and where and
/// how it goes.
#[derive(Debug)]
pub struct AuthorizedPush {
    list: ManifestList,
    options: PushOptions,
}

/// How a request may reach registries: the client's credentials, its TLS choice, and what its
/// identity may do.
#[derive(Debug, Clone, Default)]
pub struct RegistryAccess {
    /// Credentials the client sent.
    pub credentials: Credentials,
    /// `Some(false)` when the client asked for no TLS verification.
    pub tls_verify: Option<bool>,
    /// The caller's identity and what the policy allows it: where it may pull and push, and
    /// whether the configured registry credentials serve it
    /// ([`Grant::use_configured_credentials`]). The default allows nothing.
    pub grant: Grant,
}

impl RegistryAccess {
    /// A request's access. The grant decides whether manifold's configured registry
    /// credentials may serve it and whether the client's own win over them:
    /// `credentials.policy` is set from [`Grant::use_configured_credentials`] and
    /// [`Grant::prefer_client_credentials`].
    pub fn new(mut credentials: Credentials, tls_verify: Option<bool>, grant: Grant) -> Self {
        credentials.policy.use_configured = grant.use_configured_credentials;
        credentials.policy.client_may_override = grant.prefer_client_credentials;
        RegistryAccess {
            credentials,
            tls_verify,
            grant,
        }
    }

    fn as_access(&self) -> Access<'_> {
        Access {
            credentials: &self.credentials,
            tls_verify: self.tls_verify,
        }
    }
}

/// What an add applies besides the images themselves.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Add every instance of a source list instead of the one for this platform.
    pub all: bool,
    /// Overrides and annotations for the (first) added instance.
    pub instance: InstanceUpdate,
    /// Annotations merged into the index.
    pub index_annotations: BTreeMap<String, String>,
    /// An image whose manifest becomes the index's subject.
    pub subject: Option<String>,
}

/// What an annotate applies.
#[derive(Debug, Clone, Default)]
pub struct AnnotateOptions {
    /// Overrides and annotations for instances.
    pub instance: InstanceUpdate,
    /// `os_features`, accepted and validated but never applied (as podman does).
    pub os_features: Vec<String>,
    /// Annotations merged into the index.
    pub index_annotations: BTreeMap<String, String>,
    /// An image whose manifest becomes the index's subject.
    pub subject: Option<String>,
}

/// The result of a modify call: what succeeded and the per-item errors.
#[derive(Debug, Clone, Default)]
pub struct ModifyOutcome {
    /// The list's ID.
    pub id: String,
    /// Items that succeeded.
    pub images: Vec<String>,
    /// Items that failed.
    pub errors: Vec<Error>,
}

/// What inspect found.
#[derive(Debug, Clone)]
pub enum Inspected {
    /// A list in manifold's store.
    Local(ManifestList),
    /// A list read from a registry.
    RemoteList(ManifestList),
    /// A single Docker image manifest read from a registry (podman shows it with no entries).
    RemoteImage {
        /// Its media type.
        media_type: String,
    },
}

/// The result of removing lists by name.
#[derive(Debug, Clone, Default)]
pub struct RemoveReport {
    /// Names removed from lists.
    pub untagged: Vec<String>,
    /// IDs of lists deleted.
    pub deleted: Vec<String>,
    /// Failures, one per name.
    pub errors: Vec<Error>,
}

/// The facade over lists and registries.
pub struct Composer {
    config: Arc<Config>,
    catalog: Catalog,
    /// Every registry read goes through the cache; pushes write through its client.
    registry: ManifestCache,
}

impl Composer {
    /// Opens the store under `config.data_dir` and builds the registry client.
    pub async fn open(config: Arc<Config>) -> Result<Self> {
        let store = FileStore::open(&config.data_dir)?;
        let catalog = Catalog::open(Arc::new(store)).await?;
        let registry = ManifestCache::new(RegistryClient::new(config.clone())?, &config.cache);
        Ok(Composer {
            config,
            catalog,
            registry,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates a list named `name` holding `images`, or, with `amend`, adds them to the list
    /// that has that name already. Registry reads come first: a failure creates nothing.
    pub async fn create(
        &self,
        name: &str,
        images: &[String],
        amend: bool,
        add: &AddOptions,
        access: &RegistryAccess,
    ) -> Result<String> {
        let normalized = create_list_name(name)?;
        self.check_image_count(images.len())?;
        self.check_sources(images, add.subject.as_deref(), &access.grant)?;
        let fetched = self.fetch_all(images, add, access).await?;
        let viewer = self.viewer(&access.grant);
        let existing = if amend {
            self.catalog.resolve_for(&normalized, &viewer).ok()
        } else {
            None
        };
        let id = match existing {
            Some(id) => id,
            None => {
                self.catalog
                    .create_for(&normalized, &viewer)
                    .await
                    .map_err(|e| e.context("creating image to hold manifest list"))?
                    .id
            }
        };
        if fetched.is_empty() && add.index_annotations.is_empty() {
            return Ok(id);
        }
        let max = self.config.limits.max_list_instances;
        self.catalog
            .update(&id, |list| apply_add(list, &fetched, add, max))
            .await?;
        Ok(id)
    }

    /// Succeeds when `name` is a list in the store that `grant`'s identity may see.
    pub async fn exists(&self, name: &str, grant: &Grant) -> Result<()> {
        self.resolve_for(name, grant).map(|_| ())
    }

    /// Resolves `name` to a list ID among the lists `grant`'s identity may see.
    pub fn resolve_for(&self, name: &str, grant: &Grant) -> Result<String> {
        self.catalog.resolve_for(name, &self.viewer(grant))
    }

    /// Who looks up lists for `grant`, under the configured policy.
    fn viewer<'a>(&'a self, grant: &'a Grant) -> Viewer<'a> {
        Viewer::new(grant.identity(), &self.config.policy)
    }

    /// Inspects a local list, or reads `name` from its registry when no list has that name.
    pub async fn inspect(&self, name: &str, access: &RegistryAccess) -> Result<Inspected> {
        if let Ok(id) = self.resolve_for(name, &access.grant) {
            return self.catalog.get(&id).await.map(Inspected::Local);
        }
        let image = ImageRef::parse_source(name)?;
        check(access.grant.check_pull(&image.name()))?;
        let (raw, _) = self
            .read_manifest(&image, &access.as_access())
            .await
            .map_err(|e| e.context(format!("reading image \"docker://{image}\"")))?;
        if raw.is_list() {
            return ManifestList::from_index(&raw).map(Inspected::RemoteList);
        }
        if raw.media_type == crate::oci::DOCKER_MANIFEST {
            return Ok(Inspected::RemoteImage {
                media_type: raw.media_type,
            });
        }
        Err(Error::new(
            ErrorKind::NotAList,
            format!("{image}: image is not a manifest list"),
        ))
    }

    /// Adds `images` to the list `name`. Every image is read first; if one fails nothing is
    /// added and the outcome carries that error.
    pub async fn add(
        &self,
        name: &str,
        images: &[String],
        add: &AddOptions,
        access: &RegistryAccess,
    ) -> Result<ModifyOutcome> {
        let id = self.resolve_for(name, &access.grant)?;
        let mut outcome = ModifyOutcome {
            id: id.clone(),
            ..Default::default()
        };
        if images.is_empty() && add.index_annotations.is_empty() && add.subject.is_none() {
            return Ok(outcome);
        }
        self.check_image_count(images.len())?;
        // A refusal is the whole request's error, not one image's: nothing is read.
        self.check_sources(images, add.subject.as_deref(), &access.grant)?;
        let fetched = match self.fetch_all(images, add, access).await {
            Ok(f) => f,
            Err(e) => {
                outcome.errors.push(e);
                return Ok(outcome);
            }
        };
        let max = self.config.limits.max_list_instances;
        match self
            .catalog
            .update(&id, |list| apply_add(list, &fetched, add, max))
            .await
        {
            Ok(()) => outcome.images = images.to_vec(),
            Err(e) => outcome.errors.push(e),
        }
        Ok(outcome)
    }

    /// Removes instances by digest, item by item.
    pub async fn remove(
        &self,
        name: &str,
        digests: &[String],
        grant: &Grant,
    ) -> Result<ModifyOutcome> {
        let id = self.resolve_for(name, grant)?;
        let digests = digests.to_vec();
        let (images, errors) = self
            .catalog
            .update(&id, move |list| {
                let mut images = Vec::new();
                let mut errors = Vec::new();
                for d in digests {
                    let result = validate_digest(&d)
                        .map_err(|e| e.context(format!("invalid image digest {d:?}")))
                        .and_then(|()| list.remove_instance(&d));
                    match result {
                        Ok(()) => images.push(d),
                        Err(e) => errors.push(e),
                    }
                }
                Ok((images, errors))
            })
            .await?;
        Ok(ModifyOutcome { id, images, errors })
    }

    /// Annotates instances (`targets` are digests or image references) or, with no targets,
    /// the index itself.
    pub async fn annotate(
        &self,
        name: &str,
        targets: &[String],
        opts: &AnnotateOptions,
        access: &RegistryAccess,
    ) -> Result<ModifyOutcome> {
        let id = self.resolve_for(name, &access.grant)?;
        let references: Vec<String> = targets
            .iter()
            .filter(|t| validate_digest(t).is_err())
            .cloned()
            .collect();
        self.check_sources(&references, opts.subject.as_deref(), &access.grant)?;
        let targets: Vec<String> = if targets.is_empty() {
            vec![String::new()]
        } else {
            targets.to_vec()
        };
        let subject = match &opts.subject {
            Some(s) if !s.is_empty() => Some(self.subject_descriptor(s, access).await),
            _ => None,
        };
        // Resolve every target to a digest before locking (image references need the registry).
        let mut resolved = Vec::new();
        for t in &targets {
            let r = if t.is_empty() {
                Ok(None)
            } else if validate_digest(t).is_ok() {
                Ok(Some(t.clone()))
            } else {
                self.target_digest(t, access)
                    .await
                    .map(Some)
                    .map_err(|e| e.context(format!("finding instance for {t:?}")))
            };
            resolved.push((t.clone(), r));
        }
        let opts = opts.clone();
        let (images, errors) = self
            .catalog
            .update(&id, move |list| {
                let mut images = Vec::new();
                let mut errors = Vec::new();
                for (target, digest) in resolved {
                    let result = match digest {
                        Err(e) => Err(e),
                        Ok(None) => annotate_index(list, &opts, subject.clone()),
                        Ok(Some(d)) => annotate_instance(list, &d, &opts),
                    };
                    match result {
                        Ok(()) if !target.is_empty() => images.push(target),
                        Ok(()) => {}
                        Err(e) => errors.push(e),
                    }
                }
                Ok((images, errors))
            })
            .await?;
        Ok(ModifyOutcome { id, images, errors })
    }

    /// Removes the lists named by `names` (a name untags, an ID deletes), one result per name,
    /// among the lists `grant`'s identity may see.
    pub async fn remove_lists(
        &self,
        names: &[String],
        ignore_missing: bool,
        grant: &Grant,
    ) -> RemoveReport {
        let mut report = RemoveReport::default();
        let viewer = self.viewer(grant);
        for name in names {
            match self.catalog.remove_for(name, &viewer).await {
                Ok((untagged, deleted)) => {
                    report.untagged.extend(untagged);
                    report.deleted.extend(deleted);
                }
                Err(e) if e.kind() == ErrorKind::NotFound && ignore_missing => {}
                Err(e) => report.errors.push(e),
            }
        }
        report
    }

    /// Pushes what [`Composer::authorize_push`] allowed and returns the digest of the index at
    /// the destination, reporting each step to `events` (the outcome last). The client's
    /// credentials (`access`, the same the push was authorized for) serve both the sources and
    /// the destination; its TLS choice applies to the destination (sources follow the
    /// configuration).
    pub async fn push(
        &self,
        authorized: &AuthorizedPush,
        access: &RegistryAccess,
        events: &PushEventSender,
    ) -> Result<String> {
        let source = Access {
            credentials: &access.credentials,
            tls_verify: None,
        };
        push_list(
            &self.registry,
            &authorized.list,
            &authorized.options,
            source,
            access.as_access(),
            self.config.push.concurrency,
            events,
        )
        .await
    }

    /// The push of list `name` as `opts` says, once the caller may see the list, may push to
    /// the destination and, for `opts.all`, may read every source the children are copied
    /// from; the only way to [`Composer::push`]. Callers that answer with a stream ask this
    /// first, so a refusal is a plain error reply.
    pub async fn authorize_push(
        &self,
        name: &str,
        opts: &PushOptions,
        access: &RegistryAccess,
    ) -> Result<AuthorizedPush> {
        let id = self
            .resolve_for(name, &access.grant)
            .map_err(|e| e.context(format!("retrieving local image from image name {name}")))?;
        let list = self.catalog.get(&id).await?;
        check(access.grant.check_push(&opts.destination.name()))?;
        if opts.all {
            for inst in &list.instances {
                // A source that does not parse is reported by the push itself.
                let Some(source) = inst.source.as_deref() else {
                    continue;
                };
                if let Ok(image) = ImageRef::parse(source) {
                    check(access.grant.check_pull(&image.name()))?;
                }
            }
        }
        Ok(AuthorizedPush {
            list,
            options: opts.clone(),
        })
    }

    /// Checks that `grant` may read every image reference and the subject before any of them
    /// is read. References that do not parse are left to the read, which reports them.
    fn check_sources(&self, images: &[String], subject: Option<&str>, grant: &Grant) -> Result<()> {
        let subject = subject.filter(|s| !s.is_empty());
        for reference in images.iter().map(String::as_str).chain(subject) {
            if let Ok(image) = ImageRef::parse_source(reference) {
                check(grant.check_pull(&image.name()))?;
            }
        }
        Ok(())
    }

    fn check_image_count(&self, n: usize) -> Result<()> {
        let max = self.config.limits.max_images_per_request;
        if n > max {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{n} images in one request is more than limits.max_images_per_request ({max}); send them in smaller batches"),
            ));
        }
        Ok(())
    }

    /// Reads every image (and the subject) from registries, in parallel, keeping the request's
    /// order; any failure fails the whole read.
    async fn fetch_all(
        &self,
        images: &[String],
        add: &AddOptions,
        access: &RegistryAccess,
    ) -> Result<Fetched> {
        // Images are read in parallel; their order in the list stays the request's order.
        let instances = bounded(
            self.config.push.concurrency,
            images.iter().map(|image| async move {
                self.instances_of(image, add.all, access)
                    .await
                    .map_err(|e| e.context(format!("adding {image:?} to the manifest list")))
            }),
        )
        .await?;
        let subject = match &add.subject {
            Some(s) if !s.is_empty() => Some(self.subject_descriptor(s, access).await?),
            _ => None,
        };
        Ok(Fetched { instances, subject })
    }

    /// The instances one image reference contributes to a list
    /// (`docs/libpod-api.md#adding-an-image`).
    async fn instances_of(
        &self,
        image: &str,
        all: bool,
        access: &RegistryAccess,
    ) -> Result<Vec<Instance>> {
        let named = ImageRef::parse_source(image)?;
        let (raw, route) = self.read_manifest(&named, &access.as_access()).await?;
        // Where the manifest was actually read (a mirror, a rewritten location): its config and
        // children are read from there too, with the same credential, and it is recorded as the
        // source push copies from.
        let image = route.image();
        if !raw.is_list() {
            return Ok(vec![self.image_instance(&route, &raw).await?]);
        }
        let entries = raw.index()?.manifests;
        let chosen: Vec<IndexEntry> = if all {
            entries
        } else {
            choose_instance(&entries)
                .cloned()
                .into_iter()
                .collect::<Vec<_>>()
        };
        if chosen.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "choosing an image from manifest list {image}: no image found in manifest list for architecture {}, variant \"\", OS linux",
                    go_arch()
                ),
            ));
        }
        let mut out = Vec::with_capacity(chosen.len());
        for d in chosen {
            let source = format!("{}@{}", image.name(), d.checked_digest(image)?);
            let mut inst = Instance::from_entry(&d, Some(source));
            let platform = &mut inst.platform;
            if platform.os.is_empty() || platform.architecture.is_empty() {
                // As podman does for an instance picked from a list: a missing os or architecture
                // comes from the instance's own config.
                let child = route.with_digest(&d.digest);
                let child_raw = self.registry.manifest_get(&child).await?;
                // A nested list has no config to take a platform from.
                let from_config = if child_raw.is_list() {
                    Platform::default()
                } else {
                    self.config_platform(&child, &child_raw.image_manifest()?)
                        .await?
                };
                if platform.os.is_empty() {
                    platform.os = from_config.os;
                }
                if platform.architecture.is_empty() {
                    platform.architecture = from_config.architecture;
                }
            }
            out.push(inst);
        }
        Ok(out)
    }

    /// The instance for a single-image manifest: platform from its config
    /// (`docs/libpod-api.md#adding-an-image`).
    async fn image_instance(&self, route: &Route, raw: &RawManifest) -> Result<Instance> {
        let manifest = raw.image_manifest()?;
        let platform = self.config_platform(route, &manifest).await?;
        Ok(Instance {
            media_type: raw.media_type.clone(),
            digest: raw.digest.clone(),
            size: i64::try_from(raw.bytes.len()).unwrap_or(i64::MAX),
            urls: Vec::new(),
            platform,
            annotations: BTreeMap::new(),
            artifact_type: manifest.artifact_type().as_ref().map(ToString::to_string),
            data: None,
            source: Some(format!("{}@{}", route.image().name(), raw.digest)),
        })
    }

    /// The platform the config of image manifest `manifest` (read at `route`) describes, or an
    /// empty one for artifacts and non-image configs.
    async fn config_platform(&self, route: &Route, manifest: &ImageManifest) -> Result<Platform> {
        let config = manifest.config();
        if manifest.artifact_type().is_some() || !is_image_config(config.media_type()) {
            return Ok(Platform::default());
        }
        // oci-spec takes any digest algorithm; a registry is asked only for one go-digest knows.
        let digest = config.digest().as_ref();
        validate_digest(digest).map_err(|e| {
            e.with_kind(ErrorKind::BadContent).context(format!(
                "manifest {} names config {digest:?}",
                route.image(),
            ))
        })?;
        let blob = self.registry.blob_get(route, digest).await?;
        Ok(ImageConfig::parse(&blob)?.platform())
    }

    /// The descriptor of the manifest `reference` names, for an index subject
    /// (`docs/libpod-api.md#index-subject`).
    async fn subject_descriptor(
        &self,
        reference: &str,
        access: &RegistryAccess,
    ) -> Result<Descriptor> {
        let image = ImageRef::parse_source(reference)?;
        let (raw, _) = self.read_manifest(&image, &access.as_access()).await?;
        let mut descriptor = raw.descriptor()?;
        if !raw.is_list() {
            descriptor.set_artifact_type(raw.image_manifest()?.artifact_type().clone());
        }
        Ok(descriptor)
    }

    /// The digest of the top manifest of an image reference (an annotate target).
    async fn target_digest(&self, target: &str, access: &RegistryAccess) -> Result<String> {
        let image = ImageRef::parse_source(target)?;
        let (raw, _) = self.read_manifest(&image, &access.as_access()).await?;
        Ok(raw.digest)
    }

    /// Reads `image`'s manifest through the cache at the first place that has it (mirrors, then
    /// the primary location), and returns it with that place.
    async fn read_manifest(
        &self,
        image: &ImageRef,
        access: &Access<'_>,
    ) -> Result<(RawManifest, Route)> {
        self.registry
            .client()
            .first_answer(image, access, |route| async move {
                self.registry.manifest_get(&route).await
            })
            .await
    }
}

/// A policy refusal as the composer's error: [`ErrorKind::Denied`], message and cause the
/// refusal's explanation.
fn check(decision: std::result::Result<(), manifold_config::policy::Denial>) -> Result<()> {
    decision.map_err(|d| Error::new(ErrorKind::Denied, d.message))
}

/// Everything an add read from registries.
#[derive(Debug, Default)]
struct Fetched {
    /// Instances per requested image, in request order.
    instances: Vec<Vec<Instance>>,
    /// The subject's descriptor, when one was asked for.
    subject: Option<Descriptor>,
}

impl Fetched {
    fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.subject.is_none()
    }
}

/// Applies fetched instances and the add options to a list (`docs/libpod-api.md#adding-an-image`):
/// each image's instances are added; the overrides apply to the first instance of each image.
fn apply_add(
    list: &mut ManifestList,
    fetched: &Fetched,
    add: &AddOptions,
    max: usize,
) -> Result<()> {
    for instances in &fetched.instances {
        for inst in instances {
            list.add_instance(inst.clone());
        }
        if let Some(first) = instances.first() {
            list.update_instance(&first.digest, &add.instance)?;
        }
    }
    if list.instances.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the list would hold {} instances, more than limits.max_list_instances ({max})",
                list.instances.len()
            ),
        ));
    }
    if !add.index_annotations.is_empty() || fetched.subject.is_some() {
        list.annotate_index(&add.index_annotations, fetched.subject.clone());
    }
    Ok(())
}

/// Annotates the index itself: per-instance fields are errors there
/// (`docs/libpod-api.md#manifest-annotate`).
fn annotate_index(
    list: &mut ManifestList,
    opts: &AnnotateOptions,
    subject: Option<Result<Descriptor>>,
) -> Result<()> {
    let u = &opts.instance;
    let needs_digest = [
        (!u.annotations.is_empty(), "annotation"),
        (u.arch.is_some(), "architecture"),
        (u.features.is_some(), "features"),
        (u.os.is_some(), "OS"),
        (!opts.os_features.is_empty(), "OS features"),
        (u.os_version.is_some(), "OS version"),
        (u.variant.is_some(), "variant"),
    ];
    if let Some((_, what)) = needs_digest.iter().find(|(set, _)| *set) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("setting {what} on an item in a manifest list requires an instance digest"),
        ));
    }
    let subject = subject.transpose()?;
    list.annotate_index(&opts.index_annotations, subject);
    Ok(())
}

/// Annotates one instance: index-level fields are errors there
/// (`docs/libpod-api.md#manifest-annotate`).
fn annotate_instance(list: &mut ManifestList, digest: &str, opts: &AnnotateOptions) -> Result<()> {
    if !opts.index_annotations.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "setting index-wide annotation in a manifest list requires no instance digest",
        ));
    }
    if opts.subject.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "setting subject for a manifest list requires no instance digest",
        ));
    }
    list.update_instance(digest, &opts.instance)
}

/// Picks the entry for this server's platform, as c/image's `ChooseInstance` does: linux and
/// this machine's architecture, preferring an exact variant match and otherwise the first.
fn choose_instance(entries: &[IndexEntry]) -> Option<&IndexEntry> {
    let arch = go_arch();
    let matching = entries.iter().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
    });
    let wanted_variant = if arch == "arm64" { "v8" } else { "" };
    let mut first = None;
    for d in matching {
        let variant = d.platform.as_ref().map_or("", |p| p.variant.as_str());
        if variant == wanted_variant {
            return Some(d);
        }
        first.get_or_insert(d);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use manifold_config::policy::Identity;

    /// A composer over a temporary store with these `[[policy]]` tables. Nothing here reaches a
    /// registry: refusals happen before any read.
    async fn composer_with(policy: &str) -> (Composer, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = manifold_config::parse_file(policy, "test.toml").expect("parses");
        let overrides = manifold_config::Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let config = Config::from_file(file, "test.toml", &overrides, &Default::default())
            .expect("valid config");
        let composer = Composer::open(Arc::new(config)).await.expect("opens");
        (composer, dir)
    }

    fn uid(n: u32) -> Identity {
        Identity::Unix {
            uid: n,
            gid: Some(n),
        }
    }

    const TWO_TEAMS: &str = r#"
[[policy]]
identity = "uid:1"
pull = ["reg.example:5000/"]
push = ["reg.example:5000/team-a/"]
use_configured_credentials = true

[[policy]]
identity = "uid:2"
pull = ["reg.example:5000/"]
push = ["reg.example:5000/team-b/"]
"#;

    fn access(composer: &Composer, n: u32) -> RegistryAccess {
        let grant = composer.config().policy.grant(&uid(n)).expect("a rule");
        RegistryAccess::new(Credentials::default(), None, grant)
    }

    #[tokio::test]
    async fn reads_outside_the_pull_prefixes_are_refused_before_any_registry_is_asked() {
        let (composer, _dir) = composer_with(TWO_TEAMS).await;
        let one = access(&composer, 1);
        let e = composer
            .create(
                "l",
                &["quay.io/x/y:1".into()],
                false,
                &AddOptions::default(),
                &one,
            )
            .await
            .expect_err("outside pull");
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert_eq!(
            e.message(),
            "identity uid:1 may not pull from quay.io/x/y (policy[0] allows pull from reg.example:5000/)"
        );
        assert!(
            composer.catalog.resolve_for("l", &Viewer::ALL).is_err(),
            "nothing was created"
        );

        composer
            .create("l", &[], false, &AddOptions::default(), &one)
            .await
            .expect("an empty list needs no read");
        let subject = AddOptions {
            subject: Some("docker.io/library/alpine".into()),
            ..Default::default()
        };
        let e = composer
            .add("l", &[], &subject, &one)
            .await
            .expect_err("subject outside pull");
        assert_eq!(e.kind(), ErrorKind::Denied);
        let e = composer
            .annotate(
                "l",
                &["quay.io/x/y:1".into()],
                &AnnotateOptions::default(),
                &one,
            )
            .await
            .expect_err("target outside pull");
        assert_eq!(e.kind(), ErrorKind::Denied);
        let e = composer
            .inspect("quay.io/x/y:1", &one)
            .await
            .expect_err("remote inspect outside pull");
        assert_eq!(e.kind(), ErrorKind::Denied);
    }

    #[tokio::test]
    async fn pushes_outside_the_push_prefixes_are_refused_and_lists_are_private() {
        let (composer, _dir) = composer_with(TWO_TEAMS).await;
        let (one, two) = (access(&composer, 1), access(&composer, 2));
        assert!(one.credentials.policy.use_configured);
        assert!(!two.credentials.policy.use_configured);
        composer
            .create("l", &[], false, &AddOptions::default(), &one)
            .await
            .expect("creates");
        let to = |dest: &str| PushOptions {
            destination: ImageRef::parse(dest).expect("reference"),
            all: true,
            format: None,
        };
        let e = composer
            .authorize_push("l", &to("reg.example:5000/team-b/app:v1"), &one)
            .await
            .expect_err("outside push");
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert_eq!(
            e.message(),
            "identity uid:1 may not push to reg.example:5000/team-b/app (policy[0] allows push to reg.example:5000/team-a/)"
        );
        composer
            .authorize_push("l", &to("reg.example:5000/team-a/app:v1"), &one)
            .await
            .expect("inside push");
        // uid 2 does not see uid 1's list, on any call.
        let e = composer
            .authorize_push("l", &to("reg.example:5000/team-b/app:v1"), &two)
            .await
            .expect_err("not visible");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            composer
                .exists("l", &two.grant)
                .await
                .expect_err("hidden")
                .kind(),
            ErrorKind::NotFound
        );
        let report = composer
            .remove_lists(&["l".into()], false, &two.grant)
            .await;
        assert_eq!(report.errors.len(), 1);
        composer.exists("l", &one.grant).await.expect("still there");
        // uid 2 may have its own "l".
        composer
            .create("l", &[], false, &AddOptions::default(), &two)
            .await
            .expect("own namespace");
        assert_ne!(
            composer.resolve_for("l", &one.grant),
            composer.resolve_for("l", &two.grant)
        );
    }

    fn entry(os: &str, arch: &str, variant: &str, digest: &str) -> IndexEntry {
        IndexEntry {
            digest: digest.into(),
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn chooses_this_machines_platform() {
        let arch = go_arch();
        let entries = vec![
            entry("windows", arch, "", "w"),
            entry("linux", "s390x-not-this", "", "x"),
            entry("linux", arch, "", "mine"),
        ];
        assert_eq!(
            choose_instance(&entries).map(|d| d.digest.as_str()),
            Some("mine")
        );
        assert!(choose_instance(&entries[..2]).is_none());
    }

    #[test]
    fn index_annotate_refuses_instance_fields() {
        let mut list = ManifestList::default();
        let opts = AnnotateOptions {
            instance: InstanceUpdate {
                annotations: BTreeMap::from([("a".into(), "b".into())]),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = annotate_index(&mut list, &opts, None).expect_err("needs a digest");
        assert_eq!(
            e.message(),
            "setting annotation on an item in a manifest list requires an instance digest"
        );
        let opts = AnnotateOptions {
            index_annotations: BTreeMap::from([("k".into(), "v".into())]),
            ..Default::default()
        };
        annotate_index(&mut list, &opts, None).expect("index annotations apply");
        assert_eq!(list.annotations.get("k").map(String::as_str), Some("v"));
        let e = annotate_instance(&mut list, "sha256:x", &opts).expect_err("no digest allowed");
        assert!(e.message().contains("requires no instance digest"));
    }
}
