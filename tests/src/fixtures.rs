//! Synthetic test images, built in memory without internet and pushed over the registry API.
//!
//! Layers are seeded random tar archives (mtime 0, gzip with mtime 0), so the same [`ImageSpec`]
//! always gives the same digests. The image config carries the platform (`architecture`, `os`,
//! `variant`, `os.version`, `os.features`) and `rootfs.diff_ids` (sha256 of the uncompressed
//! layers). Images may share a base layer (enabling cross-repository mounts), come as OCI or Docker
//! schema 2, and be gathered into an OCI index or a Docker manifest list.
//!
//! Pushing goes blobs first (monolithic upload, skipped when HEAD finds the blob), then manifests by
//! digest, then tags, through [`RegClient`] (anonymous, Basic or bearer token).
//! Verification helpers read back through raw HTTP or `skopeo inspect --raw`.

use std::io::Write;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};

use crate::process::{IsolatedEnv, Output};
use crate::regclient::{FetchedManifest, RegClient};
use crate::registry::Registry;
use crate::sha256_digest;

pub use crate::regclient::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

/// The fixed creation time of every synthetic image.
pub const CREATED: &str = "1970-01-01T00:00:00Z";

/// Manifest format: OCI or Docker schema 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OCI image manifest / OCI image index.
    Oci,
    /// Docker schema 2 manifest / Docker manifest list.
    Docker,
}

impl Format {
    /// The single-image manifest media type.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_MANIFEST,
            Format::Docker => DOCKER_MANIFEST,
        }
    }

    /// The index / list media type.
    pub fn index_media_type(self) -> &'static str {
        match self {
            Format::Oci => OCI_INDEX,
            Format::Docker => DOCKER_LIST,
        }
    }

    /// The image config media type.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.config.v1+json",
            Format::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }

    /// The gzip layer media type.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Format::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
            Format::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

/// An image platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `os` (`linux`, `windows`).
    pub os: String,
    /// `architecture` (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// `variant` (`v7`, `v8`).
    pub variant: Option<String>,
    /// `os.version` (Windows).
    pub os_version: Option<String>,
    /// `os.features`.
    pub os_features: Vec<String>,
}

impl Platform {
    /// `os`/`architecture` without variant.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
            os_version: None,
            os_features: vec![],
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Platform {
        let mut parts = s.split('/');
        let os = parts.next().expect("platform has an os");
        let arch = parts
            .next()
            .unwrap_or_else(|| panic!("platform {s:?} needs os/arch"));
        let mut p = Platform::new(os, arch);
        p.variant = parts.next().map(str::to_string);
        p
    }

    /// With a variant.
    pub fn with_variant(mut self, variant: &str) -> Platform {
        self.variant = Some(variant.into());
        self
    }

    /// With an `os.version`.
    pub fn with_os_version(mut self, v: &str) -> Platform {
        self.os_version = Some(v.into());
        self
    }

    /// `os/arch[/variant]`.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// The platform object of an index descriptor.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("architecture".into(), json!(self.architecture));
        m.insert("os".into(), json!(self.os));
        if let Some(v) = &self.os_version {
            m.insert("os.version".into(), json!(v));
        }
        if !self.os_features.is_empty() {
            m.insert("os.features".into(), json!(self.os_features));
        }
        if let Some(v) = &self.variant {
            m.insert("variant".into(), json!(v));
        }
        Value::Object(m)
    }
}

/// What image to synthesise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The platform written into the config (and the index descriptor).
    pub platform: Platform,
    /// Number of own (non-base) layers.
    pub layers: usize,
    /// Uncompressed payload bytes per layer (random, so about the compressed size too).
    pub layer_size: usize,
    /// Seed of the own layers and of the config label.
    pub seed: u64,
    /// Seed of a shared first layer: images with the same base seed and `layer_size` share it.
    pub base_layer: Option<u64>,
    /// OCI or Docker.
    pub format: Format,
    /// gzip level 0-9 (0 stores, which is fastest for large incompressible layers).
    pub gzip_level: u32,
    /// Extra config labels.
    pub labels: Vec<(String, String)>,
    /// Manifest annotations (OCI only; ignored for Docker).
    pub annotations: Vec<(String, String)>,
}

