//! Signers that produce the headers a real sender would send, so you can
//! test your own receiver (feature `testing`).
//!
//! ```
//! use hookwarden::scheme::{GitHub, Scheme, SignedRequest};
//! use hookwarden::testing;
//! use std::time::Duration;
//!
//! let body = br#"{"zen":"Keep it logically awesome."}"#;
//! let headers = testing::github("my-secret", body);
//! let request = SignedRequest::new(&headers, body, 0, Duration::ZERO);
//! assert!(GitHub::new(["my-secret"]).unwrap().verify(&request).is_ok());
//! ```
//!
//! Each function takes the secret in the form the sender's dashboard shows
//! it and panics if it is invalid (these are test helpers).

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::Full;

// Each signer lives beside its scheme, in `src/scheme/`.
#[cfg(feature = "ed25519")]
pub use crate::scheme::discord::{public_key as discord_public_key, sign as discord};
pub use crate::scheme::generic_hmac::sign as generic_hmac;
pub use crate::scheme::github::sign as github;
pub use crate::scheme::gitlab::sign as gitlab;
pub use crate::scheme::intercom::sign as intercom;
pub use crate::scheme::linear::sign as linear;
pub use crate::scheme::logto::sign as logto;
pub use crate::scheme::mailgun::sign as mailgun;
pub use crate::scheme::paddle::sign as paddle;
#[cfg(feature = "p256")]
pub use crate::scheme::sendgrid::{public_key as sendgrid_public_key, sign as sendgrid};
pub use crate::scheme::shopify::sign as shopify;
pub use crate::scheme::slack::sign as slack;
pub use crate::scheme::square::sign as square;
pub use crate::scheme::standard_webhooks::sign as standard_webhooks;
#[cfg(feature = "ed25519")]
pub use crate::scheme::standard_webhooks::{
    ed25519_public_key, sign_ed25519 as standard_webhooks_ed25519,
};
pub use crate::scheme::stripe::sign as stripe;
pub use crate::scheme::twilio::sign as twilio;
pub use crate::scheme::twitch::sign as twitch;
pub use crate::scheme::zoom::sign as zoom;

/// A `POST` request with these headers and body, as a sender would make it.
pub fn request(uri: &str, headers: HeaderMap, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let body = body.into();
    let mut request = Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .expect("a valid request");
    request.headers_mut().extend(headers);
    request
}
