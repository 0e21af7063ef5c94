//! A push's progress lines in the words of podman's push report (containers/image's copy
//! output), one block per child image, so that `podman manifest push` through manifold prints
//! what it prints against podman: the image, its layers, its config, its manifest.
//!
//! Children are copied in parallel, so a block is written once its image is done, and a blob
//! several images share is reported by the first of them to finish; the others say it was
//! already there, as podman does for the second image that needs it.

use super::plan::{Blob, SourceManifest};
use crate::reference::ImageRef;
use crate::registry::BlobCopy;

/// How one blob of an image got to the destination, for its line.
#[derive(Debug, Clone, Copy)]
pub struct BlobOutcome<'a> {
    /// What the copy did ([`BlobCopy::Present`] as well for a blob another image reported).
    pub copy: BlobCopy,
    /// The repository it was copied (or mounted) from.
    pub from: &'a ImageRef,
}

/// The line of one blob: `Copying blob sha256:… done`, `… done: mounted from REPO`, or
/// `… skipped: already exists`; configs say `config`.
pub fn blob_line(blob: &Blob, outcome: BlobOutcome<'_>) -> String {
    let what = if blob.is_config { "config" } else { "blob" };
    let digest = &blob.digest;
    match outcome.copy {
        BlobCopy::Present => format!("Copying {what} {digest} skipped: already exists\n"),
        BlobCopy::Mounted => format!(
            "Copying {what} {digest} done: mounted from {}\n",
            outcome.from.name()
        ),
        BlobCopy::Uploaded => format!("Copying {what} {digest} done\n"),
    }
}

/// The block of child image `manifest`, the `n`th (from 0) of `total`: its layers in manifest
/// order, then its config, then the manifest written (`written`) or found at the destination.
/// `outcome` answers for each blob; a blob it has no answer for (a child already at the
/// destination needs none) gets no line.
pub fn image_lines<'a>(
    manifest: &SourceManifest,
    (n, total): (usize, usize),
    written: bool,
    outcome: impl Fn(&Blob) -> Option<BlobOutcome<'a>>,
) -> Vec<String> {
    let mut lines = vec![
        format!("Copying image {} ({}/{total})\n", manifest.digest, n + 1),
        "Getting image source signatures\n".to_string(),
    ];
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<&Blob> = manifest
        .blobs
        .iter()
        .filter(|b| seen.insert(b.digest.as_str()))
        .collect();
    let (configs, layers): (Vec<&Blob>, Vec<&Blob>) = unique.into_iter().partition(|b| b.is_config);
    for blob in layers.into_iter().chain(configs) {
        if let Some(o) = outcome(blob) {
            lines.push(blob_line(blob, o));
        }
    }
    if written {
        lines.push("Writing manifest to image destination\n".into());
        lines.push("Storing signatures\n".into());
    } else {
        lines.push("Skipping manifest: already at the destination\n".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn blob(digest: &str, is_config: bool) -> Blob {
        Blob {
            digest: digest.into(),
            size: 1,
            is_config,
        }
    }

    fn manifest(blobs: Vec<Blob>) -> SourceManifest {
        SourceManifest {
            source: ImageRef::parse("r1:5000/app:v1").expect("ref"),
            digest: "sha256:m1".into(),
            media_type: crate::oci::OCI_MANIFEST.into(),
            bytes: Bytes::new(),
            blobs,
            is_list: false,
        }
    }

    #[test]
    fn an_image_reports_its_layers_then_its_config_then_its_manifest() {
        let from = ImageRef::parse("r1:5000/app").expect("ref");
        let m = manifest(vec![
            blob("sha256:c", true),
            blob("sha256:base", false),
            blob("sha256:l1", false),
            blob("sha256:l1", false),
        ]);
        let lines = image_lines(&m, (1, 6), true, |b| {
            let copy = match b.digest.as_str() {
                "sha256:base" => BlobCopy::Present,
                "sha256:l1" => BlobCopy::Mounted,
                _ => BlobCopy::Uploaded,
            };
            Some(BlobOutcome { copy, from: &from })
        });
        assert_eq!(
            lines,
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
        let m = manifest(vec![blob("sha256:c", true)]);
        let lines = image_lines(&m, (0, 1), false, |_| None);
        assert_eq!(
            lines,
            [
                "Copying image sha256:m1 (1/1)\n",
                "Getting image source signatures\n",
                "Skipping manifest: already at the destination\n",
            ]
        );
    }
}