impl ImageSpec {
    /// One 4 KiB layer, seed 0, OCI.
    pub fn new(platform: Platform) -> ImageSpec {
        ImageSpec {
            platform,
            layers: 1,
            layer_size: 4096,
            seed: 0,
            base_layer: None,
            format: Format::Oci,
            gzip_level: 6,
            labels: vec![],
            annotations: vec![],
        }
    }

    /// `ImageSpec::new(Platform::parse(platform))`.
    pub fn platform(platform: &str) -> ImageSpec {
        ImageSpec::new(Platform::parse(platform))
    }

    /// `linux/<arch>`.
    pub fn linux(arch: &str) -> ImageSpec {
        ImageSpec::new(Platform::new("linux", arch))
    }

    /// With a seed.
    pub fn seed(mut self, seed: u64) -> ImageSpec {
        self.seed = seed;
        self
    }

    /// With `n` own layers of `size` bytes.
    pub fn layers(mut self, n: usize, size: usize) -> ImageSpec {
        self.layers = n;
        self.layer_size = size;
        self
    }

    /// With a shared base layer.
    pub fn base(mut self, base_seed: u64) -> ImageSpec {
        self.base_layer = Some(base_seed);
        self
    }

    /// With a format.
    pub fn format(mut self, format: Format) -> ImageSpec {
        self.format = format;
        self
    }

    /// With a config label.
    pub fn label(mut self, k: &str, v: &str) -> ImageSpec {
        self.labels.push((k.into(), v.into()));
        self
    }

    /// With a manifest annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> ImageSpec {
        self.annotations.push((k.into(), v.into()));
        self
    }
}

/// A content blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:…` of `bytes`.
    pub digest: String,
    /// The bytes.
    pub bytes: Bytes,
    /// The media type used in descriptors.
    pub media_type: String,
}

/// An image built in memory (not pushed yet).
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// `sha256:` of the manifest bytes.
    pub digest: String,
    /// The manifest media type.
    pub media_type: String,
    /// The config blob.
    pub config: Blob,
    /// The layer blobs (base first).
    pub layers: Vec<Blob>,
    /// `sha256:` of each uncompressed layer.
    pub diff_ids: Vec<String>,
    /// The platform.
    pub platform: Platform,
}

/// An image that is in a registry.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Registry host (`127.0.0.1:PORT`).
    pub host: String,
    /// Repository.
    pub repo: String,
    /// Tag, when pushed with one.
    pub tag: Option<String>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest digest.
    pub digest: String,
    /// The manifest media type.
    pub media_type: String,
    /// Manifest size in bytes.
    pub size: u64,
    /// The config bytes.
    pub config: Vec<u8>,
    /// The config digest.
    pub config_digest: String,
    /// Layer digests (base first).
    pub layer_digests: Vec<String>,
    /// Layer (compressed) sizes.
    pub layer_sizes: Vec<u64>,
    /// Uncompressed layer digests.
    pub diff_ids: Vec<String>,
    /// The platform.
    pub platform: Platform,
}

impl PushedImage {
    /// What is known of `img` once it is in `host`'s `repo` (under `tag`, if given).
    pub fn new(host: &str, repo: &str, tag: Option<&str>, img: &BuiltImage) -> PushedImage {
        PushedImage {
            host: host.to_string(),
            repo: repo.into(),
            tag: tag.map(str::to_string),
            manifest: img.manifest.clone(),
            digest: img.digest.clone(),
            media_type: img.media_type.clone(),
            size: img.manifest.len() as u64,
            config: img.config.bytes.to_vec(),
            config_digest: img.config.digest.clone(),
            layer_digests: img.layers.iter().map(|l| l.digest.clone()).collect(),
            layer_sizes: img.layers.iter().map(|l| l.bytes.len() as u64).collect(),
            diff_ids: img.diff_ids.clone(),
            platform: img.platform.clone(),
        }
    }

    /// `host/repo:tag`, or `host/repo@digest` when untagged.
    pub fn reference(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}/{}:{}", self.host, self.repo, t),
            None => self.digest_reference(),
        }
    }

    /// `host/repo@digest`.
    pub fn digest_reference(&self) -> String {
        format!("{}/{}@{}", self.host, self.repo, self.digest)
    }

    /// `docker://` + [`PushedImage::reference`].
    pub fn docker_reference(&self) -> String {
        format!("docker://{}", self.reference())
    }

    /// Every blob digest: config and layers.
    pub fn blob_digests(&self) -> Vec<String> {
        let mut v = vec![self.config_digest.clone()];
        v.extend(self.layer_digests.iter().cloned());
        v
    }

    /// The index descriptor of this image (media type, digest, size, platform).
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "platform": self.platform.to_json(),
        })
    }
}

