//! Go's `net/url` unescaping and `ParseQuery`, as podman's router and handlers apply them.
//!
//! podman matches routes on the still-escaped path and unescapes each path variable afterwards
//! with [`path_unescape`] (create's `{name}` with [`query_unescape`], so `+` is a space there);
//! the query goes through [`parse_query`]. The clients depend on the unescaping: the Go clients
//! escape names with `url.PathEscape` (`localhost%2Fml:v1`), podman-py with `quote_plus`
//! (`localhost%2Fpylist%3Av1`). A `%` not followed by two hex digits is Go's error
//! `invalid URL escape "%zz"`, which create answers with a 400 and the other routes survive by
//! using the raw text.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::strconv::quote_bytes;

/// Go's `url.PathUnescape`: `%XX` decoded, `+` kept. The error is Go's
/// `invalid URL escape "%zz"`. Bytes that do not form UTF-8 become U+FFFD.
pub fn path_unescape(s: &str) -> Result<String, String> {
    unescape(s, false)
}

/// Go's `url.QueryUnescape`: like [`path_unescape`], and `+` is a space.
pub fn query_unescape(s: &str) -> Result<String, String> {
    unescape(s, true)
}

fn unescape(s: &str, plus_is_space: bool) -> Result<String, String> {
    check_escapes(s)?;
    let s = if plus_is_space {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    };
    Ok(percent_decode_str(&s).decode_utf8_lossy().into_owned())
}

/// Go rejects a `%` that is not followed by two hex digits (percent-encoding would keep it), and
/// names the first one with the (up to) three bytes from it.
fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !(hex(i + 1) && hex(i + 2)) {
            let bad = b.get(i..(i + 3).min(b.len())).unwrap_or_default();
            return Err(format!("invalid URL escape {}", quote_bytes(bad)));
        }
    }
    Ok(())
}

/// Go's `url.ParseQuery` as `r.URL.Query()` uses it: pairs split at `&`, each at its first `=`,
/// both sides [`query_unescape`]d; a pair containing `;` or a bad escape is dropped (Go reports
/// an error that `Query()` ignores). The pairs keep their order.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|part| !part.is_empty() && !part.contains(';'))
        .filter_map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            Some((query_unescape(k).ok()?, query_unescape(v).ok()?))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::testdata;
    use std::collections::BTreeMap;

    #[test]
    fn unescape_matches_go() {
        for (func, f) in [
            (
                "PathUnescape",
                path_unescape as fn(&str) -> Result<String, String>,
            ),
            ("QueryUnescape", query_unescape),
        ] {
            let cases = testdata::misc(func);
            assert!(cases.len() > 20);
            for case in cases {
                let input = case.input();
                // Rust strings are UTF-8; the non-UTF-8 inputs are covered by the error cases
                // below and by `quote_bytes`.
                let Ok(s) = std::str::from_utf8(&input) else {
                    continue;
                };
                match (f(s), case.err()) {
                    (Ok(got), None) => {
                        let want = testdata::unhex(case.get("out").as_str().unwrap_or_default());
                        assert_eq!(got, String::from_utf8_lossy(&want), "{func} {s:?}");
                    }
                    (Err(got), Some(want)) => assert_eq!(got, want, "{func} {s:?}"),
                    (got, want) => panic!("{func} {s:?}: got {got:?}, Go says {want:?}"),
                }
            }
        }
        assert_eq!(
            unescape("%\u{ff}", false).unwrap_err(),
            r#"invalid URL escape "%\u00ff""#.replace(r"\u00ff", "ÿ")
        );
        assert_eq!(
            query_unescape("a+b%2B%zz").unwrap_err(),
            r#"invalid URL escape "%zz""#
        );
        assert_eq!(query_unescape("a+b%2B").unwrap(), "a b+");
        assert_eq!(path_unescape("a+b%2F").unwrap(), "a+b/");
    }

    #[test]
    fn parse_query_matches_go() {
        for case in testdata::misc("ParseQuery") {
            let input = String::from_utf8(case.input()).unwrap();
            let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in parse_query(&input) {
                grouped.entry(k).or_default().push(v);
            }
            let want: BTreeMap<String, Vec<String>> =
                serde_json::from_value(case.get("map").clone()).unwrap_or_default();
            assert_eq!(grouped, want, "{input:?}");
        }
    }
}
