//! The libpod manifest handlers: each route's parameters decoded with podman's rules, the
//! composer called, and the answer shaped exactly as podman shapes it (`docs/libpod-api.md`).
//!
//! [`App`] holds the composer and the configuration and dispatches a routed request to the
//! module of its operation: `create`, `inspect` (and exists), `modify` (and the v3 add),
//! `remove` (the v3 remove by digest and the list delete), `images_remove` and `push`.
//! Those modules are plain functions of the composer and the request; they import nothing from
//! here. Handlers take a plain [`Request`] and return a [`Reply`] or an [`Answer`], so they know
//! nothing of pingora; which status each composer error gets is [`crate::libpod::status`]'s
//! table.

mod create;
mod images_remove;
mod inspect;
mod modify;
mod outcome;
mod push;
mod remove;

use std::sync::Arc;

use manifold_composer::service::Composer;
use manifold_config::policy::{Denial, Grant, Identity};
use manifold_config::Config;

use crate::exchange::{Answer, Reply, Request};
use crate::libpod::query::Query;
use crate::libpod::response::{self, ErrorModel};
use crate::route::Route;

/// The application: configuration and composer behind the handlers.
pub struct App {
    composer: Arc<Composer>,
    config: Arc<Config>,
}

impl App {
    /// Builds the application.
    pub fn new(composer: Arc<Composer>, config: Arc<Config>) -> Self {
        App { composer, config }
    }

    /// Answers one request: push routes may stream, every other route answers in full. An
    /// identity the policy has no rule for gets a 403 on everything but ping and version.
    /// `policy` is [`App::policy_for`] the request's identity. The headers every libpod
    /// response carries are added by the server, for every local answer.
    pub async fn answer(
        &self,
        route: Route,
        req: &Request,
        policy: Result<Grant, Denial>,
    ) -> Answer {
        let grant = match grant(&route, &req.identity, policy) {
            Ok(g) => g,
            Err(e) => return e.into(),
        };
        let composer = &self.composer;
        let reply = match route {
            Route::ManifestPush {
                name, destination, ..
            } => return push::push(composer, &name, Some(&destination), req, grant).await,
            Route::ManifestPushV3 { name, .. } => {
                return push::push(composer, &name, None, req, grant).await
            }
            Route::Ping => {
                let mut r = Reply::text(200, response::PING_BODY);
                r.headers.extend(response::ping_headers());
                Ok(r)
            }
            Route::Version => Ok(Reply::json(200, response::version_document())),
            Route::NotFound => Ok(Reply::text(404, response::NOT_FOUND_BODY)),
            Route::MethodNotAllowed => Ok(Reply::text(405, response::METHOD_NOT_ALLOWED_BODY)),
            Route::Forward => Ok(no_backend(req)),
            Route::Redirect { location } => Ok(redirect(location, req)),
            Route::ManifestCreate { version, name } => {
                create::create(composer, &version, name, req, &grant).await
            }
            Route::ManifestExists { name, .. } => {
                Ok(inspect::exists(composer, &name, &grant).await)
            }
            Route::ManifestInspect { name, .. } => {
                inspect::inspect(composer, &name, req, &grant).await
            }
            Route::ManifestModify { name, .. } => {
                modify::modify(composer, &name, req, &grant).await
            }
            Route::ManifestAddV3 { name, .. } => modify::add_v3(composer, &name, req, &grant).await,
            Route::ManifestRemoveDigestV3 { name, .. } => {
                remove::remove_digest_v3(composer, &name, req, &grant).await
            }
            Route::ManifestDelete { name, .. } => {
                remove::delete(composer, &name, req, &grant).await
            }
            Route::ImagesRemove { .. } => images_remove::images_remove(composer, req, &grant).await,
        };
        Answer::Full(reply.unwrap_or_else(|early| early))
    }

    /// What the policy allows `identity`, or why it allows nothing: evaluated once per
    /// request, for deciding whether it may be forwarded and then for answering it.
    pub fn policy_for(&self, identity: &Identity) -> Result<Grant, Denial> {
        self.config.policy.grant(identity)
    }

    /// The largest request body a handler reads.
    pub fn max_body(&self) -> u64 {
        self.config.limits.max_request_body.0
    }

    /// True when a request on a local route belongs to the backend: `images/remove` of names
    /// that are not manifold's lists (for `grant`'s identity) and without `lookupmanifest`.
    /// `query` is the raw query.
    pub fn should_forward(&self, route: &Route, query: &str, grant: &Grant) -> bool {
        let Route::ImagesRemove { .. } = route else {
            return false;
        };
        let q = Query::parse(query);
        if q.bool("lookupmanifest").ok().flatten() == Some(true) {
            return false;
        }
        // A list the client may not see is not one of manifold's lists for it.
        let names = q.strings("images");
        names.is_empty()
            || names
                .iter()
                .any(|n| self.composer.resolve_for(n, grant).is_err())
    }
}

/// What the request's identity may do (`policy`, the policy's answer for it), or the 403 for an
/// identity no rule applies to. Ping and version stay open to everyone: clients call them before
/// anything else, and they reveal nothing.
fn grant(
    route: &Route,
    identity: &Identity,
    policy: Result<Grant, Denial>,
) -> Result<Grant, ErrorModel> {
    match policy {
        Ok(g) => Ok(g),
        Err(_) if matches!(route, Route::Ping | Route::Version) => {
            Ok(Grant::nothing(identity.clone()))
        }
        Err(denial) => Err(ErrorModel::plain(403, denial.message)),
    }
}

/// The 301 to a path's clean form, the query kept.
fn redirect(location: String, req: &Request) -> Reply {
    let location = if req.query.is_empty() {
        location
    } else {
        format!("{location}?{}", req.query)
    };
    let mut r = Reply::text(301, "");
    r.headers.push(("Location".into(), location));
    r
}

/// The answer to a non-manifest call when no backend podman service is configured.
fn no_backend(req: &Request) -> Reply {
    let msg = format!(
        "manifold serves libpod manifest-list calls only, and {} {} is not one; to forward other calls, run manifold with --backend unix:///run/podman/podman.sock (or set backend = \"unix:///…\" in the configuration) pointing at a podman system service",
        req.method, req.path
    );
    ErrorModel::new(501, msg, "no backend podman service is configured").into()
}