/// An index (or Docker list) that is in a registry, with its children.
#[derive(Debug, Clone)]
pub struct PushedIndex {
    /// Registry host.
    pub host: String,
    /// Repository.
    pub repo: String,
    /// Tag.
    pub tag: String,
    /// The index bytes.
    pub manifest: Vec<u8>,
    /// The index digest.
    pub digest: String,
    /// The index media type.
    pub media_type: String,
    /// Index size in bytes.
    pub size: u64,
    /// The children, in index order.
    pub children: Vec<PushedImage>,
}

impl PushedIndex {
    /// `host/repo:tag`.
    pub fn reference(&self) -> String {
        format!("{}/{}:{}", self.host, self.repo, self.tag)
    }

    /// `host/repo@digest`.
    pub fn digest_reference(&self) -> String {
        format!("{}/{}@{}", self.host, self.repo, self.digest)
    }

    /// The index parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.manifest).expect("index is JSON")
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix64(a ^ splitmix64(b))
}

/// A seeded random tar layer: `(gzip bytes, uncompressed tar bytes' digest)`.
pub fn random_layer(seed: u64, size: usize, gzip_level: u32) -> (Bytes, String) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut builder = tar::Builder::new(Vec::with_capacity(size + 4096));
    const CHUNK: usize = 1 << 20;
    let mut remaining = size;
    let mut n = 0;
    loop {
        let len = remaining.min(CHUNK);
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        let mut header = tar::Header::new_ustar();
        header.set_size(len as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(
                &mut header,
                format!("layer-{seed:016x}/file-{n:05}"),
                &data[..],
            )
            .expect("append tar entry");
        remaining -= len;
        n += 1;
        if remaining == 0 {
            break;
        }
    }
    let tar_bytes = builder.into_inner().expect("finish tar");
    let diff_id = sha256_digest(&tar_bytes);
    let mut gz = flate2::GzBuilder::new().mtime(0).write(
        Vec::with_capacity(tar_bytes.len() / 2 + 1024),
        flate2::Compression::new(gzip_level.min(9)),
    );
    gz.write_all(&tar_bytes).expect("gzip layer");
    let gz_bytes = gz.finish().expect("finish gzip");
    (Bytes::from(gz_bytes), diff_id)
}

/// Builds an image in memory from `spec` (deterministic).
pub fn build_image(spec: &ImageSpec) -> BuiltImage {
    let f = spec.format;
    let mut layers = vec![];
    let mut diff_ids = vec![];
    let mut seeds = vec![];
    if let Some(base) = spec.base_layer {
        seeds.push(mix(base, 0xBA5E_BA5E));
    }
    for i in 0..spec.layers {
        seeds.push(mix(spec.seed, i as u64 + 1));
    }
    for s in seeds {
        let (bytes, diff_id) = random_layer(s, spec.layer_size, spec.gzip_level);
        layers.push(Blob {
            digest: sha256_digest(&bytes),
            bytes,
            media_type: f.layer_media_type().into(),
        });
        diff_ids.push(diff_id);
    }

    let p = &spec.platform;
    let mut labels = serde_json::Map::new();
    labels.insert(
        "org.manifold.test.seed".into(),
        json!(spec.seed.to_string()),
    );
    for (k, v) in &spec.labels {
        labels.insert(k.clone(), json!(v));
    }
    let mut cfg = serde_json::Map::new();
    cfg.insert("created".into(), json!(CREATED));
    // The platform's fields, in `Platform::to_json`'s order, right after `created`.
    if let Value::Object(platform) = p.to_json() {
        cfg.extend(platform);
    }
    cfg.insert(
        "config".into(),
        json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Labels": labels}),
    );
    cfg.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    cfg.insert(
        "history".into(),
        Value::Array(
            (0..layers.len())
                .map(|i| json!({"created": CREATED, "created_by": format!("manifold-tests layer {i}")}))
                .collect(),
        ),
    );
    let config_bytes = serde_json::to_vec(&Value::Object(cfg)).expect("serialise config");
    let config = Blob {
        digest: sha256_digest(&config_bytes),
        bytes: Bytes::from(config_bytes),
        media_type: f.config_media_type().into(),
    };

    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(f.manifest_media_type()));
    m.insert(
        "config".into(),
        json!({"mediaType": config.media_type, "digest": config.digest, "size": config.bytes.len()}),
    );
    m.insert(
        "layers".into(),
        Value::Array(
            layers
                .iter()
                .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.bytes.len()}))
                .collect(),
        ),
    );
    if f == Format::Oci && !spec.annotations.is_empty() {
        let a: serde_json::Map<String, Value> = spec
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        m.insert("annotations".into(), Value::Object(a));
    }
    let manifest = serde_json::to_vec_pretty(&Value::Object(m)).expect("serialise manifest");
    BuiltImage {
        digest: sha256_digest(&manifest),
        manifest,
        media_type: f.manifest_media_type().into(),
        config,
        layers,
        diff_ids,
        platform: p.clone(),
    }
}

