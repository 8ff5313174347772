//! Linear: `Linear-Signature: <hex>` over the body, with the send time in
//! the signed body's `webhookTimestamp` (Unix milliseconds).
//!
//! The HMAC-SHA256 covers the body alone, keyed with the webhook's signing
//! secret. Linear puts no timestamp in a signed header, but every body has
//! a `webhookTimestamp`; once the signature matches it is read from the
//! same bytes and checked against the tolerance, so a captured delivery is
//! refused once it is too old. (Linear's `Linear-Timestamp` header is not
//! signed and is ignored.)
//!
//! The delivery id (`Linear-Delivery`) is an unsigned header: it is
//! reported as the id, and dedupe keys on the body digest. The body's
//! `webhookId` names the webhook, not the delivery, and is not an id.

use http::HeaderName;

use super::conventions::{DedupeKey, EnvelopeConfig, Source, header, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac};

static LINEAR_SIGNATURE: HeaderName = HeaderName::from_static("linear-signature");
const NAME: &str = "linear";

/// Linear's webhook signature (`Linear-Signature`), with the body's
/// `webhookTimestamp` checked after it.
///
/// What it cannot protect against: a delivery replayed within the
/// tolerance window verifies again (dedupe on the body digest covers it);
/// the `Linear-Delivery` id header is not signed.
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Linear, Scheme, SignedRequest, VerifyError};
/// use http::HeaderMap;
///
/// // The signing secret shown on the webhook's page in Linear.
/// let scheme = Linear::new(["lin_wh_your_signing_secret"])?;
///
/// let body = br#"{"type":"Issue","action":"create","data":{"id":"x"},"webhookTimestamp":1754629200000}"#;
/// let mut headers = HeaderMap::new();
/// headers.insert(
///     "linear-signature",
///     "bff1e292e09fc97289d6b8bbfd40caebc5000e49789f1b9fe7e801580669bb11".parse()?,
/// );
/// // The signature matches, then the body's `webhookTimestamp` is checked.
/// let now = 1_754_629_200;
/// let request = SignedRequest::new(&headers, body, now, Duration::from_secs(300));
/// assert_eq!(scheme.verify(&request)?.timestamp(), Some(1_754_629_200));
/// let later = SignedRequest::new(&headers, body, now + 301, Duration::from_secs(300));
/// assert_eq!(scheme.verify(&later).unwrap_err(), VerifyError::TimestampOutOfTolerance);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    pub(crate) secrets: HmacSecrets,
}

impl Linear {
    /// Verifies with these signing secrets; every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

/// The top-level `webhookTimestamp` of a body, in Unix seconds (the
/// milliseconds rounded down); `None` if it is missing, not a non-negative
/// integer, given twice, or the body is not a JSON object.
fn webhook_timestamp(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "webhookTimestamp")]
        millis: Option<u64>,
    }
    // A derived struct also reads from an array, by position: only an
    // object will do.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    probe.millis.map(|millis| millis / 1000)
}

/// The tag in `Linear-Signature`.
fn received(request: &SignedRequest<'_>) -> Result<Mac, VerifyError> {
    Mac::from_hex(request.required_header(&LINEAR_SIGNATURE)?)
}

impl Scheme for Linear {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The signature first; then, from the verified body, the
    /// `webhookTimestamp`: missing or not an integer is
    /// [`MalformedSignature`](VerifyError::MalformedSignature), outside the
    /// tolerance (compared in whole seconds, either direction)
    /// [`TimestampOutOfTolerance`](VerifyError::TimestampOutOfTolerance).
    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        if !self.secrets.verify(&[request.body()], &[received(request)?]) {
            return Err(VerifyError::InvalidSignature);
        }
        let timestamp = webhook_timestamp(request.body()).ok_or(VerifyError::MalformedSignature)?;
        if request.now().abs_diff(timestamp) > request.tolerance().as_secs() {
            return Err(VerifyError::TimestampOutOfTolerance);
        }
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    /// The signature header only: the timestamp is in the body.
    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        received(request).map(drop)
    }

    /// Id: the `Linear-Delivery` header (unsigned), else the body digest;
    /// dedupe on the body digest. Type: body `type` (the entity, such as
    /// `Issue` or `Comment`; the signed body's `action`, `create`, `update`
    /// or `remove`, is left to the handler), else the `Linear-Event`
    /// header. No version. Timestamp: the signed `webhookTimestamp`.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![header("linear-delivery"), Source::BodyDigest],
            vec![pointer("/type"), header("linear-event")],
            Vec::new(),
            vec![Source::SignedTimestamp],
        )
        .dedupe_key(DedupeKey::SignedIdOrDigest)
    }
}

/// Linear's `Linear-Signature` header. The body should carry a current
/// `webhookTimestamp` (milliseconds), as Linear's do.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, body: &[u8]) -> http::HeaderMap {
    let scheme = Linear::new([secret]).expect("a non-empty secret");
    let tag = scheme.secrets.sign(&[body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("linear-signature", super::ascii(hex::encode(tag)));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_timestamps_are_whole_milliseconds() {
        assert_eq!(
            webhook_timestamp(br#"{"webhookTimestamp":1677611643999}"#),
            Some(1_677_611_643)
        );
        assert_eq!(
            webhook_timestamp(br#"{"a":{"webhookTimestamp":1},"webhookTimestamp":0}"#),
            Some(0)
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"webhookTimestamp":null}"#,
            br#"{"webhookTimestamp":-1}"#,
            br#"{"webhookTimestamp":1.5}"#,
            br#"{"webhookTimestamp":"1677611643000"}"#,
            br#"{"webhookTimestamp":18446744073709551616}"#,
            br#"{"webhookTimestamp":1,"webhookTimestamp":2}"#,
            br#"[1]"#,
            b"not json",
        ] {
            assert_eq!(webhook_timestamp(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
