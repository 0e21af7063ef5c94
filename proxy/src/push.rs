//! The push routes (§3.5, and the v3 push of §3.7): parameters decoded with podman's rules, the
//! push run by the composer, and the answer either one `{"Id":…}` (quiet) or podman's NDJSON
//! progress stream.

use bytes::Bytes;
use manifold_composer::list::ListFormat;
use manifold_composer::push::PushOptions;
use manifold_composer::reference::ImageRef;
use manifold_composer::service::RegistryAccess;
use manifold_composer::ErrorKind;
use manifold_config::policy::Grant;
use manifold_gocompat::strconv::quote;
use tokio::sync::mpsc;

use crate::handlers::{bad_params, credentials_for_push, tls_verify_param, App, Reply, Request};
use crate::libpod::query::{Query, SchemaError};
use crate::libpod::response::{self, ManifestPushReport};

/// An answer: complete, or a body that arrives line by line.
#[derive(Debug)]
pub enum Answer {
    /// A complete response.
    Full(Reply),
    /// A 200 whose body is streamed in chunks as they arrive.
    Stream {
        /// Headers besides the standard ones, which the server puts first.
        headers: Vec<(String, String)>,
        /// The body's chunks; the stream ends when the sender is dropped.
        body: mpsc::Receiver<Bytes>,
    },
}

/// Lines of progress buffered between the push and a slow client.
const STREAM_BUFFER: usize = 256;

/// The push parameters of one request.
struct PushParams {
    quiet: bool,
    destination_text: String,
    options: PushOptions,
    access: RegistryAccess,
}

impl App {
    /// Answers `POST …/manifests/{name}/registry/{destination}` (v4+) or
    /// `POST /v3/…/manifests/{name}/push?destination=` (`destination` is `None`; always quiet),
    /// for `grant`'s identity.
    pub async fn push(
        &self,
        name: &str,
        destination: Option<&str>,
        req: &Request,
        grant: Grant,
    ) -> Answer {
        let params = match push_params(destination, req, grant) {
            Ok(p) => p,
            Err(reply) => return Answer::Full(reply),
        };
        // A refusal is a 403 before anything is written, streamed push or not; other failures
        // keep podman's shapes below (a 400, or the error line of the stream).
        let authorized = self
            .composer()
            .authorize_push(name, &params.options, &params.access)
            .await;
        if let Err(e) = &authorized {
            if e.kind() == ErrorKind::Denied {
                return Answer::Full(Reply::error(403, e.message(), e.cause()));
            }
        }
        if params.quiet {
            let (progress, _) = mpsc::unbounded_channel();
            let result = match &authorized {
                Ok(push) => self.composer().push(push, &params.access, &progress).await,
                Err(e) => Err(e.clone()),
            };
            return Answer::Full(match result {
                Ok(digest) => {
                    Reply::json(200, response::write_json(&ManifestPushReport::done(digest)))
                }
                Err(e) => Reply::error(
                    400,
                    &format!(
                        "pushing image {}: {}",
                        quote(&params.destination_text),
                        e.message()
                    ),
                    e.cause(),
                ),
            });
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let composer = self.composer().clone();
        tokio::spawn(async move {
            let (progress, mut lines) = mpsc::unbounded_channel::<String>();
            let push = tokio::spawn(async move {
                let push = authorized?;
                composer.push(&push, &params.access, &progress).await
            });
            // The client may go away; the push still runs to its end, and the destination stays
            // consistent because the index is written last.
            while let Some(line) = lines.recv().await {
                let chunk = response::push_stream_line(&ManifestPushReport::progress(line));
                let _ = tx.send(Bytes::from(chunk)).await;
            }
            let last = match push.await {
                Ok(Ok(digest)) => ManifestPushReport::done(digest),
                Ok(Err(e)) => ManifestPushReport::failed(e.message()),
                Err(e) => ManifestPushReport::failed(format!("push stopped: {e}")),
            };
            let _ = tx
                .send(Bytes::from(response::push_stream_line(&last)))
                .await;
        });
        let headers = vec![("Content-Type".into(), response::CONTENT_TYPE_JSON.into())];
        Answer::Stream { headers, body: rx }
    }
}

/// Decodes a push request's query and headers (§3.5); `grant` is what the caller may do.
fn push_params(
    destination: Option<&str>,
    req: &Request,
    grant: Grant,
) -> Result<PushParams, Reply> {
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
    let tls_verify = tls_verify_param(&q, &url)?;
    refuse_recompression(&q)?;
    let format_option = ListFormat::from_push_option(&q.string("format").unwrap_or_default());
    let (destination_text, quiet) = match destination {
        Some(d) => (d.to_string(), quiet),
        // v3 push is always quiet and names its destination in the query.
        None => (q.string("destination").unwrap_or_default(), true),
    };
    if destination_text.is_empty() {
        let msg = "a push needs a destination: the registry reference to write the list to";
        return Err(Reply::error(400, msg, msg));
    }
    // podman checks the transport in the handler, before pushing: a bare error body...
    let destination = ImageRef::parse_destination(&destination_text)
        .map_err(|e| Reply::error(400, e.message(), e.cause()))?;
    // ...and the format inside the push, so its error carries the push's prefix.
    let format = format_option.map_err(|e| {
        Reply::error(
            400,
            &format!(
                "pushing image {}: {}",
                quote(&destination_text),
                e.message()
            ),
            e.cause(),
        )
    })?;
    let credentials = credentials_for_push(req)?;
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
fn refuse_recompression(q: &Query) -> Result<(), Reply> {
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
    let msg = format!(
        "manifold pushes blobs exactly as they are stored and does not recompress them, so {} cannot be honoured; push without compression options",
        asked.join(", ")
    );
    Err(Reply::error(400, &msg, &msg))
}
