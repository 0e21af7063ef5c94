//! Routing: from a reference a client named to the places manifold actually talks to, and as
//! whom. This is the one place every registry read and write passes through, so the rules here
//! hold for add, inspect, subject, push sources and push destinations alike.
//!
//! For a reference, in this order:
//!
//! 1. **Allow-list.** Once the configuration has any `[[registry]]` entry, a reference no entry
//!    covers (by its prefix, its location or one of its mirrors) is refused with
//!    [`ErrorKind::Forbidden`], unless `allow_unlisted_registries = true`. A client's
//!    `tlsVerify=false` changes nothing here. With no entry at all every registry is allowed.
//! 2. **Rewrite.** The entry with the longest prefix covering the reference (its `prefix`, or
//!    its `location` when it has none) rewrites the prefix to its `location`, keeping the rest
//!    of the path and the tag or digest: with `prefix = "docker.io/library"` and
//!    `location = "127.0.0.1:5003/mirror/library"`, `docker.io/library/alpine:3` is read from
//!    and pushed to `127.0.0.1:5003/mirror/library/alpine:3`.
//! 3. **Mirrors**, for reads only: the entry's `[[registry.mirror]]`s, in order, each with the
//!    same rewrite, then the (rewritten) primary location. As containers/image does, every
//!    mirror serves digest and tag references unless the entry says `mirror_by_digest_only`
//!    or the mirror's `pull_from_mirror` restricts it (`digest-only`, `tag-only`). A read tries
//!    the places in order and the first that answers wins; when all fail, the primary's error
//!    is returned with the mirrors' errors in front, as `(mirrors also failed: …): …`.
//! 4. **TLS.** `Some(tls_verify)` from the client decides for every place; otherwise a place is
//!    insecure when its mirror says so or the `[[registry]]` entry (or mirror) whose location
//!    covers it says `insecure = true`.
//! 5. **Credentials**, chosen per place by the place's own location, never carried from one
//!    place to another: a primary's configured credentials are not sent to its mirrors, nor a
//!    client's `docker.io` credential to the location `docker.io` is rewritten to. See
//!    [`CredentialPolicy`] for the precedence between the client's and the configured ones.
//!
//! A [`Route`] is one resolved place: the effective reference, its TLS mode and the credential
//! chosen for it. Only this module makes routes, so every request has passed the allow-list.

use std::fmt;

use manifold_config::{location_covers, Config, PullFromMirror, RegistryEntry};

use super::configured::Configured;
use crate::credentials::{Auth, CredentialPolicy, Credentials};
use crate::error::{Error, ErrorKind, Result};
use crate::reference::{ImageRef, DEFAULT_REGISTRY};

/// The credentials and TLS choice of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The request's credentials and their policy; per registry the client's credential for it
    /// or a configured one is used (see [`CredentialPolicy`]).
    pub credentials: &'a Credentials,
    /// The client's `tlsVerify`: `Some(false)` makes the registry insecure, `Some(true)` makes it
    /// secure even when the configuration marks it insecure, `None` defers to the configuration.
    pub tls_verify: Option<bool>,
}

/// Where the credential of a route comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialSource {
    /// No credential: anonymous access.
    Anonymous,
    /// The credential the client sent.
    Client,
    /// manifold's configuration; the label says where (`registry[1].credentials ci`) and never
    /// holds the secret.
    Configured(String),
}

/// One place to send requests to: the effective reference (after rewrites, at a mirror or the
/// primary location), whether it may be reached insecurely, and the credential chosen for it.
#[derive(Clone)]
pub struct Route {
    image: ImageRef,
    insecure: bool,
    auth: Option<Auth>,
    source: CredentialSource,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential itself is never printed, only where it comes from.
        f.debug_struct("Route")
            .field("image", &self.image.to_string())
            .field("insecure", &self.insecure)
            .field("credential", &self.source)
            .finish()
    }
}

impl Route {
    /// The effective reference: the registry and repository requests go to.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// True when unverified TLS, then plain HTTP, are allowed.
    pub(crate) fn insecure(&self) -> bool {
        self.insecure
    }

    /// Where the credential comes from.
    pub fn credential_source(&self) -> &CredentialSource {
        &self.source
    }

    /// The credential, for the request that sends it to this route's registry.
    pub(crate) fn auth(&self) -> Option<&Auth> {
        self.auth.as_ref()
    }

    /// The same place and credential for another digest in the same repository.
    pub(crate) fn with_digest(&self, digest: &str) -> Route {
        Route {
            image: self.image.with_digest(digest),
            ..self.clone()
        }
    }
}

