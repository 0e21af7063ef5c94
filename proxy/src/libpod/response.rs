//! What manifold sends back: response bodies in podman's exact shapes, and the headers every
//! local answer carries (`docs/libpod-api.md#ping-and-version`,
//! `docs/libpod-api.md#standard-headers`, `docs/libpod-api.md#json-responses`,
//! `docs/libpod-api.md#manifest-routes`, `docs/libpod-api.md#error-body`).
//!
//! Bodies are `json.Encoder` output: compact JSON and one `\n`. podman's `WriteJSON` turns HTML
//! escaping off ([`write_json`]); the push progress stream leaves it on ([`push_stream_line`]).
//! Key names, key order and Go's `omitempty` rules are part of the wire format and are pinned by
//! the tests below against bodies recorded from podman services.

use std::collections::BTreeMap;

use manifold_composer::oci::go_arch;
use serde::Serialize;

use manifold_gocompat::json;

/// The libpod API version manifold reports (`Libpod-API-Version`, `Server`, `/version`). Go
/// clients require ≥ 4.0.0 from the ping (`docs/libpod-api.md#ping-and-version`); manifold
/// implements the v5.8.2 manifest API.
pub const LIBPOD_API_VERSION: &str = "5.8.2";
/// The oldest libpod API the manifest routes serve (`MinAPIVersion` of the Podman Engine
/// component).
pub const MIN_LIBPOD_API_VERSION: &str = "4.0.0";
/// The Docker-compatible API version (`API-Version`, `ApiVersion`).
pub const COMPAT_API_VERSION: &str = "1.41";
/// The oldest Docker-compatible API version (`MinAPIVersion`).
pub const MIN_COMPAT_API_VERSION: &str = "1.24";
/// manifold's own version.
pub const MANIFOLD_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The buildah version podman's ping names. manifold builds nothing; the header exists only
/// because podman's ping has it (no client reads it).
pub const BUILDAH_VERSION: &str = "1.42.0";

/// `Content-Type` of JSON bodies: exactly this, without a charset (the Go bindings compare it
/// literally, `docs/libpod-api.md#json-responses`).
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `Content-Type` of the ping body and of the router's plain-text 404/405.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
/// The ping body (GET only; HEAD has none).
pub const PING_BODY: &str = "OK";
/// The router's 404 body (`docs/libpod-api.md#path-matching-and-escaping`).
pub const NOT_FOUND_BODY: &str = "Not Found\n";
/// The router's 405 body (`docs/libpod-api.md#path-matching-and-escaping`).
pub const METHOD_NOT_ALLOWED_BODY: &str = "Method Not Allowed\n";

/// The `Server` header: podman's `Libpod/<version> (linux)`, which tools match on, followed by
/// manifold's own product token.
pub fn server_header() -> String {
    format!("Libpod/{LIBPOD_API_VERSION} (linux) manifold/{MANIFOLD_VERSION}")
}

/// The headers of every local response (`docs/libpod-api.md#standard-headers`): `API-Version`,
/// `Libpod-API-Version`, `Server`, and `X-Reference-Id`, which echoes the request's or is a new
/// one.
pub fn standard_headers(request_reference_id: Option<&str>) -> Vec<(String, String)> {
    vec![
        ("API-Version".to_string(), COMPAT_API_VERSION.to_string()),
        (
            "Libpod-API-Version".to_string(),
            LIBPOD_API_VERSION.to_string(),
        ),
        ("Server".to_string(), server_header()),
        (
            "X-Reference-Id".to_string(),
            reference_id(request_reference_id),
        ),
    ]
}

/// The request's `X-Reference-Id` when it sent a non-empty one, else a new random id (podman
/// uses a UUID when it has no connection id to print).
pub fn reference_id(request_value: Option<&str>) -> String {
    match request_value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => new_reference_id(),
    }
}