/// Pushes a built image: blobs (skipping present ones), the manifest by digest, then `tag`.
pub fn push_built(
    client: &RegClient,
    repo: &str,
    tag: Option<&str>,
    img: &BuiltImage,
) -> PushedImage {
    client.push_blob(repo, img.config.bytes.clone());
    for l in &img.layers {
        client.push_blob(repo, l.bytes.clone());
    }
    client.put_manifest(repo, &img.digest, &img.media_type, &img.manifest);
    if let Some(t) = tag {
        client.put_manifest(repo, t, &img.media_type, &img.manifest);
    }
    PushedImage::new(client.host(), repo, tag, img)
}

/// Builds and pushes `spec` to `reg` as `repo:tag`.
pub fn push_image(reg: &Registry, repo: &str, tag: &str, spec: &ImageSpec) -> PushedImage {
    push_built(
        &RegClient::for_registry(reg),
        repo,
        Some(tag),
        &build_image(spec),
    )
}

/// Serialises an index (`format`'s media type) over `children` descriptors, with optional
/// index annotations (OCI only).
pub fn index_bytes(
    children: &[PushedImage],
    format: Format,
    annotations: &[(&str, &str)],
) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("schemaVersion".into(), json!(2));
    m.insert("mediaType".into(), json!(format.index_media_type()));
    m.insert(
        "manifests".into(),
        Value::Array(children.iter().map(PushedImage::descriptor).collect()),
    );
    if format == Format::Oci && !annotations.is_empty() {
        let a: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        m.insert("annotations".into(), Value::Object(a));
    }
    serde_json::to_vec_pretty(&Value::Object(m)).expect("serialise index")
}

/// Pushes each spec's image by digest (forcing `format`), then an index over them by digest and
/// by `tag`.
pub fn push_index(
    reg: &Registry,
    repo: &str,
    tag: &str,
    specs: &[ImageSpec],
    format: Format,
) -> PushedIndex {
    let client = RegClient::for_registry(reg);
    let children: Vec<PushedImage> = specs
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.format = format;
            push_built(&client, repo, None, &build_image(&s))
        })
        .collect();
    let manifest = index_bytes(&children, format, &[]);
    let digest = client.put_manifest(
        repo,
        &sha256_digest(&manifest),
        format.index_media_type(),
        &manifest,
    );
    client.put_manifest(repo, tag, format.index_media_type(), &manifest);
    PushedIndex {
        host: reg.host(),
        repo: repo.into(),
        tag: tag.into(),
        size: manifest.len() as u64,
        manifest,
        digest,
        media_type: format.index_media_type().into(),
        children,
    }
}

/// The six platforms of the standard multi-arch fixture, seeds 1..=6, no shared layers:
/// linux/amd64, linux/arm64/v8, linux/arm/v7, linux/s390x, linux/ppc64le, and windows/amd64 with
/// `os.version` 10.0.17763.1234.
pub fn six_platforms() -> Vec<ImageSpec> {
    [
        Platform::new("linux", "amd64"),
        Platform::new("linux", "arm64").with_variant("v8"),
        Platform::new("linux", "arm").with_variant("v7"),
        Platform::new("linux", "s390x"),
        Platform::new("linux", "ppc64le"),
        Platform::new("windows", "amd64").with_os_version("10.0.17763.1234"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, p)| ImageSpec::new(p).seed(i as u64 + 1))
    .collect()
}

/// The tags [`push_six_singles`] uses, in [`six_platforms`] order.
pub const SIX_TAGS: [&str; 6] = ["amd64", "arm64", "armv7", "s390x", "ppc64le", "windows"];

