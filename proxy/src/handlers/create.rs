//! Create: `POST /v4+/libpod/manifests/{name}` and `POST /v3/…/manifests/create?name=`
//! (`docs/libpod-api.md#manifest-create`).

use manifold_composer::credentials::Credentials;
use manifold_composer::service::{AddOptions, Composer, RegistryAccess};
use manifold_config::policy::Grant;

use super::outcome::all_or_first_error;
use crate::exchange::{Reply, Request};
use crate::libpod::modify_options::{decode_create_body, parse_create_annotations};
use crate::libpod::params::{add_options, bad_params, is_form_encoded};
use crate::libpod::query::Query;
use crate::libpod::response::{self, ErrorModel};
use crate::libpod::status::{error_model, Failure};
use crate::route::{CreateName, Version};

/// Creates the list `create_name` names for `grant`'s identity, with the query's images and
/// annotations, then adds the body's images and index annotations.
pub(super) async fn create(
    composer: &Composer,
    version: &Version,
    create_name: CreateName,
    req: &Request,
    grant: &Grant,
) -> Result<Reply, Reply> {
    let q = Query::parse(&req.query);
    let url = req.url();
    let all = q.bool("all").map_err(|e| bad_params(&url, &e))?;
    let amend = q.bool("amend").map_err(|e| bad_params(&url, &e))?;
    let name = match &create_name {
        CreateName::Path(n) => n.clone(),
        CreateName::Query => q.string("name").unwrap_or_default(),
        CreateName::Invalid { error, .. } => {
            let msg = create_name.error_message().unwrap_or_default();
            return Err(ErrorModel::new(400, msg, error.clone()).into());
        }
    };
    // `image` is the 3.x alias; `images` overrides it when present.
    let images = if q.has("images") {
        q.strings("images")
    } else {
        q.exact_values("image")
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let index_annotations =
        parse_create_annotations(&q.json_map("annotations"), &q.strings("annotation"))
            .map_err(|msg| ErrorModel::plain(400, msg))?;
    manifold_composer::reference::create_list_name(&name)
        .map_err(|e| error_model(Failure::Parameter, &e))?;
    // The body is optional; fewer than 3 bytes (`{}`, a newline) count as none.
    let form_encoded = is_form_encoded(&req.method, req.header("Content-Type"));
    let body = if req.body.len() >= 3 && !form_encoded {
        let body = decode_create_body(&req.body).map_err(|e| {
            ErrorModel::new(
                500,
                format!("decoding modifications in request: {e}"),
                e.as_str(),
            )
        })?;
        Some(body)
    } else {
        None
    };
    let add = AddOptions {
        all: all.unwrap_or(false),
        index_annotations,
        ..Default::default()
    };
    // Create reads registries anonymously (as podman does), under the caller's grant.
    let anonymous = RegistryAccess::new(Credentials::default(), None, grant.clone());
    let id = composer
        .create(&name, &images, amend.unwrap_or(false), &add, &anonymous)
        .await
        .map_err(|e| error_model(Failure::Create, &e))?;
    if let Some(body) = body {
        let opts = add_options(&body)?;
        if !body.images.is_empty() || !opts.index_annotations.is_empty() || opts.subject.is_some() {
            composer
                .add(&id, &body.images, &opts, &anonymous)
                .await
                .and_then(all_or_first_error)
                .map_err(|e| error_model(Failure::CreateBody, &e))?;
        }
    }
    let status = if version.is_at_least_4() { 201 } else { 200 };
    Ok(Reply::json(status, response::id_body(&id)))
}