/// A place before its credential is chosen (choosing may run a helper, so it waits until the
/// place is actually tried).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The effective reference.
    pub image: ImageRef,
    /// Unverified TLS or plain HTTP allowed.
    pub insecure: bool,
}

/// The routing rules of one configuration, with its configured credentials.
pub(crate) struct Router {
    config: std::sync::Arc<Config>,
    configured: Configured,
}

impl Router {
    /// The router for `config`.
    pub(crate) fn new(config: std::sync::Arc<Config>) -> Self {
        Router {
            configured: Configured::new(config.clone()),
            config,
        }
    }

    /// Refuses a reference the configuration does not allow (see the module docs).
    pub(crate) fn check_allowed(&self, image: &ImageRef) -> Result<()> {
        let c = &self.config;
        if c.registries.is_empty() || c.allow_unlisted_registries {
            return Ok(());
        }
        let (registry, repository) = (image.registry.as_str(), image.repository.as_str());
        let covered = c.registries.iter().any(|e| {
            e.matches_prefix(registry, repository)
                || e.matches(registry, repository)
                || e.mirrors
                    .iter()
                    .any(|m| location_covers(&m.location, registry, repository))
        });
        if covered {
            return Ok(());
        }
        let host_listed = c.registries.iter().any(|e| {
            [e.effective_prefix(), e.location.as_str()]
                .into_iter()
                .chain(e.mirrors.iter().map(|m| m.location.as_str()))
                .any(|l| l.split('/').next() == Some(registry))
        });
        let message = if host_listed {
            let name = image.name();
            format!(
                "{name} is not in manifold's configuration (its [[registry]] entries for {registry} cover other namespaces): add [[registry]] location = \"{name}\" (or set allow_unlisted_registries = true)"
            )
        } else {
            format!(
                "registry {registry} is not in manifold's configuration: add [[registry]] location = \"{registry}\" (or set allow_unlisted_registries = true)"
            )
        };
        Err(Error::new(ErrorKind::Forbidden, message))
    }

    /// The places a read of `image` tries, in order: its mirrors that serve this kind of
    /// reference, then its primary location ([`Router::write_candidate`]).
    pub(crate) fn read_candidates(
        &self,
        image: &ImageRef,
        tls_verify: Option<bool>,
    ) -> Result<Vec<Candidate>> {
        self.check_allowed(image)?;
        let entry = self.config.prefix_entry(&image.registry, &image.repository);
        let mut places = Vec::new();
        if let Some(entry) = entry {
            for m in entry.mirrors.iter().filter(|m| serves(entry, m, image)) {
                let at = relocate(image, entry.effective_prefix(), &m.location)?;
                places.push(self.candidate(at, m.insecure, tls_verify));
            }
        }
        places.push(self.primary(image, entry, tls_verify)?);
        Ok(places)
    }

    /// Where every write to `image` goes: its primary location (after rewrites).
    pub(crate) fn write_candidate(
        &self,
        image: &ImageRef,
        tls_verify: Option<bool>,
    ) -> Result<Candidate> {
        self.check_allowed(image)?;
        let entry = self.config.prefix_entry(&image.registry, &image.repository);
        self.primary(image, entry, tls_verify)
    }

    /// `image`'s primary location under its `[[registry]]` entry, if any: rewritten when the
    /// entry has a prefix.
    fn primary(
        &self,
        image: &ImageRef,
        entry: Option<&RegistryEntry>,
        tls_verify: Option<bool>,
    ) -> Result<Candidate> {
        let at = match entry {
            Some(entry) if entry.rewrites() => {
                relocate(image, entry.effective_prefix(), &entry.location)?
            }
            _ => image.clone(),
        };
        Ok(self.candidate(at, false, tls_verify))
    }

    /// A place with its TLS mode: the client's `tls_verify` when given, else insecure when the
    /// mirror (`mirror_insecure`) or the configuration entry covering the place says so.
    fn candidate(
        &self,
        image: ImageRef,
        mirror_insecure: bool,
        tls_verify: Option<bool>,
    ) -> Candidate {
        let insecure = match tls_verify {
            Some(verify) => !verify,
            None => mirror_insecure || self.location_insecure(&image.registry, &image.repository),
        };
        Candidate { image, insecure }
    }

