//! Filling Go structs from JSON values with Go's rules, and Go's type errors.
//!
//! A [`GoStruct`] describes a Go struct by its fields, each a JSON key bound to a typed setter
//! ([`string`], [`boolean`], [`optional_string`], [`strings`], [`string_map`]) that writes into
//! one field of a Rust struct. Decoding applies Go's `encoding/json` rules:
//!
//! - a key matches a field's tag exactly first, then case-insensitively ([`equal_fold`]): the
//!   Go clients send `"Operation"`, `"Images"`, `"OS"` next to tagged snake_case keys;
//! - `null` leaves a string or bool alone and empties a slice, map or pointer (the Go clients
//!   send many `null`s);
//! - unknown keys, and keys of fields tagged `json:"-"` (not listed), are skipped, whatever their
//!   value;
//! - a second object for a map field merges into the first (`annotations` and `Annotations`);
//! - a value of the wrong type is Go's `UnmarshalTypeError`, and the first one in the document
//!   is the error: `json: cannot unmarshal object into Go struct field
//!   ManifestModifyOptions.annotation of type []string` is what podman-py's `Manifest.add`
//!   gets for its `annotation` dict.
//!
//! Not reproduced, because no client sends a key twice: an object that repeats a key. serde_json
//! keeps only the last value, where Go decodes each in turn (`{"all":true,"all":null}` leaves
//! `true`, two objects merge, a second array reuses the first one's backing store).

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::JsonError;
use super::read::{read, ReadMode};

/// A JSON value of the wrong type for its Go destination, before it is known where that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The JSON value's kind as Go names it: `object`, `array`, `string`, `number`, `bool`.
    found: &'static str,
    /// The Go type it should have been: `string`, `[]string`, `registry.AuthConfig`, ...
    go_type: &'static str,
}

impl Mismatch {
    fn new(value: &Value, go_type: &'static str) -> Self {
        let found = match value {
            Value::Object(_) => "object",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::Null => "null",
        };
        Mismatch { found, go_type }
    }

    /// The error for a value that is not inside a struct field.
    fn in_value(self) -> JsonError {
        JsonError::new(format!(
            "json: cannot unmarshal {} into Go value of type {}",
            self.found, self.go_type
        ))
    }

    /// The error for a value in field `key` of the struct named `name`.
    fn in_field(self, name: &str, key: &str) -> JsonError {
        JsonError::new(format!(
            "json: cannot unmarshal {} into Go struct field {name}.{key} of type {}",
            self.found, self.go_type
        ))
    }
}

/// How a field is filled from its JSON value.
pub type Setter<T> = fn(&mut T, &Value) -> Result<(), Mismatch>;

/// One JSON field of a Go struct: its key (the tag, or the Go field name when it has none) and
/// its setter.
#[derive(Debug)]
pub struct Field<T: 'static> {
    key: &'static str,
    set: Setter<T>,
}

impl<T> Field<T> {
    /// The field with JSON key `key`, filled by `set`.
    pub const fn new(key: &'static str, set: Setter<T>) -> Self {
        Field { key, set }
    }
}

/// A Go struct type as `encoding/json` sees it, decoded into a `T` that starts as
/// `T::default()` (Go's zero value).
#[derive(Debug)]
pub struct GoStruct<T: 'static> {
    /// How Go prints the type in `Go value of type …`: `entities.ManifestModifyOptions`.
    pub go_type: &'static str,
    /// Its bare name in `Go struct field <name>.<key>`; empty for an anonymous struct.
    pub name: &'static str,
    /// Its JSON fields, in groups as Go declares them: the struct's own, and those promoted
    /// from each embedded struct. Fields tagged `json:"-"` are not listed.
    pub fields: &'static [&'static [Field<T>]],
}

impl<T: Default> GoStruct<T> {
    /// Reads `data` as `mode` does and decodes it, like Go decoding into a fresh `*T`.
    pub fn decode(&self, data: &[u8], mode: ReadMode) -> Result<T, JsonError> {
        self.from_value(&read(data, mode)?)
    }

    /// Decodes a value that was read already.
    pub fn from_value(&self, value: &Value) -> Result<T, JsonError> {
        let mut out = T::default();
        match value {
            Value::Null => {}
            Value::Object(members) => {
                for (key, v) in members {
                    if let Some(field) = self.field(key) {
                        (field.set)(&mut out, v).map_err(|m| m.in_field(self.name, field.key))?;
                    }
                }
            }
            other => return Err(Mismatch::new(other, self.go_type).in_value()),
        }
        Ok(out)
    }

