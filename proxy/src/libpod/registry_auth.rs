//! `X-Registry-Auth` and `X-Registry-Config` → [`Credentials`], as podman v5.8.2's `pkg/auth`
//! reads them (`docs/registry-auth-headers.md`).
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
//!   `e30=` = `{}` every Go client without credentials sends is such a map, with no entries; an
//!   auth file is sent as one), and only if that fails as a single AuthConfig, which applies to
//!   every registry (`--creds user:pass`). Both are read with `json.NewDecoder`, and the error
//!   of the *second* attempt is the one reported. A key `""` in the map (no client sends one)
//!   counts as the default credential, as in the config header.
//!
//! Registry keys are normalised like podman's `normalizeAuthFileKey`: `http://` / `https://`
//! stripped, and such URL keys cut to their host; `registry-1.docker.io` and `index.docker.io`
//! become `docker.io`. Keys with a path (`quay.io/team`) stay as they are: they are namespaced
//! credentials in containers' auth files, and the registry client can match them by prefix.
//!
//! Of the Docker `AuthConfig` fields only `username`, `password` and `identitytoken` are used;
//! the others are type-checked as Go does. Decisions where manifold differs from podman, all in
//! the direction of accepting more:
//! - `identitytoken` becomes an [`Auth::IdentityToken`] (podman drops it on these routes);
//! - the Docker `auth` field (base64 `user:pass`) is ignored, as podman ignores it: a client
//!   that sends only `auth` is anonymous;
//! - base64 is read leniently (white space, the standard alphabet, no padding; see
//!   [`manifold_gocompat::base64`]).
//!
//! Errors carry Go's texts (`unexpected EOF`, `illegal base64 data at input byte 4`,
//! `invalid character 'x' looking for beginning of value`, `json: cannot unmarshal ...`). They
//! never contain header contents beyond a single offending character outside any JSON string
//! (or a control character inside one), so secrets do not leak into responses or logs.

use std::fmt;

use manifold_composer::credentials::{Auth, Credentials, Secret};
use manifold_gocompat::base64::decode_lenient;
use manifold_gocompat::json::{self, Field, GoStruct, JsonError, ReadMode};
use manifold_gocompat::strconv::quote;

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
    /// `failed to parse registry header for <URL>: …`.
    pub fn message(&self, url: &str) -> String {
        format!(
            "failed to parse {} header for {url}: {}",
            quote(self.header),
            self.error
        )
    }
}

impl fmt::Display for AuthHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.header, self.error)
    }
}

impl std::error::Error for AuthHeaderError {}

/// The fields of Docker's `registry.AuthConfig` that manifold uses.
#[derive(Default)]
struct AuthConfig {
    username: String,
    password: String,
    identity_token: String,
}

