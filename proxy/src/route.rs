//! Routing: a pure function from a request's method and raw path to a [`Route`].
//!
//! It reproduces podman v5.8.2's gorilla/mux router for the routes manifold answers
//! (`docs/libpod-api.md#url-layout-and-version-segment`, `docs/libpod-api.md#ping-and-version`,
//! `docs/libpod-api.md#path-matching-and-escaping`, `docs/libpod-api.md#route-table`):
//!
//! - **Matching is on the raw, still-escaped path** (`UseEncodedPath`), so `%2F` never splits a
//!   name; path variables are unescaped afterwards: `PathUnescape`, falling back to the raw text
//!   when that fails (podman's `utils.GetVar`), except create's `{name}`, which podman decodes
//!   with `QueryUnescape` (`+` is a space) and rejects with 400 when it fails ([`CreateName`]).
//! - **The manifest routes live under `/v{version}/libpod/manifests`**, in two trees chosen by
//!   the first digit of the version ([`Tree`]); nothing unversioned is a manifest route.
//! - **Registration order and greedy `.*`**: within a tree the first route whose path and method
//!   match wins. `{name:.*}` is greedy, so v4 `POST …/manifests/foo/add` creates a list named
//!   `foo/add`, `GET …/a/b/exists` asks about `a/b`, and a push path splits at the *last*
//!   `/registry/`. v3's push name is `[^/]+`, so v3 `POST …/a/b/push` matches no POST route;
//!   the v3 DELETE pattern matches its path, so it is 405.
//! - **404 and 405**: a path inside a manifests tree that no route's pattern matches is
//!   [`Route::NotFound`]; a path some pattern matches with another method is
//!   [`Route::MethodNotAllowed`] (plain-text bodies,
//!   `docs/libpod-api.md#path-matching-and-escaping`). The same holds for the ping and version
//!   paths, whose methods are fixed too.
//! - **Paths that are not clean** (`//`, `/./`, `/../`, judged on the escaped path as gorilla
//!   does): gorilla answers every such request with a 301 to the cleaned path. manifold answers
//!   [`Route::Redirect`] when the cleaned path is one of its own routes, and forwards the request
//!   untouched otherwise (the backend podman redirects it itself). Routing on the cleaned path
//!   instead would silently turn an unescaped `docker://host/x` destination into
//!   `docker:/host/x`. gorilla builds its `Location` by re-escaping the already escaped path
//!   (`%2F` becomes `%252F`), a bug manifold does not copy: the location is the cleaned raw path.
//! - **A path prefix before `/v…`** (podman ≥ 5.8's TCP client puts the connection URL's path
//!   there): when a path does not start with a route of its own, the first segment that looks
//!   like a version and is followed by `/libpod/` starts the route, and what comes before is
//!   ignored. podman itself does not strip prefixes; this costs one scan of paths that would
//!   otherwise be forwarded. Unversioned paths (`/_ping`, `/version`, `/libpod/_ping`) are only
//!   recognised without a prefix.
//! - **The raw path is the request's, as sent.** gorilla matches Go's `URL.EscapedPath()`, which
//!   is the same text except for paths holding bytes Go insists on escaping (`{`, `"`, `<`,
//!   non-ASCII …): Go re-escapes those from the decoded path, turning `%2F` back into `/`. No
//!   list name or reference can contain such bytes, so manifold does not imitate that.
//!
//! Everything else is [`Route::Forward`]: it goes to the backend podman service.

use manifold_gocompat::semver::SemVer;
use manifold_gocompat::strconv::quote;
use manifold_gocompat::url::{path_unescape, query_unescape};

/// The two manifest subrouters, chosen by the first digit of the version segment
/// (`docs/libpod-api.md#url-layout-and-version-segment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// Versions starting with 0–3 (also `10.x`, since only the first digit counts).
    V3,
    /// Versions starting with 4–9.
    V4,
}

/// The raw version segment of a path, without its `v` (`4.3.1`, `5.8.0`, `4.2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

impl Version {
    /// The segment as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which manifest tree the version selects.
    pub fn tree(&self) -> Tree {
        match self.0.as_bytes().first() {
            Some(b'0'..=b'3') => Tree::V3,
            _ => Tree::V4,
        }
    }

    /// True when the version, read with blang/semver's `ParseTolerant`, is ≥ 4.0.0: create
    /// answers 201 then, else 200. A version that does not parse counts as older (podman keeps
    /// 200 when parsing fails), and a pre-release of 4.0.0 is older too.
    pub fn is_at_least_4(&self) -> bool {
        SemVer::parse_tolerant(&self.0).is_some_and(|v| v.is_at_least(4))
    }
}

