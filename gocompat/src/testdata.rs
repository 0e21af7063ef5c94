//! Go's own answers for the test corpora, and helpers to read them (tests only: this crate's, and
//! the proxy's through the `testdata` feature).
//!
//! `testdata/gogen/` is the Go program that produced the `.jsonl` files in `testdata/` (with Go
//! 1.19, the newest Go that Debian 12 ships): it runs Go's `encoding/json`, `encoding/base64`,
//! `net/url` and `strconv` on every input, with podman's struct definitions and podman's
//! `pkg/auth` decoding steps. Inputs are hex-encoded; a few inputs too large to store are named
//! by a `gen` recipe instead (see [`Case::input`]).

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One line of a fixture file.
#[derive(Debug)]
pub struct Case(Value);

impl Case {
    /// A field of the case.
    pub fn get(&self, key: &str) -> &Value {
        &self.0[key]
    }

    /// The input bytes: `input_hex` decoded, or the `gen` recipe expanded.
    pub fn input(&self) -> Vec<u8> {
        if let Some(gen) = self.0["gen"].as_str() {
            return expand(gen);
        }
        unhex(
            self.0["input_hex"]
                .as_str()
                .or(self.0["in_hex"].as_str())
                .unwrap_or(""),
        )
    }

    /// The expected output string (`out`).
    pub fn out(&self) -> String {
        self.0["out"].as_str().unwrap_or_default().to_string()
    }

    /// The expected error text, if Go failed.
    pub fn err(&self) -> Option<String> {
        self.0["err"].as_str().map(str::to_string)
    }
}

/// The `gen` recipes of gogen's `nested`: `"<n> [field] arr|obj"`.
fn expand(gen: &str) -> Vec<u8> {
    let n: usize = gen
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (open, inner, close) = if gen.ends_with("arr") {
        ("[", "", "]")
    } else {
        ("{\"a\":", "1", "}")
    };
    let body = format!("{}{inner}{}", open.repeat(n), close.repeat(n));
    if gen.contains("field") {
        format!("{{\"unknown\":{body}}}").into_bytes()
    } else {
        body.into_bytes()
    }
}

/// The bytes of a fixture's hex string (`input_hex`, and `out` where Go's answer is bytes).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn lines(text: &str) -> Vec<Case> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Case(serde_json::from_str(l).expect("fixture line is JSON")))
        .collect()
}

/// `gojson.jsonl` cases of one mode (`decoder_modify`, `unmarshal_modify`, `decoder_addv3`,
/// `query_map`).
pub fn gojson(mode: &str) -> Vec<Case> {
    lines(include_str!("../testdata/gojson.jsonl"))
        .into_iter()
        .filter(|c| c.get("mode").as_str() == Some(mode))
        .collect()
}

/// `misc.jsonl` cases of one Go function (`Quote`, `PathUnescape`, `ParseQuery`, ...).
pub fn misc(func: &str) -> Vec<Case> {
    lines(include_str!("../testdata/misc.jsonl"))
        .into_iter()
        .filter(|c| c.get("fn").as_str() == Some(func))
        .collect()
}

/// `auth.jsonl`: podman's header decoding per header value list.
pub fn auth() -> Vec<Case> {
    lines(include_str!("../testdata/auth.jsonl"))
}

/// True when Go's answer for `input` depends on what `json` leaves out (see its `read` module):
/// an object that repeats a key, nesting deeper than 128 levels, a number beyond `f64`, a lone
/// UTF-16 surrogate. No client sends any of these.
pub fn left_out_of_json(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    match serde_json::Deserializer::from_str(&text)
        .into_iter::<RepeatedKeys>()
        .next()
    {
        Some(Ok(RepeatedKeys(repeated))) => repeated,
        Some(Err(e)) => {
            let what = e.to_string();
            [
                "recursion limit exceeded",
                "number out of range",
                "lone leading surrogate",
                "unexpected end of hex escape",
            ]
            .iter()
            .any(|limit| what.starts_with(limit))
        }
        None => false,
    }
}

/// Go's error text as `json::read` gives it: where the input ends inside a number, a literal or
/// an escape, Go's `json.Unmarshal` steps its scanner once more with an invented space and
/// reports `invalid character ' ' in numeric literal` (or similar); `read` reports
/// `unexpected end of JSON input`, as Go does for every other cut document.
pub fn end_of_input_as_read(go_error: &str) -> String {
    if go_error.starts_with("invalid character ' ' ") {
        "unexpected end of JSON input".to_string()
    } else {
        go_error.to_string()
    }
}

/// Whether some object of a JSON value names a key twice.
struct RepeatedKeys(bool);

impl<'de> Deserialize<'de> for RepeatedKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RepeatedKeysVisitor)
    }
}

struct RepeatedKeysVisitor;

impl<'de> Visitor<'de> for RepeatedKeysVisitor {
    type Value = RepeatedKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_i64<E>(self, _: i64) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_u64<E>(self, _: u64) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_f64<E>(self, _: f64) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_str<E>(self, _: &str) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_unit<E>(self) -> Result<RepeatedKeys, E> {
        Ok(RepeatedKeys(false))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RepeatedKeys, A::Error> {
        let mut repeated = false;
        while let Some(RepeatedKeys(r)) = seq.next_element()? {
            repeated |= r;
        }
        Ok(RepeatedKeys(repeated))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RepeatedKeys, A::Error> {
        let mut seen = HashSet::new();
        let mut repeated = false;
        while let Some(key) = map.next_key::<String>()? {
            repeated |= !seen.insert(key);
            let RepeatedKeys(r) = map.next_value()?;
            repeated |= r;
        }
        Ok(RepeatedKeys(repeated))
    }
}