    /// Decodes a value into a `map[string]T`, whose Go type prints as `map_go_type`: the members
    /// in document order (a `null` member is a zero `T`); `null` is an empty (nil) map.
    pub fn map_from_value(
        &self,
        value: &Value,
        map_go_type: &'static str,
    ) -> Result<Vec<(String, T)>, JsonError> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Object(members) => members
                .iter()
                .map(|(key, v)| match v {
                    Value::Null | Value::Object(_) => Ok((key.clone(), self.from_value(v)?)),
                    other => Err(Mismatch::new(other, self.go_type).in_value()),
                })
                .collect(),
            other => Err(Mismatch::new(other, map_go_type).in_value()),
        }
    }

    /// The field `key` names: exactly, else case-insensitively.
    fn field(&self, key: &str) -> Option<&Field<T>> {
        let all = || self.fields.iter().flat_map(|group| group.iter());
        all()
            .find(|f| f.key == key)
            .or_else(|| all().find(|f| equal_fold(f.key, key)))
    }
}

/// Go's case-insensitive name match: ASCII case, plus the two non-ASCII letters that fold into
/// ASCII, U+212A KELVIN SIGN (`K`) and U+017F LATIN SMALL LETTER LONG S (`S`). For the ASCII
/// names of struct tags and query parameters, `encoding/json`'s key folding and
/// `strings.EqualFold` (gorilla/schema's) agree with it.
pub fn equal_fold(name: &str, key: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212a}' => 'K',
        '\u{17f}' => 'S',
        _ => c.to_ascii_uppercase(),
    };
    name.chars().map(fold).eq(key.chars().map(fold))
}

/// A `string` field.
pub fn string(slot: &mut String, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::String(s) => *slot = s.clone(),
        Value::Null => {}
        other => return Err(Mismatch::new(other, "string")),
    }
    Ok(())
}

/// A `bool` field.
pub fn boolean(slot: &mut bool, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::Bool(b) => *slot = *b,
        Value::Null => {}
        other => return Err(Mismatch::new(other, "bool")),
    }
    Ok(())
}

/// A `*string` field, where `null` (`None`) and `""` differ. Go reports the pointed-to type.
pub fn optional_string(slot: &mut Option<String>, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::String(s) => *slot = Some(s.clone()),
        Value::Null => *slot = None,
        other => return Err(Mismatch::new(other, "string")),
    }
    Ok(())
}

/// A `[]string` field: a `null` element is `""`; a wrong element is reported with the element
/// type `string`.
pub fn strings(slot: &mut Vec<String>, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::Array(items) => {
            *slot = items
                .iter()
                .map(|item| {
                    let mut s = String::new();
                    string(&mut s, item).map(|()| s)
                })
                .collect::<Result<_, _>>()?;
        }
        Value::Null => slot.clear(),
        other => return Err(Mismatch::new(other, "[]string")),
    }
    Ok(())
}

/// A `map[string]string` field: an object merges into what the field holds, a `null` member
/// stores `""`. As in Go, a member of the wrong type stores `""` and decoding goes on; the first
/// such member is the error.
pub fn string_map(slot: &mut BTreeMap<String, String>, value: &Value) -> Result<(), Mismatch> {
    match value {
        Value::Object(members) => {
            let mut first_mismatch = None;
            for (key, v) in members {
                let mut s = String::new();
                if let Err(m) = string(&mut s, v) {
                    first_mismatch.get_or_insert(m);
                }
                slot.insert(key.clone(), s);
            }
            first_mismatch.map_or(Ok(()), Err)
        }
        Value::Null => {
            slot.clear();
            Ok(())
        }
        other => Err(Mismatch::new(other, "map[string]string")),
    }
}

