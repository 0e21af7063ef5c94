//! Request parameters several manifest routes read the same way, each with podman's error when
//! it does not decode: the query's schema errors, `tlsVerify` (read two ways), the credential
//! headers, form-encoded bodies, the annotation pairs of a modify body, the add options built
//! from it, and push's `format`.
//!
//! Every function takes plain values (headers, the parsed query, the URL as podman quotes it) and
//! returns the value or the [`ErrorModel`] to answer with.

use std::collections::BTreeMap;

use manifold_composer::credentials::Credentials;
use manifold_composer::list::{InstanceUpdate, ListFormat};
use manifold_composer::service::AddOptions;

use super::modify_options::{parse_kv_annotations, ModifyOptions};
use super::query::{bad_parameters_message, Query, SchemaError};
use super::registry_auth;
use super::response::ErrorModel;
use manifold_gocompat::strconv::{parse_bool, quote};

/// 400 for a query parameter that does not decode: `failed to parse parameters for
/// <URL>: <schema error>`, the schema error as the cause.
pub fn bad_params(url: &str, e: &SchemaError) -> ErrorModel {
    let cause = e.to_string();
    ErrorModel::new(400, bad_parameters_message(url, &cause), cause)
}

/// True when a body is sent as `application/x-www-form-urlencoded`: Go's `ParseForm` consumes
/// it before the handler reads it, so it counts as empty.
pub fn is_form_encoded(method: &str, content_type: Option<&str>) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
        && content_type.is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// `tlsVerify` as inspect and push read it: decoded (with the query's bool rules) only when the
/// exact-case key is present.
pub fn tls_verify(q: &Query, url: &str) -> Result<Option<bool>, ErrorModel> {
    if !q.has_exact("tlsVerify") {
        return Ok(None);
    }
    q.bool("tlsVerify").map_err(|e| bad_params(url, &e))
}

/// `tlsVerify` as modify reads it: Go's `strconv.ParseBool` of the last exact-case value.
pub fn tls_verify_strict(q: &Query) -> Result<Option<bool>, ErrorModel> {
    let Some(v) = q.last_exact("tlsVerify") else {
        return Ok(None);
    };
    parse_bool(v).map(Some).map_err(|cause| {
        ErrorModel::new(
            400,
            format!("tlsVerify param is not a bool: {cause}"),
            cause,
        )
    })
}

/// The request's registry credentials (`docs/registry-auth-headers.md`), or the 400 for a
/// malformed header.
pub fn credentials(headers: &[(String, String)], url: &str) -> Result<Credentials, ErrorModel> {
    registry_auth::credentials_from_headers(headers)
        .map_err(|e| ErrorModel::new(400, e.message(url), e.cause))
}

/// The credentials of a push, whose header errors podman wraps once more.
pub fn push_credentials(
    headers: &[(String, String)],
    url: &str,
) -> Result<Credentials, ErrorModel> {
    registry_auth::credentials_from_headers(headers).map_err(|e| {
        let message = format!(
            "failed to parse registry header for {url}: {}",
            e.message(url)
        );
        ErrorModel::new(400, message, e.cause)
    })
}

/// Merges the slice (`k=v` entries) and map forms of annotations; both at once is an error
/// (checked before anything else of the pair). `slice_name` and `map_name` are the Go field
/// names the error quotes.
fn merge_annotations(
    slice: &[String],
    map: &BTreeMap<String, String>,
    slice_name: &str,
    map_name: &str,
) -> Result<BTreeMap<String, String>, ErrorModel> {
    if !slice.is_empty() && !map.is_empty() {
        return Err(ErrorModel::plain(
            400,
            format!("can not set both {slice_name} and {map_name}"),
        ));
    }
    if !map.is_empty() {
        return Ok(map.clone());
    }
    parse_kv_annotations(slice).map_err(|msg| ErrorModel::plain(400, msg))
}

/// The instance changes of a modify body, with `annotations` already merged.
pub fn instance_update(
    opts: &ModifyOptions,
    annotations: BTreeMap<String, String>,
) -> InstanceUpdate {
    let set = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
    InstanceUpdate {
        arch: set(&opts.arch),
        os: set(&opts.os),
        os_version: set(&opts.os_version),
        variant: set(&opts.variant),
        features: Some(opts.features.clone()).filter(|f| !f.is_empty()),
        annotations,
    }
}

/// The add options of a modify body (modify's own, or create's): both annotation pairs merged,
/// the subject if set.
pub fn add_options(body: &ModifyOptions) -> Result<AddOptions, ErrorModel> {
    let annotations = merge_annotations(
        &body.annotation,
        &body.annotations,
        "Annotation",
        "Annotations",
    )?;
    let index_annotations = merge_annotations(
        &body.index_annotation,
        &body.index_annotations,
        "IndexAnnotation",
        "IndexAnnotations",
    )?;
    Ok(AddOptions {
        all: body.all,
        instance: instance_update(body, annotations),
        index_annotations,
        subject: Some(body.subject.clone()).filter(|s| !s.is_empty()),
    })
}

