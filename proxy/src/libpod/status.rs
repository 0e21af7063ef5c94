//! The one table from a composer [`ErrorKind`] to the HTTP status a manifest route answers it
//! with.
//!
//! podman fixes one status per route for whatever fails there (create 500, inspect 404, modify
//! 400, push 400 …); those are the columns' route statuses. manifold knows more than podman
//! about some failures, and says so where no client depends on podman's single status: a
//! reference with a local transport (`containers-storage:`) is the client's mistake (400) and a
//! registry the configuration refuses is a refusal (403). Each such difference is an explicit
//! override in its column below. A `[[policy]]` refusal ([`ErrorKind::Denied`]) is 403 on every
//! route: podman has no policy, so no route of its fixes another status for it.

use manifold_composer::{Error, ErrorKind};

use super::response::ErrorModel;

/// Where a composer error happened: the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A request parameter the composer checks (create's list name, v3 remove's digest, push's
    /// destination): podman's handlers answer 400 before doing anything.
    Parameter,
    /// Create: the list's creation and the images of its query (podman: 500).
    Create,
    /// Create: the images and index annotations of its body (podman: 500).
    CreateBody,
    /// Exists: 404 when the list is not known, 500 for any other lookup error.
    Exists,
    /// Inspect of a reference that names its registry (podman: 404 for any error).
    Inspect,
    /// Inspect of a short name (`mylist`): podman's 404, whatever a `docker.io` reading of the
    /// name met on the way, so an unknown list is never a 403.
    InspectShortName,
    /// The list a modify, v3 add or v3 remove names is looked up (podman: 404 for any reason).
    Lookup,
    /// Modify (`PUT`): the update, remove or annotate itself (podman: 400).
    Modify,
    /// v3 add and v3 remove by digest (podman: 500).
    V3Change,
    /// Delete (`DELETE …/manifests/{name}`): 404 for a list not known, 500 for anything else.
    Delete,
    /// Push, quiet or the refusal before a stream (podman: 400 for any failure).
    Push,
}

/// The status `failure` answers an error of `kind` with.
pub fn status(failure: Failure, kind: ErrorKind) -> u16 {
    use ErrorKind as K;
    if kind == K::Denied {
        return 403;
    }
    // (the route's status, the kinds this route answers otherwise)
    let (route_status, overrides): (u16, &[(ErrorKind, u16)]) = match failure {
        Failure::Parameter => (400, &[]),
        Failure::Create => (500, &[(K::LocalTransport, 400), (K::Forbidden, 403)]),
        Failure::CreateBody => (500, &[]),
        Failure::Exists => (500, &[(K::NotFound, 404)]),
        Failure::Inspect => (404, &[(K::Forbidden, 403)]),
        Failure::InspectShortName => (404, &[]),
        Failure::Lookup => (404, &[]),
        Failure::Modify => (400, &[(K::NotFound, 404), (K::Forbidden, 403)]),
        Failure::V3Change => (500, &[]),
        Failure::Delete => (500, &[(K::NotFound, 404)]),
        Failure::Push => (400, &[]),
    };
    overrides
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(route_status, |&(_, s)| s)
}

/// The error body of `e` where `failure` says it happened.
pub fn error_model(failure: Failure, e: &Error) -> ErrorModel {
    ErrorModel::of(status(failure, e.kind()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_KIND: [ErrorKind; 14] = [
        ErrorKind::NotFound,
        ErrorKind::NotAList,
        ErrorKind::NameInUse,
        ErrorKind::InvalidInput,
        ErrorKind::InstanceNotFound,
        ErrorKind::LocalTransport,
        ErrorKind::Forbidden,
        ErrorKind::Denied,
        ErrorKind::RegistryUnauthorized,
        ErrorKind::RegistryNotFound,
        ErrorKind::Registry,
        ErrorKind::RegistryRefused,
        ErrorKind::BadContent,
        ErrorKind::Storage,
    ];

    const EVERY_FAILURE: [Failure; 11] = [
        Failure::Parameter,
        Failure::Create,
        Failure::CreateBody,
        Failure::Exists,
        Failure::Inspect,
        Failure::InspectShortName,
        Failure::Lookup,
        Failure::Modify,
        Failure::V3Change,
        Failure::Delete,
        Failure::Push,
    ];

    /// The statuses of `failure` for every kind, in [`EVERY_KIND`]'s order.
    fn column(failure: Failure) -> Vec<u16> {
        EVERY_KIND.iter().map(|&k| status(failure, k)).collect()
    }

    #[test]
    fn a_policy_refusal_is_403_on_every_route() {
        for failure in EVERY_FAILURE {
            assert_eq!(status(failure, ErrorKind::Denied), 403, "{failure:?}");
        }
    }

    #[test]
    fn routes_keep_podmans_status_except_where_the_table_says() {
        // NotFound NotAList NameInUse InvalidInput InstanceNotFound LocalTransport Forbidden
        // Denied RegistryUnauthorized RegistryNotFound Registry RegistryRefused BadContent Storage
        let all = |s: u16| {
            let mut v = vec![s; 14];
            v[7] = 403;
            v
        };
        let with = |base: Vec<u16>, changes: &[(usize, u16)]| {
            let mut v = base;
            for &(i, s) in changes {
                v[i] = s;
            }
            v
        };
        assert_eq!(column(Failure::Parameter), all(400));
        assert_eq!(
            column(Failure::Create),
            with(all(500), &[(5, 400), (6, 403)])
        );
        assert_eq!(column(Failure::CreateBody), all(500));
        assert_eq!(column(Failure::Exists), with(all(500), &[(0, 404)]));
        assert_eq!(column(Failure::Inspect), with(all(404), &[(6, 403)]));
        assert_eq!(column(Failure::InspectShortName), all(404));
        assert_eq!(column(Failure::Lookup), all(404));
        assert_eq!(
            column(Failure::Modify),
            with(all(400), &[(0, 404), (6, 403)])
        );
        assert_eq!(column(Failure::V3Change), all(500));
        assert_eq!(column(Failure::Delete), with(all(500), &[(0, 404)]));
        assert_eq!(column(Failure::Push), all(400));
    }

    #[test]
    fn the_body_carries_the_status_message_and_cause() {
        let e = Error::new(ErrorKind::NotFound, "image not known").context("nolist");
        assert_eq!(
            error_model(Failure::Lookup, &e),
            ErrorModel::new(404, "nolist: image not known", "image not known")
        );
    }
}
