//! End-to-end tests of manifold's manifest-list API with real registries and real clients.
//!
//! One test binary, so that cargo runs every test here in parallel; each test starts its own
//! registries and its own manifold.

mod backend;
mod cache;
mod cli;
mod common;
mod credentials_lending;
mod durability;
mod podman_cli;
mod podman_py;
mod policy;
mod push;
mod registry_auth;
mod shared_endpoint;
mod wire;
