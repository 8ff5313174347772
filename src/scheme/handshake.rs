//! Handshakes: requests a sender makes to check an endpoint, answered at
//! once and never kept as events.

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

/// The synchronous answer to a verified handshake, such as Slack's
/// `url_verification` (its `challenge` echoed) or Discord's PING.
///
/// A [`Scheme`](super::Scheme) recognises its handshakes in
/// [`Scheme::handshake`](super::Scheme::handshake);
/// [`VerifyLayer`](crate::verify::VerifyLayer) answers them right after
/// the signature check, before any later layer, so they are never
/// deduplicated, kept or dispatched.
///
/// ```
/// use hookwarden::scheme::Handshake;
///
/// let pong = Handshake::json("ping", br#"{"type":1}"#.to_vec());
/// assert_eq!(pong.kind(), "ping");
/// assert_eq!(pong.status(), http::StatusCode::OK);
/// ```
#[derive(Clone)]
pub struct Handshake {
    kind: &'static str,
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
}

impl Handshake {
    /// `200` with a JSON body; `kind` names the handshake in logs and
    /// metrics.
    pub fn json(kind: &'static str, body: Vec<u8>) -> Self {
        Self {
            kind,
            status: StatusCode::OK,
            content_type: Some("application/json"),
            body: body.into(),
        }
    }

    /// `200` with a `text/plain` body (Twitch echoes its challenge so).
    pub fn text(kind: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            kind,
            status: StatusCode::OK,
            content_type: Some("text/plain; charset=utf-8"),
            body: body.into(),
        }
    }

    /// `204 No Content`.
    pub fn no_content(kind: &'static str) -> Self {
        Self { kind, status: StatusCode::NO_CONTENT, content_type: None, body: Bytes::new() }
    }

    /// What handshake this is, e.g. `"url_verification"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body of the answer.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The answer as a response.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.body));
        *response.status_mut() = self.status;
        if let Some(content_type) = self.content_type {
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        response
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}
