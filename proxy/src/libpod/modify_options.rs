//! The JSON request bodies of the manifest routes, decoded exactly as podman v5.8.2 decodes them.
//!
//! - `PUT /v4+/libpod/manifests/{name}`: ManifestModifyOptions, read with
//!   `json.NewDecoder(r.Body).Decode` ([`decode_modify_options`], §3.4).
//! - `POST /v4+/libpod/manifests/{name}` (create): the same struct, but read with `json.Unmarshal`
//!   after the handler read the whole body ([`decode_create_body`], §3.1 step 6).
//! - `POST /v3/libpod/manifests/{name}/add`: an anonymous struct embedding ManifestAddOptions
//!   plus a `TLSVerify bool` without JSON tag ([`decode_add_options`], §3.7).
//!
//! All three produce a [`ModifyOptions`]. Keys match the struct tags of
//! `pkg/domain/entities/manifest.go` case-insensitively (see [`super::gojson`]); the Go clients'
//! `Authfile`, `Password`, `Username`, `SkipTLSVerify` are tagged `json:"-"` there and so ignored
//! here too, whatever their type. `artifact_files` is type-checked but not returned: the server
//! overwrites it with the names of uploaded files.
//!
//! The handler prefixes errors with the route's context (`decoding modify request: `,
//! `decoding modifications in request: `, `decoding AddV3 query: `); the error text itself is
//! Go's (`EOF` for an empty modify body, §3.4 step 1).

use std::collections::BTreeMap;

use super::gojson::{self, Decoded, Field, JsonError, Kind, ReadMode, StructType};
use super::goquote::quote;

/// A decoded ManifestModifyOptions (or ManifestAddOptions) body; absent and `null` keys leave
/// the zero value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyOptions {
    /// `operation`: `update`, `remove` or `annotate`, compared case-insensitively by the handler.
    pub operation: String,
    /// `images`: references to add, digests to remove, or annotation targets.
    pub images: Vec<String>,
    /// `all`: add every instance of a source list.
    pub all: bool,
    /// `annotation`: per-instance annotations as `k=v` strings.
    pub annotation: Vec<String>,
    /// `annotations`: per-instance annotations as a map.
    pub annotations: BTreeMap<String, String>,
    /// `arch`: architecture override.
    pub arch: String,
    /// `os`: OS override.
    pub os: String,
    /// `os_version`: OS version override.
    pub os_version: String,
    /// `os_features`: OS features (accepted, never applied by podman 5.8.2).
    pub os_features: Vec<String>,
    /// `features`: Docker platform features.
    pub features: Vec<String>,
    /// `variant`: variant override.
    pub variant: String,
    /// `index_annotation`: index annotations as `k=v` strings.
    pub index_annotation: Vec<String>,
    /// `index_annotations`: index annotations as a map.
    pub index_annotations: BTreeMap<String, String>,
    /// `subject`: reference whose manifest becomes the index's subject.
    pub subject: String,
    /// `artifact_type`: `None` for absent or `null` (podman's default artifact type), `Some("")`
    /// for no artifact type.
    pub artifact_type: Option<String>,
    /// `artifact_layer_type`
    pub artifact_layer_type: String,
    /// `artifact_config_type`
    pub artifact_config_type: String,
    /// `artifact_config`: inline config contents.
    pub artifact_config: String,
    /// `artifact_exclude_titles`
    pub artifact_exclude_titles: bool,
    /// `artifact_annotations`
    pub artifact_annotations: BTreeMap<String, String>,
    /// `artifact_subject`
    pub artifact_subject: String,
    /// The v3 add body's `TLSVerify` (default false); `None` for the other bodies, which have no
    /// such field. podman applies it only when the URL has a `tlsVerify` parameter (§3.7).
    pub tls_verify_v3: Option<bool>,
}

const ANNOTATE: &str = "ManifestAddOptions.ManifestAnnotateOptions.";
const ADD: &str = "ManifestAddOptions.";

const fn field(name: &'static str, kind: Kind, embedded_in: &'static str) -> Field {
    Field {
        name,
        kind,
        embedded_in,
    }
}

