//! `DELETE /v{ver}/libpod/images/remove` for manifold's lists: `podman manifest rm` and
//! `push --rm` (`docs/libpod-api.md#images-remove`). Which requests are manifold's and which the
//! backend's is decided before routing here ([`super::App::should_forward`]).

use manifold_composer::service::Composer;
use manifold_composer::ErrorKind;
use manifold_config::policy::Grant;

use crate::exchange::{Reply, Request};
use crate::libpod::params::bad_params;
use crate::libpod::query::{Query, SchemaError};
use crate::libpod::response;

/// Removes the lists the query's `images` name; always 200, with podman's report and exit code
/// (0 ok, 1 only "not found" errors, 125 any other).
pub(super) async fn images_remove(
    composer: &Composer,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let q = Query::parse(&req.query);
    let bad = |e: SchemaError| bad_params(&req.url(), &e);
    let ignore = q.bool("ignore").map_err(bad)?.unwrap_or(false);
    // Validated like podman does; which names are lists was decided before routing here.
    q.bool("lookupmanifest").map_err(bad)?;
    let names = q.strings("images");
    let report = composer.remove_lists(&names, ignore, grant).await;
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|e| e.message().to_string())
        .collect();
    let exit_code = if report.errors.is_empty() {
        0
    } else if report
        .errors
        .iter()
        .all(|e| e.kind() == ErrorKind::NotFound)
    {
        1
    } else {
        125
    };
    let errors = if errors.is_empty() {
        None
    } else {
        Some(errors.as_slice())
    };
    Ok(Reply::json(
        200,
        response::remove_report(&report.deleted, &report.untagged, exit_code, errors),
    ))
}
