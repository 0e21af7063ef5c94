//! Removal from a list and of a list: the v3 remove by digest (`DELETE /v3/…/{name}?digest=`)
//! and the v4+ delete (`DELETE /v4+/libpod/manifests/{name}`); see
//! `docs/libpod-api.md#v3-remove-digest` and `docs/libpod-api.md#manifest-delete`.

use manifold_composer::service::Composer;
use manifold_config::policy::Grant;

use super::outcome::all_or_first_error;
use crate::exchange::{Reply, Request};
use crate::libpod::params::bad_params;
use crate::libpod::query::Query;
use crate::libpod::response;
use crate::libpod::status::{error_model, Failure};

/// Removes the instance the query's `digest` names from list `name`.
pub(super) async fn remove_digest_v3(
    composer: &Composer,
    name: &str,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let q = Query::parse(&req.query);
    let digest = q.string("digest").unwrap_or_default();
    let id = composer
        .resolve_for(name, grant)
        .map_err(|e| error_model(Failure::Lookup, &e))?;
    manifold_composer::oci::validate_digest(&digest)
        .map_err(|e| error_model(Failure::Parameter, &e))?;
    let id = composer
        .remove(&id, &[digest], grant)
        .await
        .and_then(all_or_first_error)
        .map_err(|e| error_model(Failure::V3Change, &e))?;
    Ok(Reply::json(200, response::id_body(&id)))
}

/// Deletes list `name` (with `ignore`, a missing list is no error).
pub(super) async fn delete(
    composer: &Composer,
    name: &str,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let ignore = Query::parse(&req.query)
        .bool("ignore")
        .map_err(|e| bad_params(&req.url(), &e))?
        .unwrap_or(false);
    // `remove_lists` looks the name up as `resolve_for` does (same errors) and, with
    // `ignore`, skips a missing list: the 200 below then has nothing deleted or untagged.
    let report = composer
        .remove_lists(&[name.to_string()], ignore, grant)
        .await;
    if let Some(e) = report.errors.first() {
        return Err(error_model(Failure::Delete, e).into());
    }
    Ok(Reply::json(
        200,
        response::remove_report(&report.deleted, &report.untagged, 0, Some(&[])),
    ))
}
