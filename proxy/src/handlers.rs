//! The libpod manifest handlers: each route's parameters decoded with podman's rules, the
//! composer called, and the answer shaped exactly as podman shapes it (§3 of the wire spec).
//!
//! Handlers take a plain [`Request`] and return a [`Reply`], so they know nothing of pingora.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use manifold_composer::credentials::Credentials;
use manifold_composer::list::InstanceUpdate;
use manifold_composer::service::{
    AddOptions, AnnotateOptions, Composer, Inspected, ModifyOutcome, RegistryAccess,
};
use manifold_composer::{Error, ErrorKind};
use manifold_config::policy::{Denial, Grant, Identity};
use manifold_config::Config;
use manifold_gocompat::strconv::{parse_bool, quote};

use crate::libpod::query::{bad_parameters_message, request_url, Query, SchemaError};
use crate::libpod::registry_auth;
use crate::libpod::response::{
    self, ManifestListData, ManifestListDescriptor, ManifestModifyReport, OciDescriptor,
    OciPlatform, Schema2Platform,
};
use crate::libpod::{
    decode_add_options, decode_create_body, decode_modify_options, parse_create_annotations,
    parse_kv_annotations, ModifyOptions,
};
use crate::push::Answer;
use crate::route::{CreateName, Route, Version};
use manifold_composer::list::ManifestList;
use manifold_composer::oci::Descriptor;

/// A request as the handlers see it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// The raw (still escaped) path.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// Who sent it, as its connection establishes (see [`crate::identity`]).
    pub identity: Identity,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The URL as podman quotes it in messages.
    pub(crate) fn url(&self) -> String {
        request_url(&self.path, &self.query)
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers besides Content-Length and the standard ones (§1.3), which the server adds.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), response::CONTENT_TYPE_JSON.into())],
            body: Bytes::from(body),
        }
    }

    fn text(status: u16, text: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), response::CONTENT_TYPE_TEXT.into())],
            body: Bytes::from(text.to_string()),
        }
    }

    fn no_content() -> Self {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// The libpod error body (§4): `response` always equals the status.
    pub(crate) fn error(status: u16, message: &str, cause: &str) -> Self {
        Reply::json(status, response::error_body(status, message, cause))
    }

    fn from_error(status: u16, e: &Error) -> Self {
        Reply::error(status, e.message(), e.cause())
    }
}

