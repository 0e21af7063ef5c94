//! podman's push progress stream, rendered from a push's [`PushEvent`]s: the lines of
//! containers/image's copy report, one block per child image (the image, its layers, its config,
//! its manifest), each line a [`ManifestPushReport`] of the NDJSON stream, and the digest or the
//! error last (`docs/libpod-api.md#push-stream`). `podman manifest push` through manifold prints
//! what it prints against podman.
//!
//! Children are copied in parallel, so a block is written once its image is in place, and a
//! blob several images share is shown as copied by the first block that needs it; later blocks
//! say it was already there, as podman does for the second image that needs it.

use std::collections::{HashMap, HashSet};

use manifold_composer::push::events::{BlobDone, ChildDone, PushEvent};
use manifold_composer::push::plan::Blob;
use manifold_composer::registry::BlobCopy;

use super::response::ManifestPushReport;

/// The stream of one push: what its events have said so far about blobs.
#[derive(Debug, Default)]
pub struct PushProgress {
    /// How each blob got to the destination, by digest.
    blobs: HashMap<String, BlobDone>,
    /// The blobs a block has shown already.
    shown: HashSet<String>,
}

impl PushProgress {
    /// The reports `event` adds to the stream, in order (none for events podman's stream does
    /// not show).
    pub fn reports(&mut self, event: &PushEvent) -> Vec<ManifestPushReport> {
        let lines = match event {
            PushEvent::Started { children, .. } => {
                let mut lines = vec!["Getting image list signatures\n".to_string()];
                if let Some(n) = children {
                    lines.push(format!(
                        "Copying {n} images generated from {n} images in list\n"
                    ));
                }
                lines
            }
            PushEvent::Blob(blob) => {
                self.blobs.insert(blob.digest.clone(), blob.clone());
                Vec::new()
            }
            PushEvent::Child(child) => self.child_block(child),
            PushEvent::IndexStarted { .. } => {
                vec!["Writing manifest list to image destination\n".to_string()]
            }
            PushEvent::IndexDone { .. } => vec!["Storing list signatures\n".to_string()],
            // containers/image logs its retries; its progress stream has no line for them.
            PushEvent::Retry(_) => Vec::new(),
            PushEvent::Finished(Ok(digest)) => return vec![ManifestPushReport::done(digest)],
            PushEvent::Finished(Err(e)) => return vec![ManifestPushReport::failed(e.message())],
        };
        lines
            .into_iter()
            .map(ManifestPushReport::progress)
            .collect()
    }

    /// The block of one child: the image and its position, its layers in manifest order, then
    /// its config, then its manifest written or found at the destination. A child the
    /// destination had needed no blob, so it has no blob lines.
    fn child_block(&mut self, child: &ChildDone) -> Vec<String> {
        let mut lines = vec![
            format!(
                "Copying image {} ({}/{})\n",
                child.digest,
                child.position + 1,
                child.total
            ),
            "Getting image source signatures\n".to_string(),
        ];
        if !child.written {
            lines.push("Skipping manifest: already at the destination\n".into());
            return lines;
        }
        let mut seen = HashSet::new();
        let unique: Vec<&Blob> = child
            .blobs
            .iter()
            .filter(|b| seen.insert(b.digest.as_str()))
            .collect();
        let (configs, layers): (Vec<&Blob>, Vec<&Blob>) =
            unique.into_iter().partition(|b| b.is_config);
        for blob in layers.into_iter().chain(configs) {
            let Some(done) = self.blobs.get(&blob.digest) else {
                continue;
            };
            let copy = if self.shown.insert(blob.digest.clone()) {
                done.copy
            } else {
                BlobCopy::Present
            };
            lines.push(blob_line(blob, copy, done));
        }
        lines.push("Writing manifest to image destination\n".into());
        lines.push("Storing signatures\n".into());
        lines
    }
}

