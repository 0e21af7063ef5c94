//! Query strings, decoded the way podman's handlers see them
//! (`docs/libpod-api.md#query-parameters`; Go's part:
//! `docs/go-compat.md#query-strings-and-path-escapes`).
//!
//! podman parses the raw query with Go's `url.ParseQuery` ([`manifold_gocompat::url`]) and
//! fills its parameter structs with gorilla/schema:
//!
//! - a parameter name matches a field case-insensitively (`compressionformat`, `lookupmanifest`
//!   and `forcecompressionformat` are what the Go clients send);
//! - a scalar takes the **last** value; an empty value keeps the default;
//! - a bool is `strconv.ParseBool` (`1 t T TRUE true True 0 f F FALSE false False`) or `on`;
//!   anything else is `schema: error converting value for "<name as sent>"`, a 400;
//! - a `[]string` takes every non-empty value, in order;
//! - a `map[string]string` is a JSON object in the last value; invalid JSON gives an empty map.
//!
//! gorilla/schema looks names up in a Go map, so when a client sends the same name in two
//! spellings (`all=1&ALL=0`) podman's pick is random; here the last pair wins for scalars and
//! lists concatenate all spellings in query order.
//!
//! Some handlers test presence by **exact** name instead (`r.URL.Query()["tlsVerify"]`): use
//! [`Query::has_exact`] and [`Query::last_exact`] for those.

use std::collections::BTreeMap;
use std::fmt;

use manifold_gocompat::json::{equal_fold, unmarshal_string_map};
use manifold_gocompat::strconv::{parse_bool, quote};
use manifold_gocompat::url::parse_query;

/// A parsed query string: its pairs in order, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// A parameter whose value gorilla/schema cannot convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    key: String,
}

impl fmt::Display for SchemaError {
    /// `schema: error converting value for "<key>"`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schema: error converting value for {}", quote(&self.key))
    }
}

impl std::error::Error for SchemaError {}

/// The 400 message of a query that does not decode (every handler that decodes its query
/// answers it): `failed to parse parameters for <URL>: <schema error>`. The error body's cause is
/// the schema text alone.
pub fn bad_parameters_message(url: &str, schema_error: &str) -> String {
    format!("failed to parse parameters for {url}: {schema_error}")
}

/// The URL as podman's messages quote it (`r.URL.String()` of a server request): the path as
/// sent, then `?` and the raw query when there is one.
pub fn request_url(raw_path: &str, raw_query: &str) -> String {
    if raw_query.is_empty() {
        raw_path.to_string()
    } else {
        format!("{raw_path}?{raw_query}")
    }
}

impl Query {
    /// Parses a raw query string (without the `?`) like `url.ParseQuery`, keeping the pairs Go
    /// keeps.
    pub fn parse(raw: &str) -> Self {
        Query {
            pairs: parse_query(raw),
        }
    }

