//! Reading one JSON document as Go reads it, with serde_json doing the parsing.
//!
//! What clients see of this: an empty modify body is `EOF` (curl's `-d` makes a form-encoded
//! body that podman's `ParseForm` has already eaten), a cut one `unexpected EOF`, and everything
//! after the first value of a `json.Decoder` body is never read. Syntax errors get Go's text,
//! `invalid character 'x' <where>`, from a mapping of serde_json's error kinds and position (no
//! client sends malformed JSON, and none reads these texts beyond showing them: a port of Go's
//! scanner would cost more than the texts are worth).
//!
//! Differences from Go that no client reaches: nesting deeper than serde_json's 128 levels,
//! numbers beyond `f64` and lone UTF-16 surrogates in `\u` escapes are errors (Go accepts them),
//! reported in serde_json's words; and a `json.Unmarshal` document that ends inside a number,
//! literal or escape (`1.`) is `unexpected end of JSON input`, where Go names an invented space
//! (`invalid character ' ' after decimal point in numeric literal`). Go's corpus in
//! `testdata/` agrees with every other syntax error text.

use std::borrow::Cow;

use serde_json::error::Category;
use serde_json::{Deserializer, Value};

use super::error::JsonError;
use crate::strconv::push_escaped;

/// How Go read the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `json.NewDecoder(r).Decode(&v)`: reads the first value only and never looks at the bytes
    /// after it. No value at all is `EOF`, a value cut short is `unexpected EOF`.
    Decoder,
    /// `json.Unmarshal(data, &v)`: the whole input must be one value. No value or a cut value
    /// is `unexpected end of JSON input`; bytes after it are
    /// `invalid character 'x' after top-level value`.
    Unmarshal,
}

/// Checks the syntax the way `mode` does and returns the value read.
pub fn read(data: &[u8], mode: ReadMode) -> Result<Value, JsonError> {
    let (text, replaced) = replace_invalid_utf8(data);
    let parsed = match mode {
        ReadMode::Decoder => match Deserializer::from_str(&text).into_iter::<Value>().next() {
            // A number or literal followed directly by another byte (`123abc`): Go's decoder
            // ends the value there; serde_json wants a delimiter.
            Some(Err(e)) if e.to_string().starts_with("trailing characters") => {
                let end = offset(&text, e.line(), e.column());
                serde_json::from_str(text.get(..end).unwrap_or_default())
            }
            Some(parsed) => parsed,
            None => return Err(JsonError::new("EOF")),
        },
        ReadMode::Unmarshal => serde_json::from_str(&text),
    };
    parsed.map_err(|e| syntax_error(&text, &replaced, &e, mode))
}

/// Go reads each byte of invalid UTF-8 inside a string as U+FFFD (serde_json would refuse the
/// document; `String::from_utf8_lossy` would replace a whole broken sequence by one U+FFFD).
/// Outside strings such a byte is a syntax error either way, which names the byte: the second
/// result maps the offset of each U+FFFD written to the byte it replaced.
fn replace_invalid_utf8(data: &[u8]) -> (Cow<'_, str>, Vec<(usize, u8)>) {
    let Err(first) = std::str::from_utf8(data) else {
        return (String::from_utf8_lossy(data), Vec::new());
    };
    let mut out = String::with_capacity(data.len() + 8);
    let mut replaced = Vec::new();
    let mut rest = data;
    let mut error = Some(first);
    while let Some(e) = error {
        let (valid, after) = rest.split_at(e.valid_up_to());
        out.push_str(std::str::from_utf8(valid).unwrap_or_default());
        let bad = after
            .get(..e.error_len().unwrap_or(after.len()))
            .unwrap_or_default();
        for &byte in bad {
            replaced.push((out.len(), byte));
            out.push('\u{fffd}');
        }
        rest = after.get(bad.len()..).unwrap_or_default();
        error = std::str::from_utf8(rest).err();
    }
    out.push_str(std::str::from_utf8(rest).unwrap_or_default());
    (Cow::Owned(out), replaced)
}