/// The reply for a body over the configured limit.
pub fn body_too_large(max: u64) -> Reply {
    let msg = format!(
        "request body is larger than limits.max_request_body ({max} bytes); raise the limit in the configuration or send a smaller request"
    );
    Reply::error(413, &msg, &msg)
}

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

    /// The composer behind the handlers.
    pub(crate) fn composer(&self) -> &Arc<Composer> {
        &self.composer
    }

    /// Answers one request: push routes may stream, every other route answers in full. An
    /// identity the policy has no rule for gets a 403 on everything but ping and version.
    /// `policy` is [`App::policy_for`] the request's identity.
    pub async fn answer(
        &self,
        route: Route,
        req: &Request,
        policy: Result<Grant, Denial>,
    ) -> Answer {
        let grant = match grant(&route, req, policy) {
            Ok(g) => g,
            Err(reply) => return Answer::Full(reply),
        };
        match route {
            Route::ManifestPush {
                name, destination, ..
            } => self.push(&name, Some(&destination), req, grant).await,
            Route::ManifestPushV3 { name, .. } => self.push(&name, None, req, grant).await,
            route => Answer::Full(self.handle(route, req, &grant).await),
        }
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
    /// that are not manifold's lists and without `lookupmanifest`.
    /// `query` is the raw query and `policy` what [`App::policy_for`] the identity said.
    pub fn should_forward(
        &self,
        route: &Route,
        query: &str,
        policy: &Result<Grant, Denial>,
    ) -> bool {
        let Route::ImagesRemove { .. } = route else {
            return false;
        };
        let q = Query::parse(query);
        if q.bool("lookupmanifest").ok().flatten() == Some(true) {
            return false;
        }
        // A list the client may not see is not one of manifold's lists for it.
        let Ok(grant) = policy else {
            return false;
        };
        let names = q.strings("images");
        names.is_empty()
            || names
                .iter()
                .any(|n| self.composer.resolve_for(n, grant).is_err())
    }

    /// Answers one request for `grant`'s identity. The headers every libpod response carries
    /// (§1.3) are added by the server, for every local answer.
    pub async fn handle(&self, route: Route, req: &Request, grant: &Grant) -> Reply {
        self.dispatch(route, req, grant).await
    }

    /// The handler of `route`: its reply, or the early (error) reply it stopped with.
    async fn dispatch(&self, route: Route, req: &Request, grant: &Grant) -> Reply {
        let reply = match route {
            Route::Ping => {
                let mut r = Reply::text(200, response::PING_BODY);
                r.headers.extend(response::ping_headers());
                Ok(r)
            }
            Route::Version => Ok(Reply::json(200, response::version_document())),
            Route::NotFound => Ok(Reply::text(404, response::NOT_FOUND_BODY)),
            Route::MethodNotAllowed => Ok(Reply::text(405, response::METHOD_NOT_ALLOWED_BODY)),
            Route::Forward => Ok(no_backend(req)),
            Route::Redirect { location } => {
                let location = if req.query.is_empty() {
                    location
                } else {
                    format!("{location}?{}", req.query)
                };
                let mut r = Reply::text(301, "");
                r.headers.push(("Location".into(), location));
                Ok(r)
            }
            Route::ManifestCreate { version, name } => {
                self.create(&version, name, req, grant).await
            }
            Route::ManifestExists { name, .. } => Ok(self.exists(&name, grant).await),
            Route::ManifestInspect { name, .. } => self.inspect(&name, req, grant).await,
            Route::ManifestModify { name, .. } => self.modify(&name, req, grant).await,
            Route::ManifestAddV3 { name, .. } => self.add_v3(&name, req, grant).await,
            Route::ManifestRemoveDigestV3 { name, .. } => {
                self.remove_digest_v3(&name, req, grant).await
            }
            Route::ManifestDelete { name, .. } => self.delete(&name, req, grant).await,
            Route::ImagesRemove { .. } => self.images_remove(req, grant).await,
            Route::ManifestPush { .. } | Route::ManifestPushV3 { .. } => {
                // `answer` sends push routes to `push`, which may stream.
                let msg = "push routes are answered by App::answer";
                Err(Reply::error(500, msg, msg))
            }
        };
        reply.unwrap_or_else(|early| early)
    }

    /// §3.1
    async fn create(
        &self,
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
                return Err(Reply::error(400, &msg, error));
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
                .map_err(|msg| Reply::error(400, &msg, &msg))?;
        manifold_composer::reference::create_list_name(&name)
            .map_err(|e| Reply::from_error(400, &e))?;
        // The body is optional; fewer than 3 bytes (`{}`, a newline) count as none.
        let body = if req.body.len() >= 3 && !is_form_encoded(req) {
            let body = decode_create_body(&req.body).map_err(|e| {
                Reply::error(
                    500,
                    &format!("decoding modifications in request: {e}"),
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
        let id = self
            .composer
            .create(&name, &images, amend.unwrap_or(false), &add, &anonymous)
            .await
            .map_err(|e| Reply::from_error(create_status(&e), &e))?;
        if let Some(body) = body {
            let opts = add_options(&body)?;
            if !body.images.is_empty()
                || !opts.index_annotations.is_empty()
                || opts.subject.is_some()
            {
                let failed = |e: &Error| Reply::from_error(denied_or(e, 500), e);
                let outcome = self
                    .composer
                    .add(&id, &body.images, &opts, &anonymous)
                    .await
                    .map_err(|e| failed(&e))?;
                if !outcome.errors.is_empty() {
                    return Err(failed(&first_error(outcome)));
                }
            }
        }
        let status = if version.is_at_least_4() { 201 } else { 200 };
        Ok(Reply::json(status, response::id_body(&id)))
    }

    /// §3.2
    async fn exists(&self, name: &str, grant: &Grant) -> Reply {
        match self.composer.exists(name, grant).await {
            Ok(()) => Reply::no_content(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Reply::error(404, "manifest not found", "manifest not found")
            }
            Err(e) => Reply::from_error(500, &e),
        }
    }

    /// §3.3
    async fn inspect(&self, name: &str, req: &Request, grant: &Grant) -> Result<Reply, Reply> {
        let tls_verify = tls_verify_param(&Query::parse(&req.query), &req.url())?;
        let access = RegistryAccess::new(credentials(req)?, tls_verify, grant.clone());
        Ok(match self.composer.inspect(name, &access).await {
            Ok(Inspected::Local(list)) | Ok(Inspected::RemoteList(list)) => {
                Reply::json(200, response::write_json(&list_data(&list)))
            }
            Ok(Inspected::RemoteImage { media_type }) => Reply::json(
                200,
                response::write_json(&ManifestListData::new(media_type, Vec::new())),
            ),
            // A registry the configuration refuses is a 403 when the client named it; a short
            // name that is no list stays podman's 404, whatever its docker.io reading says.
            Err(e) if e.kind() == ErrorKind::Forbidden && names_a_registry(name) => {
                Reply::from_error(403, &e)
            }
            Err(e) => Reply::from_error(denied_or(&e, 404), &e),
        })
    }

    /// §3.4
    async fn modify(&self, name: &str, req: &Request, grant: &Grant) -> Result<Reply, Reply> {
        let url = req.url();
        if req
            .header("Content-Type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"))
        {
            let msg = "adding artifacts (multipart modify requests, podman manifest add --artifact) is not supported by manifold: push the artifact to a registry with oras or podman artifact push, then add it by reference";
            return Err(Reply::error(400, msg, msg));
        }
        let body = if is_form_encoded(req) {
            &Bytes::new()
        } else {
            &req.body
        };
        let opts = decode_modify_options(body)
            .map_err(|e| Reply::error(500, &format!("decoding modify request: {e}"), e.as_str()))?;
        let id = self
            .composer
            .resolve_for(name, grant)
            .map_err(|e| Reply::from_error(404, &e))?;
        let annotations = merge_annotations(
            &opts.annotation,
            &opts.annotations,
            "Annotation",
            "Annotations",
        )?;
        let index_annotations = merge_annotations(
            &opts.index_annotation,
            &opts.index_annotations,
            "IndexAnnotation",
            "IndexAnnotations",
        )?;
        let tls_verify = tls_verify_strict(&Query::parse(&req.query))?;
        let access = RegistryAccess::new(credentials(req)?, tls_verify, grant.clone());
        let instance = instance_update(&opts, annotations);
        let subject = Some(opts.subject.clone()).filter(|s| !s.is_empty());
        let outcome = match opts.operation.to_ascii_lowercase().as_str() {
            "update" => {
                let add = AddOptions {
                    all: opts.all,
                    instance,
                    index_annotations,
                    subject,
                };
                self.composer.add(&id, &opts.images, &add, &access).await
            }
            "remove" => self.composer.remove(&id, &opts.images, grant).await,
            "annotate" => {
                let annotate = AnnotateOptions {
                    instance,
                    os_features: opts.os_features.clone(),
                    index_annotations,
                    subject,
                };
                self.composer
                    .annotate(&id, &opts.images, &annotate, &access)
                    .await
            }
            _ => {
                let msg = format!(
                    "illegal operation {} for {}",
                    quote(&opts.operation),
                    quote(&url)
                );
                return Err(Reply::error(400, &msg, &msg));
            }
        };
        outcome
            .map(modify_report)
            .map_err(|e| Reply::from_error(status_for(&e, 400), &e))
    }

    /// §3.7, v3 add.
    async fn add_v3(&self, name: &str, req: &Request, grant: &Grant) -> Result<Reply, Reply> {
        let opts = decode_add_options(&req.body)
            .map_err(|e| Reply::error(500, &format!("decoding AddV3 query: {e}"), e.as_str()))?;
        let credentials = credentials(req)?;
        let id = self
            .composer
            .resolve_for(name, grant)
            .map_err(|e| Reply::from_error(404, &e))?;
        if opts.images.is_empty() {
            let msg = "manifest add requires at least one image";
            return Err(Reply::error(500, msg, msg));
        }
        // podman's quirk: the body's TLSVerify counts only when the URL names tlsVerify.
        let tls_verify = if Query::parse(&req.query).has_exact("tlsVerify") {
            Some(opts.tls_verify_v3.unwrap_or(false))
        } else {
            None
        };
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
        Ok(
            match self.composer.add(&id, &opts.images, &add, &access).await {
                Ok(o) if o.errors.is_empty() => Reply::json(200, response::id_body(&id)),
                Ok(o) => Reply::from_error(500, &first_error(o)),
                Err(e) => Reply::from_error(denied_or(&e, 500), &e),
            },
        )
    }

    /// §3.7, v3 remove by digest.
    async fn remove_digest_v3(
        &self,
        name: &str,
        req: &Request,
        grant: &Grant,
    ) -> Result<Reply, Reply> {
        let q = Query::parse(&req.query);
        let digest = q.string("digest").unwrap_or_default();
        let id = self
            .composer
            .resolve_for(name, grant)
            .map_err(|e| Reply::from_error(404, &e))?;
        manifold_composer::oci::validate_digest(&digest).map_err(|e| Reply::from_error(400, &e))?;
        Ok(match self.composer.remove(&id, &[digest], grant).await {
            Ok(o) if o.errors.is_empty() => Reply::json(200, response::id_body(&id)),
            Ok(o) => Reply::from_error(500, &first_error(o)),
            Err(e) => Reply::from_error(500, &e),
        })
    }

    /// §3.6
    async fn delete(&self, name: &str, req: &Request, grant: &Grant) -> Result<Reply, Reply> {
        let ignore = Query::parse(&req.query)
            .bool("ignore")
            .map_err(|e| bad_params(&req.url(), &e))?
            .unwrap_or(false);
        // `remove_lists` looks the name up as `resolve_for` does (same errors) and, with
        // `ignore`, skips a missing list: the 200 below then has nothing deleted or untagged.
        let report = self
            .composer
            .remove_lists(&[name.to_string()], ignore, grant)
            .await;
        if let Some(e) = report.errors.first() {
            return Err(Reply::from_error(not_found_or_500(e), e));
        }
        Ok(Reply::json(
            200,
            response::remove_report(&report.deleted, &report.untagged, 0, Some(&[])),
        ))
    }

    /// §3.8: `podman manifest rm` and `push --rm`.
    async fn images_remove(&self, req: &Request, grant: &Grant) -> Result<Reply, Reply> {
        let q = Query::parse(&req.query);
        let bad = |e: SchemaError| bad_params(&req.url(), &e);
        let ignore = q.bool("ignore").map_err(bad)?.unwrap_or(false);
        // Validated like podman does; which names are lists was decided before routing here.
        q.bool("lookupmanifest").map_err(bad)?;
        let names = q.strings("images");
        let report = self.composer.remove_lists(&names, ignore, grant).await;
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
}

/// What the request's identity may do (`policy`, the policy's answer for it), or the 403 for an
/// identity no rule applies to. Ping and version stay open to everyone: clients call them before
/// anything else, and they reveal nothing.
fn grant(route: &Route, req: &Request, policy: Result<Grant, Denial>) -> Result<Grant, Reply> {
    match policy {
        Ok(g) => Ok(g),
        Err(_) if matches!(route, Route::Ping | Route::Version) => {
            Ok(Grant::nothing(req.identity.clone()))
        }
        Err(denial) => Err(Reply::error(403, &denial.message, &denial.message)),
    }
}

/// The answer to a non-manifest call when no backend podman service is configured.
fn no_backend(req: &Request) -> Reply {
    let msg = format!(
        "manifold serves libpod manifest-list calls only, and {} {} is not one; to forward other calls, run manifold with --backend unix:///run/podman/podman.sock (or set backend = \"unix:///…\" in the configuration) pointing at a podman system service",
        req.method, req.path
    );
    Reply::error(501, &msg, "no backend podman service is configured")
}

/// 400 for a query parameter that does not decode (§1.5).
pub(crate) fn bad_params(url: &str, e: &SchemaError) -> Reply {
    let cause = e.to_string();
    Reply::error(400, &bad_parameters_message(url, &cause), &cause)
}

/// A body sent as `application/x-www-form-urlencoded` is consumed by Go's ParseForm before the
/// handler sees it (§1.6), so it counts as empty.
fn is_form_encoded(req: &Request) -> bool {
    matches!(req.method.as_str(), "POST" | "PUT" | "PATCH")
        && req.header("Content-Type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// `tlsVerify` as inspect reads it: decoded only when the exact-case key is present.
pub(crate) fn tls_verify_param(q: &Query, url: &str) -> Result<Option<bool>, Reply> {
    if !q.has_exact("tlsVerify") {
        return Ok(None);
    }
    q.bool("tlsVerify").map_err(|e| bad_params(url, &e))
}

/// `tlsVerify` as modify reads it: strconv.ParseBool of the last exact-case value.
fn tls_verify_strict(q: &Query) -> Result<Option<bool>, Reply> {
    let Some(v) = q.last_exact("tlsVerify") else {
        return Ok(None);
    };
    match parse_bool(v) {
        Ok(b) => Ok(Some(b)),
        Err(cause) => Err(Reply::error(
            400,
            &format!("tlsVerify param is not a bool: {cause}"),
            &cause,
        )),
    }
}

/// The request's registry credentials (§5), or the 400 for a malformed header.
fn credentials(req: &Request) -> Result<Credentials, Reply> {
    registry_auth::credentials_from_headers(&req.headers)
        .map_err(|e| Reply::error(400, &e.message(&req.url()), &e.cause))
}

/// The credentials of a push, whose header errors podman wraps once more (§3.5).
pub(crate) fn credentials_for_push(req: &Request) -> Result<Credentials, Reply> {
    registry_auth::credentials_from_headers(&req.headers).map_err(|e| {
        let url = req.url();
        let msg = format!(
            "failed to parse registry header for {url}: {}",
            e.message(&url)
        );
        Reply::error(400, &msg, &e.cause)
    })
}

/// Merges the slice and map forms of annotations; both at once is an error (§3.4 step 3).
fn merge_annotations(
    slice: &[String],
    map: &BTreeMap<String, String>,
    slice_name: &str,
    map_name: &str,
) -> Result<BTreeMap<String, String>, Reply> {
    if !slice.is_empty() && !map.is_empty() {
        let msg = format!("can not set both {slice_name} and {map_name}");
        return Err(Reply::error(400, &msg, &msg));
    }
    if !map.is_empty() {
        return Ok(map.clone());
    }
    parse_kv_annotations(slice).map_err(|msg| Reply::error(400, &msg, &msg))
}

fn instance_update(opts: &ModifyOptions, annotations: BTreeMap<String, String>) -> InstanceUpdate {
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

/// Add options from a create body (§3.1).
fn add_options(body: &ModifyOptions) -> Result<AddOptions, Reply> {
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

/// 200 with no errors, 409 with errors and some successes, 400 with only errors (§3.4), 403 when
/// those errors are refusals. A failed report also carries the error model's keys, so clients
/// show what went wrong.
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
        .any(|e| matches!(e.kind(), ErrorKind::Forbidden | ErrorKind::Denied));
    let status = match report.status() {
        // Nothing was added because the configuration or the policy refused it: 403, so the
        // client can tell a refusal from a bad request.
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

fn first_error(o: ModifyOutcome) -> Error {
    o.errors
        .into_iter()
        .next()
        .unwrap_or_else(|| Error::new(ErrorKind::Storage, "unknown error"))
}

/// The status for a create failure: bad names are the client's fault, the rest is podman's 500.
fn create_status(e: &Error) -> u16 {
    match e.kind() {
        ErrorKind::LocalTransport | ErrorKind::Forbidden | ErrorKind::Denied => status_for(e, 500),
        _ => 500,
    }
}

/// podman's delete answers 404 for a missing list and 500 for every other failure (§3.6).
fn not_found_or_500(e: &Error) -> u16 {
    if e.kind() == ErrorKind::NotFound {
        404
    } else {
        500
    }
}

/// The inspect document of a list (§3.3): instances in Docker's descriptor shape, with the
/// Docker `features` shown only when the list serialises as a Docker list (§6.7).
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

fn oci_descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        urls: d.urls.clone(),
        annotations: d.annotations.clone(),
        data: decode_data(d.data.as_deref()),
        platform: d.platform.as_ref().map(|p| OciPlatform {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            os_version: p.os_version.clone(),
            os_features: p.os_features.clone(),
            variant: p.variant.clone(),
        }),
        artifact_type: d.artifact_type.clone().unwrap_or_default(),
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

/// A policy refusal is a 403 wherever it happens (podman has no policy, so no route of its fixes
/// another status for it); any other error keeps the route's `status`.
pub(crate) fn denied_or(e: &Error, status: u16) -> u16 {
    if e.kind() == ErrorKind::Denied {
        403
    } else {
        status
    }
}

/// One place that maps composer error kinds to statuses where podman's route does not fix one.
fn status_for(e: &Error, default: u16) -> u16 {
    match e.kind() {
        ErrorKind::NotFound => 404,
        ErrorKind::LocalTransport | ErrorKind::InvalidInput => 400,
        ErrorKind::Forbidden | ErrorKind::Denied => 403,
        _ => default,
    }
}