/// `entities.ManifestModifyOptions`, in Go's field order.
static MODIFY_FIELDS: [Field; 22] = [
    field("operation", Kind::Str, ""),
    field("annotation", Kind::StrSlice, ANNOTATE),
    field("annotations", Kind::StrMap, ANNOTATE),
    field("arch", Kind::Str, ANNOTATE),
    field("features", Kind::StrSlice, ANNOTATE),
    field("os", Kind::Str, ANNOTATE),
    field("os_features", Kind::StrSlice, ANNOTATE),
    field("os_version", Kind::Str, ANNOTATE),
    field("variant", Kind::Str, ANNOTATE),
    field("index_annotation", Kind::StrSlice, ANNOTATE),
    field("index_annotations", Kind::StrMap, ANNOTATE),
    field("subject", Kind::Str, ANNOTATE),
    field("all", Kind::Bool, ADD),
    field("images", Kind::StrSlice, ADD),
    field("artifact_type", Kind::OptStr, ""),
    field("artifact_layer_type", Kind::Str, ""),
    field("artifact_config_type", Kind::Str, ""),
    field("artifact_config", Kind::Str, ""),
    field("artifact_exclude_titles", Kind::Bool, ""),
    field("artifact_annotations", Kind::StrMap, ""),
    field("artifact_subject", Kind::Str, ""),
    field("artifact_files", Kind::StrSlice, ""),
];

const MODIFY: StructType = StructType {
    go_type: "entities.ManifestModifyOptions",
    name: "ManifestModifyOptions",
    fields: &MODIFY_FIELDS,
};

/// ManifestAddV3's `struct { entities.ManifestAddOptions; TLSVerify bool `schema:"tlsVerify"` }`.
/// Anonymous, so field errors read `Go struct field .annotation`; `TLSVerify` has no JSON tag, so
/// its key is the Go field name.
static ADD_V3_FIELDS: [Field; 14] = [
    field("annotation", Kind::StrSlice, ANNOTATE),
    field("annotations", Kind::StrMap, ANNOTATE),
    field("arch", Kind::Str, ANNOTATE),
    field("features", Kind::StrSlice, ANNOTATE),
    field("os", Kind::Str, ANNOTATE),
    field("os_features", Kind::StrSlice, ANNOTATE),
    field("os_version", Kind::Str, ANNOTATE),
    field("variant", Kind::Str, ANNOTATE),
    field("index_annotation", Kind::StrSlice, ANNOTATE),
    field("index_annotations", Kind::StrMap, ANNOTATE),
    field("subject", Kind::Str, ANNOTATE),
    field("all", Kind::Bool, ADD),
    field("images", Kind::StrSlice, ADD),
    field("TLSVerify", Kind::Bool, ""),
];

const ADD_V3: StructType = StructType {
    go_type: r#"struct { entities.ManifestAddOptions; TLSVerify bool "schema:\"tlsVerify\"" }"#,
    name: "",
    fields: &ADD_V3_FIELDS,
};

impl ModifyOptions {
    fn from_decoded(d: &Decoded) -> Self {
        ModifyOptions {
            operation: d.string("operation"),
            images: d.strings("images"),
            all: d.boolean("all"),
            annotation: d.strings("annotation"),
            annotations: d.map("annotations"),
            arch: d.string("arch"),
            os: d.string("os"),
            os_version: d.string("os_version"),
            os_features: d.strings("os_features"),
            features: d.strings("features"),
            variant: d.string("variant"),
            index_annotation: d.strings("index_annotation"),
            index_annotations: d.map("index_annotations"),
            subject: d.string("subject"),
            artifact_type: d.opt_string("artifact_type"),
            artifact_layer_type: d.string("artifact_layer_type"),
            artifact_config_type: d.string("artifact_config_type"),
            artifact_config: d.string("artifact_config"),
            artifact_exclude_titles: d.boolean("artifact_exclude_titles"),
            artifact_annotations: d.map("artifact_annotations"),
            artifact_subject: d.string("artifact_subject"),
            tls_verify_v3: None,
        }
    }
}

/// Decodes a modify (`PUT`) body as `json.NewDecoder(r.Body).Decode(body)` does: the first JSON
/// value only; an empty body is `EOF`.
pub fn decode_modify_options(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    gojson::decode_struct(body, ReadMode::Decoder, MODIFY).map(|d| ModifyOptions::from_decoded(&d))
}