/// Pushes six single-platform OCI images to `repo`, tagged [`SIX_TAGS`], sharing one base layer
/// (seeds 101..=106, base seed 100), so a push to another repository of the same registry can mount
/// the base.
pub fn push_six_singles(reg: &Registry, repo: &str) -> Vec<PushedImage> {
    push_six_singles_format(reg, repo, Format::Oci)
}

/// [`push_six_singles`] in a given format.
pub fn push_six_singles_format(reg: &Registry, repo: &str, format: Format) -> Vec<PushedImage> {
    let client = RegClient::for_registry(reg);
    six_platforms()
        .into_iter()
        .zip(SIX_TAGS)
        .map(|(spec, tag)| {
            let spec = ImageSpec {
                seed: spec.seed + 100,
                ..spec
            }
            .base(100)
            .format(format);
            push_built(&client, repo, Some(tag), &build_image(&spec))
        })
        .collect()
}

/// A linux/amd64 OCI image of two layers of `mib` MiB incompressible data each (gzip level 0),
/// pushed as `repo:tag`.
pub fn large_image(reg: &Registry, repo: &str, tag: &str, mib: usize, seed: u64) -> PushedImage {
    let mut spec = ImageSpec::linux("amd64").seed(seed).layers(2, mib << 20);
    spec.gzip_level = 0;
    push_image(reg, repo, tag, &spec)
}

/// GETs a manifest from `reg` with raw HTTP (its credentials); panics when it is missing.
pub fn get_manifest(reg: &Registry, repo: &str, reference: &str) -> FetchedManifest {
    try_get_manifest(reg, repo, reference)
        .unwrap_or_else(|| panic!("manifest {}/{repo}:{reference} not found", reg.host()))
}

/// GETs a manifest from `reg`; `None` on 404.
pub fn try_get_manifest(reg: &Registry, repo: &str, reference: &str) -> Option<FetchedManifest> {
    RegClient::for_registry(reg).get_manifest(repo, reference)
}

/// HEADs a blob in `reg`: `Some(size)` when present.
pub fn head_blob(reg: &Registry, repo: &str, digest: &str) -> Option<u64> {
    RegClient::for_registry(reg).head_blob(repo, digest)
}

/// The tags of `repo` in `reg`.
pub fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    RegClient::for_registry(reg).tags(repo)
}

/// `host/repo:tag` or `host/repo@digest` depending on whether `reference` is a digest.
pub fn image_ref(host: &str, repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("{host}/{repo}@{reference}")
    } else {
        format!("{host}/{repo}:{reference}")
    }
}

/// Runs skopeo with `args` in an isolated environment (no host auth files or config).
pub fn skopeo(args: &[&str]) -> Output {
    IsolatedEnv::new().run("skopeo", args)
}

/// `skopeo inspect --raw --tls-verify=false [--creds] docker://HOST/REPO:REF` of `reg`; returns
/// the exact bytes the registry serves (panics when skopeo fails).
pub fn skopeo_inspect_raw(reg: &Registry, repo: &str, reference: &str) -> Vec<u8> {
    let creds = reg.creds().map(|(u, p)| format!("{u}:{p}"));
    skopeo_inspect_raw_bytes(&image_ref(&reg.host(), repo, reference), creds.as_deref())
}

/// `skopeo inspect --raw` of `image` (`HOST/REPO:TAG` or `HOST/REPO@DIGEST`): the exact bytes
/// printed (panics when skopeo fails).
pub fn skopeo_inspect_raw_bytes(image: &str, creds: Option<&str>) -> Vec<u8> {
    let env = IsolatedEnv::new();
    let mut cmd = std::process::Command::new("skopeo");
    cmd.args(skopeo_inspect_args(image, creds));
    env.apply(&mut cmd);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --raw docker://{image} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn skopeo_inspect_args(image: &str, creds: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
    ];
    if let Some(c) = creds {
        args.push("--creds".into());
        args.push(c.into());
    }
    args.push(format!("docker://{image}"));
    args
}

/// `skopeo inspect --raw --tls-verify=false [--creds USER:PASS] docker://IMAGE` as an [`Output`]
/// (does not panic; for tests expecting failure).
pub fn skopeo_inspect_raw_ref(image: &str, creds: Option<&str>) -> Output {
    let args = skopeo_inspect_args(image, creds);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo(&args)
}
