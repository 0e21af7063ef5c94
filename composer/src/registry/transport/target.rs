//! Who a request goes to: [`Target`] (the registry, its TLS mode, the route's credential and the
//! token scopes the request needs) and [`Dest`] (a path on the registry's API, or a URL it
//! handed out). Every layer of the stack reads them; none changes them.

use reqwest::Url;

use super::super::route::Route;
use crate::credentials::Auth;

/// Who a request goes to, with what credential, needing which token scopes.
pub(crate) struct Target<'a> {
    /// The registry as named in the reference (`docker.io`, `127.0.0.1:5001`).
    pub registry: &'a str,
    /// Unverified TLS, then plain HTTP, are allowed.
    pub insecure: bool,
    /// The credential for this registry, if the request has one.
    pub auth: Option<&'a Auth>,
    /// Token scopes: `repository:NAME:pull` (and later `...:pull,push`).
    pub scopes: Vec<String>,
}

impl<'a> Target<'a> {
    /// A read of the route's repository: scope `pull` on it.
    pub(crate) fn pull(route: &'a Route) -> Self {
        Self::at(route, vec![pull_scope(&route.image().repository)])
    }

    /// A write to the route's repository: scope `pull,push` on it (uploads need pull as well).
    pub(crate) fn push(route: &'a Route) -> Self {
        Self::at(route, vec![push_scope(&route.image().repository)])
    }

    /// A cross-repository mount into the route's repository from `from` on the same registry:
    /// one token for both, because the registry checks pull on `from` and push on the
    /// destination in the same request.
    pub(crate) fn mount(route: &'a Route, from: &str) -> Self {
        Self::at(
            route,
            vec![pull_scope(from), push_scope(&route.image().repository)],
        )
    }

    fn at(route: &'a Route, scopes: Vec<String>) -> Self {
        Target {
            registry: &route.image().registry,
            insecure: route.insecure(),
            auth: route.auth(),
            scopes,
        }
    }
}

/// `repository:NAME:pull`, the scope every read needs.
fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// `repository:NAME:pull,push`, the scope of every write.
fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// Where a request goes.
#[derive(Clone, Copy)]
pub(crate) enum Dest<'a> {
    /// A path (and query) on the registry's API, starting `/v2/`.
    Path(&'a str),
    /// An absolute URL the registry handed out, such as an upload `Location`; it may point to
    /// another host (blob storage), which then gets no credentials.
    Url(&'a Url),
}
