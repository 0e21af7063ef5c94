//! `X-Registry-Auth` and `X-Registry-Config` → [`Credentials`] (§5, podman v5.8.2 `pkg/auth`).
//!
//! Precedence, as podman's `GetCredentials`:
//! - any `X-Registry-Config` header (even an empty one) wins; every occurrence is decoded
//!   (URL-safe base64 with padding, then `json.Unmarshal` into `map[string]AuthConfig`) and the
//!   maps are merged, later headers overwriting keys of earlier ones. The key `""` is the
//!   default credential ([`Credentials::any_registry`]); a `registry` query parameter picks the
//!   first key containing it instead (podman iterates a Go map, so its pick is random when
//!   several keys match; here keys are tried in sorted order). The other keys become
//!   per-registry credentials.
//! - otherwise the **first** `X-Registry-Auth` header: an empty value or `null` means no
//!   credentials; else it is decoded as a multi-auth map `{"<registry>": AuthConfig}` first (the
//!   `e30=` = `{}` every Go client sends is such a map, with no entries), and only if that fails
//!   as a single AuthConfig, which applies to every registry. Both decode with Go's streaming
//!   base64 reader feeding `json.NewDecoder`, and the error of the *second* attempt is the one
//!   reported. A key `""` in the map (no client sends one) counts as the default credential, as
//!   in the config header.
//!
//! Registry keys are normalised like podman's `normalizeAuthFileKey`: `http://` / `https://`
//! stripped, and such URL keys cut to their host; `registry-1.docker.io` and `index.docker.io`
//! become `docker.io`. Keys with a path (`quay.io/team`) stay as they are: they are namespaced
//! credentials in containers' auth files, and the registry client can match them by prefix.
//!
//! Of the Docker `AuthConfig` fields only `username`, `password` and `identitytoken` are used.
//! Decisions where manifold differs from podman, all in the direction of accepting more:
//! - `identitytoken` becomes an [`Auth::IdentityToken`] (podman drops it on these routes);
//! - the Docker `auth` field (base64 `user:pass`) is ignored, as podman ignores it: a client
//!   that sends only `auth` is anonymous;
//! - a header value Go rejects is tried once more leniently (white space removed, standard
//!   alphabet `+/` accepted, padding optional); only if that fails too is Go's error reported.
//!
//! Errors carry Go's texts (`unexpected EOF`, `illegal base64 data at input byte 4`,
//! `invalid character 'x' looking for beginning of value`, ...). They never contain header
//! contents beyond a single offending character outside any JSON string (or a control character
//! inside one), so secrets do not leak into responses or logs.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use manifold_composer::credentials::{Auth, Credentials, Secret};

use super::gojson::{self, Decoded, Field, JsonError, Kind, ReadMode, StructType, ValueReader};
use super::goquote::quote;

/// The name of the auth header.
pub const X_REGISTRY_AUTH: &str = "X-Registry-Auth";
/// The name of the config header.
pub const X_REGISTRY_CONFIG: &str = "X-Registry-Config";

/// A malformed credential header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeaderError {
    /// Which header: [`X_REGISTRY_AUTH`] or [`X_REGISTRY_CONFIG`].
    pub header: &'static str,
    /// podman's text after `for <URL>: `, e.g. `unexpected EOF` or
    /// `failed to decode "X-Registry-Config": illegal base64 data at input byte 0`.
    pub error: String,
    /// The innermost error, for the error body's `cause` (`unexpected EOF`,
    /// `illegal base64 data at input byte 0`).
    pub cause: String,
}

impl AuthHeaderError {
    /// The message podman's `GetCredentials` returns:
    /// `failed to parse "X-Registry-Auth" header for <URL>: <error>`. Modify, inspect, the v3
    /// routes answer 400 with it; push wraps it once more in
    /// `failed to parse registry header for <URL>: …` (§3.5).
    pub fn message(&self, url: &str) -> String {
        format!(
            "failed to parse {} header for {url}: {}",
            quote(self.header),
            self.error
        )
    }
}

