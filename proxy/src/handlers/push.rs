//! The push routes (`docs/libpod-api.md#manifest-push`, `docs/libpod-api.md#v3-push`):
//! parameters decoded with podman's rules, the push run by the composer, and the answer either
//! one `{"Id":…}` (quiet) or podman's NDJSON progress stream, rendered from the push's events as
//! they come.

use std::sync::Arc;

use bytes::Bytes;
use manifold_composer::push::events::PushEvent;
use manifold_composer::push::PushOptions;
use manifold_composer::reference::ImageRef;
use manifold_composer::service::{AuthorizedPush, Composer, RegistryAccess};
use manifold_composer::{Error, ErrorKind};
use manifold_config::policy::Grant;
use tokio::sync::mpsc;

use crate::exchange::{Answer, Reply, Request};
use crate::libpod::params::{bad_params, push_credentials, push_format, tls_verify};
use crate::libpod::push_progress::PushProgress;
use crate::libpod::query::{Query, SchemaError};
use crate::libpod::response::{self, ErrorModel, ManifestPushReport};
use crate::libpod::status::{error_model, status, Failure};
use manifold_gocompat::strconv::quote;

/// Stream chunks buffered between the push and a slow client.
const STREAM_BUFFER: usize = 256;

/// The push parameters of one request.
struct PushParams {
    quiet: bool,
    destination_text: String,
    options: PushOptions,
    access: RegistryAccess,
}

/// Answers `POST …/manifests/{name}/registry/{destination}` (v4+) or
/// `POST /v3/…/manifests/{name}/push?destination=` (`destination` is `None`; always quiet),
/// for `grant`'s identity.
pub(super) async fn push(
    composer: &Arc<Composer>,
    name: &str,
    destination: Option<&str>,
    req: &Request,
    grant: Grant,
) -> Answer {
    let params = match push_params(destination, req, grant) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    // A refusal is a 403 before anything is written, streamed push or not; other failures
    // keep podman's shapes below (a 400, or the error line of the stream).
    let authorized = composer
        .authorize_push(name, &params.options, &params.access)
        .await;
    if let Err(e) = &authorized {
        if e.kind() == ErrorKind::Denied {
            return error_model(Failure::Push, e).into();
        }
    }
    if params.quiet {
        quiet(composer, authorized, &params).await.into()
    } else {
        stream(composer.clone(), authorized, params)
    }
}

/// Runs the push to its end and answers its digest, or podman's 400 naming the destination.
async fn quiet(
    composer: &Composer,
    authorized: Result<AuthorizedPush, Error>,
    params: &PushParams,
) -> Reply {
    let result = match &authorized {
        Ok(push) => {
            // No stream shows a quiet push's events; only its retries are logged.
            let (events, mut received) = mpsc::unbounded_channel();
            let pushing = async move { composer.push(push, &params.access, &events).await };
            let logging = async {
                while let Some(event) = received.recv().await {
                    log_retry(&params.destination_text, &event);
                }
            };
            tokio::join!(pushing, logging).0
        }
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(digest) => Reply::json(200, response::write_json(&ManifestPushReport::done(digest))),
        Err(e) => {
            let message = format!(
                "pushing image {}: {}",
                quote(&params.destination_text),
                e.message()
            );
            ErrorModel::new(status(Failure::Push, e.kind()), message, e.cause()).into()
        }
    }
}

/// Starts the push and answers at once with its progress stream: a 200 whose lines are the
/// push's events as podman's stream shows them, its digest or its error last.
fn stream(
    composer: Arc<Composer>,
    authorized: Result<AuthorizedPush, Error>,
    params: PushParams,
) -> Answer {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let mut progress = PushProgress::default();
        let push = match authorized {
            Ok(push) => push,
            Err(e) => return send(&tx, progress.reports(&PushEvent::Finished(Err(e)))).await,
        };
        let (events, mut received) = mpsc::unbounded_channel();
        let destination = params.destination_text.clone();
        let task = tokio::spawn(async move { composer.push(&push, &params.access, &events).await });
        let mut finished = false;
        while let Some(event) = received.recv().await {
            finished |= matches!(event, PushEvent::Finished(_));
            log_retry(&destination, &event);
            send(&tx, progress.reports(&event)).await;
        }
        if !finished {
            // The push ended without its last event: its task panicked or was cancelled.
            let stopped = match task.await {
                Err(e) => format!("push stopped: {e}"),
                Ok(_) => "push stopped before it finished".to_string(),
            };
            send(&tx, vec![ManifestPushReport::failed(stopped)]).await;
        }
    });
    let headers = vec![("Content-Type".into(), response::CONTENT_TYPE_JSON.into())];
    Answer::Stream { headers, body: rx }
}

