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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Full;

use crate::scheme::{GenericHmac, GitHub, Logto, Shopify, Slack, StandardWebhooks, Stripe};

fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).expect("signed header values are ASCII")
}

/// Standard Webhooks `v1` headers (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) for a `whsec_…` secret.
pub fn standard_webhooks(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> HeaderMap {
    let scheme = StandardWebhooks::new([secret]).expect("a valid whsec_ secret");
    let secrets = scheme.hmac_secrets().expect("an HMAC scheme");
    let ts = timestamp.to_string();
    let tag = secrets.sign(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", value(id.to_owned()));
    headers.insert("webhook-timestamp", value(ts));
    headers.insert("webhook-signature", value(format!("v1,{}", STANDARD.encode(tag))));
    headers
}

/// Standard Webhooks `v1a` (ed25519) headers for a `whsk_…` signing key
/// (the base64 of a 32-byte seed).
#[cfg(feature = "ed25519")]
pub fn standard_webhooks_ed25519(
    signing_key: &str,
    id: &str,
    timestamp: u64,
    body: &[u8],
) -> HeaderMap {
    use ed25519_dalek::Signer as _;
    let key = ed25519_signing_key(signing_key);
    let ts = timestamp.to_string();
    let message = [id.as_bytes(), b".", ts.as_bytes(), b".", body].concat();
    let signature = key.sign(&message);
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", value(id.to_owned()));
    headers.insert("webhook-timestamp", value(ts));
    headers.insert(
        "webhook-signature",
        value(format!("v1a,{}", STANDARD.encode(signature.to_bytes()))),
    );
    headers
}

/// The `whpk_` public key that verifies signatures of a `whsk_` key.
#[cfg(feature = "ed25519")]
pub fn ed25519_public_key(signing_key: &str) -> String {
    let key = ed25519_signing_key(signing_key);
    format!("whpk_{}", STANDARD.encode(key.verifying_key().to_bytes()))
}

/// The key of a `whsk_…` string (the base64 of a 32-byte seed).
#[cfg(feature = "ed25519")]
fn ed25519_signing_key(signing_key: &str) -> ed25519_dalek::SigningKey {
    let seed: [u8; 32] = STANDARD
        .decode(signing_key.strip_prefix("whsk_").unwrap_or(signing_key))
        .ok()
        .and_then(|b| b.try_into().ok())
        .expect("a whsk_ key of 32 bytes");
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// GitHub's `X-Hub-Signature-256` header.
pub fn github(secret: &str, body: &[u8]) -> HeaderMap {
    GitHub::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}

/// Shopify's `X-Shopify-Hmac-Sha256` header.
pub fn shopify(secret: &str, body: &[u8]) -> HeaderMap {
    Shopify::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}

/// Logto's `logto-signature-sha-256` header.
pub fn logto(secret: &str, body: &[u8]) -> HeaderMap {
    Logto::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}

/// The headers a [`GenericHmac`] scheme expects, signed with its first
/// secret (the timestamp is used only if the scheme has a timestamp header).
pub fn generic_hmac(scheme: &GenericHmac, timestamp: u64, body: &[u8]) -> HeaderMap {
    scheme.sign_headers(timestamp, body)
}

/// Stripe's `Stripe-Signature` header (`t=…,v1=…`) for an endpoint secret.
pub fn stripe(secret: &str, timestamp: u64, body: &[u8]) -> HeaderMap {
    let scheme = Stripe::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[ts.as_bytes(), b".", body]);
    let mut headers = HeaderMap::new();
    headers.insert("stripe-signature", value(format!("t={ts},v1={}", hex::encode(tag))));
    headers
}

/// Slack's `X-Slack-Signature` and `X-Slack-Request-Timestamp` headers.
pub fn slack(secret: &str, timestamp: u64, body: &[u8]) -> HeaderMap {
    let scheme = Slack::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[b"v0:", ts.as_bytes(), b":", body]);
    let mut headers = HeaderMap::new();
    headers.insert("x-slack-request-timestamp", value(ts));
    headers.insert("x-slack-signature", value(format!("v0={}", hex::encode(tag))));
    headers
}

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
