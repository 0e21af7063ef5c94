//! Image references: parsing with the docker reference grammar, normalisation of image and list
//! names the way podman does it, and transports.
//!
//! Image names are normalised as docker does (`alpine` -> `docker.io/library/alpine`); list
//! names as podman names local images (`foo` -> `localhost/foo:latest`).

use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::oci::validate_digest;

/// The registry that unqualified image names belong to.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Transports that name local storage, which manifold does not have.
const LOCAL_TRANSPORTS: &[&str] = &[
    "containers-storage",
    "oci",
    "oci-archive",
    "dir",
    "docker-archive",
    "docker-daemon",
    "sif",
    "tarball",
    "ostree",
];

const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Registry host, with port if any (`127.0.0.1:5001`, `docker.io`).
    pub registry: String,
    /// Repository path inside the registry (`library/alpine`).
    pub repository: String,
    /// Tag, when the reference has one.
    pub tag: Option<String>,
    /// Digest, when the reference has one.
    pub digest: Option<String>,
}

fn invalid(cause: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, cause)
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let dashes = sep.bytes().all(|x| x == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

/// A domain: host components of `[a-zA-Z0-9-]` joined by dots, or a bracketed IPv6 address,
/// with an optional numeric port.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, tail)) => {
                if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                (
                    None,
                    tail.strip_prefix(':')
                        .map(Some)
                        .unwrap_or(if tail.is_empty() { None } else { Some("x") }),
                )
            }
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(host) = host {
        let ok = !host.is_empty()
            && host.split('.').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !c.starts_with('-')
                    && !c.ends_with('-')
            });
        if !ok {
            return false;
        }
    }
    match port {
        Some(p) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// The pieces of a reference before normalisation: `name`, tag and digest.
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn split_reference(s: &str) -> Result<Parts<'_>> {
    if s.is_empty() {
        return Err(invalid("invalid reference format"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            validate_digest(d).map_err(|_| invalid("invalid reference format"))?;
            (r, Some(d))
        }
        None => (s, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &rest[last_slash + i + 1..];
            if !valid_tag(tag) {
                return Err(invalid("invalid reference format"));
            }
            (&rest[..last_slash + i], Some(tag))
        }
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(invalid("invalid reference format"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(
            "invalid reference format: repository name must not be more than 255 characters",
        ));
    }
    Ok(Parts { name, tag, digest })
}

/// Splits `name` into (domain, path) if its first component is a domain.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_path(path: &str) -> Result<()> {
    if path.split('/').all(valid_path_component) {
        return Ok(());
    }
    let lowered = path.to_ascii_lowercase();
    if lowered.split('/').all(valid_path_component) {
        return Err(invalid(
            "invalid reference format: repository name must be lowercase",
        ));
    }
    Err(invalid("invalid reference format"))
}

impl ImageRef {
    /// Parses and normalises an image name the way docker does: a first component with a dot,
    /// a colon or `localhost` is the registry, otherwise `docker.io`, and single names there
    /// live under `library/`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts = split_reference(s)?;
        let (domain, path) = split_domain(parts.name);
        if let Some(d) = domain {
            if !valid_domain(d) {
                return Err(invalid("invalid reference format"));
            }
        }
        check_path(path)?;
        let registry = domain.unwrap_or(DEFAULT_REGISTRY).to_string();
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(ImageRef {
            registry,
            repository,
            tag: parts.tag.map(str::to_string),
            digest: parts.digest.map(str::to_string),
        })
    }

    /// Parses an image source for `add`, `create --images`, `subject` or remote inspect:
    /// `docker://` and plain names are registry references; local transports are refused with a
    /// message saying what to do instead.
    pub fn parse_source(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("docker://") {
            return Self::parse(rest);
        }
        if let Some((transport, _)) = s.split_once(':') {
            if LOCAL_TRANSPORTS.contains(&transport) {
                return Err(Error::new(
                    ErrorKind::LocalTransport,
                    format!(
                        "{s:?} names the local transport {transport:?}; manifold has no local image storage: push the image to a registry first and refer to it as docker://REGISTRY/REPOSITORY:TAG"
                    ),
                ));
            }
        }
        Self::parse(s)
    }

    /// Parses a push destination: a registry reference with `docker://` or no transport.
    pub fn parse_destination(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("docker://") {
            return Self::parse(rest);
        }
        if let Some((transport, _)) = s.split_once(':') {
            if LOCAL_TRANSPORTS.contains(&transport) || transport.contains("://") {
                return Err(invalid(&format!(
                    "unsupported transport {transport} in {s:?}: only docker transport is supported"
                )));
            }
        }
        Self::parse(s)
    }

    /// What to ask the registry for: the digest if there is one, else the tag, else `latest`.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The same repository at another digest.
    pub fn with_digest(&self, digest: &str) -> Self {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The normalised name of a list to be created as `name` ([`normalize_list_name`]), or the error
/// create reports for it: podman's `invalid image name <name>: …` context on the parse error.
pub fn create_list_name(name: &str) -> Result<String> {
    normalize_list_name(name).map_err(|e| e.context(format!("invalid image name {name}")))
}

/// Normalises a manifest-list name as podman names local images: names without a registry get
/// `localhost/`, names without tag or digest get `:latest`.
pub fn normalize_list_name(s: &str) -> Result<String> {
    let parts = split_reference(s)?;
    let (domain, path) = match split_domain(parts.name) {
        (Some(d), p) if d.contains('.') || d.contains(':') || d == "localhost" => (d, p),
        (Some(_), _) => ("localhost", parts.name),
        (None, p) => ("localhost", p),
    };
    if !valid_domain(domain) {
        return Err(invalid("invalid reference format"));
    }
    check_path(path)?;
    let path = if domain == DEFAULT_REGISTRY && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    let mut out = format!("{domain}/{path}");
    match (parts.tag, parts.digest) {
        (Some(t), d) => {
            out.push(':');
            out.push_str(t);
            if let Some(d) = d {
                out.push('@');
                out.push_str(d);
            }
        }
        (None, Some(d)) => {
            out.push('@');
            out.push_str(d);
        }
        (None, None) => out.push_str(":latest"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(r: Result<impl fmt::Debug>) -> String {
        r.expect_err("should fail").cause().to_string()
    }

    #[test]
    fn image_names_normalise_like_docker() {
        let r = ImageRef::parse("alpine").expect("valid");
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        assert_eq!(r.reference(), "latest");
        let r = ImageRef::parse("127.0.0.1:5001/app:amd64").expect("valid");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5001", "app")
        );
        assert_eq!(r.reference(), "amd64");
        let d = crate::oci::sha256_digest(b"x");
        let r = ImageRef::parse(&format!("localhost:5000/a/b:t@{d}")).expect("valid");
        assert_eq!(r.reference(), d);
        assert_eq!(r.to_string(), format!("localhost:5000/a/b:t@{d}"));
        let r = ImageRef::parse("quay.io/libpod/alpine").expect("valid");
        assert_eq!(r.name(), "quay.io/libpod/alpine");
        let r = ImageRef::parse("[::1]:5000/x").expect("valid");
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn bad_references_say_why() {
        assert_eq!(
            cause(ImageRef::parse("ThisIsInvalid")),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            cause(ImageRef::parse("123456!@#$%^")),
            "invalid reference format"
        );
        assert_eq!(cause(ImageRef::parse("")), "invalid reference format");
        assert_eq!(cause(ImageRef::parse("a:b:c")), "invalid reference format");
        assert_eq!(
            cause(ImageRef::parse("a@sha256:12")),
            "invalid reference format"
        );
        assert!(cause(ImageRef::parse(&"a".repeat(300))).contains("255"));
    }

    #[test]
    fn transports() {
        assert!(ImageRef::parse_source("docker://127.0.0.1:5001/app:amd64").is_ok());
        let e = ImageRef::parse_source("containers-storage:localhost/img:amd64")
            .expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::LocalTransport);
        assert!(e.message().contains("push the image to a registry first"));
        // A registry with a port is not a transport.
        assert!(ImageRef::parse_source("localhost:5000/img").is_ok());
        let e = ImageRef::parse_destination("oci:/tmp/x").expect_err("must fail");
        assert_eq!(
            e.cause(),
            "unsupported transport oci in \"oci:/tmp/x\": only docker transport is supported"
        );
    }

    #[test]
    fn list_names_normalise_like_podman() {
        assert_eq!(
            normalize_list_name("foo").expect("valid"),
            "localhost/foo:latest"
        );
        assert_eq!(
            normalize_list_name("a/b:v1").expect("valid"),
            "localhost/a/b:v1"
        );
        assert_eq!(
            normalize_list_name("quay.io/libpod/foobar").expect("valid"),
            "quay.io/libpod/foobar:latest"
        );
        assert_eq!(
            normalize_list_name("localhost/ml:v1").expect("valid"),
            "localhost/ml:v1"
        );
        assert_eq!(
            normalize_list_name("docker.io/alpine").expect("valid"),
            "docker.io/library/alpine:latest"
        );
        assert!(normalize_list_name("Upper").is_err());
        assert!(normalize_list_name("foo:latest/add").is_err());
    }

    #[test]
    fn create_list_name_adds_podmans_context() {
        assert_eq!(
            create_list_name("foo").expect("valid"),
            "localhost/foo:latest"
        );
        let e = create_list_name("ThisIsInvalid").expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "invalid image name ThisIsInvalid: invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            e.cause(),
            "invalid reference format: repository name must be lowercase"
        );
    }
}