impl std::fmt::Display for AuthHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.header, self.error)
    }
}

impl std::error::Error for AuthHeaderError {}

/// Docker's `registry.AuthConfig`, as Go decodes it.
static AUTH_FIELDS: [Field; 7] = [
    auth_field("username"),
    auth_field("password"),
    auth_field("auth"),
    auth_field("email"),
    auth_field("serveraddress"),
    auth_field("identitytoken"),
    auth_field("registrytoken"),
];

const fn auth_field(name: &'static str) -> Field {
    Field {
        name,
        kind: Kind::Str,
        embedded_in: "",
    }
}

const AUTH_CONFIG: StructType = StructType {
    go_type: "registry.AuthConfig",
    name: "AuthConfig",
    fields: &AUTH_FIELDS,
};

const AUTH_MAP_TYPE: &str = "map[string]registry.AuthConfig";

/// The credentials of a request from its headers (names matched case-insensitively, values in
/// order). The manifest clients never send podman's `registry` query parameter; use
/// [`credentials_from_values`] to honour it.
pub fn credentials_from_headers(
    headers: &[(String, String)],
) -> Result<Credentials, AuthHeaderError> {
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    credentials_from_values(&values(X_REGISTRY_AUTH), &values(X_REGISTRY_CONFIG), &[])
}

/// The credentials from the values of the two headers (in order) and the values of the
/// request's `registry` query parameter (exact name, as podman reads it).
pub fn credentials_from_values(
    auth: &[&str],
    config: &[&str],
    registry_params: &[&str],
) -> Result<Credentials, AuthHeaderError> {
    if !config.is_empty() {
        return from_config(config, registry_params);
    }
    match auth.first() {
        Some(value) => from_auth(value),
        None => Ok(Credentials::anonymous()),
    }
}

/// Go's textproto trims a header value's surrounding blanks before podman sees it.
fn trim(v: &str) -> &str {
    v.trim_matches(|c| c == ' ' || c == '\t')
}

/// One AuthConfig as a credential: an identity token if there is one, else username and
/// password if either is set, else nothing.
fn to_auth(d: &Decoded) -> Option<Auth> {
    let token = d.string("identitytoken");
    if !token.is_empty() {
        return Some(Auth::IdentityToken(Secret::new(token)));
    }
    let username = d.string("username");
    let password = d.string("password");
    if username.is_empty() && password.is_empty() {
        return None;
    }
    Some(Auth::basic(username, password))
}

/// podman's `normalizeAuthFileKey`.
pub fn normalize_registry_key(key: &str) -> String {
    let stripped = key.strip_prefix("http://").unwrap_or(key);
    let stripped = stripped.strip_prefix("https://").unwrap_or(stripped);
    let host = if stripped.len() != key.len() {
        stripped.split('/').next().unwrap_or_default()
    } else {
        stripped
    };
    match host {
        "registry-1.docker.io" | "index.docker.io" => "docker.io".to_string(),
        _ => host.to_string(),
    }
}

fn per_registry(members: Vec<(String, Decoded)>, creds: &mut Credentials) {
    for (key, d) in members {
        let Some(auth) = to_auth(&d) else { continue };
        if key.is_empty() {
            creds.any_registry = Some(auth);
        } else {
            creds
                .per_registry
                .insert(normalize_registry_key(&key), auth);
        }
    }
}

fn from_auth(value: &str) -> Result<Credentials, AuthHeaderError> {
    let value = trim(value);
    if value.is_empty() || value == "null" {
        return Ok(Credentials::anonymous());
    }
    let strict = decode_auth_header_go(value);
    let outcome = match strict {
        Ok(o) => o,
        Err(go_error) => match lenient_bytes(value).and_then(|b| decode_auth_bytes(&b).ok()) {
            Some(o) => o,
            None => {
                return Err(AuthHeaderError {
                    header: X_REGISTRY_AUTH,
                    error: go_error.to_string(),
                    cause: go_error.to_string(),
                })
            }
        },
    };
    let mut creds = Credentials::anonymous();
    match outcome {
        AuthHeader::Multi(members) => per_registry(members, &mut creds),
        AuthHeader::Single(d) => creds.any_registry = to_auth(&d),
    }
    Ok(creds)
}

