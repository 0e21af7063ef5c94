//! Go's own answers for the test corpora of the libpod modules, and helpers to read them.
//!
//! `gogen/` is the Go program that produced the `.jsonl` files (with Go 1.19, the newest Go that
//! Debian 12 ships): it runs Go's `encoding/json`, `encoding/base64`, `net/url` and `strconv` on
//! every input, with podman's struct definitions and podman's `pkg/auth` decoding steps. Inputs
//! are hex-encoded; a few inputs too large to store are named by a `gen` recipe instead
//! (see [`Case::input`]).

use serde_json::Value;

/// One line of a fixture file.
pub(crate) struct Case(Value);

impl Case {
    /// A field of the case.
    pub(crate) fn get(&self, key: &str) -> &Value {
        &self.0[key]
    }

    /// The input bytes: `input_hex` decoded, or the `gen` recipe expanded.
    pub(crate) fn input(&self) -> Vec<u8> {
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
    pub(crate) fn out(&self) -> String {
        self.0["out"].as_str().unwrap_or_default().to_string()
    }

    /// The expected error text, if Go failed.
    pub(crate) fn err(&self) -> Option<String> {
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

fn unhex(s: &str) -> Vec<u8> {
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
pub(crate) fn gojson(mode: &str) -> Vec<Case> {
    lines(include_str!("gojson.jsonl"))
        .into_iter()
        .filter(|c| c.get("mode").as_str() == Some(mode))
        .collect()
}

/// `misc.jsonl` cases of one Go function (`Quote`, `PathUnescape`, `ParseQuery`, ...).
pub(crate) fn misc(func: &str) -> Vec<Case> {
    lines(include_str!("misc.jsonl"))
        .into_iter()
        .filter(|c| c.get("fn").as_str() == Some(func))
        .collect()
}

/// `auth.jsonl`: podman's header decoding per header value list.
pub(crate) fn auth() -> Vec<Case> {
    lines(include_str!("auth.jsonl"))
}
