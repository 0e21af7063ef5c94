//! manifold's HTTP front: routes libpod requests, answers the manifest-list API itself and
//! forwards everything else to a backend podman service.
//!
//! [`route`] maps a request line to a [`route::Route`]; [`libpod`] is the wire format (Go-compatible
//! request decoding, response shapes and headers); [`handlers`] answers each manifest route from
//! the composer, each route in the module of its operation, on the plain requests and answers
//! of [`exchange`]; [`server`] is the pingora server that ties them to listeners and the backend;
//! [`identity`] says who a client is from its connection, and [`tls`] builds the rustls settings
//! of `tls://` listeners.

pub mod exchange;
pub mod handlers;
pub mod identity;
pub mod libpod;
pub mod route;
pub mod server;
pub mod tls;
