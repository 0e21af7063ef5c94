//! Modify (`PUT /v4+/libpod/manifests/{name}`: update, remove or annotate) and the v3 add
//! (`POST /v3/…/manifests/{name}/add`), which is modify's update with the older body
//! (`docs/libpod-api.md#manifest-modify`, `docs/libpod-api.md#v3-add`).

use std::collections::BTreeMap;

use bytes::Bytes;
use manifold_composer::service::{
    AddOptions, AnnotateOptions, Composer, ModifyOutcome, RegistryAccess,
};
use manifold_config::policy::Grant;

use super::outcome::all_or_first_error;
use crate::exchange::{Reply, Request};
use crate::libpod::modify_options::{decode_add_options, decode_modify_options};
use crate::libpod::params::{
    add_options, credentials, instance_update, is_form_encoded, tls_verify_strict,
};
use crate::libpod::query::Query;
use crate::libpod::response::{self, ErrorModel, ManifestModifyReport};
use crate::libpod::status::{error_model, status, Failure};
use manifold_gocompat::strconv::quote;

/// Applies a modify body's operation to list `name` for `grant`'s identity and answers with
/// podman's report.
pub(super) async fn modify(
    composer: &Composer,
    name: &str,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let url = req.url();
    if req
        .header("Content-Type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
    {
        return Err(ErrorModel::plain(400, "adding artifacts (multipart modify requests, podman manifest add --artifact) is not supported by manifold: push the artifact to a registry with oras or podman artifact push, then add it by reference").into());
    }
    let body = if is_form_encoded(&req.method, req.header("Content-Type")) {
        &Bytes::new()
    } else {
        &req.body
    };
    let opts = decode_modify_options(body)
        .map_err(|e| ErrorModel::new(500, format!("decoding modify request: {e}"), e.as_str()))?;
    let id = composer
        .resolve_for(name, grant)
        .map_err(|e| error_model(Failure::Lookup, &e))?;
    let add = add_options(&opts)?;
    let tls_verify = tls_verify_strict(&Query::parse(&req.query))?;
    let access = RegistryAccess::new(credentials(&req.headers, &url)?, tls_verify, grant.clone());
    let outcome = match opts.operation.to_ascii_lowercase().as_str() {
        "update" => composer.add(&id, &opts.images, &add, &access).await,
        "remove" => composer.remove(&id, &opts.images, grant).await,
        "annotate" => {
            let annotate = AnnotateOptions {
                instance: add.instance,
                os_features: opts.os_features.clone(),
                index_annotations: add.index_annotations,
                subject: add.subject,
            };
            composer
                .annotate(&id, &opts.images, &annotate, &access)
                .await
        }
        _ => {
            let msg = format!(
                "illegal operation {} for {}",
                quote(&opts.operation),
                quote(&url)
            );
            return Err(ErrorModel::plain(400, msg).into());
        }
    };
    outcome
        .map(modify_report)
        .map_err(|e| error_model(Failure::Modify, &e).into())
}

/// Adds a v3 add body's images to list `name` for `grant`'s identity.
pub(super) async fn add_v3(
    composer: &Composer,
    name: &str,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let opts = decode_add_options(&req.body)
        .map_err(|e| ErrorModel::new(500, format!("decoding AddV3 query: {e}"), e.as_str()))?;
    let credentials = credentials(&req.headers, &req.url())?;
    let id = composer
        .resolve_for(name, grant)
        .map_err(|e| error_model(Failure::Lookup, &e))?;
    if opts.images.is_empty() {
        return Err(ErrorModel::plain(500, "manifest add requires at least one image").into());
    }
    let query = Query::parse(&req.query);
    // podman's quirk: the body's TLSVerify counts only when the URL names tlsVerify.
    let tls_verify = query
        .has_exact("tlsVerify")
        .then(|| opts.tls_verify_v3.unwrap_or(false));
    // The v3 body's two annotation forms are merged, pairs last, without modify's check.
    let mut annotations = opts.annotations.clone();
    for a in &opts.annotation {
        if let Some((k, v)) = a.split_once('=') {
            annotations.insert(k.to_string(), v.to_string());
        }
    }
    let add = AddOptions {
        all: opts.all,
        instance: instance_update(&opts, annotations),
        index_annotations: BTreeMap::new(),
        subject: None,
    };
    let access = RegistryAccess::new(credentials, tls_verify, grant.clone());
    let id = composer
        .add(&id, &opts.images, &add, &access)
        .await
        .and_then(all_or_first_error)
        .map_err(|e| error_model(Failure::V3Change, &e))?;
    Ok(Reply::json(200, response::id_body(&id)))
}

/// 200 with no errors, 409 with errors and some successes, 400 with only errors (podman's), the
/// table's status instead of that 400 when its errors are refusals (403), so a client can tell
/// a refusal from a bad request. A failed report also carries the error model's keys, so
/// clients show what went wrong.
fn modify_report(o: ModifyOutcome) -> Reply {
    let mut report = ManifestModifyReport {
        id: o.id,
        images: o.images,
        errors: o.errors.iter().map(|e| e.message().to_string()).collect(),
        ..Default::default()
    };
    let refused = o
        .errors
        .iter()
        .any(|e| status(Failure::Modify, e.kind()) == 403);
    let status = match report.status() {
        400 if refused => 403,
        s => s,
    };
    if let [only] = o.errors.as_slice() {
        report.message = only.message().to_string();
        report.cause = only.cause().to_string();
    } else if !o.errors.is_empty() {
        // Several errors: like Go's multierror, the cause is the whole message.
        report.message = report.errors.join("; ");
        report.cause = report.message.clone();
    }
    if !o.errors.is_empty() {
        report.response = status;
    }
    Reply::json(status, response::write_json(&report))
}