/// A random version-4 UUID.
pub fn new_reference_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The extra headers of a `_ping` answer (`docs/libpod-api.md#ping-and-version`), besides
/// [`standard_headers`] and `Content-Type: text/plain; charset=utf-8`.
pub fn ping_headers() -> Vec<(String, String)> {
    [
        ("Cache-Control", "no-cache"),
        ("Pragma", "no-cache"),
        ("Docker-Experimental", "true"),
        ("Builder-Version", "1"),
        ("BuildKit-Version", ""),
        ("OSType", "linux"),
        ("Libpod-Buildah-Version", BUILDAH_VERSION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `value` as podman's `WriteJSON` sends it: compact, `\n`, HTML escaping off (`<>&` as they
/// are), U+2028/U+2029 escaped.
pub fn write_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    json::encode(value, false)
}

/// The libpod error body (`docs/libpod-api.md#error-body`), podman's `errorhandling.ErrorModel`:
/// `{"cause":…,"message":…,"response":<status>}` and `\n`. The Go bindings read the status from
/// `response`, so it is the HTTP status the body is sent with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorModel {
    /// The innermost error.
    pub cause: String,
    /// The whole message, every layer of context included.
    pub message: String,
    /// The HTTP status.
    pub response: u16,
}

impl ErrorModel {
    /// The error `status` answers with `message` and `cause`.
    pub fn new(status: u16, message: impl Into<String>, cause: impl Into<String>) -> Self {
        ErrorModel {
            cause: cause.into(),
            message: message.into(),
            response: status,
        }
    }

    /// An error whose message is its own cause (podman's errors made with `errors.New`).
    pub fn plain(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorModel::new(status, message.clone(), message)
    }

    /// A composer error answered with `status`.
    pub fn of(status: u16, e: &manifold_composer::Error) -> Self {
        ErrorModel::new(status, e.message(), e.cause())
    }

    /// The body, as [`write_json`] sends it.
    pub fn body(&self) -> Vec<u8> {
        write_json(self)
    }
}

/// `{"Id":"<id>"}\n`: podman's `entities.IDResponse` (create, v3 add, v3 remove digest, v3
/// push), `id` being the list ID or the pushed digest.
pub fn id_body(id: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct IdResponse<'a> {
        #[serde(rename = "Id")]
        id: &'a str,
    }
    write_json(&IdResponse { id })
}

/// `entities.ManifestModifyReport` (`docs/libpod-api.md#modify-report`): `Id` always, `images`,
/// `files`, `errors` only when not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestModifyReport {
    /// The list ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// The request's images that succeeded.
    #[serde(rename = "images", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Artifact files saved on the server.
    #[serde(rename = "files", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Error messages (Go's `[]error`, encoded as strings).
    #[serde(rename = "errors", skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// manifold's addition on failed reports: the error model's `cause`.
    ///
    /// podman answers a failed modify with a bare report, which every Go client decodes as an
    /// error model with an empty message (`Error: adding to manifest list X: ` and nothing
    /// else). A report that also carries `cause`, `message` and `response` still decodes as the
    /// same report, and gives clients the words they need.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cause: String,
    /// manifold's addition on failed reports: the error model's `message`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// manifold's addition on failed reports: the error model's `response` (the status).
    #[serde(skip_serializing_if = "is_zero")]
    pub response: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

impl ManifestModifyReport {
    /// The status podman gives the report: 200 without errors, 409 with errors and some
    /// `images` (partial success; `files` do not count), 400 with errors only.
    pub fn status(&self) -> u16 {
        match (self.errors.is_empty(), self.images.is_empty()) {
            (true, _) => 200,
            (false, false) => 409,
            (false, true) => 400,
        }
    }
}

