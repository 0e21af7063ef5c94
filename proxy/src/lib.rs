//! manifold's HTTP front: routes libpod requests, answers the manifest-list API itself and
//! forwards everything else to a backend podman service.
//!
//! A request flows one way through the crate:
//!
//! 1. [`server`] runs pingora with the listeners, and shutdown that waits for the requests in
//!    flight; its [`front::Front`] is pingora's `ProxyHttp`, whose phases each do one job
//!    (context, routing, forwarding, failure answers, the access log).
//! 2. [`identity`] says who the client is from its connection (unix peer credentials, the
//!    owner of a loopback TCP client's socket, a verified client certificate); [`route`] maps
//!    the method and raw path to a [`route::Route`]; the configuration's policy turns the
//!    identity into a grant.
//! 3. A request manifold answers is copied into an [`exchange::Request`]; [`handlers::App`]
//!    dispatches it to the module of its operation (create, inspect, modify, remove,
//!    images_remove, push), which calls the composer (`manifold-composer`) and returns an
//!    [`exchange::Answer`]: a complete [`exchange::Reply`], or push's progress stream, rendered
//!    from the composer's typed push events as they come.
//! 4. [`libpod`] is the wire format those handlers speak: requests decoded with podman's rules
//!    (the Go behaviour underneath comes from `manifold-gocompat`), the parameters several routes
//!    share, the response shapes and headers, the one table from a composer error kind to each
//!    route's status, and the rendering of push events as podman's progress stream.
//!
//! Everything else is forwarded to the backend untouched, and logged and drained at shutdown
//! like a local request. [`tls`] builds the rustls settings of `tls://` listeners. The wire
//! format is described in `docs/libpod-api.md`.

pub mod exchange;
pub mod front;
pub mod handlers;
pub mod identity;
pub mod libpod;
pub mod route;
pub mod server;
pub mod tls;
