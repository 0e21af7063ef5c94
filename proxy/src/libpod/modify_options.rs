//! The JSON request bodies of the manifest routes, decoded exactly as podman v5.8.2 decodes them
//! (`docs/libpod-api.md#json-request-bodies`, `docs/libpod-api.md#manifestmodifyoptions`).
//!
//! - `PUT /v4+/libpod/manifests/{name}`: ManifestModifyOptions, read with
//!   `json.NewDecoder(r.Body).Decode` ([`decode_modify_options`]).
//! - `POST /v4+/libpod/manifests/{name}` (create): the same struct, but read with `json.Unmarshal`
//!   after the handler read the whole body ([`decode_create_body`]).
//! - `POST /v3/libpod/manifests/{name}/add`: an anonymous struct embedding ManifestAddOptions
//!   plus a `TLSVerify bool` without JSON tag ([`decode_add_options`]).
//!
//! All three produce a [`ModifyOptions`]. Keys match the struct tags of
//! `pkg/domain/entities/manifest.go` with Go's rules (case-insensitively, `null` as absent; see
//! [`manifold_gocompat::json`]); the Go clients' `Authfile`, `Password`, `Username`,
//! `SkipTLSVerify` are tagged `json:"-"` there and so ignored here too, whatever their type.
//! `artifact_files` is type-checked but not returned: the server overwrites it with the names
//! of uploaded files. A value of the wrong type for any field is Go's error (`json: cannot
//! unmarshal number into Go struct field ManifestModifyOptions.operation of type string`).
//!
//! The handler prefixes errors with the route's context (`decoding modify request: `,
//! `decoding modifications in request: `, `decoding AddV3 query: `) and answers 500, as podman
//! does; the error text itself is Go's (`EOF` for an empty modify body).

use std::collections::BTreeMap;

use manifold_gocompat::json::{self, Field, GoStruct, JsonError, ReadMode};
use manifold_gocompat::strconv::quote;

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
    /// such field. podman applies it only when the URL has a `tlsVerify` parameter.
    pub tls_verify_v3: Option<bool>,
}

/// The fields of the embedded `ManifestAddOptions` (with its embedded
/// `ManifestAnnotateOptions`), shared by the modify body and the v3 add body.
static ADD_OPTIONS_FIELDS: [Field<ModifyOptions>; 13] = [
    Field::new("annotation", |o, v| json::strings(&mut o.annotation, v)),
    Field::new("annotations", |o, v| {
        json::string_map(&mut o.annotations, v)
    }),
    Field::new("arch", |o, v| json::string(&mut o.arch, v)),
    Field::new("features", |o, v| json::strings(&mut o.features, v)),
    Field::new("os", |o, v| json::string(&mut o.os, v)),
    Field::new("os_features", |o, v| json::strings(&mut o.os_features, v)),
    Field::new("os_version", |o, v| json::string(&mut o.os_version, v)),
    Field::new("variant", |o, v| json::string(&mut o.variant, v)),
    Field::new("index_annotation", |o, v| {
        json::strings(&mut o.index_annotation, v)
    }),
    Field::new("index_annotations", |o, v| {
        json::string_map(&mut o.index_annotations, v)
    }),
    Field::new("subject", |o, v| json::string(&mut o.subject, v)),
    Field::new("all", |o, v| json::boolean(&mut o.all, v)),
    Field::new("images", |o, v| json::strings(&mut o.images, v)),
];

/// `entities.ManifestModifyOptions`'s own fields.
static MODIFY_OWN_FIELDS: [Field<ModifyOptions>; 9] = [
    Field::new("operation", |o, v| json::string(&mut o.operation, v)),
    Field::new("artifact_type", |o, v| {
        json::optional_string(&mut o.artifact_type, v)
    }),
    Field::new("artifact_layer_type", |o, v| {
        json::string(&mut o.artifact_layer_type, v)
    }),
    Field::new("artifact_config_type", |o, v| {
        json::string(&mut o.artifact_config_type, v)
    }),
    Field::new("artifact_config", |o, v| {
        json::string(&mut o.artifact_config, v)
    }),
    Field::new("artifact_exclude_titles", |o, v| {
        json::boolean(&mut o.artifact_exclude_titles, v)
    }),
    Field::new("artifact_annotations", |o, v| {
        json::string_map(&mut o.artifact_annotations, v)
    }),
    Field::new("artifact_subject", |o, v| {
        json::string(&mut o.artifact_subject, v)
    }),
    // Type-checked only: the server fills it with the uploaded files.
    Field::new("artifact_files", |_, v| json::strings(&mut Vec::new(), v)),
];

