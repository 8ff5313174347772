//! Zoom: `x-zm-signature: v0=<hex>` over `v0:timestamp:body`, with the
//! timestamp (Unix seconds) in `x-zm-request-timestamp`.
//!
//! The HMAC-SHA256 is keyed with the app's *secret token*. The timestamp is
//! signed, so a captured delivery is refused once it leaves the tolerance
//! window. Zoom sends no event id in the body; its `x-zm-trackingid`
//! header is reported as the id but is not signed, so dedupe keys on the
//! body digest (each body carries Zoom's `event_ts`, in milliseconds).
//!
//! Zoom checks an endpoint with a signed `endpoint.url_validation` request
//! (when it is configured, then every 72 hours), answered with the
//! `plainToken` and its HMAC under the secret token.

use std::borrow::Cow;

use http::HeaderName;

use super::conventions::{DedupeKey, EnvelopeConfig, Source, header, pointer};
use super::handshake::Handshake;
use super::{Scheme, SignedRequest, Verified, VerifyError, contains, v0_headers, verify_v0};
use crate::error::ConfigError;
use crate::mac::HmacSecrets;

static X_ZM_SIGNATURE: HeaderName = HeaderName::from_static("x-zm-signature");
static X_ZM_REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("x-zm-request-timestamp");
const NAME: &str = "zoom";
const URL_VALIDATION: &str = "endpoint.url_validation";

/// Zoom's webhook signature (`x-zm-signature`), and its
/// `endpoint.url_validation` handshake.
///
/// What it cannot protect against: a delivery replayed within the
/// tolerance window verifies again (dedupe on the body digest covers it);
/// the `x-zm-trackingid` id header is not signed.
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Scheme, SignedRequest, Zoom};
/// use http::HeaderMap;
///
/// // The secret token from the app's "Features" page.
/// let scheme = Zoom::new(["hookwarden-zoom-secret-token"])?;
///
/// // Zoom checks the endpoint: the answer carries the token's HMAC.
/// let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-zm-request-timestamp", "1635885799".parse()?);
/// headers.insert(
///     "x-zm-signature",
///     "v0=7887958f35c8440c545932d88ac4a7126d9d2f4c894a52c14b267c2df3a7e1fe".parse()?,
/// );
/// let request = SignedRequest::new(&headers, body, 1_635_885_799, Duration::from_secs(300));
/// let verified = scheme.verify(&request)?;
/// let answer = scheme.handshake(&request, &verified).expect("a URL validation");
/// let answer: serde_json::Value = serde_json::from_slice(answer.body())?;
/// assert_eq!(
///     answer["encryptedToken"],
///     "1ff730556224a39c0a8ef255098fe49696119f29e95b7aee05cfd856ded043a5"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Zoom {
    pub(crate) secrets: HmacSecrets,
}

impl Zoom {
    /// Verifies with these secret tokens; every one is active.
    ///
    /// The URL-validation handshake is answered with the **first** one
    /// (Zoom checks the answer against the token it currently uses): during
    /// a rotation, list the token Zoom now signs with first.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

impl Scheme for Zoom {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let timestamp =
            verify_v0(&self.secrets, request, &X_ZM_SIGNATURE, &X_ZM_REQUEST_TIMESTAMP)?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        v0_headers(request, &X_ZM_SIGNATURE, &X_ZM_REQUEST_TIMESTAMP).map(drop)
    }

    /// Id: the `x-zm-trackingid` header (unsigned), else the body digest;
    /// dedupe on the body digest. Type: body `event` (such as
    /// `meeting.started`). Timestamp: the signed one (the body's `event_ts`
    /// is in milliseconds).
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![header("x-zm-trackingid"), Source::BodyDigest],
            vec![pointer("/event")],
            Vec::new(),
            vec![Source::SignedTimestamp],
        )
        .dedupe_key(DedupeKey::SignedIdOrDigest)
    }

    /// `endpoint.url_validation`: answered with
    /// `{"encryptedToken":<hex HMAC(first secret, plainToken)>,"plainToken":…}`.
    fn handshake(&self, request: &SignedRequest<'_>, _: &Verified) -> Option<Handshake> {
        #[derive(serde::Deserialize)]
        struct Payload<'a> {
            #[serde(rename = "plainToken", borrow)]
            plain_token: Cow<'a, str>,
        }
        #[derive(serde::Deserialize)]
        struct UrlValidation<'a> {
            #[serde(borrow)]
            event: Cow<'a, str>,
            #[serde(borrow)]
            payload: Option<Payload<'a>>,
        }
        // Cheap test first: events do not mention it.
        let body = request.body();
        if !contains(body, URL_VALIDATION.as_bytes()) {
            return None;
        }
        let parsed: UrlValidation<'_> = serde_json::from_slice(body).ok()?;
        if parsed.event != URL_VALIDATION {
            return None;
        }
        let plain_token = parsed.payload?.plain_token;
        let encrypted_token = hex::encode(self.secrets.sign(&[plain_token.as_bytes()]));
        let reply = serde_json::json!({
            "plainToken": plain_token,
            "encryptedToken": encrypted_token,
        });
        Some(Handshake::json("url_validation", reply.to_string().into_bytes()))
    }
}

/// Zoom's `x-zm-request-timestamp` and `x-zm-signature` headers.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    let scheme = Zoom::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[b"v0:", ts.as_bytes(), b":", body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("x-zm-request-timestamp", super::ascii(ts));
    headers.insert("x-zm-signature", super::ascii(format!("v0={}", hex::encode(tag))));
    headers
}
