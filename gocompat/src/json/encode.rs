//! Writing JSON as Go's `json.Encoder` does: compact, one `\n` after the value, and Go's string
//! escapes.
//!
//! serde_json already escapes `"`, `\` and control characters as Go ≥ 1.22 does (`\b`, `\f`,
//! `\n`, `\r`, `\t`, `\u00XX` in lower-case hex, DEL left alone). On top of that Go always
//! escapes U+2028 and U+2029, and, with HTML escaping on (the default of `json.Encoder`, turned
//! off by podman's `WriteJSON` but not by the push stream), `<`, `>` and `&`. No client decodes
//! these escapes differently from the characters; they keep manifold's bodies byte-identical to
//! podman's, which is how the wire format is checked against bodies recorded from podman itself.

use std::io;

/// A `serde_json` formatter that writes strings the way Go's `json.Encoder` does.
#[derive(Debug, Clone, Copy)]
struct GoFormatter {
    /// Escape `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`.
    escape_html: bool,
}

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' if self.escape_html => r"\u003c",
                '>' if self.escape_html => r"\u003e",
                '&' if self.escape_html => r"\u0026",
                '\u{2028}' => r"\u2028",
                '\u{2029}' => r"\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }
}

/// Serialises `value` compactly, followed by `\n`, as `json.Encoder.Encode` writes it, escaping
/// `<`, `>`, `&` when `escape_html` is set. Serialising manifold's own response types cannot
/// fail; should a value ever fail to serialise, the result is `null\n`.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, escape_html: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter { escape_html });
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::testdata;
    use std::collections::BTreeMap;

    #[test]
    fn encoder_matches_go() {
        for (mode, html) in [("EncodeNoHTML", false), ("EncodeHTML", true)] {
            for case in testdata::misc(mode) {
                // Rust strings are UTF-8: invalid bytes were replaced by U+FFFD when the string
                // was made, and a real U+FFFD is written as itself, as Go writes it.
                let Ok(input) = String::from_utf8(case.input()) else {
                    continue;
                };
                let mut m = BTreeMap::new();
                m.insert("s", input.as_str());
                let got = String::from_utf8(encode(&m, html)).unwrap();
                // The fixtures come from Go 1.19; Go 1.22 and later write `\b` and `\f` (as
                // podman 5.8.2, built with a current Go, does).
                let want = case
                    .out()
                    .replace(r"\u0008", r"\b")
                    .replace(r"\u000c", r"\f");
                assert_eq!(got, want, "{mode} {input:?}");
            }
        }
    }
}