const MODIFY: GoStruct<ModifyOptions> = GoStruct {
    go_type: "entities.ManifestModifyOptions",
    name: "ManifestModifyOptions",
    fields: &[&MODIFY_OWN_FIELDS, &ADD_OPTIONS_FIELDS],
};

/// ManifestAddV3's `TLSVerify bool` has no JSON tag, so its key is the Go field name.
static ADD_V3_OWN_FIELDS: [Field<ModifyOptions>; 1] = [Field::new("TLSVerify", |o, v| {
    json::boolean(o.tls_verify_v3.get_or_insert(false), v)
})];

/// ManifestAddV3's `struct { entities.ManifestAddOptions; TLSVerify bool `schema:"tlsVerify"` }`.
/// Anonymous, so field errors read `Go struct field .annotation`.
const ADD_V3: GoStruct<ModifyOptions> = GoStruct {
    go_type: r#"struct { entities.ManifestAddOptions; TLSVerify bool "schema:\"tlsVerify\"" }"#,
    name: "",
    fields: &[&ADD_OPTIONS_FIELDS, &ADD_V3_OWN_FIELDS],
};

/// Decodes a modify (`PUT`) body as `json.NewDecoder(r.Body).Decode(body)` does: the first JSON
/// value only; an empty body is `EOF`.
pub fn decode_modify_options(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    MODIFY.decode(body, ReadMode::Decoder)
}

/// Decodes a create body as `json.Unmarshal(buffer, body)` does: the whole body must be one value
/// (`unexpected end of JSON input`, `invalid character 'x' after top-level value`). The caller
/// skips bodies shorter than 3 bytes, as podman does.
pub fn decode_create_body(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    MODIFY.decode(body, ReadMode::Unmarshal)
}

/// Decodes a v3 add body (`json.NewDecoder(r.Body).Decode(&query)` into ManifestAddV3's anonymous
/// struct). `operation` and the `artifact_*` keys are not part of that struct and stay empty;
/// [`ModifyOptions::tls_verify_v3`] is always `Some`.
pub fn decode_add_options(body: &[u8]) -> Result<ModifyOptions, JsonError> {
    let mut opts = ADD_V3.decode(body, ReadMode::Decoder)?;
    opts.tls_verify_v3.get_or_insert(false);
    Ok(opts)
}

/// podman's `ParseAnnotations`, as modify applies it to `annotation` and `index_annotation`:
/// each entry is split at its first `=`; later entries win; an entry without `=`
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

