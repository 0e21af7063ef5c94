//! The media types manifold reads and writes, spelled as HTTP headers carry them.

use oci_spec::image::MediaType;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list (schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest type manifold can read, in the order it asks registries for them.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] =
    &[OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_LIST, OCI_INDEX];

/// True for the two list types (OCI index, Docker manifest list).
pub fn is_list_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// True for the two image config types, whose platform fields are meaningful.
pub fn is_image_config(media_type: &MediaType) -> bool {
    *media_type == MediaType::ImageConfig || media_type.as_ref() == DOCKER_CONFIG
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::ToDockerV2S2 as _;

    #[test]
    fn media_types_are_oci_specs_spellings() {
        assert_eq!(MediaType::ImageIndex.as_ref(), OCI_INDEX);
        assert_eq!(MediaType::ImageManifest.as_ref(), OCI_MANIFEST);
        assert_eq!(MediaType::ImageConfig.as_ref(), OCI_CONFIG);
        assert_eq!(MediaType::ImageIndex.to_docker_v2s2(), Ok(DOCKER_LIST));
        assert_eq!(
            MediaType::ImageManifest.to_docker_v2s2(),
            Ok(DOCKER_MANIFEST)
        );
        assert_eq!(MediaType::ImageConfig.to_docker_v2s2(), Ok(DOCKER_CONFIG));
        // Every type, known to oci-spec or not, reads back as the same string.
        for t in [
            OCI_INDEX,
            DOCKER_LIST,
            DOCKER_MANIFEST,
            "application/x-anything",
        ] {
            assert_eq!(MediaType::from(t).as_ref(), t);
        }
    }

    #[test]
    fn image_config_types() {
        assert!(is_image_config(&MediaType::from(OCI_CONFIG)));
        assert!(is_image_config(&MediaType::from(DOCKER_CONFIG)));
        assert!(!is_image_config(&MediaType::EmptyJSON));
        assert!(!is_image_config(&MediaType::from(
            "application/vnd.cncf.helm.config.v1+json"
        )));
    }
}
