//! manifold's domain: manifest lists, registries, the list store, and (later) push.
//!
//! Nothing here knows HTTP servers or libpod wire quirks; the proxy crate translates the wire
//! format into calls of [`service::Composer`].

pub mod credentials;
pub mod error;
pub mod oci;
pub mod reference;

pub use error::{Error, ErrorKind, Result};
