//! OCI and Docker manifest vocabulary: media types, digests, descriptors, platforms, and the
//! exact bytes of a fetched manifest.
//!
//! Fetched content is kept as [`RawManifest`] bytes and only *read* through the types here; it
//! is never re-serialised, because re-encoding changes bytes and therefore digests.
//!
//! The OCI types are `oci-spec`'s wherever they read what registries really serve:
//! * image manifests are read as [`ImageManifest`] (Docker schema-2 manifests too: their media
//!   types round-trip exactly as [`MediaType::Other`]), and their descriptors are
//!   [`Descriptor`]s, whose digests are checked as they are read;
//! * a list's subject is a [`Descriptor`], so the artifact manifests of a later change can be
//!   built with oci-spec's builders (`ImageManifestBuilder`, `DescriptorBuilder`, with
//!   `MediaType::EmptyJSON` for the empty config) from the same types. oci-spec serialises
//!   annotations from a `HashMap`, in no fixed order, and writes a descriptor's `data` last where
//!   Go writes it before `platform`: bytes whose digest matters must be written with sorted maps.
//!
//! manifold keeps its own types where oci-spec 0.10 does not read real content faithfully:
//! * index entries ([`IndexEntry`]) and their [`Platform`]: oci-spec's `Platform` calls its keys
//!   `os_version` and `os_features` where the image spec, Docker and every registry write
//!   `os.version` and `os.features` (Windows images carry `os.version`), so it would drop them
//!   without a word; it also requires `architecture` and `os`, defaults to the host's platform
//!   rather than an empty one, and its `Arch` reads `armbe` as `arm64be`. manifold's platform
//!   keeps every string exactly, Docker's `features` included;
//! * image configs ([`ImageConfig`]): only the platform is read. oci-spec's `ImageConfiguration`
//!   requires `rootfs.diff_ids`, which Docker omits for an image without layers and
//!   go-containerregistry writes as `null`, and it types the whole container config, so an odd
//!   field elsewhere would fail a read that needs four strings;
//! * digests are checked by [`validate_digest`] with go-digest's rules and words, which podman's
//!   clients see: oci-spec's `Digest` accepts any algorithm name, go-digest only sha256, sha384
//!   and sha512;
//! * the media types are `&'static str` constants, because they go into HTTP headers; a test
//!   holds them to oci-spec's spellings;
//! * the index manifold composes is written by [`crate::list`] in podman's field order.

mod digest;
mod manifest;
mod media_type;
mod platform;

pub use digest::{sha256_digest, validate_digest};
pub use manifest::{Index, IndexEntry, RawManifest};
pub use media_type::{
    is_image_config, is_list_type, ACCEPTED_MANIFEST_TYPES, DOCKER_CONFIG, DOCKER_LIST,
    DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
pub use oci_spec::image::{Descriptor, ImageManifest, MediaType};
pub use platform::{go_arch, ImageConfig, Platform};