    fn matching<'a, 'k>(
        &'a self,
        key: &'k str,
    ) -> impl Iterator<Item = &'a (String, String)> + use<'a, 'k> {
        self.pairs.iter().filter(move |(k, _)| equal_fold(key, k))
    }

    /// The last value of `key` (matched case-insensitively), empty values included.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.matching(key).last().map(|(_, v)| v.as_str())
    }

    /// A string parameter as gorilla/schema fills it: the last value, `None` when the key is
    /// absent or that value is empty (the default stays).
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// A `[]string` parameter: every non-empty value of `key`, in order (empty when absent).
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.matching(key)
            .filter(|(_, v)| !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// True when some pair's name matches `key` case-insensitively (gorilla/schema would set
    /// the field, possibly to an empty list).
    pub fn has(&self, key: &str) -> bool {
        self.matching(key).next().is_some()
    }

    /// A bool parameter: `Ok(None)` when absent or empty (keep the default), else the
    /// `strconv.ParseBool`-or-`on` value of the last occurrence.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, SchemaError> {
        let Some((sent, value)) = self.matching(key).last() else {
            return Ok(None);
        };
        if value.is_empty() {
            return Ok(None);
        }
        if value == "on" {
            return Ok(Some(true));
        }
        parse_bool(value)
            .map(Some)
            .map_err(|_| SchemaError { key: sent.clone() })
    }

    /// A `map[string]string` parameter (create's `annotations`): podman's converter runs
    /// `json.Unmarshal` on the last value and only logs a failure, so invalid JSON is an empty
    /// map and a mismatched member is `""`. Empty when absent.
    pub fn json_map(&self, key: &str) -> BTreeMap<String, String> {
        match self.get(key) {
            Some(v) => unmarshal_string_map(v.as_bytes()).0,
            None => BTreeMap::new(),
        }
    }

    /// True when a pair has exactly this name (`r.URL.Query()["tlsVerify"]`).
    pub fn has_exact(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// All values of exactly this name, in order.
    pub fn exact_values(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The last value of exactly this name.
    pub fn last_exact(&self, key: &str) -> Option<&str> {
        self.exact_values(key).last().copied()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;

    #[test]
    fn schema_bools() {
        let q = Query::parse("all=True&amend=on&ignore=&quiet=off&tlsverify=0&x=1");
        assert_eq!(q.bool("all"), Ok(Some(true)));
        assert_eq!(q.bool("amend"), Ok(Some(true)));
        assert_eq!(q.bool("ignore"), Ok(None), "empty keeps the default");
        assert_eq!(q.bool("missing"), Ok(None));
        assert_eq!(q.bool("tlsVerify"), Ok(Some(false)), "case-insensitive");
        let err = q.bool("quiet").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"schema: error converting value for "quiet""#
        );
        // The name in the error is the one the client sent.
        let q = Query::parse("TLSVERIFY=maybe");
        assert_eq!(
            q.bool("tlsVerify").unwrap_err().to_string(),
            r#"schema: error converting value for "TLSVERIFY""#
        );
        // Last occurrence wins, even when it is empty.
        let q = Query::parse("all=true&all=");
        assert_eq!(q.bool("all"), Ok(None));
        let q = Query::parse("all=x&all=1");
        assert_eq!(q.bool("all"), Ok(Some(true)));
    }

    #[test]
    fn bad_parameters_text() {
        let e = |k: &str| SchemaError { key: k.to_string() };
        assert_eq!(
            e("all").to_string(),
            r#"schema: error converting value for "all""#
        );
        assert_eq!(
            bad_parameters_message(
                "/v5.0.0/libpod/manifests/x?all=maybe",
                &e("all").to_string()
            ),
            r#"failed to parse parameters for /v5.0.0/libpod/manifests/x?all=maybe: schema: error converting value for "all""#
        );
    }

    #[test]
    fn lists_strings_and_exact_names() {
        // The podman 5.x CLI's add query.
        let q = Query::parse("all=false&annotations=%7B%22a%22%3A%22b%22%7D&arch=amd64&authfile=&features=f1&features=f2&images=containers-storage%3Alocalhost%2Fimg%3Aarm64&operation=update&os=linux&os_version=10.0&password=&username=&variant=v1&tlsVerify=false");
        assert_eq!(q.strings("features"), ["f1", "f2"]);
        assert_eq!(
            q.strings("images"),
            ["containers-storage:localhost/img:arm64"]
        );
        assert_eq!(q.string("authfile"), None);
        assert_eq!(q.string("arch").as_deref(), Some("amd64"));
        assert!(q.has_exact("tlsVerify"));
        assert!(!q.has_exact("tlsverify"));
        assert_eq!(q.last_exact("tlsVerify"), Some("false"));
        assert_eq!(
            q.json_map("annotations").get("a").map(String::as_str),
            Some("b")
        );
        // Empty list entries are dropped; a lower-case presence check does not count.
        let q = Query::parse("images=a&images=&IMAGES=b&tlsverify=true");
        assert_eq!(q.strings("images"), ["a", "b"]);
        assert!(q.has("images"));
        assert!(!q.has_exact("tlsVerify"));
        assert_eq!(q.exact_values("images"), ["a", ""]);
        // `+` is a space, `%2B` a plus; `;` pairs are dropped.
        let q = Query::parse("name=a+b&x=%2B&y=1;z=2");
        assert_eq!(q.get("name"), Some("a b"));
        assert_eq!(q.get("x"), Some("+"));
        assert_eq!(q.get("y"), None);
        // Invalid JSON maps are empty; mismatched members are "".
        let q = Query::parse("annotations=%7Bbad&a2=%7B%22k%22%3A1%2C%22j%22%3A%22v%22%7D");
        assert!(q.json_map("annotations").is_empty());
        let m = q.json_map("a2");
        assert_eq!(m.get("k").map(String::as_str), Some(""));
        assert_eq!(m.get("j").map(String::as_str), Some("v"));
        assert!(q.json_map("absent").is_empty());
    }

    #[test]
    fn url_for_messages() {
        assert_eq!(
            request_url("/v5/libpod/manifests/x", ""),
            "/v5/libpod/manifests/x"
        );
        assert_eq!(
            request_url("/v5/libpod/manifests/x", "all=1"),
            "/v5/libpod/manifests/x?all=1"
        );
    }
}
