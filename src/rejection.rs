//! Why a request was refused, and the response that says so.
//!
//! Every layer in hookwarden refuses a request the same way: it answers with
//! a [`Rejection`], rendered as a small JSON body
//! `{"error": "<code>", "message": "<text>"}` with the status code from the
//! table in the crate documentation. The typed rejection is also stored in the
//! response's extensions, so an outer layer (logging, metrics) can tell the
//! reasons apart without parsing the body:
//!
//! ```
//! use hookwarden::Rejection;
//! use http::StatusCode;
//!
//! let response = Rejection::InvalidSignature.into_response::<http_body_util::Full<bytes::Bytes>>();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.extensions().get::<Rejection>(),
//!     Some(&Rejection::InvalidSignature)
//! );
//! ```
//!
//! Rejections never carry a secret, an expected signature or any part of the
//! request body.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};

/// The tracing target under which rejections are logged (at DEBUG): an
/// attack must not turn into error-level log spam.
pub const REJECTION_TARGET: &str = "hookwarden::rejection";

/// Why a request was refused.
///
/// Each variant maps to one status code and one stable machine-readable
/// [`code`](Rejection::code). The enum is `#[non_exhaustive]`: later layers
/// add reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The client address is not on the allowlist (403).
    IpNotAllowed,
    /// The server did not provide the peer address (500): a misconfiguration.
    PeerAddressUnknown,
    /// The method is not `POST` (405).
    MethodNotAllowed,
    /// The body is larger than the configured limit (413).
    PayloadTooLarge,
    /// The body was not received within the read deadline (408).
    BodyTimeout,
    /// The body could not be read (the connection failed mid-body) (400).
    BodyUnreadable,
    /// The signature header is missing (401).
    MissingSignature,
    /// The signature header (or its timestamp) cannot be parsed (401).
    MalformedSignature,
    /// No signature matches any active secret (401).
    InvalidSignature,
    /// The signed timestamp is outside the tolerance window (401).
    TimestampOutOfTolerance,
    /// The request is authentic, but it is not an event this receiver can
    /// read: not JSON, no id or no type (400).
    MalformedEvent,
    /// A duplicate of an event whose processing is still in flight (409).
    InProgress {
        /// When the sender should retry.
        retry_after: Duration,
    },
    /// The idempotency store could not be reached (503).
    StoreUnavailable {
        /// When the sender should retry.
        retry_after: Duration,
    },
    /// The queue is full, the receiver is shutting down, or too many
    /// bodies are being read at once (503).
    Overloaded {
        /// When the sender should retry.
        retry_after: Duration,
    },
    /// A layer that needs an earlier layer's result did not find it (500):
    /// the pipeline is assembled in the wrong order.
    Misconfigured,
}

impl Rejection {
    /// The HTTP status code of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::PeerAddressUnknown | Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable | Self::MalformedEvent => StatusCode::BAD_REQUEST,
            Self::MissingSignature
            | Self::MalformedSignature
            | Self::InvalidSignature
            | Self::TimestampOutOfTolerance => StatusCode::UNAUTHORIZED,
            Self::InProgress { .. } => StatusCode::CONFLICT,
            Self::StoreUnavailable { .. } | Self::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The stable, machine-readable error code (the `error` field of the body).
    pub fn code(&self) -> &'static str {
        match self {
            Self::IpNotAllowed => "ip_not_allowed",
            Self::PeerAddressUnknown => "peer_address_unknown",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyUnreadable => "body_unreadable",
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "malformed_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            Self::MalformedEvent => "malformed_event",
            Self::InProgress { .. } => "in_progress",
            Self::StoreUnavailable { .. } => "store_unavailable",
            Self::Overloaded { .. } => "overloaded",
            Self::Misconfigured => "misconfigured",
        }
    }

    /// A short human-readable explanation (the `message` field of the body).
    pub fn message(&self) -> &'static str {
        match self {
            Self::IpNotAllowed => "the client address is not allowed",
            Self::PeerAddressUnknown => "the server did not provide the peer address",
            Self::MethodNotAllowed => "webhooks must be delivered with POST",
            Self::PayloadTooLarge => "the body is larger than the limit",
            Self::BodyTimeout => "the body was not received in time",
            Self::BodyUnreadable => "the body could not be read",
            Self::MissingSignature => "the signature header is missing",
            Self::MalformedSignature => "the signature header cannot be parsed",
            Self::InvalidSignature => "no signature matches",
            Self::TimestampOutOfTolerance => "the timestamp is outside the tolerance window",
            Self::MalformedEvent => "the event is not JSON or has no id or type",
            Self::InProgress { .. } => "this event is being processed; retry later",
            Self::StoreUnavailable { .. } => "the idempotency store is unavailable; retry later",
            Self::Overloaded { .. } => "the receiver is overloaded; retry later",
            Self::Misconfigured => "the receiver is misconfigured",
        }
    }

    /// How long the sender should wait before retrying, for the rejections
    /// that say so with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::InProgress { retry_after }
            | Self::StoreUnavailable { retry_after }
            | Self::Overloaded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The JSON body of the response.
    pub fn body(&self) -> Bytes {
        let body = serde_json::json!({ "error": self.code(), "message": self.message() });
        Bytes::from(body.to_string())
    }

    /// Renders the rejection as a response: status, JSON body,
    /// `Retry-After` where it applies, and the rejection itself in the
    /// response's extensions.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(after) = self.retry_after() {
            // Whole seconds, at least one: `Retry-After: 0` invites a hot loop.
            let secs = after.as_secs().max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(self);
        response
    }

    /// Logs the rejection at DEBUG under [`REJECTION_TARGET`].
    pub(crate) fn log(&self) {
        tracing::debug!(target: REJECTION_TARGET, code = self.code(), "request rejected");
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let response = Rejection::Overloaded { retry_after: Duration::from_millis(10) }
            .into_response::<Full<Bytes>>();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn body_is_json_with_code_and_message() {
        let body = Rejection::PayloadTooLarge.body();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"], "payload_too_large");
        assert!(value["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