/// Decodes a create body as `json.Unmarshal(buffer, body)` does: the whole body must be one value
/// (`unexpected end of JSON input`, `invalid character 'x' after top-level value`). The caller
/// skips bodies shorter than 3 bytes, as podman does.
pub fn decode_create_body(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    gojson::decode_struct(body, ReadMode::Unmarshal, MODIFY)
        .map(|d| ModifyOptions::from_decoded(&d))
}

/// Decodes a v3 add body (`json.NewDecoder(r.Body).Decode(&query)` into ManifestAddV3's anonymous
/// struct). `operation` and the `artifact_*` keys are not part of that struct and stay empty;
/// [`ModifyOptions::tls_verify_v3`] is always `Some`.
pub fn decode_add_options(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    let d = gojson::decode_struct(body, ReadMode::Decoder, ADD_V3)?;
    let mut opts = ModifyOptions::from_decoded(&d);
    opts.tls_verify_v3 = Some(d.boolean("TLSVerify"));
    Ok(opts)
}

/// podman's `ParseAnnotations`, as modify applies it to `annotation` and `index_annotation`
/// (§3.4 step 3): each entry is split at its first `=`; later entries win; an entry without `=`
/// fails with `no value given for annotation "<entry>"`.
pub fn parse_kv_annotations(entries: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for entry in entries {
        match entry.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => return Err(format!("no value given for annotation {}", quote(entry))),
        }
    }
    Ok(out)
}