/// Create's index annotations: the `annotations` map, overridden by the
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
    use manifold_gocompat::testdata;
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

    /// Every case of Go's corpus for `mode` that the decoder reproduces (see
    /// `testdata::left_out_of_json`): the decoded fields, or Go's error text.
    fn check(mode: &str, decode: fn(&[u8]) -> Result<ModifyOptions, JsonError>) {
        let mut n = 0;
        for case in testdata::gojson(mode) {
            let input = case.input();
            if testdata::left_out_of_json(&input) {
                continue;
            }
            let shown = String::from_utf8_lossy(&input);
            let shown = shown.get(..shown.len().min(120)).unwrap_or(&shown);
            match (decode(&input), case.err()) {
                (Ok(got), None) => {
                    assert_eq!(normalised(&got), case.get("out").clone(), "{mode}: {shown}")
                }
                (Err(got), Some(want)) => assert_eq!(
                    got.as_str(),
                    testdata::end_of_input_as_read(&want),
                    "{mode}: {shown}"
                ),
                (got, want) => panic!("{mode}: {shown}: got {got:?}, Go says {want:?}"),
            }
            n += 1;
        }
        assert!(n > 680, "{mode}: only {n} cases");
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
    fn errors_clients_got_from_podman() {
        // podman-py's `Manifest.add` sends `annotation` as a dict (seen on the wire).
        let body = br#"{"annotation": {"k": "v"}, "images": ["containers-storage:localhost/img:arm64"], "operation": "update"}"#;
        assert_eq!(
            decode_modify_options(body).unwrap_err().as_str(),
            "json: cannot unmarshal object into Go struct field ManifestModifyOptions.annotation of type []string"
        );
        assert_eq!(
            decode_add_options(body).unwrap_err().as_str(),
            "json: cannot unmarshal object into Go struct field .annotation of type []string"
        );
        // An empty modify body (curl's form-encoded `-d`, eaten by podman's ParseForm).
        assert_eq!(decode_modify_options(b"").unwrap_err().as_str(), "EOF");
        // A multipart body read as JSON (podman 4.3.1's server, seen on the wire).
        assert_eq!(
            decode_modify_options(b"--fad0412\r\n")
                .unwrap_err()
                .as_str(),
            "invalid character '-' in numeric literal"
        );
    }

    /// Every field is typed: a wrong type is Go's 400-worthy text, never a silent default.
    #[test]
    fn a_wrong_type_in_any_field_is_gos_error() {
        let field_error = |key: &str, body: &str, found: &str, go_type: &str| {
            assert_eq!(
                decode_modify_options(body.as_bytes()).unwrap_err().as_str(),
                format!("json: cannot unmarshal {found} into Go struct field ManifestModifyOptions.{key} of type {go_type}"),
                "{body}"
            );
        };
        field_error("operation", r#"{"operation": 5}"#, "number", "string");
        field_error(
            "operation",
            r#"{"Operation": ["update"]}"#,
            "array",
            "string",
        );
        field_error(
            "all",
            r#"{"operation":"update","all":"true"}"#,
            "string",
            "bool",
        );
        field_error("images", r#"{"images":"a"}"#, "string", "[]string");
        field_error("images", r#"{"images":["a",1]}"#, "number", "string");
        field_error(
            "annotations",
            r#"{"annotations":["a=b"]}"#,
            "array",
            "map[string]string",
        );
        field_error("arch", r#"{"arch":1}"#, "number", "string");
        field_error(
            "artifact_type",
            r#"{"artifact_type":false}"#,
            "bool",
            "string",
        );
        field_error(
            "artifact_exclude_titles",
            r#"{"artifact_exclude_titles":"x"}"#,
            "string",
            "bool",
        );
        field_error(
            "artifact_files",
            r#"{"artifact_files":{}}"#,
            "object",
            "[]string",
        );
        assert_eq!(
            decode_add_options(br#"{"images":["a"],"TLSVerify":"yes"}"#)
                .unwrap_err()
                .as_str(),
            "json: cannot unmarshal string into Go struct field .TLSVerify of type bool"
        );
        assert_eq!(
            decode_create_body(br#"{"operation":5}"#).unwrap_err().as_str(),
            "json: cannot unmarshal number into Go struct field ManifestModifyOptions.operation of type string"
        );
        // Keys tagged `json:"-"` are skipped whatever they hold.
        let o = decode_modify_options(br#"{"operation":"update","Password":5,"SkipTLSVerify":{}}"#)
            .unwrap();
        assert_eq!(o.operation, "update");
    }

    #[test]
    fn podman_5_client_body() {
        // The podman 5.x CLI's add body, as seen on the wire (docs/libpod-api.md#podman-5-cli).
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
        let v3 = decode_add_options(br#"{"images":["a"]}"#).unwrap();
        assert_eq!(v3.tls_verify_v3, Some(false));
        let v3 = decode_add_options(br#"{"images":["a"],"tlsverify":true}"#).unwrap();
        assert_eq!(v3.tls_verify_v3, Some(true));
    }

    #[test]
    fn maps_merge_and_the_artifact_type_pointer() {
        let o =
            decode_modify_options(br#"{"annotations":{"a":"1"},"Annotations":{"b":"2"}}"#).unwrap();
        assert_eq!(o.annotations.len(), 2);
        let o = decode_modify_options(br#"{"artifact_type":null}"#).unwrap();
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