/// What Go says where serde_json reports `e`.
fn syntax_error(
    text: &str,
    replaced: &[(usize, u8)],
    e: &serde_json::Error,
    mode: ReadMode,
) -> JsonError {
    let bytes = text.as_bytes();
    let at = offset(text, e.line(), e.column());
    let original = replaced.iter().find(|(o, _)| *o == at).map(|(_, b)| b);
    let Some(&c) = original
        .or(bytes.get(at))
        .filter(|_| e.classify() != Category::Eof)
    else {
        return JsonError::new(match mode {
            ReadMode::Decoder => "unexpected EOF",
            ReadMode::Unmarshal => "unexpected end of JSON input",
        });
    };
    // serde_json's text is `<what> at line L column C`; only `<what>` is matched.
    let full = e.to_string();
    let what = full.split(" at line ").next().unwrap_or_default();
    let context = match what {
        "expected value" => "looking for beginning of value".to_string(),
        "trailing comma" if c == b']' => "looking for beginning of value".to_string(),
        "trailing comma" | "key must be a string" => {
            "looking for beginning of object key string".to_string()
        }
        "expected `:`" => "after object key".to_string(),
        "expected `,` or `}`" => "after object key:value pair".to_string(),
        "expected `,` or `]`" => "after array element".to_string(),
        "trailing characters" => "after top-level value".to_string(),
        "invalid number" => number_context(bytes, at),
        "expected ident" => literal_context(bytes, at),
        // serde_json reads all four digits of a `\u` escape first; Go stops at the bad one.
        "invalid escape" | "unexpected end of hex escape" => match bad_hex_digit(bytes, at) {
            Some(digit) => return invalid_character(digit, r"in \u hexadecimal character escape"),
            None if what == "invalid escape" => "in string escape code".to_string(),
            None => return JsonError::new(what),
        },
        _ if what.starts_with("control character") => "in string literal".to_string(),
        // Limits Go does not have (module docs); serde_json's words never quote the input.
        _ => return JsonError::new(what),
    };
    invalid_character(c, &context)
}

fn invalid_character(c: u8, context: &str) -> JsonError {
    JsonError::new(format!("invalid character {} {context}", quote_char(c)))
}

/// The byte offset of serde_json's 1-based line and column (column 0: the line break before).
fn offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column).saturating_sub(1)
}

/// Go's scanner context for a bad byte in a number, from the byte before it.
fn number_context(bytes: &[u8], at: usize) -> String {
    let before = |n: usize| at.checked_sub(n).and_then(|i| bytes.get(i)).copied();
    match (before(2), before(1)) {
        (Some(b'e' | b'E'), Some(b'+' | b'-')) | (_, Some(b'e' | b'E')) => {
            "in exponent of numeric literal".to_string()
        }
        (_, Some(b'.')) => "after decimal point in numeric literal".to_string(),
        (_, Some(b'-')) => "in numeric literal".to_string(),
        // A digit after a leading `0`: for Go the number ended at the `0`.
        _ => after_value_context(bytes.get(..at).unwrap_or_default()),
    }
}