/// Create's index annotations (§3.1 step 4): the `annotations` map, overridden by the
/// `annotation` entries; an entry without `=` fails with `invalid annotation <entry>` (unquoted,
/// unlike modify's text).
pub fn parse_create_annotations(
    annotations: &BTreeMap<String, String>,
    annotation: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = annotations.clone();
    for entry in annotation {
        match entry.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => return Err(format!("invalid annotation {entry}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::libpod::testdata;
    use serde_json::{json, Value};

    /// The fixtures' normalised shape of a decoded body.
    fn normalised(o: &ModifyOptions) -> Value {
        json!({
            "operation": o.operation,
            "images": o.images,
            "all": o.all,
            "annotation": o.annotation,
            "annotations": o.annotations,
            "arch": o.arch,
            "os": o.os,
            "os_version": o.os_version,
            "os_features": o.os_features,
            "features": o.features,
            "variant": o.variant,
            "index_annotation": o.index_annotation,
            "index_annotations": o.index_annotations,
            "subject": o.subject,
            "artifact_type": o.artifact_type,
            "artifact_layer_type": o.artifact_layer_type,
            "artifact_config_type": o.artifact_config_type,
            "artifact_config": o.artifact_config,
            "artifact_exclude_titles": o.artifact_exclude_titles,
            "artifact_annotations": o.artifact_annotations,
            "artifact_subject": o.artifact_subject,
            "tls_verify_v3": o.tls_verify_v3,
        })
    }

    fn check(mode: &str, decode: fn(&[u8]) -> Result<ModifyOptions, JsonError>) {
        let mut n = 0;
        for case in testdata::gojson(mode) {
            let input = case.input();
            let shown = String::from_utf8_lossy(&input);
            let shown = shown.get(..shown.len().min(120)).unwrap_or(&shown);
            match (decode(&input), case.err()) {
                (Ok(got), None) => {
                    assert_eq!(normalised(&got), case.get("out").clone(), "{mode}: {shown}")
                }
                (Err(got), Some(want)) => assert_eq!(got.as_str(), want, "{mode}: {shown}"),
                (got, want) => panic!("{mode}: {shown}: got {got:?}, Go says {want:?}"),
            }
            n += 1;
        }
        assert!(n > 700, "{mode}: only {n} cases");
    }

    #[test]
    fn modify_bodies_match_go_decoder() {
        check("decoder_modify", decode_modify_options);
    }

    #[test]
    fn create_bodies_match_go_unmarshal() {
        check("unmarshal_modify", decode_create_body);
    }

    #[test]
    fn add_v3_bodies_match_go_decoder() {
        check("decoder_addv3", decode_add_options);
    }

    #[test]
    fn captured_errors() {
        // captures/py.log: podman-py sends `annotation` as a dict.
        let body = br#"{"annotation": {"k": "v"}, "images": ["containers-storage:localhost/img:arm64"], "operation": "update"}"#;
        assert_eq!(
            decode_modify_options(body).unwrap_err().as_str(),
            "json: cannot unmarshal object into Go struct field ManifestModifyOptions.annotation of type []string"
        );
        assert_eq!(
            decode_add_options(body).unwrap_err().as_str(),
            "json: cannot unmarshal object into Go struct field .annotation of type []string"
        );
        // §3.4 step 1: an empty modify body.
        assert_eq!(decode_modify_options(b"").unwrap_err().as_str(), "EOF");
        // captures/54c-addart.log (the 4.3.1 server reading a multipart body as JSON).
        assert_eq!(
            decode_modify_options(b"--fad0412\r\n")
                .unwrap_err()
                .as_str(),
            "invalid character '-' in numeric literal"
        );
    }

    #[test]
    fn captured_client_body() {
        // captures/54-add.log: the 5.x CLI's add body.
        let body = br#"{"Operation":"update","All":false,"Annotations":{"a":"b"},"index_annotations":null,"Arch":"amd64","Features":["f1","f2"],"OS":"linux","os_features":null,"os_version":"10.0","Variant":"v1","Images":["containers-storage:localhost/img:arm64"],"Authfile":"","Password":"","Username":"","SkipTLSVerify":null,"artifact_type":null,"artifact_config_type":null,"artifact_config":null,"artifact_layer_type":null,"artifact_exclude_titles":null,"artifact_subject":null,"artifact_annotations":null,"artifact_files":null}"#;
        let o = decode_modify_options(body).unwrap();
        assert_eq!(o.operation, "update");
        assert_eq!(o.images, ["containers-storage:localhost/img:arm64"]);
        assert_eq!(o.annotations.get("a").map(String::as_str), Some("b"));
        assert_eq!(
            (o.arch.as_str(), o.os.as_str(), o.os_version.as_str()),
            ("amd64", "linux", "10.0")
        );
        assert_eq!(o.features, ["f1", "f2"]);
        assert_eq!(o.variant, "v1");
        assert_eq!(o.artifact_type, None);
        assert_eq!(o.tls_verify_v3, None);
    }

    #[test]
    fn go_slice_reuse_and_map_merge() {
        // A second `images` decodes into the first one's backing array: null keeps the old value.
        let o = decode_modify_options(
            br#"{"images":["a","b","c"],"images":["x"],"images":[null,null]}"#,
        )
        .unwrap();
        assert_eq!(o.images, ["x", "b"]);
        let o =
            decode_modify_options(br#"{"annotations":{"a":"1"},"Annotations":{"b":"2"}}"#).unwrap();
        assert_eq!(o.annotations.len(), 2);
        let o = decode_modify_options(br#"{"artifact_type":"x","artifact_type":null}"#).unwrap();
        assert_eq!(o.artifact_type, None);
        let o = decode_modify_options(br#"{"artifact_type":""}"#).unwrap();
        assert_eq!(o.artifact_type.as_deref(), Some(""));
    }

    #[test]
    fn annotations() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = parse_kv_annotations(&list(&["a=b", "c=d=e", "a=z", "e="])).unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("z"));
        assert_eq!(m.get("c").map(String::as_str), Some("d=e"));
        assert_eq!(m.get("e").map(String::as_str), Some(""));
        assert_eq!(
            parse_kv_annotations(&list(&["noeq"])).unwrap_err(),
            r#"no value given for annotation "noeq""#
        );
        assert_eq!(
            parse_kv_annotations(&list(&["a\"b"])).unwrap_err(),
            r#"no value given for annotation "a\"b""#
        );
        let mut base = BTreeMap::new();
        base.insert("ia".to_string(), "ib".to_string());
        base.insert("k".to_string(), "map".to_string());
        let m = parse_create_annotations(&base, &list(&["k=slice"])).unwrap();
        assert_eq!(m.get("k").map(String::as_str), Some("slice"));
        assert_eq!(m.get("ia").map(String::as_str), Some("ib"));
        assert_eq!(
            parse_create_annotations(&base, &list(&["bad"])).unwrap_err(),
            "invalid annotation bad"
        );
    }
}
