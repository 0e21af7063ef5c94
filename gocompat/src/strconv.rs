//! Go's `strconv`: `Quote` (what `%q` prints in `fmt.Errorf`) and `ParseBool`.
//!
//! podman's error texts quote client input with `%q` (`invalid image digest "bogus": …`,
//! `illegal operation "x" for "…"`, `invalid URL escape "%zz"`); [`quote`] makes manifold's
//! texts read the same, byte for byte. [`parse_bool`] is the set of booleans podman's query
//! decoder accepts (podman-py sends `True`/`False`, the Go clients `true`/`false`).
//!
//! One documented approximation: Go decides what is printable with Unicode tables (680 ranges of
//! non-printable code points). The private `is_print` knows every control, format, separator,
//! private-use and non-character code point, but prints code points that are *unassigned* in
//! Unicode as themselves where Go would write `\uXXXX`. No client parses these texts; the
//! difference only shows for input nobody sends.

/// Go's `strconv.Quote(s)`.
pub fn quote(s: &str) -> String {
    quote_bytes(s.as_bytes())
}

/// Go's `strconv.Quote` of a byte string that may not be UTF-8: each byte of an invalid UTF-8
/// sequence is written as `\xNN`, as Go does.
pub fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while let Some(&first) = rest.first() {
        match decode_rune(rest) {
            Some((c, size)) => {
                push_escaped(&mut out, c);
                rest = rest.get(size..).unwrap_or_default();
            }
            None => {
                push_hex_byte(&mut out, first);
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.ParseBool`; the error is Go's text, e.g.
/// `strconv.ParseBool: parsing "yes": invalid syntax`.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            quote(value)
        )),
    }
}

/// Appends `c` as `strconv.Quote` writes it inside double quotes.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' | '\\' => {
            out.push('\\');
            out.push(c);
        }
        _ if is_print(c) => out.push(c),
        '\u{7}' => out.push_str(r"\a"),
        '\u{8}' => out.push_str(r"\b"),
        '\u{c}' => out.push_str(r"\f"),
        '\n' => out.push_str(r"\n"),
        '\r' => out.push_str(r"\r"),
        '\t' => out.push_str(r"\t"),
        '\u{b}' => out.push_str(r"\v"),
        _ => {
            let u = u32::from(c);
            if u < 0x20 || u == 0x7f {
                out.push_str(&format!("\\x{u:02x}"));
            } else if u < 0x10000 {
                out.push_str(&format!("\\u{u:04x}"));
            } else {
                out.push_str(&format!("\\U{u:08x}"));
            }
        }
    }
}

fn push_hex_byte(out: &mut String, b: u8) {
    out.push_str(&format!("\\x{b:02x}"));
}

/// Go's `strconv.IsPrint`, except that unassigned code points count as printable (see the
/// module documentation).
fn is_print(c: char) -> bool {
    let u = u32::from(c);
    if u < 0x7f {
        return u >= 0x20;
    }
    // Non-characters: the last two code points of every plane, and U+FDD0..U+FDEF.
    if u & 0xfffe == 0xfffe || (0xfdd0..=0xfdef).contains(&u) {
        return false;
    }
    !matches!(u,
        // C1 controls, no-break space, soft hyphen.
        0x7f..=0x9f | 0xa0 | 0xad
        // Format characters (Cf).
        | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x8e2 | 0x180e
        // Space separators (Zs) other than U+0020, line and paragraph separators, format
        // characters of the General Punctuation block (and its unassigned U+2065).
        | 0x1680 | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x206f | 0x3000
        | 0xfeff | 0xfff0..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0000..=0xe007f
        // Private use (Co).
        | 0xe000..=0xf8ff | 0xf0000..=0x10ffff
    )
}

/// Go's `utf8.DecodeRune` for valid input: the first character of `bytes` and its length, or
/// `None` when `bytes` does not start with a valid UTF-8 sequence (Go's `RuneError, 1`).
fn decode_rune(bytes: &[u8]) -> Option<(char, usize)> {
    let first = *bytes.first()?;
    let len = match first {
        0x00..=0x7f => return Some((char::from(first), 1)),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let seq = bytes.get(..len)?;
    // `from_utf8` applies exactly Go's accept ranges (no overlongs, no surrogates, ≤ U+10FFFF).
    let s = std::str::from_utf8(seq).ok()?;
    s.chars().next().map(|c| (c, len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn quote_examples() {
        assert_eq!(quote("bogus"), "\"bogus\"");
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
        assert_eq!(quote_bytes(b"%\xff\xfe"), r#""%\xff\xfe""#);
        assert_eq!(quote("\u{1F600}"), "\"\u{1F600}\"");
        assert_eq!(quote("\u{e000}"), r#""\ue000""#);
        assert_eq!(quote("\u{10ffff}"), r#""\U0010ffff""#);
    }

    #[test]
    fn matches_go_quote() {
        // Unassigned code points that Go escapes and `is_print` does not know (module docs).
        let unassigned = ["\u{378}"];
        let mut checked = 0;
        for case in testdata::misc("Quote") {
            let input = case.input();
            if let Ok(s) = std::str::from_utf8(&input) {
                if unassigned.contains(&s) {
                    continue;
                }
            }
            assert_eq!(
                quote_bytes(&input),
                case.out(),
                "strconv.Quote of {input:02x?}"
            );
            checked += 1;
        }
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn matches_go_parse_bool() {
        for case in testdata::misc("ParseBool") {
            // A Rust string cannot hold the fixture's lone 0xff byte.
            let Ok(input) = String::from_utf8(case.input()) else {
                continue;
            };
            match (parse_bool(&input), case.err()) {
                (Ok(b), None) => assert_eq!(b.to_string(), case.out(), "{input:?}"),
                (Err(e), Some(want)) => assert_eq!(e, want, "{input:?}"),
                (got, want) => panic!("{input:?}: got {got:?}, Go says {want:?}"),
            }
        }
    }

    #[test]
    fn decode_rune_is_go_decode_rune() {
        assert_eq!(decode_rune(b"a"), Some(('a', 1)));
        assert_eq!(decode_rune("é".as_bytes()), Some(('é', 2)));
        assert_eq!(decode_rune(b"\xe2\x82"), None);
        assert_eq!(decode_rune(b"\xed\xa0\x80"), None, "surrogate");
        assert_eq!(decode_rune(b"\xc0\x80"), None, "overlong");
        assert_eq!(decode_rune(b"\xf4\x90\x80\x80"), None, "above U+10FFFF");
        assert_eq!(decode_rune(b""), None);
    }
}