    /// The route for a candidate: its credential chosen under the request's policy.
    pub(crate) async fn route(&self, candidate: &Candidate, access: &Access<'_>) -> Result<Route> {
        let image = &candidate.image;
        let (auth, source) = self
            .choose(&image.registry, &image.repository, access.credentials)
            .await?;
        Ok(Route {
            image: image.clone(),
            insecure: candidate.insecure,
            auth,
            source,
        })
    }

    /// The one route a write to `image` goes to.
    pub(crate) async fn write_route(&self, image: &ImageRef, access: &Access<'_>) -> Result<Route> {
        let candidate = self.write_candidate(image, access.tls_verify)?;
        self.route(&candidate, access).await
    }

    /// True when `registry/repository` may be reached insecurely by the configuration alone:
    /// the `[[registry]]` entry whose location covers it says so, or else the mirror whose
    /// location covers it.
    pub(crate) fn location_insecure(&self, registry: &str, repository: &str) -> bool {
        if let Some(e) = self.config.registry_entry(registry, repository) {
            return e.insecure;
        }
        self.config
            .registries
            .iter()
            .flat_map(|e| e.mirrors.iter())
            .filter(|m| location_covers(&m.location, registry, repository))
            .max_by_key(|m| m.location.trim_end_matches('/').len())
            .is_some_and(|m| m.insecure)
    }

    /// The credential for an effective location (see [`CredentialPolicy`]).
    async fn choose(
        &self,
        registry: &str,
        repository: &str,
        credentials: &Credentials,
    ) -> Result<(Option<Auth>, CredentialSource)> {
        let client = credentials.for_registry(registry);
        let CredentialPolicy {
            use_configured,
            client_may_override,
        } = credentials.policy;
        if let Some(auth) = client {
            if client_may_override || !use_configured {
                return Ok((Some(auth.clone()), CredentialSource::Client));
            }
        }
        if use_configured {
            if let Some(found) = self.configured.lookup(registry, repository).await? {
                return Ok((Some(found.auth), CredentialSource::Configured(found.label)));
            }
        }
        Ok(match client {
            Some(auth) => (Some(auth.clone()), CredentialSource::Client),
            None => (None, CredentialSource::Anonymous),
        })
    }
}

/// True when `mirror` of `entry` serves `image` (a digest or a tag reference).
fn serves(entry: &RegistryEntry, mirror: &manifold_config::Mirror, image: &ImageRef) -> bool {
    let by_digest = image.digest.is_some();
    if entry.mirror_by_digest_only {
        return by_digest;
    }
    match mirror.pull_from_mirror.unwrap_or_default() {
        PullFromMirror::All => true,
        PullFromMirror::DigestOnly => by_digest,
        PullFromMirror::TagOnly => !by_digest,
    }
}

