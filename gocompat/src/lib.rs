//! The Go behaviour manifold reproduces, each piece because a client depends on it.
//!
//! podman's service is written in Go, and its clients (the podman 4.x and 5.x CLIs in
//! `--remote` mode, podman-py, curl scripts, podman's own API tests) see Go's decoding rules,
//! Go's error texts and Go's version parsing. This crate holds all of it, with no dependency on
//! the rest of manifold: the proxy (`manifold-proxy`: its `libpod` wire format and router) and
//! the composer (`manifold-composer`: its error texts and registry client) use it.
//! `docs/go-compat.md` shows each behaviour as podman's clients see it, with examples.
//!
//! - [`json`] (`encoding/json`): [`json::GoStruct`] describes a Go struct by typed field setters;
//!   decoding matches keys case-insensitively, treats `null` as absent, skips unknown and
//!   `json:"-"` keys, and fails with Go's type error. The podman CLIs depend on the first three:
//!   their modify bodies say `"Operation"`, `"Images"`, `"OS"`, carry many `null`s and the
//!   `json:"-"` fields `"Authfile"`, `"Password"`, `"SkipTLSVerify"`. podman-py depends on the
//!   type error: `Manifest.add(annotation=...)` sends a dict, podman answers 500 `decoding modify
//!   request: json: cannot unmarshal object into Go struct field
//!   ManifestModifyOptions.annotation of type []string`, and podman-py raises that message.
//!   [`json::read`] reads a body as `json.NewDecoder` (first value only; an empty body is
//!   `EOF`, which is what a curl `-d` without content type gets from modify) or `json.Unmarshal`
//!   does ([`json::ReadMode`]); serde_json parses, and its syntax errors are mapped to Go's
//!   `invalid character 'x' …` shape, which no client reads beyond showing it.
//!   [`json::encode`] writes Go's string escapes, so bodies stay byte-identical to podman's.
//!   Every error is a [`json::JsonError`].
//! - [`base64`] (`encoding/base64`): the credential headers, URL-safe base64 of JSON (`e30=` from
//!   every Go client without credentials), decoded leniently with Go's error text.
//! - [`strconv`]: `Quote`, for podman's error texts that quote client input (`illegal operation
//!   "x" for "…"`, `no value given for annotation "noeq"`, `pushing image "…": …`; podman's API
//!   tests compare such `cause` texts), and `ParseBool`, the booleans the query decoder accepts
//!   (podman-py sends `True`/`False`).
//! - [`url`] (`net/url`): path variables and query values unescaped as podman does; the Go
//!   clients escape names with `url.PathEscape` (`localhost%2Fml:v1`), podman-py with
//!   `quote_plus`, and a bad escape in create's name is podman's 400.
//! - [`semver`] (blang/semver): [`semver::SemVer::parse_tolerant`] of the path's version
//!   segment decides create's 201 (≥ 4.0.0) or 200; podman-api-rs sends `/v4.2/`, which only
//!   the tolerant parse reads as 4.2.0, and podman's API tests expect 200 from `/v3.4.0/`.
//! - [`nethttp`] (`net/http`, `net`, `crypto/x509`): the words for a registry that cannot be
//!   reached, as [`nethttp::NetText`]; podman's API test compares the `cause`
//!   `x509: certificate signed by unknown authority`, and podman users act on
//!   `http: server gave HTTP response to HTTPS client`.
//!
//! Left out because no client depends on it: a port of Go's JSON scanner (its exact syntax-error
//! texts), Go's streaming base64 reader (the exact offsets it reports for a corrupt header), Go
//! reusing an array's storage when a body repeats a key, and blang's `+build` suffixes (the
//! route's version pattern has no `+`). The test corpora in `testdata/` are Go's own answers
//! (produced by `testdata/gogen/`); the tests compare every case this crate reproduces.

pub mod base64;
pub mod json;
pub mod nethttp;
pub mod semver;
pub mod strconv;
pub mod url;

#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