/// A decoded `X-Registry-Auth`.
#[derive(Debug)]
enum AuthHeader {
    Multi(Vec<(String, Decoded)>),
    Single(Decoded),
}

/// podman's `getAuthCredentials` on the exact header value: the multi-auth map first, then a
/// single AuthConfig; the single attempt's error is the one returned.
fn decode_auth_header_go(value: &str) -> Result<AuthHeader, JsonError> {
    if let Ok(members) = stream_decode(value, |v| {
        let (map, err) = gojson::decode_struct_map_value(v, AUTH_CONFIG, AUTH_MAP_TYPE);
        err.map_or(Ok(map), Err)
    }) {
        return Ok(AuthHeader::Multi(members.unwrap_or_default()));
    }
    stream_decode(value, |v| {
        let (d, err) = gojson::decode_struct_value(v, AUTH_CONFIG);
        err.map_or(Ok(d), Err)
    })
    .map(AuthHeader::Single)
}

/// The same two attempts on already decoded bytes (the lenient retry).
fn decode_auth_bytes(bytes: &[u8]) -> Result<AuthHeader, JsonError> {
    let value = gojson::read_value(bytes, ReadMode::Decoder)?;
    let (map, err) = gojson::decode_struct_map_value(value, AUTH_CONFIG, AUTH_MAP_TYPE);
    if err.is_none() {
        return Ok(AuthHeader::Multi(map.unwrap_or_default()));
    }
    let (d, err) = gojson::decode_struct_value(value, AUTH_CONFIG);
    match err {
        Some(e) => Err(e),
        None => Ok(AuthHeader::Single(d)),
    }
}

fn from_config(values: &[&str], registry_params: &[&str]) -> Result<Credentials, AuthHeaderError> {
    let mut merged: Vec<(String, Decoded)> = Vec::new();
    for value in values {
        let value = trim(value);
        let members = match decode_config_go(value) {
            Ok(m) => m,
            Err(e) => match lenient_bytes(value).and_then(|b| decode_config_bytes(&b).ok()) {
                Some(m) => m,
                None => return Err(e),
            },
        };
        for (k, d) in members {
            merged.retain(|(old, _)| *old != k);
            merged.push((k, d));
        }
    }
    let mut creds = Credentials::anonymous();
    // The default credential, then a `registry` parameter's pick (podman's loop: parameters in
    // order until one matches, but only the first one once a default exists).
    let mut chosen = merged.iter().find(|(k, _)| k.is_empty()).map(|(_, d)| d);
    if !registry_params.is_empty() {
        let mut sorted: Vec<&(String, Decoded)> = merged.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for param in registry_params {
            if let Some((_, d)) = sorted.iter().find(|(k, _)| k.contains(param)) {
                chosen = Some(d);
            }
            if chosen.is_some() {
                break;
            }
        }
    }
    let any = chosen.and_then(to_auth);
    per_registry(
        merged.into_iter().filter(|(k, _)| !k.is_empty()).collect(),
        &mut creds,
    );
    creds.any_registry = any;
    Ok(creds)
}