/// `entities.ManifestPushReport` (`docs/libpod-api.md#push-stream`): `Id` always (`""` on
/// progress lines), `stream` and `error` only when not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestPushReport {
    /// The pushed list's digest (the success terminator), else `""`.
    #[serde(rename = "Id")]
    pub id: String,
    /// One progress line, with its trailing `\n`.
    #[serde(rename = "stream", skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// The failure (the raw error, without podman's `pushing image` prefix).
    #[serde(rename = "error", skip_serializing_if = "String::is_empty")]
    pub error: String,
}

impl ManifestPushReport {
    /// A progress line.
    pub fn progress(line: impl Into<String>) -> Self {
        ManifestPushReport {
            stream: line.into(),
            ..Default::default()
        }
    }

    /// The success terminator with the pushed digest.
    pub fn done(digest: impl Into<String>) -> Self {
        ManifestPushReport {
            id: digest.into(),
            ..Default::default()
        }
    }

    /// The failure terminator.
    pub fn failed(error: impl Into<String>) -> Self {
        ManifestPushReport {
            error: error.into(),
            ..Default::default()
        }
    }
}

/// One line of the push progress stream (`docs/libpod-api.md#push-stream`), HTML escaping on as
/// podman's stream encoder has it. A report with `Id`, `stream` and `error` all empty would make
/// the Go client fail (`failed to parse push results stream, unexpected input`), so it yields no
/// bytes at all.
pub fn push_stream_line(report: &ManifestPushReport) -> Vec<u8> {
    if report.id.is_empty() && report.stream.is_empty() && report.error.is_empty() {
        return Vec::new();
    }
    json::encode(report, true)
}

/// `handlers.LibpodImagesRemoveReport` (`docs/libpod-api.md#manifest-delete`,
/// `docs/libpod-api.md#images-remove`): `Deleted` and `Untagged` only when not empty, `ExitCode`
/// always, `Errors` always: `[]` on the manifest delete route, `null` or a list on `images/remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImagesRemoveReport {
    /// Deleted image IDs.
    #[serde(rename = "Deleted", skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Removed names.
    #[serde(rename = "Untagged", skip_serializing_if = "Vec::is_empty")]
    pub untagged: Vec<String>,
    /// 0 ok, 1 only "not found" errors, 2 in use, 125 other.
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    /// Error messages; `None` is written as `null`.
    #[serde(rename = "Errors")]
    pub errors: Option<Vec<String>>,
}

/// The body of an [`ImagesRemoveReport`].
pub fn remove_report(
    deleted: &[String],
    untagged: &[String],
    exit_code: i32,
    errors: Option<&[String]>,
) -> Vec<u8> {
    write_json(&ImagesRemoveReport {
        deleted: deleted.to_vec(),
        untagged: untagged.to_vec(),
        exit_code,
        errors: errors.map(<[String]>::to_vec),
    })
}