/// Where a value that ends before the rest of `before` sits: in an object, an array, or at the
/// top level.
fn after_value_context(before: &[u8]) -> String {
    let mut open = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for &b in before {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => open.push(b),
            (false, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
    }
    match open.last() {
        Some(b'{') => "after object key:value pair",
        Some(_) => "after array element",
        None => "after top-level value",
    }
    .to_string()
}

/// Go's context for a bad byte inside `true`, `false` or `null`: which literal, and the byte it
/// expected.
fn literal_context(bytes: &[u8], at: usize) -> String {
    let start = bytes
        .get(..at)
        .unwrap_or_default()
        .iter()
        .rposition(|b| !b.is_ascii_lowercase())
        .map_or(0, |i| i + 1);
    let word: &[u8] = match bytes.get(start) {
        Some(b't') => b"true",
        Some(b'f') => b"false",
        Some(b'n') => b"null",
        _ => return "looking for beginning of value".to_string(),
    };
    let expected = word.get(at - start).copied().unwrap_or(b' ');
    format!(
        "in literal {} (expecting {})",
        String::from_utf8_lossy(word),
        quote_char(expected)
    )
}

/// The first byte that is no hex digit in the `\u` escape that ends at `at`, if there is one.
fn bad_hex_digit(bytes: &[u8], at: usize) -> Option<u8> {
    let start = (at.saturating_sub(5)..at)
        .rev()
        .find(|&i| bytes.get(i..i + 2) == Some(&b"\\u"[..]))?;
    bytes
        .get(start + 2..=at)?
        .iter()
        .copied()
        .find(|b| !b.is_ascii_hexdigit())
}

/// `encoding/json`'s `quoteChar`: the byte read as a code point (so byte `0xE9` reads `'é'`),
/// quoted like `%q` but with single quotes.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        _ => {
            let mut out = String::from("'");
            push_escaped(&mut out, char::from(c));
            out.push('\'');
            out
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;

    fn err(input: &str, mode: ReadMode) -> String {
        read(input.as_bytes(), mode).unwrap_err().to_string()
    }

    #[test]
    fn end_of_input_is_gos() {
        assert_eq!(err("", ReadMode::Decoder), "EOF");
        assert_eq!(err(" \n\t", ReadMode::Decoder), "EOF");
        assert_eq!(err("", ReadMode::Unmarshal), "unexpected end of JSON input");
        assert_eq!(err(r#"{"a""#, ReadMode::Decoder), "unexpected EOF");
        assert_eq!(
            err(r#"{"a":[1,"#, ReadMode::Unmarshal),
            "unexpected end of JSON input"
        );
    }

    #[test]
    fn the_decoder_reads_the_first_value_only() {
        assert_eq!(
            read(br#" {"a":1} x"#, ReadMode::Decoder).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(read(b"123abc", ReadMode::Decoder).unwrap(), 123);
        assert_eq!(read(b"nullx", ReadMode::Decoder).unwrap(), Value::Null);
        assert_eq!(
            err(r#"{"a":1} x"#, ReadMode::Unmarshal),
            "invalid character 'x' after top-level value"
        );
    }

    #[test]
    fn syntax_errors_read_like_gos() {
        for (input, want) in [
            ("}", "invalid character '}' looking for beginning of value"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                r#"{"a":1,}"#,
                "invalid character '}' looking for beginning of object key string",
            ),
            (
                "{bad json",
                "invalid character 'b' looking for beginning of object key string",
            ),
            (r#"{"a" 1}"#, "invalid character '1' after object key"),
            (
                r#"{"a":1 "b":2}"#,
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (r#"{"a":-}"#, "invalid character '}' in numeric literal"),
            ("--fad0412\r\n", "invalid character '-' in numeric literal"),
            (
                r#"{"a":01}"#,
                "invalid character '1' after object key:value pair",
            ),
            ("[-01]", "invalid character '1' after array element"),
            (
                r#"{"a":1.x}"#,
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                r#"{"a":1e+x}"#,
                "invalid character 'x' in exponent of numeric literal",
            ),
            (
                r#"{"a":1e}"#,
                "invalid character '}' in exponent of numeric literal",
            ),
            (
                r#"{"a":trux}"#,
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (
                r#"{"a":nul}"#,
                "invalid character '}' in literal null (expecting 'l')",
            ),
            (
                r#"{"a":"\x"}"#,
                "invalid character 'x' in string escape code",
            ),
            (
                r#"{"a":"\u12g4"}"#,
                r"invalid character 'g' in \u hexadecimal character escape",
            ),
            (
                r#"{"a":"\u12"}"#,
                r#"invalid character '"' in \u hexadecimal character escape"#,
            ),
            (
                "{\"a\":\"\t\"}",
                r"invalid character '\t' in string literal",
            ),
            (
                "{\n \"a\": x}",
                "invalid character 'x' looking for beginning of value",
            ),
        ] {
            assert_eq!(err(input, ReadMode::Decoder), want, "{input:?}");
        }
    }

    #[test]
    fn invalid_utf8_in_strings_reads_as_replacement_characters() {
        assert_eq!(
            read(b"[\"a\xffb\", \"\xe2\x82x\"]", ReadMode::Unmarshal).unwrap(),
            serde_json::json!(["a\u{fffd}b", "\u{fffd}\u{fffd}x"])
        );
        // Outside a string, the byte itself is named.
        assert_eq!(
            read(b"[1,\xe9]", ReadMode::Unmarshal).unwrap_err().as_str(),
            "invalid character '\u{e9}' looking for beginning of value"
        );
    }

    #[test]
    fn quote_char_is_gos() {
        assert_eq!(quote_char(b'x'), "'x'");
        assert_eq!(quote_char(b'\''), r"'\''");
        assert_eq!(quote_char(b'"'), "'\"'");
        assert_eq!(quote_char(b'\\'), r"'\\'");
        assert_eq!(quote_char(b'\n'), r"'\n'");
        assert_eq!(quote_char(0x01), r"'\x01'");
        assert_eq!(quote_char(0xe9), "'é'");
        assert_eq!(quote_char(0x80), r"'\u0080'");
        assert_eq!(quote_char(0xa0), r"'\u00a0'");
    }
}