/// One `X-Registry-Config` value as podman decodes it: `base64.URLEncoding.DecodeString`, then
/// `json.Unmarshal` into `map[string]AuthConfig`.
fn decode_config_go(value: &str) -> Result<Vec<(String, Decoded)>, AuthHeaderError> {
    let fail = |error: String, cause: String| AuthHeaderError {
        header: X_REGISTRY_CONFIG,
        error,
        cause,
    };
    let (bytes, corrupt) = go_base64_decode(value.as_bytes());
    if let Some(offset) = corrupt {
        let cause = corrupt_text(offset);
        return Err(fail(
            format!("failed to decode {}: {cause}", quote(X_REGISTRY_CONFIG)),
            cause,
        ));
    }
    decode_config_bytes(&bytes).map_err(|e| {
        fail(
            format!("failed to unmarshal {}: {e}", quote(X_REGISTRY_CONFIG)),
            e.to_string(),
        )
    })
}

fn decode_config_bytes(bytes: &[u8]) -> Result<Vec<(String, Decoded)>, JsonError> {
    let value = gojson::read_value(bytes, ReadMode::Unmarshal)?;
    let (map, err) = gojson::decode_struct_map_value(value, AUTH_CONFIG, AUTH_MAP_TYPE);
    match err {
        Some(e) => Err(e),
        None => Ok(map.unwrap_or_default()),
    }
}

/// The lenient reading of a header value Go rejected: blanks and line breaks removed, the
/// standard alphabet's `+` and `/` accepted, padding optional.
fn lenient_bytes(value: &str) -> Option<Vec<u8>> {
    let cleaned: String = value
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            _ => c,
        })
        .collect();
    let engine = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(cleaned.as_bytes()).ok()
}

// ---------------------------------------------------------------------------------------------
// Go's base64 (URLEncoding: URL-safe alphabet, `=` padding, not strict).

fn corrupt_text(offset: usize) -> String {
    format!("illegal base64 data at input byte {offset}")
}

fn decode_char(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Go's `decodeQuantum`: decodes one 4-character quantum starting at `si`. Returns the new
/// position, the bytes and the corrupt-input offset, if any.
fn decode_quantum(src: &[u8], mut si: usize) -> (usize, Vec<u8>, Option<usize>) {
    let mut dbuf = [0u32; 4];
    let mut dlen = 4;
    let mut err = None;
    let mut j = 0;
    while j < 4 {
        let Some(&c) = src.get(si) else {
            if j == 0 {
                return (si, Vec::new(), None);
            }
            // With padding, a quantum cut short is corrupt.
            return (si, Vec::new(), Some(si - j));
        };
        si += 1;
        if let Some(v) = decode_char(c) {
            if let Some(slot) = dbuf.get_mut(j) {
                *slot = v;
            }
            j += 1;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c != b'=' {
            return (si, Vec::new(), Some(si - 1));
        }
        // Padding.
        match j {
            0 | 1 => return (si, Vec::new(), Some(si - 1)),
            2 => {
                while matches!(src.get(si), Some(b'\n' | b'\r')) {
                    si += 1;
                }
                match src.get(si) {
                    None => return (si, Vec::new(), Some(src.len())),
                    Some(b'=') => si += 1,
                    Some(_) => return (si, Vec::new(), Some(si - 1)),
                }
            }
            _ => {}
        }
        while matches!(src.get(si), Some(b'\n' | b'\r')) {
            si += 1;
        }
        if si < src.len() {
            err = Some(si);
        }
        dlen = j;
        break;
    }
    let val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3];
    let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
    let n = dlen.saturating_sub(1).min(3);
    (si, bytes.get(..n).unwrap_or_default().to_vec(), err)
}

/// Go's `Encoding.Decode`: the bytes decoded before any corrupt input, and its offset.
fn go_base64_decode(src: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let (next, bytes, err) = decode_quantum(src, si);
        out.extend_from_slice(&bytes);
        if err.is_some() {
            return (out, err);
        }
        if next == si {
            break;
        }
        si = next;
    }
    (out, None)
}

/// What a read returned besides bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    Eof,
    UnexpectedEof,
    Corrupt(usize),
}

impl ReadEnd {
    fn text(self) -> Option<String> {
        match self {
            ReadEnd::Eof => None,
            ReadEnd::UnexpectedEof => Some("unexpected EOF".to_string()),
            ReadEnd::Corrupt(n) => Some(corrupt_text(n)),
        }
    }
}