/// The inspect answer, libimage's `ManifestListData` (`docs/libpod-api.md#manifest-inspect`), in
/// Go's key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestListData {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The list's media type (`docs/libpod-api.md#list-media-type`).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The index's artifact type, if any.
    #[serde(rename = "artifactType", skip_serializing_if = "String::is_empty")]
    pub artifact_type: String,
    /// The instances; always an array, `[]` when empty.
    pub manifests: Vec<ManifestListDescriptor>,
    /// The index's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<OciDescriptor>,
    /// Index annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ManifestListData {
    /// A list with no artifact type, subject or annotations.
    pub fn new(media_type: impl Into<String>, manifests: Vec<ManifestListDescriptor>) -> Self {
        ManifestListData {
            schema_version: 2,
            media_type: media_type.into(),
            artifact_type: String::new(),
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// One instance of a [`ManifestListData`]: a Docker `Schema2Descriptor` plus OCI extras.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestListDescriptor {
    /// The instance manifest's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The instance manifest's size.
    pub size: i64,
    /// The instance manifest's digest.
    pub digest: String,
    /// Alternative download URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The platform; always present, even when empty (Go does not omit structs).
    pub platform: Schema2Platform,
    /// Instance annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The instance's artifact type.
    #[serde(rename = "artifactType", skip_serializing_if = "String::is_empty")]
    pub artifact_type: String,
    /// Embedded content, written as standard base64.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "base64_bytes")]
    pub data: Vec<u8>,
    /// Artifact files on the server.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Docker's `Schema2PlatformSpec`: `architecture` and `os` always, the rest when not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema2Platform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Docker-only CPU features.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// An OCI `v1.Descriptor`, the type of the index `subject`. Its key order differs from the
/// instances' (`digest` before `size`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OciDescriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: i64,
    /// Alternative download URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Embedded content, written as standard base64.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "base64_bytes")]
    pub data: Vec<u8>,
    /// Platform, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<OciPlatform>,
    /// Artifact type.
    #[serde(rename = "artifactType", skip_serializing_if = "String::is_empty")]
    pub artifact_type: String,
}

/// An OCI `v1.Platform`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OciPlatform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// OS version.
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// OS features.
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// Go encodes `[]byte` as standard base64 with padding.
fn base64_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The `/version` document (`docs/libpod-api.md#ping-and-version`): Docker's `types.Version` as
/// podman fills it, with a "Podman Engine" component that reports the API manifold implements
/// (podman-remote prints it as the server) and a component naming manifold itself.
pub fn version_document() -> Vec<u8> {
    #[derive(Serialize)]
    struct Platform {
        #[serde(rename = "Name")]
        name: String,
    }
    #[derive(Serialize)]
    struct Component {
        #[serde(rename = "Name")]
        name: &'static str,
        #[serde(rename = "Version")]
        version: &'static str,
        #[serde(rename = "Details", skip_serializing_if = "BTreeMap::is_empty")]
        details: BTreeMap<&'static str, String>,
    }
    #[derive(Serialize)]
    struct Version {
        #[serde(rename = "Platform")]
        platform: Platform,
        #[serde(rename = "Components")]
        components: Vec<Component>,
        #[serde(rename = "Version")]
        version: &'static str,
        #[serde(rename = "ApiVersion")]
        api_version: &'static str,
        #[serde(rename = "MinAPIVersion")]
        min_api_version: &'static str,
        #[serde(rename = "GitCommit")]
        git_commit: &'static str,
        #[serde(rename = "GoVersion")]
        go_version: &'static str,
        #[serde(rename = "Os")]
        os: &'static str,
        #[serde(rename = "Arch")]
        arch: &'static str,
        #[serde(rename = "BuildTime")]
        build_time: &'static str,
    }
    // podman-remote parses BuildTime as RFC 3339; manifold does not record one.
    const BUILD_TIME: &str = "1970-01-01T00:00:00Z";
    let arch = go_arch();
    let engine: BTreeMap<&'static str, String> = [
        ("APIVersion", LIBPOD_API_VERSION),
        ("Arch", arch),
        ("BuildTime", BUILD_TIME),
        ("Experimental", "false"),
        ("GitCommit", ""),
        ("GoVersion", ""),
        ("MinAPIVersion", MIN_LIBPOD_API_VERSION),
        ("Os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let manifold: BTreeMap<&'static str, String> = [
        ("APIVersion", LIBPOD_API_VERSION),
        ("Arch", arch),
        ("Os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    write_json(&Version {
        platform: Platform {
            name: format!("linux/{arch}/manifold-{MANIFOLD_VERSION}"),
        },
        components: vec![
            Component {
                name: "Podman Engine",
                version: LIBPOD_API_VERSION,
                details: engine,
            },
            Component {
                name: "manifold",
                version: MANIFOLD_VERSION,
                details: manifold,
            },
        ],
        version: LIBPOD_API_VERSION,
        api_version: COMPAT_API_VERSION,
        min_api_version: MIN_COMPAT_API_VERSION,
        git_commit: "",
        go_version: "",
        os: "linux",
        arch,
        build_time: BUILD_TIME,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use serde_json::Value;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    fn error_body(status: u16, message: &str, cause: &str) -> Vec<u8> {
        ErrorModel::new(status, message, cause).body()
    }

    #[test]
    fn error_bodies_match_podman() {
        // The bodies a podman 5.4 service sent for a missing list.
        assert_eq!(
            s(&error_body(404, "localhost/nolist: image not known", "image not known")),
            "{\"cause\":\"image not known\",\"message\":\"localhost/nolist: image not known\",\"response\":404}\n"
        );
        assert_eq!(
            s(&error_body(404, "manifest not found", "manifest not found")),
            "{\"cause\":\"manifest not found\",\"message\":\"manifest not found\",\"response\":404}\n"
        );
        // podman 5.4's answer to podman-py's dict-valued `annotation`.
        let m = "json: cannot unmarshal object into Go struct field ManifestModifyOptions.annotation of type []string";
        assert_eq!(
            s(&error_body(500, &format!("decoding modify request: {m}"), m)),
            format!("{{\"cause\":\"{m}\",\"message\":\"decoding modify request: {m}\",\"response\":500}}\n")
        );
        // podman 5.4's answer to a duplicate create: quotes are escaped, nothing else.
        assert_eq!(
            s(&error_body(500, "creating image to hold manifest list: image name \"localhost/ml:v1\" is already associated with image \"1e54\": that name is already in use", "that name is already in use")),
            "{\"cause\":\"that name is already in use\",\"message\":\"creating image to hold manifest list: image name \\\"localhost/ml:v1\\\" is already associated with image \\\"1e54\\\": that name is already in use\",\"response\":500}\n"
        );
        // WriteJSON does not escape HTML; U+2028 is always escaped.
        assert_eq!(
            s(&error_body(400, "a<b>&c\u{2028}", "x")),
            "{\"cause\":\"x\",\"message\":\"a<b>&c\\u2028\",\"response\":400}\n"
        );
    }

    #[test]
    fn reports_match_podman() {
        let id = "1e54f0428059caff629c5a70d2f8b3a97454fb7a2e137b2b3621688e7f6401b3";
        assert_eq!(s(&id_body(id)), format!("{{\"Id\":\"{id}\"}}\n"));
        assert_eq!(
            s(&write_json(&ManifestModifyReport {
                id: id.into(),
                images: vec!["containers-storage:localhost/img:amd64".into()],
                ..Default::default()
            })),
            format!(
                "{{\"Id\":\"{id}\",\"images\":[\"containers-storage:localhost/img:amd64\"]}}\n"
            )
        );
        let r = ManifestModifyReport {
            id: "6f9a".into(),
            errors: vec!["no instance matching digest \"sha256:426e\" found in manifest list: file does not exist".into()],
            ..Default::default()
        };
        assert_eq!(r.status(), 400);
        assert_eq!(
            s(&write_json(&r)),
            "{\"Id\":\"6f9a\",\"errors\":[\"no instance matching digest \\\"sha256:426e\\\" found in manifest list: file does not exist\"]}\n"
        );
        let r = ManifestModifyReport {
            id: "3b0b".into(),
            images: vec!["sha256:e927".into()],
            errors: vec!["bad".into()],
            ..Default::default()
        };
        assert_eq!(r.status(), 409);
        assert_eq!(ManifestModifyReport::default().status(), 200);
        assert_eq!(
            s(&write_json(&ManifestModifyReport {
                id: "3dad".into(),
                files: vec!["/a/art1.txt".into()],
                ..Default::default()
            })),
            "{\"Id\":\"3dad\",\"files\":[\"/a/art1.txt\"]}\n"
        );
        // docs/libpod-api.md#manifest-delete and docs/libpod-api.md#images-remove
        assert_eq!(
            s(&remove_report(&[id.into()], &["localhost/ml:v1".into()], 0, None)),
            format!("{{\"Deleted\":[\"{id}\"],\"Untagged\":[\"localhost/ml:v1\"],\"ExitCode\":0,\"Errors\":null}}\n")
        );
        assert_eq!(
            s(&remove_report(
                &[],
                &[],
                1,
                Some(&["localhost/ml:v1: image not known".into()])
            )),
            "{\"ExitCode\":1,\"Errors\":[\"localhost/ml:v1: image not known\"]}\n"
        );
        assert_eq!(
            s(&remove_report(&[], &[], 0, Some(&[]))),
            "{\"ExitCode\":0,\"Errors\":[]}\n"
        );
    }

    #[test]
    fn push_stream_lines_match_podman() {
        assert_eq!(
            s(&push_stream_line(&ManifestPushReport::progress(
                "Getting image list signatures\n"
            ))),
            "{\"Id\":\"\",\"stream\":\"Getting image list signatures\\n\"}\n"
        );
        assert_eq!(
            s(&push_stream_line(&ManifestPushReport::done(
                "sha256:6a6cfb73"
            ))),
            "{\"Id\":\"sha256:6a6cfb73\"}\n"
        );
        assert_eq!(
            s(&push_stream_line(&ManifestPushReport::failed(
                "pinging container registry localhost: Get \"http://localhost/v2/\": dial tcp 127.0.0.1:80: connect: connection refused"
            ))),
            "{\"Id\":\"\",\"error\":\"pinging container registry localhost: Get \\\"http://localhost/v2/\\\": dial tcp 127.0.0.1:80: connect: connection refused\"}\n"
        );
        // The stream encoder escapes HTML.
        assert_eq!(
            s(&push_stream_line(&ManifestPushReport::progress("a<b>&\n"))),
            "{\"Id\":\"\",\"stream\":\"a\\u003cb\\u003e\\u0026\\n\"}\n"
        );
        assert!(push_stream_line(&ManifestPushReport::default()).is_empty());
    }

    #[test]
    fn inspect_matches_podman() {
        // A podman 5.4 inspect answer (an annotated image and an artifact), with shortened digests
        // and paths; shape: docs/libpod-api.md#manifest-inspect.
        let mut first = ManifestListDescriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 495,
            digest: "sha256:e927".into(),
            platform: Schema2Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                os_version: "10.0".into(),
                variant: "v1".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        first.annotations.insert("a".into(), "b".into());
        let second = ManifestListDescriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 665,
            digest: "sha256:4596".into(),
            artifact_type: "application/x-test".into(),
            files: vec!["/t/art1.txt".into(), "/t/zeros.bin".into()],
            ..Default::default()
        };
        let mut list = ManifestListData::new(
            "application/vnd.oci.image.index.v1+json",
            vec![first, second],
        );
        list.annotations.insert("ik".into(), "iv".into());
        list.annotations.insert("ia".into(), "ib".into());
        assert_eq!(
            s(&write_json(&list)),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":495,\"digest\":\"sha256:e927\",\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"os.version\":\"10.0\",\"variant\":\"v1\"},\"annotations\":{\"a\":\"b\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":665,\"digest\":\"sha256:4596\",\"platform\":{\"architecture\":\"\",\"os\":\"\"},\"artifactType\":\"application/x-test\",\"files\":[\"/t/art1.txt\",\"/t/zeros.bin\"]}],\"annotations\":{\"ia\":\"ib\",\"ik\":\"iv\"}}\n"
        );
        // An empty list: `manifests` is `[]`, never null.
        let empty = ManifestListData::new(
            "application/vnd.docker.distribution.manifest.list.v2+json",
            vec![],
        );
        assert_eq!(
            s(&write_json(&empty)),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":[]}\n"
        );
        // podman 5.4's answer to podman-py after an add with `features`: a Docker list shows them.
        let docker = ManifestListData::new(
            "application/vnd.docker.distribution.manifest.list.v2+json",
            vec![ManifestListDescriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 495,
                digest: "sha256:a3db".into(),
                platform: Schema2Platform {
                    architecture: "arm64".into(),
                    os: "linux".into(),
                    os_version: "1".into(),
                    variant: "v8".into(),
                    features: vec!["x".into()],
                    ..Default::default()
                },
                ..Default::default()
            }],
        );
        assert_eq!(
            s(&write_json(&docker)),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":495,\"digest\":\"sha256:a3db\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"os.version\":\"1\",\"variant\":\"v8\",\"features\":[\"x\"]}}]}\n"
        );
    }

    #[test]
    fn inspect_optional_keys_in_order() {
        let mut list = ManifestListData::new(
            "application/vnd.oci.image.index.v1+json",
            vec![ManifestListDescriptor {
                media_type: "m".into(),
                size: 1,
                digest: "d".into(),
                urls: vec!["u".into()],
                platform: Schema2Platform {
                    os_features: vec!["f".into()],
                    ..Default::default()
                },
                data: b"{}".to_vec(),
                ..Default::default()
            }],
        );
        list.artifact_type = "at".into();
        list.subject = Some(OciDescriptor {
            media_type: "sm".into(),
            digest: "sd".into(),
            size: 2,
            artifact_type: "sat".into(),
            ..Default::default()
        });
        assert_eq!(
            s(&write_json(&list)),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"artifactType\":\"at\",\"manifests\":[{\"mediaType\":\"m\",\"size\":1,\"digest\":\"d\",\"urls\":[\"u\"],\"platform\":{\"architecture\":\"\",\"os\":\"\",\"os.features\":[\"f\"]},\"data\":\"e30=\"}],\"subject\":{\"mediaType\":\"sm\",\"digest\":\"sd\",\"size\":2,\"artifactType\":\"sat\"}}\n"
        );
    }

    #[test]
    fn headers() {
        let h = standard_headers(Some("0xc0000143b8"));
        let get = |h: &[(String, String)], k: &str| {
            h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(get(&h, "API-Version").as_deref(), Some("1.41"));
        assert_eq!(get(&h, "Libpod-API-Version").as_deref(), Some("5.8.2"));
        assert_eq!(get(&h, "X-Reference-Id").as_deref(), Some("0xc0000143b8"));
        let server = get(&h, "Server").unwrap();
        assert!(
            server.starts_with("Libpod/5.8.2 (linux) manifold/"),
            "{server}"
        );
        let generated = reference_id(None);
        assert_eq!(generated.len(), 36);
        assert_eq!(generated.as_bytes()[14], b'4');
        assert_ne!(generated, reference_id(Some("")));
        let p = ping_headers();
        for k in [
            "Cache-Control",
            "Pragma",
            "Docker-Experimental",
            "Builder-Version",
            "BuildKit-Version",
            "OSType",
            "Libpod-Buildah-Version",
        ] {
            assert!(get(&p, k).is_some(), "{k}");
        }
        assert_eq!(get(&p, "Cache-Control").as_deref(), Some("no-cache"));
    }

    #[test]
    fn version_document_shape() {
        let doc = version_document();
        assert_eq!(doc.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&doc).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Platform",
                "Components",
                "Version",
                "ApiVersion",
                "MinAPIVersion",
                "GitCommit",
                "GoVersion",
                "Os",
                "Arch",
                "BuildTime"
            ]
        );
        assert_eq!(v["ApiVersion"], "1.41");
        assert_eq!(v["MinAPIVersion"], "1.24");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Arch"], go_arch());
        let engine = &v["Components"][0];
        assert_eq!(engine["Name"], "Podman Engine");
        assert_eq!(engine["Version"], "5.8.2");
        assert_eq!(engine["Details"]["APIVersion"], "5.8.2");
        assert_eq!(engine["Details"]["MinAPIVersion"], "4.0.0");
        assert_eq!(v["Components"][1]["Name"], "manifold");
        assert_eq!(v["Components"][1]["Version"], MANIFOLD_VERSION);
    }
}