/// Push's `format`: `oci`; `v2s2` or `docker`; `""` for the list's own type (`None`).
/// Anything else is podman's error text, which the push prefixes with its destination.
pub fn push_format(value: &str) -> Result<Option<ListFormat>, String> {
    match value {
        "" => Ok(None),
        "oci" => Ok(Some(ListFormat::Oci)),
        "v2s2" | "docker" => Ok(Some(ListFormat::Docker)),
        other => Err(format!(
            "unknown format {}. Choose one of the supported formats: 'oci' or 'v2s2'",
            quote(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_format_values() {
        assert_eq!(push_format(""), Ok(None));
        assert_eq!(push_format("oci"), Ok(Some(ListFormat::Oci)));
        assert_eq!(push_format("v2s2"), Ok(Some(ListFormat::Docker)));
        assert_eq!(push_format("docker"), Ok(Some(ListFormat::Docker)));
        assert_eq!(
            push_format("zip"),
            Err(
                "unknown format \"zip\". Choose one of the supported formats: 'oci' or 'v2s2'"
                    .into()
            )
        );
    }

    #[test]
    fn form_encoded_bodies_count_only_on_methods_with_a_body() {
        let form = Some("Application/X-WWW-Form-Urlencoded; charset=utf-8");
        assert!(is_form_encoded("POST", form));
        assert!(is_form_encoded("PUT", form));
        assert!(!is_form_encoded("GET", form));
        assert!(!is_form_encoded("POST", Some("application/json")));
        assert!(!is_form_encoded("POST", None));
    }

    #[test]
    fn tls_verify_is_read_two_ways() {
        let url = "/v5.0.0/libpod/manifests/l/json?tlsverify=x";
        // Inspect and push: only the exact-case key counts.
        assert_eq!(tls_verify(&Query::parse("tlsverify=x"), url), Ok(None));
        assert_eq!(
            tls_verify(&Query::parse("tlsVerify=false"), url),
            Ok(Some(false))
        );
        let e = tls_verify(&Query::parse("tlsVerify=x"), url).expect_err("not a bool");
        assert_eq!(e.response, 400);
        assert_eq!(e.cause, "schema: error converting value for \"tlsVerify\"");
        assert_eq!(
            e.message,
            format!("failed to parse parameters for {url}: {}", e.cause)
        );
        // Modify: strconv.ParseBool of the last value.
        assert_eq!(
            tls_verify_strict(&Query::parse("tlsVerify=x&tlsVerify=0")),
            Ok(Some(false))
        );
        let e = tls_verify_strict(&Query::parse("tlsVerify=yes")).expect_err("not a bool");
        assert_eq!(
            e,
            ErrorModel::new(
                400,
                "tlsVerify param is not a bool: strconv.ParseBool: parsing \"yes\": invalid syntax",
                "strconv.ParseBool: parsing \"yes\": invalid syntax"
            )
        );
    }

    #[test]
    fn annotations_come_as_a_map_or_as_pairs_not_both() {
        let map: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
        assert_eq!(
            merge_annotations(&[], &map, "Annotation", "Annotations"),
            Ok(map.clone())
        );
        assert_eq!(
            merge_annotations(
                &["a=b".into()],
                &BTreeMap::new(),
                "Annotation",
                "Annotations"
            ),
            Ok(map.clone())
        );
        assert_eq!(
            merge_annotations(&["a=b".into()], &map, "IndexAnnotation", "IndexAnnotations"),
            Err(ErrorModel::plain(
                400,
                "can not set both IndexAnnotation and IndexAnnotations"
            ))
        );
        let e = merge_annotations(&["noeq".into()], &BTreeMap::new(), "A", "B").expect_err("no =");
        assert_eq!(e.response, 400);
        assert_eq!(e.message, e.cause);
    }

    #[test]
    fn push_header_errors_are_wrapped_once_more() {
        // `{"`, base64: a JSON document cut short.
        let headers = vec![("X-Registry-Auth".to_string(), "eyI=".to_string())];
        let url = "/v5.0.0/libpod/manifests/l/registry/d";
        let plain = credentials(&headers, url).expect_err("bad header");
        let push = push_credentials(&headers, url).expect_err("bad header");
        assert_eq!(
            push.message,
            format!(
                "failed to parse registry header for {url}: {}",
                plain.message
            )
        );
        assert_eq!(push.cause, plain.cause);
        assert_eq!((plain.response, push.response), (400, 400));
    }
}