/// `base64.NewDecoder(base64.URLEncoding, strings.NewReader(header))`, read by `json.Decoder`.
/// The chunking matters for Go's error offsets (relative to each decoded chunk) and for which
/// bytes reach the JSON decoder before an error.
struct Base64Stream<'a> {
    src: &'a [u8],
    pos: usize,
    buf: Vec<u8>,
    out: Vec<u8>,
    err: Option<ReadEnd>,
    read_err: Option<ReadEnd>,
}

impl<'a> Base64Stream<'a> {
    fn new(src: &'a [u8]) -> Self {
        Base64Stream {
            src,
            pos: 0,
            buf: Vec::new(),
            out: Vec::new(),
            err: None,
            read_err: None,
        }
    }

    /// The `newlineFilteringReader` over a `strings.Reader`: up to `want` bytes, `\r` and `\n`
    /// removed, reading on while a chunk was only line breaks.
    fn read_filtered(&mut self, want: usize) -> (Vec<u8>, Option<ReadEnd>) {
        loop {
            let rest = self.src.get(self.pos..).unwrap_or_default();
            if rest.is_empty() {
                return (Vec::new(), Some(ReadEnd::Eof));
            }
            let n = want.min(rest.len());
            self.pos += n;
            let chunk: Vec<u8> = rest
                .get(..n)
                .unwrap_or_default()
                .iter()
                .copied()
                .filter(|&c| c != b'\r' && c != b'\n')
                .collect();
            if !chunk.is_empty() {
                return (chunk, None);
            }
        }
    }

    /// `decoder.Read(p)` with `len(p) == want`.
    fn read(&mut self, want: usize) -> (Vec<u8>, Option<ReadEnd>) {
        if !self.out.is_empty() {
            let n = want.min(self.out.len());
            return (self.out.drain(..n).collect(), None);
        }
        if let Some(e) = self.err {
            return (Vec::new(), Some(e));
        }
        while self.buf.len() < 4 && self.read_err.is_none() {
            let nn = (want / 3 * 4).clamp(4, 1024);
            let (chunk, e) = self.read_filtered(nn.saturating_sub(self.buf.len()).max(1));
            self.buf.extend_from_slice(&chunk);
            self.read_err = e;
        }
        if self.buf.len() < 4 {
            let mut e = self.read_err.unwrap_or(ReadEnd::Eof);
            if e == ReadEnd::Eof && !self.buf.is_empty() {
                e = ReadEnd::UnexpectedEof;
            }
            self.err = Some(e);
            return (Vec::new(), Some(e));
        }
        let nr = self.buf.len() / 4 * 4;
        let nw = self.buf.len() / 4 * 3;
        let (decoded, corrupt) = go_base64_decode(self.buf.get(..nr).unwrap_or_default());
        self.err = corrupt.map(ReadEnd::Corrupt);
        self.buf.drain(..nr);
        if nw > want {
            self.out = decoded;
            let n = want.min(self.out.len());
            (self.out.drain(..n).collect(), self.err)
        } else {
            (decoded, self.err)
        }
    }
}

