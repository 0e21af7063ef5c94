//! Inspect (`GET …/manifests/{name}/json`) and exists (`GET …/{name}/exists`): the two routes
//! that only read (`docs/libpod-api.md#manifest-inspect`,
//! `docs/libpod-api.md#manifest-exists`).

use manifold_composer::list::ManifestList;
use manifold_composer::oci::{Descriptor, Platform};
use manifold_composer::service::{Composer, Inspected, RegistryAccess};
use manifold_composer::ErrorKind;
use manifold_config::policy::Grant;

use crate::exchange::{Reply, Request};
use crate::libpod::params::{credentials, tls_verify};
use crate::libpod::query::Query;
use crate::libpod::response::{
    self, ErrorModel, ManifestListData, ManifestListDescriptor, OciDescriptor, OciPlatform,
    Schema2Platform,
};
use crate::libpod::status::{error_model, status, Failure};

/// 204 when `name` is a list `grant`'s identity may see; podman's fixed body (`manifest not
/// found`) when it is not known.
pub(super) async fn exists(composer: &Composer, name: &str, grant: &Grant) -> Reply {
    match composer.exists(name, grant).await {
        Ok(()) => Reply::no_content(),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let status = status(Failure::Exists, e.kind());
            ErrorModel::plain(status, "manifest not found").into()
        }
        Err(e) => error_model(Failure::Exists, &e).into(),
    }
}

/// The inspect document of the local list `name`, or of the list or image it names in its
/// registry.
pub(super) async fn inspect(
    composer: &Composer,
    name: &str,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let url = req.url();
    let tls_verify = tls_verify(&Query::parse(&req.query), &url)?;
    let access = RegistryAccess::new(credentials(&req.headers, &url)?, tls_verify, grant.clone());
    let document = match composer.inspect(name, &access).await {
        Ok(Inspected::Local(list)) | Ok(Inspected::RemoteList(list)) => list_data(&list),
        Ok(Inspected::RemoteImage { media_type }) => ManifestListData::new(media_type, Vec::new()),
        Err(e) => {
            let failure = if names_a_registry(name) {
                Failure::Inspect
            } else {
                Failure::InspectShortName
            };
            return Err(error_model(failure, &e).into());
        }
    };
    Ok(Reply::json(200, response::write_json(&document)))
}

/// The inspect document of a list: instances in Docker's descriptor shape, with the Docker
/// `features` shown only when the list serialises as a Docker list
/// (`docs/libpod-api.md#list-media-type`).
fn list_data(list: &ManifestList) -> ManifestListData {
    let show_features = list.shows_features();
    let manifests = list
        .instances
        .iter()
        .map(|i| ManifestListDescriptor {
            media_type: i.media_type.clone(),
            size: i.size,
            digest: i.digest.clone(),
            urls: i.urls.clone(),
            platform: Schema2Platform {
                architecture: i.platform.architecture.clone(),
                os: i.platform.os.clone(),
                os_version: i.platform.os_version.clone(),
                os_features: i.platform.os_features.clone(),
                variant: i.platform.variant.clone(),
                features: if show_features {
                    i.platform.features.clone()
                } else {
                    Vec::new()
                },
            },
            annotations: i.annotations.clone(),
            artifact_type: i.artifact_type.clone().unwrap_or_default(),
            data: decode_data(i.data.as_deref()),
            files: Vec::new(),
        })
        .collect();
    let mut data = ManifestListData::new(list.media_type(), manifests);
    data.artifact_type = list.artifact_type.clone().unwrap_or_default();
    data.annotations = list.annotations.clone();
    data.subject = list.subject.as_ref().map(oci_descriptor);
    data
}

/// The subject, an oci-spec descriptor, in the inspect shape (annotations sorted).
fn oci_descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type().to_string(),
        digest: d.digest().to_string(),
        size: i64::try_from(d.size()).unwrap_or(i64::MAX),
        urls: d.urls().clone().unwrap_or_default(),
        annotations: d
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        data: decode_data(d.data().as_deref()),
        platform: d
            .platform()
            .as_ref()
            .map(Platform::from)
            .map(|p| OciPlatform {
                architecture: p.architecture,
                os: p.os,
                os_version: p.os_version,
                os_features: p.os_features,
                variant: p.variant,
            }),
        artifact_type: d
            .artifact_type()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// Embedded descriptor data is base64 in manifests; the inspect shape re-encodes raw bytes.
fn decode_data(data: Option<&str>) -> Vec<u8> {
    use base64::Engine as _;
    data.and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .unwrap_or_default()
}

/// True when `reference` names its registry (`host.domain/…`, `host:port/…`, `localhost/…`)
/// rather than leaving it to the `docker.io` default.
fn names_a_registry(reference: &str) -> bool {
    let reference = reference.strip_prefix("docker://").unwrap_or(reference);
    reference.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
}

#[cfg(test)]
mod tests {
    use super::names_a_registry;

    #[test]
    fn a_reference_names_its_registry_by_a_dot_a_port_or_localhost() {
        assert!(names_a_registry("reg.example/app:v1"));
        assert!(names_a_registry("docker://127.0.0.1:5000/app"));
        assert!(names_a_registry("localhost/app"));
        assert!(!names_a_registry("mylist"));
        assert!(!names_a_registry("library/app:v1"));
    }
}