/// `image` with `prefix` (`host[/ns]`, which covers it) replaced by `location` (`host[/ns]`),
/// keeping the rest of the path, the tag and the digest.
pub(crate) fn relocate(image: &ImageRef, prefix: &str, location: &str) -> Result<ImageRef> {
    let prefix = prefix.trim_end_matches('/');
    let location = location.trim_end_matches('/');
    let rest = match prefix.split_once('/') {
        None => image.repository.as_str(),
        Some((_, ns)) => image
            .repository
            .strip_prefix(ns)
            .map(|r| r.trim_start_matches('/'))
            .unwrap_or(image.repository.as_str()),
    };
    let (host, ns) = match location.split_once('/') {
        Some((h, ns)) => (h, ns),
        None => (location, ""),
    };
    let mut repository = match (ns.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => ns.to_string(),
        (false, false) => format!("{ns}/{rest}"),
    };
    if repository.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{image}: the configuration rewrites {prefix:?} to {location:?}, which leaves no repository name; give the location a namespace"
            ),
        ));
    }
    // Docker Hub keeps single names under library/, as a reference parsed there would.
    if host == DEFAULT_REGISTRY && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    Ok(ImageRef {
        registry: host.to_string(),
        repository,
        tag: image.tag.clone(),
        digest: image.digest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use manifold_config::{Environment, Mirror, Overrides, RegistryCredentials};
    use std::sync::Arc;

    fn router(entries: Vec<RegistryEntry>, allow_unlisted: bool) -> Router {
        let file = manifold_config::FileConfig {
            registries: entries,
            allow_unlisted_registries: allow_unlisted,
            ..Default::default()
        };
        let config = Config::from_file(
            file,
            "<test>",
            &Overrides::default(),
            &Environment::default(),
        )
        .unwrap_or_else(|e| panic!("config: {e}"));
        Router::new(Arc::new(config))
    }

    fn entry(location: &str) -> RegistryEntry {
        RegistryEntry {
            location: location.into(),
            ..Default::default()
        }
    }

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn place(c: &Candidate) -> String {
        format!("{}{}", c.image, if c.insecure { " (insecure)" } else { "" })
    }

    /// The places a read of `s` tries.
    fn places(router: &Router, s: &str) -> Vec<String> {
        router
            .read_candidates(&r(s), None)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .iter()
            .map(place)
            .collect()
    }

    /// The place writes to `s` go, as a one-element list like [`places`].
    fn write_place(router: &Router, s: &str) -> Vec<String> {
        let c = router
            .write_candidate(&r(s), None)
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        vec![place(&c)]
    }

    #[test]
    fn no_entries_allow_everything_unchanged() {
        let router = router(vec![], false);
        assert_eq!(
            places(&router, "127.0.0.1:5009/app:1"),
            vec!["127.0.0.1:5009/app:1"]
        );
    }

    #[test]
    fn unlisted_registries_are_forbidden_with_the_key_to_add() {
        let router = router(vec![entry("127.0.0.1:5001"), entry("quay.io/team")], false);
        let e = router
            .read_candidates(&r("127.0.0.1:5009/app:1"), Some(false))
            .expect_err("unlisted");
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert_eq!(
            e.message(),
            "registry 127.0.0.1:5009 is not in manifold's configuration: add [[registry]] location = \"127.0.0.1:5009\" (or set allow_unlisted_registries = true)"
        );
        let e = router
            .write_candidate(&r("quay.io/other/app"), None)
            .expect_err("other namespace");
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(
            e.message().contains("location = \"quay.io/other/app\""),
            "{e}"
        );
        assert!(router.write_candidate(&r("quay.io/team/app"), None).is_ok());
        let open = self::router(vec![entry("127.0.0.1:5001")], true);
        assert!(open.read_candidates(&r("127.0.0.1:5009/app"), None).is_ok());
    }

    #[test]
    fn prefixes_rewrite_reads_and_writes_and_the_longest_wins() {
        let router = router(
            vec![
                RegistryEntry {
                    prefix: Some("docker.io".into()),
                    location: "127.0.0.1:5003/hub".into(),
                    ..Default::default()
                },
                RegistryEntry {
                    prefix: Some("docker.io/library".into()),
                    location: "127.0.0.1:5003/mirror/library".into(),
                    insecure: true,
                    ..Default::default()
                },
            ],
            false,
        );
        assert_eq!(
            places(&router, "alpine:3"),
            vec!["127.0.0.1:5003/mirror/library/alpine:3 (insecure)"]
        );
        let d = crate::oci::sha256_digest(b"x");
        assert_eq!(
            write_place(&router, &format!("docker.io/team/app@{d}")),
            vec![format!("127.0.0.1:5003/hub/team/app@{d}")]
        );
        // The rewritten location itself is configured, so it may be named directly.
        assert_eq!(
            places(&router, "127.0.0.1:5003/mirror/library/alpine:3"),
            vec!["127.0.0.1:5003/mirror/library/alpine:3 (insecure)"]
        );
    }

    #[test]
    fn mirrors_come_first_for_reads_only() {
        let mut hub = entry("docker.io");
        hub.mirrors = vec![
            Mirror {
                location: "127.0.0.1:5004".into(),
                insecure: true,
                pull_from_mirror: None,
            },
            Mirror {
                location: "mirror.example/hub".into(),
                insecure: false,
                pull_from_mirror: Some(PullFromMirror::DigestOnly),
            },
        ];
        let router = router(vec![hub.clone()], false);
        assert_eq!(
            places(&router, "alpine:3"),
            vec![
                "127.0.0.1:5004/library/alpine:3 (insecure)",
                "docker.io/library/alpine:3"
            ]
        );
        let d = crate::oci::sha256_digest(b"x");
        assert_eq!(
            places(&router, &format!("alpine@{d}")),
            vec![
                format!("127.0.0.1:5004/library/alpine@{d} (insecure)"),
                format!("mirror.example/hub/library/alpine@{d}"),
                format!("docker.io/library/alpine@{d}"),
            ]
        );
        assert_eq!(
            write_place(&router, "alpine:3"),
            vec!["docker.io/library/alpine:3"]
        );
        // A source recorded at the mirror is allowed and keeps the mirror's TLS setting.
        assert_eq!(
            places(&router, "127.0.0.1:5004/library/alpine:3"),
            vec!["127.0.0.1:5004/library/alpine:3 (insecure)"]
        );
        hub.mirrors[1].pull_from_mirror = None;
        hub.mirror_by_digest_only = true;
        let router = self::router(vec![hub], false);
        assert_eq!(
            places(&router, "alpine:3"),
            vec!["docker.io/library/alpine:3"]
        );
        assert_eq!(places(&router, &format!("alpine@{d}")).len(), 3);
    }

    #[test]
    fn tls_verify_overrides_configuration_for_every_place() {
        let mut e = entry("127.0.0.1:5000");
        e.insecure = true;
        // 127.0.0.1:5001 has no entry: reachable, and secure unless the client says otherwise.
        let router = router(vec![e], true);
        let is_insecure = |reference: &str, tls_verify: Option<bool>| {
            let image = r(reference);
            let read = router.read_candidates(&image, tls_verify).expect("allowed");
            let write = router.write_candidate(&image, tls_verify).expect("allowed");
            let modes: Vec<bool> = read.iter().chain([&write]).map(|c| c.insecure).collect();
            assert_eq!(
                modes.len(),
                2,
                "{reference}: one place to read, one to write"
            );
            assert!(
                modes.iter().all(|&m| m == modes[0]),
                "{reference}: {modes:?}"
            );
            modes[0]
        };
        assert!(is_insecure("127.0.0.1:5000/app", None));
        assert!(is_insecure("127.0.0.1:5000/app", Some(false)));
        assert!(!is_insecure("127.0.0.1:5000/app", Some(true)));
        assert!(!is_insecure("127.0.0.1:5001/app", None));
        assert!(is_insecure("127.0.0.1:5001/app", Some(false)));
    }

    #[test]
    fn relocation_keeps_the_rest_and_refuses_empty_names() {
        let img = r("quay.io/team/app:1");
        assert_eq!(
            relocate(&img, "quay.io/team", "127.0.0.1:5000")
                .expect("valid")
                .to_string(),
            "127.0.0.1:5000/app:1"
        );
        assert_eq!(
            relocate(&img, "quay.io", "docker.io")
                .expect("valid")
                .to_string(),
            "docker.io/team/app:1"
        );
        assert_eq!(
            relocate(&r("quay.io/app:1"), "quay.io", "docker.io")
                .expect("valid")
                .to_string(),
            "docker.io/library/app:1"
        );
        let e = relocate(&r("quay.io/team/app"), "quay.io/team/app", "127.0.0.1:5000")
            .expect_err("no name");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    fn access(credentials: &Credentials) -> Access<'_> {
        Access {
            credentials,
            tls_verify: None,
        }
    }

    #[tokio::test]
    async fn client_and_configured_credentials_follow_the_policy() {
        let mut e = entry("127.0.0.1:5002");
        e.credentials = Some(RegistryCredentials::with_password(
            "ci",
            Secret::new("configured-pw"),
        ));
        let router = router(vec![e, entry("127.0.0.1:5003")], false);
        let mut client = Credentials::anonymous();
        client.any_registry = Some(Auth::basic("me", "client-pw"));
        let at = |s: &str| Candidate {
            image: r(s),
            insecure: false,
        };
        let user = |route: &Route| match route.auth() {
            Some(Auth::Basic { username, .. }) => username.clone(),
            Some(Auth::IdentityToken(_)) => "<token>".into(),
            None => "anonymous".into(),
        };
        let policy = |use_configured, client_may_override| CredentialPolicy {
            use_configured,
            client_may_override,
        };
        let cases = [
            // (policy, client sends, at 5002 (configured), at 5003 (not configured))
            (policy(true, true), true, "me", "me"),
            (policy(true, true), false, "ci", "anonymous"),
            (policy(true, false), true, "ci", "me"),
            (policy(false, false), true, "me", "me"),
            (policy(false, true), false, "anonymous", "anonymous"),
        ];
        for (p, sends, configured_place, other_place) in cases {
            let creds = if sends {
                client.clone()
            } else {
                Credentials::anonymous()
            }
            .with_policy(p);
            let a = router
                .route(&at("127.0.0.1:5002/app"), &access(&creds))
                .await
                .expect("route");
            let b = router
                .route(&at("127.0.0.1:5003/app"), &access(&creds))
                .await
                .expect("route");
            assert_eq!(
                (user(&a).as_str(), user(&b).as_str()),
                (configured_place, other_place),
                "{p:?}, client sends: {sends}"
            );
            let printed = format!("{a:?} {b:?}");
            assert!(
                !printed.contains("configured-pw") && !printed.contains("client-pw"),
                "{printed}"
            );
        }
    }
}
