//! Square: `x-square-hmacsha256-signature: <base64>` over the notification
//! URL followed by the body.
//!
//! Square signs the notification URL of the subscription (exactly as it was
//! registered in the Developer Dashboard) and then the body, with the
//! subscription's signature key. The URL is part of this scheme's
//! configuration: the request's own `Host` header and path are never used,
//! so a proxy that rewrites them cannot make a delivery verify, and a
//! delivery meant for another subscription URL does not verify here.
//!
//! Square signs no timestamp: a captured delivery verifies forever. The
//! event id (`event_id`) is in the signed body, so dedupe keys on it and a
//! replay is a duplicate for as long as the inbox keeps the key. Its
//! `created_at` is RFC 3339 text, which the envelope does not read as a
//! timestamp: deliveries have none.

use http::{HeaderName, Uri};

use super::conventions::{EnvelopeConfig, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac};

static SIGNATURE: HeaderName = HeaderName::from_static("x-square-hmacsha256-signature");
const NAME: &str = "square";

/// Square's webhook signature (`x-square-hmacsha256-signature`).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Scheme, SignedRequest, Square};
///
/// // The signature key and the notification URL of the subscription, as
/// // the Developer Dashboard shows them (square-python-sdk's test vector).
/// let scheme = Square::new(
///     ["Ibxx_5AKakO-3qeNVR61Dw"],
///     "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
/// )?;
/// let body = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "x-square-hmacsha256-signature",
///     "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=".parse().unwrap(),
/// );
/// let request = SignedRequest::new(&headers, body, 0, Duration::from_secs(300));
/// assert!(scheme.verify(&request).is_ok());
/// // The URL must be absolute.
/// assert!(Square::new(["Ibxx_5AKakO-3qeNVR61Dw"], "/webhooks/square").is_err());
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Square {
    secrets: HmacSecrets,
    notification_url: Box<str>,
}

impl Square {
    /// Verifies with these signature keys (used as the raw text the
    /// dashboard shows; every one is active, for rotation) and the
    /// subscription's notification URL, byte for byte as registered with
    /// Square (Square signs it exactly as written, so it is not
    /// normalised).
    ///
    /// Fails if there is no key, a key is empty, or the URL is not an
    /// absolute `http` or `https` URL.
    pub fn new<I, K>(keys: I, notification_url: &str) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let invalid = |reason: &str| ConfigError::Invalid {
            what: "square notification URL",
            reason: format!("{notification_url:?}: {reason}"),
        };
        let uri: Uri = notification_url.parse().map_err(|_| invalid("not a URL"))?;
        if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.authority().is_none() {
            return Err(invalid("must be an absolute https:// URL"));
        }
        Ok(Self {
            secrets: HmacSecrets::new(NAME, keys)?,
            notification_url: notification_url.into(),
        })
    }

    /// The notification URL this scheme was configured with.
    pub fn notification_url(&self) -> &str {
        &self.notification_url
    }
}

/// The tag in `x-square-hmacsha256-signature`.
fn received(request: &SignedRequest<'_>) -> Result<Mac, VerifyError> {
    Mac::from_base64(request.required_header(&SIGNATURE)?)
}

impl Scheme for Square {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let received = received(request)?;
        let message = [self.notification_url.as_bytes(), request.body()];
        self.secrets.check(&message, &[received])?;
        Ok(Verified::new(NAME))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        received(request).map(drop)
    }

    /// Id: body `event_id` (signed); type: body `type`; no version; no
    /// timestamp (`created_at` is RFC 3339 text); dedupe on the id.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/event_id")],
            vec![pointer("/type")],
            Vec::new(),
            Vec::new(),
        )
    }
}

/// Square's `x-square-hmacsha256-signature` header for a delivery of `body`
/// to `notification_url`.
#[cfg(feature = "testing")]
pub fn sign(signature_key: &str, notification_url: &str, body: &[u8]) -> http::HeaderMap {
    let scheme = Square::new([signature_key], notification_url)
        .expect("a non-empty key and an absolute URL");
    let tag = scheme.secrets.sign(&[notification_url.as_bytes(), body]);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(tag);
    let mut headers = http::HeaderMap::new();
    headers.insert(SIGNATURE.clone(), super::ascii(encoded));
    headers
}
