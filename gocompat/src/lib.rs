//! The Go behaviour manifold reproduces, each piece because a client depends on it.
//!
//! podman's service is written in Go, and its clients (the podman 4.x and 5.x CLIs in
//! `--remote` mode, podman-py, curl scripts, podman's own API tests) see Go's decoding rules,
//! Go's error texts and Go's version parsing. This crate holds all of it, with no dependency on
//! the rest of manifold. Data flows through it from both sides: the proxy (`manifold-proxy`)
//! reads paths and queries with [`url`], credential headers with [`base64`] then [`json`], and
//! request bodies with [`json::read`] into a [`json::GoStruct`], and writes every JSON answer
//! with [`json::encode`]; the composer (`manifold-composer`) classifies a failed registry
//! request and takes its words from [`nethttp`]; both quote client input in error texts with
//! [`strconv::quote`]. `docs/go-compat.md` shows each behaviour as clients see it, with who
//! depends on it.
//!
//! - [`json`] (`encoding/json`, `docs/go-compat.md#json-decoding`): keys matched
//!   case-insensitively, `null` as absent, unknown and `json:"-"` keys skipped, which every Go
//!   client's modify body needs (`"Operation"`, many `null`s, `"Password"`); and Go's type
//!   error, which podman-py raises for its dict-valued `annotation` (`json: cannot unmarshal
//!   object into Go struct field ManifestModifyOptions.annotation of type []string`). Reading
//!   as `json.NewDecoder` or `json.Unmarshal` ([`json::ReadMode`]) gives Go's `EOF` for an
//!   empty modify body; serde_json parses, and its syntax errors are mapped to Go's `invalid
//!   character 'x' …` shape, which no client reads beyond showing it. [`json::encode`] writes
//!   Go's string escapes, so bodies stay byte-identical to podman's. Errors: [`json::JsonError`].
//! - [`base64`] (`encoding/base64`): the credential headers, URL-safe base64 of JSON (`e30=` from
//!   every Go client without credentials), decoded leniently with Go's error text.
//! - [`strconv`]: `Quote`, for podman's error texts that quote client input (podman's API tests
//!   compare such `cause` texts), and `ParseBool`, the booleans the query decoder accepts
//!   (podman-py sends `True`/`False`).
//! - [`url`] (`net/url`): path variables and query values unescaped as podman does; the Go
//!   clients escape names with `url.PathEscape`, podman-py with `quote_plus`.
//! - [`semver`] (blang/semver): [`semver::SemVer::parse_tolerant`] of the path's version
//!   segment decides create's 201 (≥ 4.0.0) or 200; podman-api-rs sends `/v4.2/`, and podman's
//!   API tests expect 200 from `/v3.4.0/`.
//! - [`nethttp`] (`net/http`, `net`, `crypto/x509`): the words for a registry that cannot be
//!   reached ([`nethttp::NetText`]); podman's API test compares the `cause` `x509: certificate
//!   signed by unknown authority`, and users act on `http: server gave HTTP response to HTTPS
//!   client`.
//!
//! Left out because no client depends on it: a port of Go's JSON scanner, Go's streaming base64
//! reader, Go decoding every occurrence of a key an object repeats (serde_json keeps the last),
//! and blang's `+build` suffixes. The corpora in `testdata/` are Go's own answers (from
//! `testdata/gogen/`); the tests compare every case this crate reproduces.

pub mod base64;
pub mod json;
pub mod nethttp;
pub mod semver;
pub mod strconv;
pub mod url;

#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