/// The line of one blob: `Copying blob sha256:… done`, `… done: mounted from REPO`, or
/// `… skipped: already exists`; configs say `config`.
fn blob_line(blob: &Blob, copy: BlobCopy, done: &BlobDone) -> String {
    let what = if blob.is_config { "config" } else { "blob" };
    let digest = &blob.digest;
    match copy {
        BlobCopy::Present => format!("Copying {what} {digest} skipped: already exists\n"),
        BlobCopy::Mounted => format!(
            "Copying {what} {digest} done: mounted from {}\n",
            done.source.name()
        ),
        BlobCopy::Uploaded => format!("Copying {what} {digest} done\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manifold_composer::reference::ImageRef;
    use manifold_composer::{Error, ErrorKind};

    fn blob(digest: &str, is_config: bool) -> Blob {
        Blob {
            digest: digest.into(),
            size: 1,
            is_config,
        }
    }

    fn done(digest: &str, copy: BlobCopy) -> PushEvent {
        PushEvent::Blob(BlobDone {
            digest: digest.into(),
            size: 1,
            is_config: false,
            source: ImageRef::parse("r1:5000/app").expect("ref"),
            copy,
        })
    }

    fn child(
        digest: &str,
        (position, total): (usize, usize),
        written: bool,
        blobs: Vec<Blob>,
    ) -> PushEvent {
        PushEvent::Child(ChildDone {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            is_list: false,
            position,
            total,
            written,
            blobs,
        })
    }

    /// The stream text of `events`: each report's `stream`, or `Id=…` / `error=…` for the end.
    fn render(events: &[PushEvent]) -> Vec<String> {
        let mut progress = PushProgress::default();
        events
            .iter()
            .flat_map(|e| progress.reports(e))
            .map(|r| {
                if !r.id.is_empty() {
                    format!("Id={}", r.id)
                } else if !r.error.is_empty() {
                    format!("error={}", r.error)
                } else {
                    r.stream
                }
            })
            .collect()
    }

    #[test]
    fn an_image_reports_its_layers_then_its_config_then_its_manifest() {
        let events = [
            done("sha256:l1", BlobCopy::Mounted),
            done("sha256:base", BlobCopy::Present),
            done("sha256:c", BlobCopy::Uploaded),
            child(
                "sha256:m1",
                (1, 6),
                true,
                vec![
                    blob("sha256:c", true),
                    blob("sha256:base", false),
                    blob("sha256:l1", false),
                    blob("sha256:l1", false),
                ],
            ),
        ];
        assert_eq!(
            render(&events),
            [
                "Copying image sha256:m1 (2/6)\n",
                "Getting image source signatures\n",
                "Copying blob sha256:base skipped: already exists\n",
                "Copying blob sha256:l1 done: mounted from r1:5000/app\n",
                "Copying config sha256:c done\n",
                "Writing manifest to image destination\n",
                "Storing signatures\n",
            ]
        );
    }

    #[test]
    fn an_image_already_at_the_destination_is_skipped() {
        let events = [
            done("sha256:c", BlobCopy::Uploaded),
            child("sha256:m1", (0, 1), false, vec![blob("sha256:c", true)]),
        ];
        assert_eq!(
            render(&events),
            [
                "Copying image sha256:m1 (1/1)\n",
                "Getting image source signatures\n",
                "Skipping manifest: already at the destination\n",
            ]
        );
    }

    #[test]
    fn a_shared_blob_is_copied_in_the_first_block_and_already_there_in_the_next() {
        let events = [
            done("sha256:base", BlobCopy::Uploaded),
            done("sha256:c2", BlobCopy::Uploaded),
            child(
                "sha256:m2",
                (1, 2),
                true,
                vec![blob("sha256:c2", true), blob("sha256:base", false)],
            ),
            done("sha256:c1", BlobCopy::Uploaded),
            child(
                "sha256:m1",
                (0, 2),
                true,
                vec![blob("sha256:c1", true), blob("sha256:base", false)],
            ),
        ];
        let lines = render(&events);
        assert_eq!(lines[2], "Copying blob sha256:base done\n");
        assert_eq!(
            lines[8],
            "Copying blob sha256:base skipped: already exists\n"
        );
        assert_eq!(lines[9], "Copying config sha256:c1 done\n");
    }

    #[test]
    fn the_list_lines_frame_the_blocks_and_the_end_is_the_digest_or_the_error() {
        let events = [
            PushEvent::Started {
                index_digest: "sha256:i".into(),
                children: Some(2),
            },
            PushEvent::IndexStarted {
                digest: "sha256:i".into(),
            },
            PushEvent::IndexDone {
                digest: "sha256:i".into(),
                written: true,
            },
            PushEvent::Finished(Ok("sha256:i".into())),
        ];
        assert_eq!(
            render(&events),
            [
                "Getting image list signatures\n",
                "Copying 2 images generated from 2 images in list\n",
                "Writing manifest list to image destination\n",
                "Storing list signatures\n",
                "Id=sha256:i",
            ]
        );
        // Without `all`, the children are not counted; a failure ends with its message.
        let failed = Error::new(ErrorKind::Registry, "connection refused").context("pinging r1");
        let events = [
            PushEvent::Started {
                index_digest: "sha256:i".into(),
                children: None,
            },
            PushEvent::Finished(Err(failed)),
        ];
        assert_eq!(
            render(&events),
            [
                "Getting image list signatures\n",
                "error=pinging r1: connection refused",
            ]
        );
    }
}