impl fmt::Debug for AuthConfig {
    /// Only the user name: the secrets stay out of any debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Docker's `registry.AuthConfig`, as Go decodes it. `auth`, `email`, `serveraddress` and
/// `registrytoken` are decoded (a wrong type is an error) but not used.
static AUTH_FIELDS: [Field<AuthConfig>; 7] = [
    Field::new("username", |a, v| json::string(&mut a.username, v)),
    Field::new("password", |a, v| json::string(&mut a.password, v)),
    Field::new("auth", |_, v| json::string(&mut String::new(), v)),
    Field::new("email", |_, v| json::string(&mut String::new(), v)),
    Field::new("serveraddress", |_, v| json::string(&mut String::new(), v)),
    Field::new("identitytoken", |a, v| {
        json::string(&mut a.identity_token, v)
    }),
    Field::new("registrytoken", |_, v| json::string(&mut String::new(), v)),
];

const AUTH_CONFIG: GoStruct<AuthConfig> = GoStruct {
    go_type: "registry.AuthConfig",
    name: "AuthConfig",
    fields: &[&AUTH_FIELDS],
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
fn to_auth(config: &AuthConfig) -> Option<Auth> {
    if !config.identity_token.is_empty() {
        return Some(Auth::IdentityToken(Secret::new(
            config.identity_token.clone(),
        )));
    }
    if config.username.is_empty() && config.password.is_empty() {
        return None;
    }
    Some(Auth::basic(
        config.username.clone(),
        config.password.clone(),
    ))
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

fn per_registry(members: Vec<(String, AuthConfig)>, creds: &mut Credentials) {
    for (key, config) in members {
        let Some(auth) = to_auth(&config) else {
            continue;
        };
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
    let header = decode_auth_header(value).map_err(|error| AuthHeaderError {
        header: X_REGISTRY_AUTH,
        cause: error.clone(),
        error,
    })?;
    let mut creds = Credentials::anonymous();
    match header {
        AuthHeader::Multi(members) => per_registry(members, &mut creds),
        AuthHeader::Single(config) => creds.any_registry = to_auth(&config),
    }
    Ok(creds)
}

/// A decoded `X-Registry-Auth`.
#[derive(Debug)]
enum AuthHeader {
    Multi(Vec<(String, AuthConfig)>),
    Single(AuthConfig),
}

/// podman's `getAuthCredentials`: the multi-auth map first, then a single AuthConfig; the
/// single attempt's error is the one returned.
fn decode_auth_header(value: &str) -> Result<AuthHeader, String> {
    let bytes = decode_lenient(value)?;
    let document = json::read(&bytes, ReadMode::Decoder).map_err(|e| e.to_string())?;
    if let Ok(members) = AUTH_CONFIG.map_from_value(&document, AUTH_MAP_TYPE) {
        return Ok(AuthHeader::Multi(members));
    }
    AUTH_CONFIG
        .from_value(&document)
        .map(AuthHeader::Single)
        .map_err(|e| e.to_string())
}

fn from_config(values: &[&str], registry_params: &[&str]) -> Result<Credentials, AuthHeaderError> {
    let mut merged: Vec<(String, AuthConfig)> = Vec::new();
    for value in values {
        for (k, config) in decode_config(trim(value))? {
            merged.retain(|(old, _)| *old != k);
            merged.push((k, config));
        }
    }
    let mut creds = Credentials::anonymous();
    // The default credential, then a `registry` parameter's pick (podman's loop: parameters in
    // order until one matches, but only the first one once a default exists).
    let mut chosen = merged.iter().find(|(k, _)| k.is_empty()).map(|(_, c)| c);
    if !registry_params.is_empty() {
        let mut sorted: Vec<&(String, AuthConfig)> = merged.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for param in registry_params {
            if let Some((_, c)) = sorted.iter().find(|(k, _)| k.contains(param)) {
                chosen = Some(c);
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
/// `json.Unmarshal` into `map[string]AuthConfig`, each failure wrapped in podman's words.
fn decode_config(value: &str) -> Result<Vec<(String, AuthConfig)>, AuthHeaderError> {
    let fail = |what: &str, cause: String| AuthHeaderError {
        header: X_REGISTRY_CONFIG,
        error: format!("failed to {what} {}: {cause}", quote(X_REGISTRY_CONFIG)),
        cause,
    };
    let bytes = decode_lenient(value).map_err(|cause| fail("decode", cause))?;
    json::read(&bytes, ReadMode::Unmarshal)
        .and_then(|document| AUTH_CONFIG.map_from_value(&document, AUTH_MAP_TYPE))
        .map_err(|e: JsonError| fail("unmarshal", e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    use manifold_gocompat::testdata;
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn fields(c: &AuthConfig) -> Value {
        serde_json::json!({
            "Username": c.username,
            "Password": c.password,
            "IdentityToken": c.identity_token,
        })
    }

    fn by_key(members: &[(String, AuthConfig)]) -> Value {
        let map: BTreeMap<&str, Value> = members
            .iter()
            .map(|(k, c)| (k.as_str(), fields(c)))
            .collect();
        serde_json::to_value(map).unwrap()
    }

    /// True when Go's strict `base64.URLEncoding` (padding required, line breaks skipped) reads
    /// `value`; the other values reach JSON only through manifold's leniency.
    fn go_reads_base64(value: &str) -> bool {
        let strict = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
                .with_decode_allow_trailing_bits(true),
        );
        strict.decode(value.replace(['\r', '\n'], "")).is_ok()
    }

    /// Every value of podman's corpus: what Go decodes, manifold decodes the same; what Go
    /// refuses, manifold refuses with Go's text. Values that are not strict base64 are the
    /// exception: manifold may accept them, or refuse them with a base64 error at its own
    /// offset.
    #[test]
    fn auth_headers_match_go() {
        let mut n = 0;
        for case in testdata::auth() {
            let values: Vec<String> =
                serde_json::from_value(case.get("values").clone()).unwrap_or_default();
            let strict_base64 = values.iter().all(|v| go_reads_base64(v));
            let header = case.get("header").as_str().unwrap_or_default();
            let got = if header == X_REGISTRY_AUTH {
                let v = values.first().map(String::as_str).unwrap_or_default();
                if v.is_empty() || v == "null" {
                    Ok(("none".to_string(), Value::Null))
                } else {
                    decode_auth_header(v).map(|h| match h {
                        AuthHeader::Multi(members) => ("multi".to_string(), by_key(&members)),
                        AuthHeader::Single(c) => ("single".to_string(), fields(&c)),
                    })
                }
            } else {
                let mut merged: BTreeMap<String, Value> = BTreeMap::new();
                values
                    .iter()
                    .try_for_each(|v| {
                        for (k, c) in decode_config(v)? {
                            merged.insert(k, fields(&c));
                        }
                        Ok(())
                    })
                    .map_err(|e: AuthHeaderError| e.error)
                    .map(|()| ("config".to_string(), serde_json::to_value(&merged).unwrap()))
            };
            match (got, case.err()) {
                (Ok((kind, decoded)), None) => {
                    assert_eq!(Some(kind.as_str()), case.get("kind").as_str(), "{values:?}");
                    let want = match kind.as_str() {
                        "multi" | "config" => case.get("multi"),
                        "single" => case.get("single"),
                        _ => &Value::Null,
                    };
                    assert_eq!(&decoded, want, "{values:?}");
                }
                (Err(got), Some(want)) if strict_base64 => assert_eq!(got, want, "{values:?}"),
                (Err(got), Some(want)) => assert!(
                    got == want || got.contains("illegal base64 data at input byte "),
                    "{values:?}: {got} / Go: {want}"
                ),
                (Ok(_), Some(_)) if !strict_base64 => {}
                // Go's streaming reader had a whole document before the corrupt bytes
                // (`e30=!!!!`); manifold decodes the value as a whole.
                (Err(got), None) if !strict_base64 => {
                    assert!(got.contains("illegal base64 data at input byte "), "{got}")
                }
                (got, want) => panic!("{values:?}: got {got:?}, Go says {want:?}"),
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
    fn sent_by_clients_single_and_multi() {
        // What `--creds bob:pw` sends (docs/registry-auth-headers.md#what-clients-send).
        let c = credentials_from_values(
            &["eyJ1c2VybmFtZSI6ImJvYiIsInBhc3N3b3JkIjoicHcifQ=="],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(c.any_registry, Some(Auth::basic("bob", "pw")));
        assert!(c.per_registry.is_empty());
        // What a client sends from an auth file with two registries
        // (docs/registry-auth-headers.md#what-clients-send).
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
}
