//! One request and its answer as the handlers see them, with nothing of pingora in them: the
//! server copies a [`Request`] out of its session, a handler returns an [`Answer`] (a complete
//! [`Reply`], or a body that is streamed as it is produced), and the server writes it.

use bytes::Bytes;
use manifold_config::policy::Identity;
use tokio::sync::mpsc;

use crate::libpod::query::request_url;
use crate::libpod::response::{self, ErrorModel};

/// A request as the handlers see it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// The raw (still escaped) path.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
    /// Who sent it, as its connection establishes (see [`crate::identity`]).
    pub identity: Identity,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The URL as podman quotes it in messages.
    pub fn url(&self) -> String {
        request_url(&self.path, &self.query)
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers besides Content-Length and the standard ones every libpod answer carries, which
    /// the server adds.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A JSON body (already encoded) with `status`.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), response::CONTENT_TYPE_JSON.into())],
            body: Bytes::from(body),
        }
    }

    /// A plain-text body with `status`.
    pub fn text(status: u16, text: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), response::CONTENT_TYPE_TEXT.into())],
            body: Bytes::from(text.to_string()),
        }
    }

    /// 204 and no body.
    pub fn no_content() -> Self {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

/// The libpod error body (`docs/libpod-api.md#error-body`), sent with the status it names.
impl From<ErrorModel> for Reply {
    fn from(e: ErrorModel) -> Self {
        Reply::json(e.response, e.body())
    }
}

/// An answer: complete, or a body that arrives chunk by chunk.
#[derive(Debug)]
pub enum Answer {
    /// A complete response.
    Full(Reply),
    /// A 200 whose body is streamed in chunks as they arrive.
    Stream {
        /// Headers besides the standard ones, which the server puts first.
        headers: Vec<(String, String)>,
        /// The body's chunks; the stream ends when the sender is dropped.
        body: mpsc::Receiver<Bytes>,
    },
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Full(reply)
    }
}

impl From<ErrorModel> for Answer {
    fn from(e: ErrorModel) -> Self {
        Answer::Full(e.into())
    }
}
