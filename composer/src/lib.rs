//! manifold's domain: manifest lists, registries, the list store, and (later) push.
//!
//! Nothing here knows HTTP servers or libpod wire quirks; the proxy crate translates the wire
//! format into calls of [`service::Composer`].

pub mod cache;
pub mod catalog;
pub mod credentials;
pub mod error;
pub mod list;
pub mod oci;
mod parallel;
pub mod push;
pub mod reference;
pub mod registry;
pub mod service;
pub mod store;

pub use error::{Error, ErrorKind, Result};