/// `json.Unmarshal(data, &m)` for a `map[string]string` `m` made beforehand, returning what Go
/// leaves in `m` together with the error: a syntax error leaves it empty, a wrong member type
/// leaves `""` for that member and the others decoded.
pub fn unmarshal_string_map(data: &[u8]) -> (BTreeMap<String, String>, Option<JsonError>) {
    let mut map = BTreeMap::new();
    let error = match read(data, ReadMode::Unmarshal) {
        Ok(value) => string_map(&mut map, &value).err().map(Mismatch::in_value),
        Err(e) => Some(e),
    };
    (map, error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::testdata;
    use serde_json::json;

    #[derive(Debug, Default, PartialEq)]
    struct Sample {
        name: String,
        on: bool,
        items: Vec<String>,
        labels: BTreeMap<String, String>,
        kind: Option<String>,
    }

    static SAMPLE_FIELDS: [Field<Sample>; 6] = [
        Field::new("name", |s, v| string(&mut s.name, v)),
        Field::new("on", |s, v| boolean(&mut s.on, v)),
        Field::new("items", |s, v| strings(&mut s.items, v)),
        Field::new("labels", |s, v| string_map(&mut s.labels, v)),
        Field::new("kind", |s, v| optional_string(&mut s.kind, v)),
        // Type-checked, never kept.
        Field::new("ignored", |_, v| strings(&mut Vec::new(), v)),
    ];

    const SAMPLE: GoStruct<Sample> = GoStruct {
        go_type: "pkg.Sample",
        name: "Sample",
        fields: &[&SAMPLE_FIELDS],
    };

    fn decode(body: &str) -> Result<Sample, String> {
        SAMPLE
            .decode(body.as_bytes(), ReadMode::Decoder)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_match_case_insensitively_and_null_is_absent() {
        let s = decode(
            r#"{"NAME":"n","On":true,"ITEMS":["a",null],"Labels":{"k":"v","n":null},"kind":"","unknown":[1,{}]}"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Sample {
                name: "n".into(),
                on: true,
                items: vec!["a".into(), String::new()],
                labels: [("k".into(), "v".into()), ("n".into(), String::new())].into(),
                kind: Some(String::new()),
            }
        );
        let s = decode(r#"{"name":null,"on":null,"items":null,"kind":null}"#).unwrap();
        assert_eq!(s, Sample::default());
        assert_eq!(decode("null").unwrap(), Sample::default());
        // A second map object merges; a later scalar wins.
        let s = decode(r#"{"labels":{"a":"1"},"Labels":{"b":"2"},"name":"x","Name":"y"}"#).unwrap();
        assert_eq!(s.labels.len(), 2);
        assert_eq!(s.name, "y");
        assert!(equal_fold("key", "\u{212a}ey"));
        assert!(equal_fold("images", "image\u{17f}"));
        assert!(!equal_fold("os_version", "OSVersion"));
        assert!(!equal_fold("all", "al"));
    }

    #[test]
    fn a_wrong_type_is_gos_error_for_every_field_kind() {
        for (body, want) in [
            (
                r#"{"name":5}"#,
                "number into Go struct field Sample.name of type string",
            ),
            (
                r#"{"Name":{}}"#,
                "object into Go struct field Sample.name of type string",
            ),
            (
                r#"{"on":"yes"}"#,
                "string into Go struct field Sample.on of type bool",
            ),
            (
                r#"{"items":"a"}"#,
                "string into Go struct field Sample.items of type []string",
            ),
            (
                r#"{"items":["a",1]}"#,
                "number into Go struct field Sample.items of type string",
            ),
            (
                r#"{"labels":[]}"#,
                "array into Go struct field Sample.labels of type map[string]string",
            ),
            (
                r#"{"labels":{"a":true}}"#,
                "bool into Go struct field Sample.labels of type string",
            ),
            (
                r#"{"kind":false}"#,
                "bool into Go struct field Sample.kind of type string",
            ),
            (
                r#"{"ignored":{}}"#,
                "object into Go struct field Sample.ignored of type []string",
            ),
            ("[]", "array into Go value of type pkg.Sample"),
            // The first wrong value in the document is the error.
            (
                r#"{"on":1,"name":2}"#,
                "number into Go struct field Sample.on of type bool",
            ),
        ] {
            assert_eq!(
                decode(body).unwrap_err(),
                format!("json: cannot unmarshal {want}"),
                "{body}"
            );
        }
        // A syntax error anywhere wins over a type error before it.
        assert_eq!(
            decode(r#"{"name":5,"on":tru}"#).unwrap_err(),
            "invalid character '}' in literal true (expecting 'e')"
        );
    }

    #[test]
    fn maps_of_structs() {
        let v = json!({"a": {"name": "x"}, "b": null});
        let m = SAMPLE.map_from_value(&v, "map[string]pkg.Sample").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1.name, "x");
        assert_eq!(m[1].1, Sample::default());
        assert_eq!(
            SAMPLE
                .map_from_value(&json!({"a": "x"}), "map[string]pkg.Sample")
                .unwrap_err()
                .as_str(),
            "json: cannot unmarshal string into Go value of type pkg.Sample"
        );
        assert_eq!(
            SAMPLE
                .map_from_value(&json!([]), "map[string]pkg.Sample")
                .unwrap_err()
                .as_str(),
            "json: cannot unmarshal array into Go value of type map[string]pkg.Sample"
        );
        assert!(SAMPLE.map_from_value(&json!(null), "m").unwrap().is_empty());
    }

    /// Every case of Go's corpus that this crate reproduces: the map Go leaves and its error.
    #[test]
    fn query_map_matches_go() {
        let mut checked = 0;
        for case in testdata::gojson("query_map") {
            let input = case.input();
            if testdata::left_out_of_json(&input) {
                continue;
            }
            let shown = String::from_utf8_lossy(&input);
            let (map, err) = unmarshal_string_map(&input);
            let want: BTreeMap<String, String> =
                serde_json::from_value(case.get("out")["map"].clone()).unwrap();
            assert_eq!(map, want, "{shown}");
            assert_eq!(
                err.map(|e| e.to_string()),
                case.err().map(|e| testdata::end_of_input_as_read(&e)),
                "{shown}"
            );
            checked += 1;
        }
        assert!(checked > 650, "{checked}");
    }
}
