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
//!
//! Every rejection response made is also counted by its code, process-wide
//! and with or without the `metrics` feature: [`Rejection::counts`] reads
//! them (the admin API's `rejected` field does).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
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
    /// The request did not arrive over HTTPS, and HTTPS is required (403);
    /// see [`RequireHttpsLayer`](crate::https::RequireHttpsLayer).
    HttpsRequired,
    /// An admin request without a valid bearer token (401).
    Unauthorized,
}

/// How many kinds of rejection there are: one counter each.
const KINDS: usize = 17;

/// Rejection responses made in this process, by [`Rejection::slot`].
static COUNTS: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];

/// The code of each slot, for reading the counters back.
const CODES: [&str; KINDS] = [
    "ip_not_allowed",
    "peer_address_unknown",
    "method_not_allowed",
    "payload_too_large",
    "body_timeout",
    "body_unreadable",
    "missing_signature",
    "malformed_signature",
    "invalid_signature",
    "timestamp_out_of_tolerance",
    "malformed_event",
    "in_progress",
    "store_unavailable",
    "overloaded",
    "misconfigured",
    "unauthorized",
    "https_required",
];

impl Rejection {
    /// The HTTP status code of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::IpNotAllowed | Self::HttpsRequired => StatusCode::FORBIDDEN,
            Self::PeerAddressUnknown | Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable | Self::MalformedEvent => StatusCode::BAD_REQUEST,
            Self::MissingSignature
            | Self::MalformedSignature
            | Self::InvalidSignature
            | Self::TimestampOutOfTolerance
            | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InProgress { .. } => StatusCode::CONFLICT,
            Self::StoreUnavailable { .. } | Self::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The stable, machine-readable error code (the `error` field of the body).
    pub fn code(&self) -> &'static str {
        CODES[self.slot()]
    }

    /// This rejection's counter in [`COUNTS`] (and its code in [`CODES`]).
    fn slot(&self) -> usize {
        match self {
            Self::IpNotAllowed => 0,
            Self::PeerAddressUnknown => 1,
            Self::MethodNotAllowed => 2,
            Self::PayloadTooLarge => 3,
            Self::BodyTimeout => 4,
            Self::BodyUnreadable => 5,
            Self::MissingSignature => 6,
            Self::MalformedSignature => 7,
            Self::InvalidSignature => 8,
            Self::TimestampOutOfTolerance => 9,
            Self::MalformedEvent => 10,
            Self::InProgress { .. } => 11,
            Self::StoreUnavailable { .. } => 12,
            Self::Overloaded { .. } => 13,
            Self::Misconfigured => 14,
            Self::Unauthorized => 15,
            Self::HttpsRequired => 16,
        }
    }

    /// How many rejection responses this process has made, by
    /// [`code`](Self::code), since it started; codes never seen are left
    /// out.
    ///
    /// Counted in [`into_response`](Self::into_response), so every refusal
    /// of every layer counts once, whether or not the `metrics` feature is
    /// on. One relaxed atomic add per rejection: an attack costs no lock.
    ///
    /// ```
    /// use hookwarden::Rejection;
    ///
    /// let before = Rejection::counts().get("invalid_signature").copied().unwrap_or(0);
    /// let _ = Rejection::InvalidSignature.into_response::<http_body_util::Full<bytes::Bytes>>();
    /// assert_eq!(Rejection::counts()["invalid_signature"], before + 1);
    /// ```
    pub fn counts() -> BTreeMap<&'static str, u64> {
        CODES
            .iter()
            .zip(&COUNTS)
            .filter_map(|(code, count)| {
                let count = count.load(Ordering::Relaxed);
                (count > 0).then_some((*code, count))
            })
            .collect()
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
            Self::HttpsRequired => "webhooks must be delivered over HTTPS",
            Self::Unauthorized => "a valid bearer token is required",
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
    /// `Retry-After` where it applies (and `WWW-Authenticate: Bearer` for
    /// [`Unauthorized`](Self::Unauthorized)), and the rejection itself in
    /// the response's extensions. Counts it (see [`counts`](Self::counts)).
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        COUNTS[self.slot()].fetch_add(1, Ordering::Relaxed);
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(after) = self.retry_after() {
            // Whole seconds, at least one: `Retry-After: 0` invites a hot loop.
            let secs = after.as_secs().max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, Self::Unauthorized) {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
    fn every_kind_has_its_own_counter_under_its_code() {
        let every = [
            Rejection::IpNotAllowed,
            Rejection::PeerAddressUnknown,
            Rejection::MethodNotAllowed,
            Rejection::PayloadTooLarge,
            Rejection::BodyTimeout,
            Rejection::BodyUnreadable,
            Rejection::MissingSignature,
            Rejection::MalformedSignature,
            Rejection::InvalidSignature,
            Rejection::TimestampOutOfTolerance,
            Rejection::MalformedEvent,
            Rejection::InProgress { retry_after: Duration::ZERO },
            Rejection::StoreUnavailable { retry_after: Duration::ZERO },
            Rejection::Overloaded { retry_after: Duration::ZERO },
            Rejection::Misconfigured,
            Rejection::Unauthorized,
            Rejection::HttpsRequired,
        ];
        assert_eq!(every.len(), KINDS);
        for (slot, rejection) in every.iter().enumerate() {
            assert_eq!(rejection.slot(), slot);
            assert_eq!(CODES[slot], rejection.code());
        }
        let before = Rejection::counts();
        let _ = Rejection::Unauthorized.into_response::<Full<Bytes>>();
        let after = Rejection::counts();
        assert!(after["unauthorized"] > before.get("unauthorized").copied().unwrap_or(0));
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = Rejection::Unauthorized.into_response::<Full<Bytes>>();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(Rejection::Unauthorized.code(), "unauthorized");
    }

    #[test]
    fn body_is_json_with_code_and_message() {
        let body = Rejection::PayloadTooLarge.body();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"], "payload_too_large");
        assert!(value["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