/// `json.NewDecoder(base64.NewDecoder(...)).Decode(&v)`: reads like Go (buffer of 512 bytes,
/// grown to `2*cap+512` when less than 512 are free), then decodes the value with `decode`.
fn stream_decode<T>(
    header: &str,
    decode: impl FnOnce(&[u8]) -> Result<T, JsonError>,
) -> Result<T, JsonError> {
    let mut stream = Base64Stream::new(header.as_bytes());
    let mut reader = ValueReader::new();
    let (mut len, mut cap) = (0usize, 0usize);
    // Every read consumes input or ends the stream; the bound only guards against a mistake.
    for _ in 0..header.len() + 16 {
        if cap - len < 512 {
            cap = 2 * cap + 512;
        }
        let (bytes, end) = stream.read(cap - len);
        len += bytes.len();
        match reader.push(&bytes) {
            Some(Ok(())) => return decode(reader.value()),
            Some(Err(e)) => return Err(e),
            None => {}
        }
        if let Some(end) = end {
            reader.finish(end.text())?;
            return decode(reader.value());
        }
    }
    Err(JsonError::new("unexpected EOF"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::libpod::testdata;
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn fields(d: &Decoded) -> Value {
        serde_json::json!({
            "Username": d.string("username"),
            "Password": d.string("password"),
            "IdentityToken": d.string("identitytoken"),
        })
    }

    /// The strict (Go) path reproduces podman's answer for every captured corpus value.
    #[test]
    fn auth_header_matches_go() {
        let mut n = 0;
        for case in testdata::auth() {
            let values: Vec<String> =
                serde_json::from_value(case.get("values").clone()).unwrap_or_default();
            let header = case.get("header").as_str().unwrap_or_default();
            if header == X_REGISTRY_AUTH {
                let v = values.first().map(String::as_str).unwrap_or_default();
                let got = if v.is_empty() || v == "null" {
                    Ok(AuthHeader::Multi(Vec::new()))
                } else {
                    decode_auth_header_go(v)
                };
                match (got, case.err()) {
                    (Ok(AuthHeader::Multi(members)), None) => {
                        let kind = case.get("kind").as_str().unwrap_or_default();
                        assert!(kind == "multi" || kind == "none", "{v}: Go says {kind}");
                        let want = case.get("multi");
                        let got: BTreeMap<String, Value> = members
                            .iter()
                            .map(|(k, d)| (k.clone(), fields(d)))
                            .collect();
                        if kind == "multi" {
                            assert_eq!(serde_json::to_value(&got).unwrap(), *want, "{v}");
                        }
                    }
                    (Ok(AuthHeader::Single(d)), None) => {
                        assert_eq!(case.get("kind").as_str(), Some("single"), "{v}");
                        assert_eq!(fields(&d), *case.get("single"), "{v}");
                    }
                    (Err(e), Some(want)) => assert_eq!(e.as_str(), want, "{v:?}"),
                    (got, want) => panic!("{v:?}: got {got:?}, Go says {want:?}"),
                }
            } else {
                let mut merged: BTreeMap<String, Value> = BTreeMap::new();
                let mut err = None;
                for v in &values {
                    match decode_config_go(v) {
                        Ok(members) => {
                            for (k, d) in members {
                                merged.insert(k, fields(&d));
                            }
                        }
                        Err(e) => {
                            err = Some(e.error);
                            break;
                        }
                    }
                }
                match (err, case.err()) {
                    (None, None) => assert_eq!(
                        serde_json::to_value(&merged).unwrap(),
                        *case.get("multi"),
                        "{values:?}"
                    ),
                    (Some(got), Some(want)) => assert_eq!(got, want, "{values:?}"),
                    (got, want) => panic!("{values:?}: got {got:?}, Go says {want:?}"),
                }
            }
            n += 1;
        }
        assert!(n > 60, "{n}");
    }

    #[test]
    fn normalisation_matches_go() {
        for case in testdata::misc("NormalizeKey") {
            let key = String::from_utf8(case.input()).unwrap();
            assert_eq!(normalize_registry_key(&key), case.out(), "{key:?}");
        }
    }

    #[test]
    fn none_and_empty() {
        for v in ["", "null", "e30=", "  e30=  ", "bnVsbA=="] {
            assert_eq!(
                credentials_from_values(&[v], &[], &[]).unwrap(),
                Credentials::anonymous(),
                "{v:?}"
            );
        }
        assert_eq!(
            credentials_from_values(&[], &[], &[]).unwrap(),
            Credentials::anonymous()
        );
    }

    #[test]
    fn captured_single_and_multi() {
        // 7.1: `--creds bob:pw`.
        let c = credentials_from_values(
            &["eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHcifQ=="],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("bob", "pw")));
        assert!(c.per_registry.is_empty());
        // 7.1: an auth file with two registries.
        let header = base64::engine::general_purpose::URL_SAFE.encode(
            r#"{"localhost:5000":{"username":"u","password":"p"},"https://index.docker.io/v1/":{"username":"alice","password":"secret"},"quay.io/team":{"identitytoken":"tok"},"empty.io":{}}"#,
        );
        let c = credentials_from_values(&[&header], &[], &[]).unwrap();
        assert_eq!(c.any_registry, None);
        assert_eq!(
            c.per_registry.get("localhost:5000"),
            Some(&Auth::basic("u", "p"))
        );
        assert_eq!(
            c.per_registry.get("docker.io"),
            Some(&Auth::basic("alice", "secret"))
        );
        assert_eq!(
            c.per_registry.get("quay.io/team"),
            Some(&Auth::IdentityToken(Secret::new("tok")))
        );
        assert!(!c.per_registry.contains_key("empty.io"));
        // Only the first X-Registry-Auth counts.
        let c = credentials_from_values(&["e30=", &header], &[], &[]).unwrap();
        assert_eq!(c, Credentials::anonymous());
    }

    #[test]
    fn docker_auth_field_is_ignored() {
        let header = base64::engine::general_purpose::URL_SAFE.encode(r#"{"auth":"dTpw"}"#);
        assert_eq!(
            credentials_from_values(&[&header], &[], &[]).unwrap(),
            Credentials::anonymous()
        );
    }

    #[test]
    fn go_errors_and_leniency() {
        let err = |v: &str| credentials_from_values(&[v], &[], &[]).unwrap_err();
        // Go's base64 reader: a stray character.
        let e = err("!!!!");
        assert_eq!(e.cause, "illegal base64 data at input byte 0");
        assert_eq!(
            e.message("/v5.0.0/libpod/manifests/x?all=1"),
            r#"failed to parse "X-Registry-Auth" header for /v5.0.0/libpod/manifests/x?all=1: illegal base64 data at input byte 0"#
        );
        // A JSON document cut short: Go's `unexpected EOF`.
        let cut = base64::engine::general_purpose::URL_SAFE.encode(r#"{"username":"bob""#);
        assert_eq!(err(&cut).cause, "unexpected EOF");
        // Unpadded and standard-alphabet values are accepted (Go rejects them).
        let unpadded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"username":"bob","password":"pw"}"#);
        assert!(!unpadded.ends_with('='));
        assert_eq!(
            decode_auth_header_go(&unpadded).unwrap_err().as_str(),
            "unexpected EOF"
        );
        assert_eq!(
            credentials_from_values(&[&unpadded], &[], &[])
                .unwrap()
                .any_registry,
            Some(Auth::basic("bob", "pw"))
        );
        let standard = base64::engine::general_purpose::STANDARD
            .encode(r#"{"username":"~~~","password":"???>>>"}"#);
        assert!(standard.contains('+') || standard.contains('/'));
        assert_eq!(
            credentials_from_values(&[&standard], &[], &[])
                .unwrap()
                .any_registry,
            Some(Auth::basic("~~~", "???>>>"))
        );
    }

    #[test]
    fn errors_do_not_leak_secrets() {
        let secret = "hunter2-SECRET";
        let bodies = [
            format!(r#"{{"username":"bob","password":"{secret}""#),
            format!(r#"{{"username":"bob","password":"{secret}"}} x"#),
            format!(r#"{{"username":1,"password":"{secret}"}}"#),
            format!(r#"{{"password":"{secret}","username":["x"]}}"#),
            format!(r#"{{"r":{{"password":"{secret}"}},"s":5"#),
            format!(r#"["{secret}"]"#),
        ];
        for body in bodies {
            let header = base64::engine::general_purpose::URL_SAFE.encode(&body);
            for result in [
                credentials_from_values(&[&header], &[], &[]),
                credentials_from_values(&[], &[&header], &[]),
                credentials_from_values(&[&format!("{header}!")], &[], &[]),
            ] {
                if let Err(e) = result {
                    let all = format!("{} {} {e} {e:?}", e.message("/u"), e.cause);
                    assert!(!all.contains(secret), "{all}");
                    assert!(!all.contains("hunter"), "{all}");
                }
            }
        }
        let c = credentials_from_values(
            &[&base64::engine::general_purpose::URL_SAFE
                .encode(format!(r#"{{"username":"bob","password":"{secret}"}}"#))],
            &[],
            &[],
        )
        .unwrap();
        assert!(!format!("{c:?}").contains(secret));
    }

    #[test]
    fn config_header() {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        let h1 = enc(
            r#"{"":{"username":"def","password":"y"},"quay.io":{"username":"q","password":"z"}}"#,
        );
        let h2 = enc(
            r#"{"quay.io":{"username":"q2","password":"z2"},"https://registry-1.docker.io/v2/":{"username":"d","password":"w"}}"#,
        );
        let c = credentials_from_values(&["e30="], &[&h1, &h2], &[]).unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("def", "y")));
        assert_eq!(
            c.per_registry.get("quay.io"),
            Some(&Auth::basic("q2", "z2")),
            "later header wins"
        );
        assert_eq!(
            c.per_registry.get("docker.io"),
            Some(&Auth::basic("d", "w"))
        );
        assert!(!c.per_registry.contains_key(""));
        // `registry=` picks a key containing it, overriding the default.
        let c = credentials_from_values(&[], &[&h1], &["quay"]).unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("q", "z")));
        // No match keeps the default.
        let c = credentials_from_values(&[], &[&h1], &["nomatch", "quay"]).unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("def", "y")));
        // Without a default, parameters are tried in order.
        let h3 = enc(r#"{"quay.io":{"username":"q","password":"z"}}"#);
        let c = credentials_from_values(&[], &[&h3], &["nomatch", "quay"]).unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("q", "z")));
        // The config header wins over the auth header, and its errors are wrapped.
        let e = credentials_from_values(&["e30="], &["!!!!"], &[]).unwrap_err();
        assert_eq!(e.header, X_REGISTRY_CONFIG);
        assert_eq!(e.cause, "illegal base64 data at input byte 0");
        assert_eq!(
            e.error,
            r#"failed to decode "X-Registry-Config": illegal base64 data at input byte 0"#
        );
        let e = credentials_from_values(&[], &[""], &[]).unwrap_err();
        assert_eq!(
            e.error,
            r#"failed to unmarshal "X-Registry-Config": unexpected end of JSON input"#
        );
        assert_eq!(e.cause, "unexpected end of JSON input");
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let headers = vec![
            (
                "x-registry-auth".to_string(),
                "eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHcifQ==".to_string(),
            ),
            ("Host".to_string(), "d".to_string()),
        ];
        let c = credentials_from_headers(&headers).unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("bob", "pw")));
    }

    #[test]
    fn go_base64() {
        assert_eq!(go_base64_decode(b"e30="), (b"{}".to_vec(), None));
        assert_eq!(go_base64_decode(b"e30"), (Vec::new(), Some(0)));
        assert_eq!(go_base64_decode(b"e30=!!!!"), (b"{}".to_vec(), Some(4)));
        assert_eq!(go_base64_decode(b"e3\n0="), (b"{}".to_vec(), None));
        assert_eq!(go_base64_decode(b"eyJ9"), (b"{\"}".to_vec(), None));
        assert_eq!(go_base64_decode(b"ab=="), (vec![0x69], None));
        assert_eq!(go_base64_decode(b"ab="), (Vec::new(), Some(3)));
        assert_eq!(go_base64_decode(b"a==="), (Vec::new(), Some(1)));
    }
}
