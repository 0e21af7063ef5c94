//! Sending requests to a registry, in layers with one concern each, stacked the way
//! go-containerregistry's `remote/transport` stacks its round-trippers:
//!
//! - [`log`], at the bottom: the HTTP clients (verified and unverified TLS, with the settings of
//!   the registry's `tls` module) and a debug line for every request sent.
//! - [`scheme`]: where a registry's API is. The first request to a registry pings it to learn
//!   the scheme that works (HTTPS; for insecure registries unverified HTTPS, then HTTP) and its
//!   `WWW-Authenticate` challenges; a connection failure makes it be pinged again.
//! - [`auth`]: credentials on every request to the registry's own origin (a bearer token from
//!   [`token`]'s cache, or Basic), and the one new try after a 401 that teaches something (a
//!   refused cached token, a resource that needs authentication the ping did not ask for).
//! - [`retry`], on top: the one retry loop. Transient failures (connection errors, `408`, `429`,
//!   `5xx`) are retried with backoff, at most `push.retries` times, honouring `Retry-After`.
//!
//! The modules `target` (who a request goes to: [`Target`], [`Dest`]) and `stack` (the layers
//! assembled: [`Transport`]) tie them together; this module only declares and re-exports.
//!
//! [`Transport::send`] runs a request with a replayable body through all of them. A step made
//! of several requests (a blob copy: upload session, source GET, streamed PUT) takes single
//! authenticated attempts from the layers below the retries ([`Transport::authenticated`]) and
//! is retried as a whole by the same loop ([`Transport::retry`]).
//!
//! Credentials only ever travel in the `Authorization` header of the one request that needs
//! them; nothing here stores them. reqwest drops that header on redirects to another host, port
//! or scheme (blob downloads are often redirected to storage), and that is relied on; absolute
//! URLs the registry hands out (upload `Location`s) get credentials only on the registry's own
//! origin.

mod auth;
mod log;
pub(crate) mod retry;
mod scheme;
mod stack;
mod target;
mod token;

pub(crate) use stack::Transport;
pub(crate) use target::{Dest, Target};