/// How create's list name is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateName {
    /// v4+: the path variable, decoded with `QueryUnescape`.
    Path(String),
    /// v3 `/create`: the name is the `name` query parameter.
    Query,
    /// v4+: the path variable does not unescape. Answer 400 with [`CreateName::error_message`],
    /// after the query parameters were decoded (podman checks them first:
    /// `docs/libpod-api.md#manifest-create`, steps 1–2).
    Invalid {
        /// The raw path variable.
        raw: String,
        /// Go's error, e.g. `invalid URL escape "%zz"`.
        error: String,
    },
}

impl CreateName {
    /// podman's 400 message for an invalid name: `failed to parse name parameter "<raw>": <err>`.
    pub fn error_message(&self) -> Option<String> {
        match self {
            CreateName::Invalid { raw, error } => Some(format!(
                "failed to parse name parameter {}: {error}",
                quote(raw)
            )),
            _ => None,
        }
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET`/`HEAD` `/_ping`, `/libpod/_ping`, `/v{ver}/_ping`, `/v{ver}/libpod/_ping`.
    Ping,
    /// `GET` `/version`, `/v{ver}/version`, `/v{ver}/libpod/version`.
    Version,
    /// v4+ `POST /{name}`, v3 `POST /create` (`docs/libpod-api.md#manifest-create`).
    ManifestCreate {
        /// The version segment.
        version: Version,
        /// Where the name comes from.
        name: CreateName,
    },
    /// `GET /{name}/exists` (`docs/libpod-api.md#manifest-exists`).
    ManifestExists {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// `GET /{name}/json` (`docs/libpod-api.md#manifest-inspect`).
    ManifestInspect {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// v4+ `PUT /{name}` (`docs/libpod-api.md#manifest-modify`).
    ManifestModify {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// v3 `POST /{name}/add` (`docs/libpod-api.md#v3-add`).
    ManifestAddV3 {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// v3 `DELETE /{name}` with `?digest=` (`docs/libpod-api.md#v3-remove-digest`).
    ManifestRemoveDigestV3 {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// v4+ `DELETE /{name}` (`docs/libpod-api.md#manifest-delete`).
    ManifestDelete {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// v4+ `POST /{name}/registry/{destination}` (`docs/libpod-api.md#manifest-push`).
    ManifestPush {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
        /// The unescaped destination.
        destination: String,
    },
    /// v3 `POST /{name}/push?destination=…` (`docs/libpod-api.md#v3-push`).
    ManifestPushV3 {
        /// The version segment.
        version: Version,
        /// The unescaped list name.
        name: String,
    },
    /// `DELETE /v{ver}/libpod/images/remove` (`docs/libpod-api.md#images-remove`); the handler
    /// decides from the query whether manifold answers it or the backend does.
    ImagesRemove {
        /// The version segment.
        version: Version,
    },
    /// A path that is not clean: 301 to `location`, with `?` and the raw query appended when
    /// the request had one.
    Redirect {
        /// The cleaned path (raw, still escaped).
        location: String,
    },
    /// Inside a manifests tree, no route's path matched: plain-text 404.
    NotFound,
    /// A route's path matched, its method did not: plain-text 405.
    MethodNotAllowed,
    /// Not manifold's: forward to the backend podman.
    Forward,
}

impl Route {
    /// A short name of the route, for logs (`manifest_push`, `forward`, …): its kind without
    /// the names and references the request carries.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Ping => "ping",
            Route::Version => "version",
            Route::ManifestCreate { .. } => "manifest_create",
            Route::ManifestExists { .. } => "manifest_exists",
            Route::ManifestInspect { .. } => "manifest_inspect",
            Route::ManifestModify { .. } => "manifest_modify",
            Route::ManifestAddV3 { .. } => "manifest_add_v3",
            Route::ManifestRemoveDigestV3 { .. } => "manifest_remove_v3",
            Route::ManifestDelete { .. } => "manifest_delete",
            Route::ManifestPush { .. } => "manifest_push",
            Route::ManifestPushV3 { .. } => "manifest_push_v3",
            Route::ImagesRemove { .. } => "images_remove",
            Route::Redirect { .. } => "redirect",
            Route::NotFound => "not_found",
            Route::MethodNotAllowed => "method_not_allowed",
            Route::Forward => "forward",
        }
    }
}

/// Routes a request by its method and raw (still percent-encoded) path.
pub fn route(method: &str, raw_path: &str) -> Route {
    let cleaned = clean_path(raw_path);
    if cleaned != raw_path {
        return match route_clean(method, &cleaned) {
            Route::Forward => Route::Forward,
            _ => Route::Redirect { location: cleaned },
        };
    }
    route_clean(method, raw_path)
}

fn route_clean(method: &str, path: &str) -> Route {
    match path {
        "/_ping" | "/libpod/_ping" => return ping(method),
        "/version" => return version_route(method),
        _ => {}
    }
    if let Some((ver, rest)) = split_version(path) {
        let r = versioned(method, ver, rest);
        if r != Route::Forward {
            return r;
        }
    }
    match strip_prefix(path) {
        Some((ver, rest)) => versioned(method, ver, rest),
        None => Route::Forward,
    }
}

fn ping(method: &str) -> Route {
    match method {
        "GET" | "HEAD" => Route::Ping,
        _ => Route::MethodNotAllowed,
    }
}

fn version_route(method: &str) -> Route {
    match method {
        "GET" => Route::Version,
        _ => Route::MethodNotAllowed,
    }
}

/// True for a version segment: `[0-9][0-9A-Za-z.-]*`.
fn is_version(seg: &str) -> bool {
    let mut bytes = seg.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `/v{version}{rest}` → (version, rest).
fn split_version(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/v")?;
    let end = after.find('/').unwrap_or(after.len());
    let (ver, rest) = after.split_at(end);
    is_version(ver).then_some((ver, rest))
}

/// A path prefix before `/v{version}/libpod/`: the first such segment starts the route.
fn strip_prefix(path: &str) -> Option<(&str, &str)> {
    let mut from = 1;
    while let Some(pos) = path.get(from..)?.find("/v") {
        let start = from + pos;
        if let Some((ver, rest)) = path.get(start..).and_then(split_version) {
            if rest.starts_with("/libpod/") {
                return Some((ver, rest));
            }
        }
        from = start + 1;
    }
    None
}

fn versioned(method: &str, ver: &str, rest: &str) -> Route {
    let version = Version(ver.to_string());
    match rest {
        "/_ping" | "/libpod/_ping" => return ping(method),
        "/version" | "/libpod/version" => return version_route(method),
        "/libpod/images/remove" => {
            return match method {
                "DELETE" => Route::ImagesRemove { version },
                // Other methods on this path are podman's other image routes.
                _ => Route::Forward,
            };
        }
        _ => {}
    }
    match rest.strip_prefix("/libpod/manifests") {
        // gorilla's subrouter prefix has no trailing `/`, so `/libpod/manifestsX` is inside it.
        Some(tail) => manifests(method, version, tail),
        None => Route::Forward,
    }
}

/// Go's `url.PathUnescape`, falling back to the raw text like podman's `utils.GetVar`.
fn var(raw: &str) -> String {
    path_unescape(raw).unwrap_or_else(|_| raw.to_string())
}

/// `/{name:.*}{suffix}` → name, when `tail` matches.
fn name_before<'a>(tail: &'a str, suffix: &str) -> Option<&'a str> {
    let inner = tail.strip_prefix('/')?;
    inner.strip_suffix(suffix)
}

/// `/{name:.*}/registry/{destination:.*}` → (name, destination), split at the last
/// `/registry/` that leaves the leading `/` to the template.
fn push_parts(tail: &str) -> Option<(&str, &str)> {
    let inner = tail.strip_prefix('/')?;
    let at = inner.rfind("/registry/")?;
    Some((inner.get(..at)?, inner.get(at + "/registry/".len()..)?))
}

fn manifests(method: &str, version: Version, tail: &str) -> Route {
    // Every route pattern starts with `/`; `/{name:.*}` matches any such tail, so from here on
    // an unmatched method is 405, never 404.
    let Some(all) = tail.strip_prefix('/') else {
        return Route::NotFound;
    };
    match (version.tree(), method) {
        (Tree::V4, "POST") => match push_parts(tail) {
            Some((name, destination)) => Route::ManifestPush {
                version,
                name: var(name),
                destination: var(destination),
            },
            None => Route::ManifestCreate {
                version,
                name: match query_unescape(all) {
                    Ok(n) => CreateName::Path(n),
                    Err(error) => CreateName::Invalid {
                        raw: all.to_string(),
                        error,
                    },
                },
            },
        },
        (Tree::V3, "POST") => {
            if let Some(name) =
                name_before(tail, "/push").filter(|n| !n.is_empty() && !n.contains('/'))
            {
                Route::ManifestPushV3 {
                    version,
                    name: var(name),
                }
            } else if tail == "/create" {
                Route::ManifestCreate {
                    version,
                    name: CreateName::Query,
                }
            } else if let Some(name) = name_before(tail, "/add") {
                Route::ManifestAddV3 {
                    version,
                    name: var(name),
                }
            } else {
                Route::MethodNotAllowed
            }
        }
        (_, "GET") => {
            if let Some(name) = name_before(tail, "/exists") {
                Route::ManifestExists {
                    version,
                    name: var(name),
                }
            } else if let Some(name) = name_before(tail, "/json") {
                Route::ManifestInspect {
                    version,
                    name: var(name),
                }
            } else {
                Route::MethodNotAllowed
            }
        }
        (Tree::V4, "PUT") => Route::ManifestModify {
            version,
            name: var(all),
        },
        (Tree::V4, "DELETE") => Route::ManifestDelete {
            version,
            name: var(all),
        },
        (Tree::V3, "DELETE") => Route::ManifestRemoveDigestV3 {
            version,
            name: var(all),
        },
        _ => Route::MethodNotAllowed,
    }
}

/// gorilla/mux's `cleanPath`: Go's `path.Clean` of the (escaped) path, keeping a trailing `/`.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(seg),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version(s.to_string())
    }

    fn create(ver: &str, name: &str) -> Route {
        Route::ManifestCreate {
            version: v(ver),
            name: CreateName::Path(name.to_string()),
        }
    }

    const V3: &str = "3.4.0";
    const V4: &str = "5.8.2";

    /// Every row of the route table (`docs/libpod-api.md#route-table`), on both trees.
    #[test]
    fn route_table_both_trees() {
        let m = |ver: &str| format!("/v{ver}/libpod/manifests");
        // Row 1: v3 push; under v4 it is a create of `abc/push` (row 3).
        assert_eq!(
            route("POST", &format!("{}/abc/push", m(V3))),
            Route::ManifestPushV3 {
                version: v(V3),
                name: "abc".into()
            }
        );
        assert_eq!(
            route("POST", &format!("{}/abc/push", m(V4))),
            create(V4, "abc/push")
        );
        // Row 2: v4 push; under v3 nothing POSTs there, the DELETE pattern matches: 405.
        assert_eq!(
            route(
                "POST",
                &format!("{}/abc/registry/localhost:5000%2Fabc", m(V4))
            ),
            Route::ManifestPush {
                version: v(V4),
                name: "abc".into(),
                destination: "localhost:5000/abc".into()
            }
        );
        assert_eq!(
            route("POST", &format!("{}/abc/registry/x", m(V3))),
            Route::MethodNotAllowed
        );
        // Row 3: create.
        assert_eq!(
            route("POST", &format!("{}/create", m(V3))),
            Route::ManifestCreate {
                version: v(V3),
                name: CreateName::Query
            }
        );
        assert_eq!(
            route("POST", &format!("{}/create", m(V4))),
            create(V4, "create")
        );
        assert_eq!(route("POST", &format!("{}/xyz", m(V4))), create(V4, "xyz"));
        assert_eq!(
            route("POST", &format!("{}/xyz", m(V3))),
            Route::MethodNotAllowed
        );
        // Rows 4 and 5: exists and inspect, in both trees.
        for ver in [V3, V4] {
            assert_eq!(
                route("GET", &format!("{}/abc/exists", m(ver))),
                Route::ManifestExists {
                    version: v(ver),
                    name: "abc".into()
                }
            );
            assert_eq!(
                route("GET", &format!("{}/abc/json", m(ver))),
                Route::ManifestInspect {
                    version: v(ver),
                    name: "abc".into()
                }
            );
        }
        // Row 6: modify, v4 only.
        assert_eq!(
            route("PUT", &format!("{}/xyz", m(V4))),
            Route::ManifestModify {
                version: v(V4),
                name: "xyz".into()
            }
        );
        assert_eq!(
            route("PUT", &format!("{}/xyz", m(V3))),
            Route::MethodNotAllowed
        );
        // Row 7: v3 add; under v4 a create of `abc/add`.
        assert_eq!(
            route("POST", &format!("{}/abc/add", m(V3))),
            Route::ManifestAddV3 {
                version: v(V3),
                name: "abc".into()
            }
        );
        assert_eq!(
            route("POST", &format!("{}/abc/add", m(V4))),
            create(V4, "abc/add")
        );
        // Rows 8 and 9: DELETE removes a digest under v3, the whole list under v4.
        assert_eq!(
            route("DELETE", &format!("{}/abc", m(V3))),
            Route::ManifestRemoveDigestV3 {
                version: v(V3),
                name: "abc".into()
            }
        );
        assert_eq!(
            route("DELETE", &format!("{}/abc", m(V4))),
            Route::ManifestDelete {
                version: v(V4),
                name: "abc".into()
            }
        );
        // The images/remove route.
        assert_eq!(
            route("DELETE", "/v5.4.0/libpod/images/remove"),
            Route::ImagesRemove {
                version: v("5.4.0")
            }
        );
        assert_eq!(
            route("DELETE", "/v3.0.0/libpod/images/remove"),
            Route::ImagesRemove {
                version: v("3.0.0")
            }
        );
        assert_eq!(route("GET", "/v5.4.0/libpod/images/remove"), Route::Forward);
        assert_eq!(route("DELETE", "/libpod/images/remove"), Route::Forward);
    }

    /// Request lines real clients sent: the podman 4.3.1, 5.4.0 and 5.6.2 CLIs and podman-py 5.8.0
    /// (`docs/libpod-api.md#what-clients-send`).
    #[test]
    fn observed_request_lines() {
        let ins = |ver: &str, name: &str| Route::ManifestInspect {
            version: v(ver),
            name: name.into(),
        };
        let ex = |ver: &str, name: &str| Route::ManifestExists {
            version: v(ver),
            name: name.into(),
        };
        let modify = |ver: &str, name: &str| Route::ManifestModify {
            version: v(ver),
            name: name.into(),
        };
        let push = |ver: &str, name: &str, dest: &str| Route::ManifestPush {
            version: v(ver),
            name: name.into(),
            destination: dest.into(),
        };
        for (method, path, want) in [
            ("GET", "/v4.3.1/libpod/_ping", Route::Ping),
            ("GET", "/v5.6.2/libpod/version", Route::Version),
            ("GET", "/v4.3.1/libpod/manifests/localhost%2Fml:v1/json", ins("4.3.1", "localhost/ml:v1")),
            ("GET", "/v4.3.1/libpod/manifests/127.0.0.1:5001%2Fbase:latest/json", ins("4.3.1", "127.0.0.1:5001/base:latest")),
            ("GET", "/v5.4.0/libpod/manifests/localhost%2Fml5b:v1/exists", ex("5.4.0", "localhost/ml5b:v1")),
            ("GET", "/v5.8.0/libpod/manifests/localhost%2Fpylist%3Av1/exists", ex("5.8.0", "localhost/pylist:v1")),
            (
                "GET",
                "/v5.8.0/libpod/manifests/421e0582e1fda9740a1f30079cd0224cae50efba6b9ae55eca2a6b881345277f/json",
                ins("5.8.0", "421e0582e1fda9740a1f30079cd0224cae50efba6b9ae55eca2a6b881345277f"),
            ),
            ("GET", "/v5.8.0/libpod/images/localhost%2Fimg%3Aarm64/json", Route::Forward),
            ("POST", "/v4.3.1/libpod/manifests/localhost%2Fml:v1", create("4.3.1", "localhost/ml:v1")),
            ("POST", "/v5.8.0/libpod/manifests/localhost%2Fpylist%3Av1", create("5.8.0", "localhost/pylist:v1")),
            ("POST", "/v5.6.2/libpod/manifests/tl5b", create("5.6.2", "tl5b")),
            (
                "POST",
                "/v4.3.1/libpod/manifests/tla/registry/docker:%2F%2F127.0.0.1:5002%2Ftrace-out:bad",
                push("4.3.1", "tla", "docker://127.0.0.1:5002/trace-out:bad"),
            ),
            (
                "POST",
                "/v5.4.0/libpod/manifests/localhost%2Fml5b:v1/registry/localhost%2Fml5b:v1",
                push("5.4.0", "localhost/ml5b:v1", "localhost/ml5b:v1"),
            ),
            (
                "POST",
                "/v5.8.0/libpod/manifests/localhost%2Fpylist%3Av1/registry/localhost%3A5000%2Fpylist%3Av1",
                push("5.8.0", "localhost/pylist:v1", "localhost:5000/pylist:v1"),
            ),
            ("PUT", "/v4.3.1/libpod/manifests/localhost%2Fnolist", modify("4.3.1", "localhost/nolist")),
            ("PUT", "/v5.8.0/libpod/manifests/localhost%2Fpylist%3Av1", modify("5.8.0", "localhost/pylist:v1")),
            ("DELETE", "/v4.3.1/libpod/images/remove", Route::ImagesRemove { version: v("4.3.1") }),
            ("DELETE", "/v5.6.2/libpod/images/remove", Route::ImagesRemove { version: v("5.6.2") }),
            // podman's API tests: 15-manifest.at and the python apiv2 test
            // (docs/libpod-api.md#curl-and-the-podman-api-tests).
            ("POST", "/v2.0.0/libpod/manifests/create", Route::ManifestCreate { version: v("2.0.0"), name: CreateName::Query }),
            ("POST", "/v4.0.0/libpod/manifests/xyz%3Alatest/registry/localhost%3A5000%2Fxyz%3Alatest", push("4.0.0", "xyz:latest", "localhost:5000/xyz:latest")),
            ("DELETE", "/v4.0.0/libpod/manifests/abc", Route::ManifestDelete { version: v("4.0.0"), name: "abc".into() }),
            // Registry traffic, as a registry sees it, is nobody's libpod call.
            ("HEAD", "/v2/app/blobs/sha256:07b5", Route::Forward),
            ("GET", "/v2/", Route::Forward),
        ] {
            assert_eq!(route(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn trees_by_first_digit() {
        for (ver, tree) in [
            ("0.1", Tree::V3),
            ("1.40", Tree::V3),
            ("2.0.0", Tree::V3),
            ("3.4.0", Tree::V3),
            ("10.0.0", Tree::V3),
            ("4", Tree::V4),
            ("4.2", Tree::V4),
            ("4.3.1", Tree::V4),
            ("5.8.2", Tree::V4),
            ("9.0-rc1", Tree::V4),
        ] {
            assert_eq!(v(ver).tree(), tree, "{ver}");
        }
        // A segment outside [0-9][0-9A-Za-z.-]* is not a version: forwarded.
        assert_eq!(
            route("GET", "/v5_0/libpod/manifests/x/json"),
            Route::Forward
        );
        assert_eq!(route("GET", "/vx/libpod/manifests/x/json"), Route::Forward);
        assert_eq!(route("GET", "/v/libpod/manifests/x/json"), Route::Forward);
        assert_eq!(
            route("GET", "/v5%2E0/libpod/manifests/x/json"),
            Route::Forward
        );
    }

    #[test]
    fn escaped_and_greedy_names() {
        // Forms real clients send (docs/libpod-api.md#path-matching-and-escaping and
        // docs/libpod-api.md#what-clients-send).
        assert_eq!(
            route("PUT", "/v5.4.0/libpod/manifests/localhost%2Fml:v1"),
            Route::ManifestModify {
                version: v("5.4.0"),
                name: "localhost/ml:v1".into()
            }
        );
        assert_eq!(
            route("POST", "/v5.4.0/libpod/manifests/localhost%2Fml:v1/registry/docker:%2F%2Flocalhost:5000%2Fml:v2"),
            Route::ManifestPush {
                version: v("5.4.0"),
                name: "localhost/ml:v1".into(),
                destination: "docker://localhost:5000/ml:v2".into()
            }
        );
        // podman-py's quote_plus.
        assert_eq!(
            route(
                "GET",
                "/v5.8.0/libpod/manifests/quay.io%2Ffoo%2Fbar%3Alatest/json"
            ),
            Route::ManifestInspect {
                version: v("5.8.0"),
                name: "quay.io/foo/bar:latest".into()
            }
        );
        // podman-py's unescaped remove, podman-api-rs's unescaped names.
        assert_eq!(
            route("DELETE", "/v5.8.0/libpod/manifests/quay.io/foo/bar:latest"),
            Route::ManifestDelete {
                version: v("5.8.0"),
                name: "quay.io/foo/bar:latest".into()
            }
        );
        assert_eq!(
            route("GET", "/v4.2/libpod/manifests/a/b/exists"),
            Route::ManifestExists {
                version: v("4.2"),
                name: "a/b".into()
            }
        );
        assert_eq!(
            route("GET", "/v4.2/libpod/manifests/a/json/exists"),
            Route::ManifestExists {
                version: v("4.2"),
                name: "a/json".into()
            }
        );
        // The split is at the last `/registry/`.
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/a/registry/b/registry/c/d"),
            Route::ManifestPush {
                version: v("5.0.0"),
                name: "a/registry/b".into(),
                destination: "c/d".into()
            }
        );
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/a/b/registry/c/d"),
            Route::ManifestPush {
                version: v("5.0.0"),
                name: "a/b".into(),
                destination: "c/d".into()
            }
        );
        // `/registry/` right after `manifests/` leaves no room for the name's slash: a create.
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/registry/x"),
            create("5.0.0", "registry/x")
        );
        // The v3 push name is [^/]+ on the *encoded* path.
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/a/b/push"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/a%2Fb/push"),
            Route::ManifestPushV3 {
                version: v("3.4.0"),
                name: "a/b".into()
            }
        );
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/abc%3Alatest/push"),
            Route::ManifestPushV3 {
                version: v("3.4.0"),
                name: "abc:latest".into()
            }
        );
        // v3 add with a greedy name; `/create/push` is a push of `create` (row 1 first).
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/a/b/add"),
            Route::ManifestAddV3 {
                version: v("3.4.0"),
                name: "a/b".into()
            }
        );
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/create/push"),
            Route::ManifestPushV3 {
                version: v("3.4.0"),
                name: "create".into()
            }
        );
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests/create/add"),
            Route::ManifestAddV3 {
                version: v("3.4.0"),
                name: "create".into()
            }
        );
        assert_eq!(
            route("POST", "/v3.4.0/libpod/manifests//push"),
            Route::Redirect {
                location: "/v3.4.0/libpod/manifests/push".into()
            }
        );
        // A trailing slash is part of the name (the path is clean).
        assert_eq!(
            route("PUT", "/v5.0.0/libpod/manifests/x/"),
            Route::ManifestModify {
                version: v("5.0.0"),
                name: "x/".into()
            }
        );
    }

    #[test]
    fn create_name_decoding() {
        // Create uses QueryUnescape: `+` is a space; other routes keep it.
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/a+b"),
            create("5.0.0", "a b")
        );
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/a%2Bb"),
            create("5.0.0", "a+b")
        );
        assert_eq!(
            route("PUT", "/v5.0.0/libpod/manifests/a+b"),
            Route::ManifestModify {
                version: v("5.0.0"),
                name: "a+b".into()
            }
        );
        let r = route("POST", "/v5.0.0/libpod/manifests/bad%zz");
        let Route::ManifestCreate { name, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            name,
            CreateName::Invalid {
                raw: "bad%zz".into(),
                error: "invalid URL escape \"%zz\"".into()
            }
        );
        assert_eq!(
            name.error_message().as_deref(),
            Some(r#"failed to parse name parameter "bad%zz": invalid URL escape "%zz""#)
        );
        assert_eq!(CreateName::Query.error_message(), None);
        // Other routes fall back to the raw text.
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/bad%zz/json"),
            Route::ManifestInspect {
                version: v("5.0.0"),
                name: "bad%zz".into()
            }
        );
        // An empty name still routes (the handler rejects it).
        assert_eq!(
            route("POST", "/v5.0.0/libpod/manifests/"),
            create("5.0.0", "")
        );
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        // No pattern matches: 404.
        assert_eq!(route("GET", "/v5.0.0/libpod/manifests"), Route::NotFound);
        assert_eq!(route("POST", "/v5.0.0/libpod/manifests"), Route::NotFound);
        assert_eq!(route("POST", "/v3.4.0/libpod/manifests"), Route::NotFound);
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifestsX/a/json"),
            Route::NotFound
        );
        // A pattern matches, the method does not: 405 (observed for GET …/xyz).
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/xyz"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/json"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/exists"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("HEAD", "/v5.0.0/libpod/manifests/x/json"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("PATCH", "/v5.0.0/libpod/manifests/x"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("get", "/v5.0.0/libpod/manifests/x/json"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("GET", "/v3.4.0/libpod/manifests/xyz"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route("PUT", "/v3.4.0/libpod/manifests/a/b"),
            Route::MethodNotAllowed
        );
        assert_eq!(route("POST", "/_ping"), Route::MethodNotAllowed);
        assert_eq!(route("HEAD", "/version"), Route::MethodNotAllowed);
    }

    #[test]
    fn pings_and_versions() {
        for p in [
            "/_ping",
            "/libpod/_ping",
            "/v1.40/_ping",
            "/v5.8.2/libpod/_ping",
            "/v4.3.1/libpod/_ping",
            "/v1.41/libpod/_ping",
        ] {
            assert_eq!(route("GET", p), Route::Ping, "{p}");
            assert_eq!(route("HEAD", p), Route::Ping, "{p}");
        }
        for p in ["/version", "/v1.41/version", "/v4.3.1/libpod/version"] {
            assert_eq!(route("GET", p), Route::Version, "{p}");
        }
        // Not ping or version paths.
        assert_eq!(route("GET", "/_ping/"), Route::Forward);
        assert_eq!(route("GET", "/libpod/version"), Route::Forward);
        assert_eq!(route("GET", "/vx/_ping"), Route::Forward);
    }

    #[test]
    fn everything_else_is_forwarded() {
        for (m, p) in [
            ("GET", "/libpod/manifests/x/json"),
            ("POST", "/libpod/manifests/x"),
            ("GET", "/v5.0.0/libpod/images/json"),
            ("GET", "/v1.41/containers/json"),
            ("POST", "/v5.0.0/libpod/images/pull"),
            ("DELETE", "/v5.0.0/libpod/images/alpine"),
            ("GET", "/v5.0.0/libpod/info"),
            ("GET", "/events"),
            ("GET", "/"),
            ("GET", ""),
            ("GET", "/v5.0.0"),
            ("GET", "/v5.0.0/libpod"),
            ("GET", "/v5.0.0/manifests/x/json"),
            ("GET", "/containers/v1/json"),
        ] {
            assert_eq!(route(m, p), Route::Forward, "{m} {p}");
        }
    }

    #[test]
    fn unclean_paths_redirect_only_when_ours() {
        assert_eq!(
            route(
                "POST",
                "/v5.0.0/libpod/manifests/ml/registry/docker://localhost:5000/x"
            ),
            Route::Redirect {
                location: "/v5.0.0/libpod/manifests/ml/registry/docker:/localhost:5000/x".into()
            }
        );
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/./x/json"),
            Route::Redirect {
                location: "/v5.0.0/libpod/manifests/x/json".into()
            }
        );
        assert_eq!(
            route("GET", "//_ping"),
            Route::Redirect {
                location: "/_ping".into()
            }
        );
        // Cleaned into a forwarded path: forwarded as sent.
        assert_eq!(
            route("GET", "/v5.0.0/libpod/manifests/../containers/json"),
            Route::Forward
        );
        assert_eq!(route("GET", "//containers/json"), Route::Forward);
        // Escaped slashes are not cleaned.
        assert_eq!(
            route(
                "POST",
                "/v5.0.0/libpod/manifests/ml/registry/docker:%2F%2Fh%2Fx"
            ),
            Route::ManifestPush {
                version: v("5.0.0"),
                name: "ml".into(),
                destination: "docker://h/x".into()
            }
        );
    }

    #[test]
    fn clean_path_is_gorillas() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a"),
            ("/a/b/../", "/a/"),
            ("/../a", "/a"),
            ("/a/", "/a/"),
            ("//", "/"),
            ("/a/%2E%2E/b", "/a/%2E%2E/b"),
        ] {
            assert_eq!(clean_path(input), want, "{input:?}");
        }
    }

    #[test]
    fn path_prefixes() {
        assert_eq!(
            route("GET", "/some/prefix/v5.8.2/libpod/manifests/x/json"),
            Route::ManifestInspect {
                version: v("5.8.2"),
                name: "x".into()
            }
        );
        assert_eq!(route("GET", "/podman/v5.8.2/libpod/_ping"), Route::Ping);
        assert_eq!(
            route("GET", "/podman/v5.8.2/libpod/version"),
            Route::Version
        );
        assert_eq!(
            route("DELETE", "/p/v5.8.2/libpod/images/remove"),
            Route::ImagesRemove {
                version: v("5.8.2")
            }
        );
        // A segment that only starts like a version is part of the prefix.
        assert_eq!(
            route("PUT", "/vx/v1/api/v5.8.2/libpod/manifests/x"),
            Route::ManifestModify {
                version: v("5.8.2"),
                name: "x".into()
            }
        );
        // A prefix may itself look like a version.
        assert_eq!(
            route("GET", "/v1/podman/v5.8.2/libpod/manifests/x/exists"),
            Route::ManifestExists {
                version: v("5.8.2"),
                name: "x".into()
            }
        );
        // Unversioned paths and non-libpod paths after a prefix are forwarded.
        assert_eq!(route("GET", "/p/_ping"), Route::Forward);
        assert_eq!(route("GET", "/p/v1.41/containers/json"), Route::Forward);
    }

    #[test]
    fn versions_the_clients_send_against_4() {
        // podman 4.3.1, podman 5.x, podman-api-rs, podman's API tests.
        for (segment, at_least_4) in [
            ("4.3.1", true),
            ("5.8.2", true),
            ("4.2", true),
            ("4.0.0", true),
            ("3.4.0", false),
            ("2.0.0", false),
            ("1.40", false),
        ] {
            assert_eq!(v(segment).is_at_least_4(), at_least_4, "{segment}");
        }
    }
}