/// Logs a retry of one of the push's registry operations to `destination`: podman's stream has
/// no line for it (containers/image only logs its retries), so the log is where it shows. The
/// notice names registries, requests and reasons, never credentials.
fn log_retry(destination: &str, event: &PushEvent) {
    if let PushEvent::Retry(retry) = event {
        tracing::info!(
            destination,
            registry = %retry.registry,
            what = %retry.what,
            attempt = retry.attempt,
            delay_ms = u64::try_from(retry.delay.as_millis()).unwrap_or(u64::MAX),
            reason = %retry.reason,
            "push: registry operation retried"
        );
    }
}

/// Sends `reports` as lines of the stream. The client may go away; the push still runs to its
/// end, and the destination stays consistent because the index is written last.
async fn send(tx: &mpsc::Sender<Bytes>, reports: Vec<ManifestPushReport>) {
    for report in reports {
        let _ = tx
            .send(Bytes::from(response::push_stream_line(&report)))
            .await;
    }
}

/// Decodes a push request's query and headers; `grant` is what the caller may do.
fn push_params(
    destination: Option<&str>,
    req: &Request,
    grant: Grant,
) -> Result<PushParams, ErrorModel> {
    let q = Query::parse(&req.query);
    let url = req.url();
    let flags = (|| -> Result<_, SchemaError> {
        let all = q.bool("all")?.unwrap_or(false);
        let quiet = q.bool("quiet")?.unwrap_or(true);
        q.bool("removeSignatures")?;
        q.bool("forceCompressionFormat")?;
        Ok((all, quiet))
    })();
    let (all, quiet) = flags.map_err(|e| bad_params(&url, &e))?;
    let tls_verify = tls_verify(&q, &url)?;
    refuse_recompression(&q)?;
    let format = push_format(&q.string("format").unwrap_or_default());
    let (destination_text, quiet) = match destination {
        Some(d) => (d.to_string(), quiet),
        // v3 push is always quiet and names its destination in the query.
        None => (q.string("destination").unwrap_or_default(), true),
    };
    if destination_text.is_empty() {
        return Err(ErrorModel::plain(
            400,
            "a push needs a destination: the registry reference to write the list to",
        ));
    }
    // podman checks the transport in the handler, before pushing: a bare error body...
    let destination = ImageRef::parse_destination(&destination_text)
        .map_err(|e| error_model(Failure::Parameter, &e))?;
    // ...and the format inside the push, so its error carries the push's prefix.
    let format = format.map_err(|cause| {
        let message = format!("pushing image {}: {cause}", quote(&destination_text));
        ErrorModel::new(400, message, cause)
    })?;
    let credentials = push_credentials(&req.headers, &url)?;
    Ok(PushParams {
        quiet,
        destination_text,
        options: PushOptions {
            destination,
            all,
            format,
        },
        access: RegistryAccess::new(credentials, tls_verify, grant),
    })
}

/// manifold copies blobs byte for byte, so a request to recompress is refused rather than
/// silently ignored. Empty values (the 4.3.1 CLI always sends `compressionformat=`) are fine.
fn refuse_recompression(q: &Query) -> Result<(), ErrorModel> {
    let asked: Vec<String> = [
        ("compressionFormat", q.string("compressionFormat")),
        ("compressionLevel", q.string("compressionLevel")),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={v}")))
    .chain(
        q.strings("addCompression")
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| format!("addCompression={v}")),
    )
    .collect();
    if asked.is_empty() {
        return Ok(());
    }
    Err(ErrorModel::plain(
        400,
        format!(
            "manifold pushes blobs exactly as they are stored and does not recompress them, so {} cannot be honoured; push without compression options",
            asked.join(", ")
        ),
    ))
}
