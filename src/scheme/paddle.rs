//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`.
//!
//! The HMAC-SHA256 covers `ts:body`, keyed with the notification
//! destination's secret key (the whole `pdl_ntfset_…` string, not
//! decoded). While a secret is being rotated Paddle sends one `h1` per
//! active secret; other keys (a future `h2`) are ignored. The body carries
//! the `event_id`, so the id read from it after verification is authentic.

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{KeyedTags, Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::HmacSecrets;

static PADDLE_SIGNATURE: HeaderName = HeaderName::from_static("paddle-signature");
const NAME: &str = "paddle";

/// Paddle Billing's webhook signature (`Paddle-Signature`).
///
/// What it cannot protect against: a delivery replayed within the
/// tolerance window verifies again (dedupe on the signed `event_id`
/// covers it).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Paddle, Scheme, SignedRequest};
/// use http::HeaderMap;
///
/// // The secret key of the notification destination (here the one of
/// // paddle-node-sdk's webhook tests).
/// let scheme = Paddle::new(["VALID_SECRET"])?;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(
///     "paddle-signature",
///     "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9".parse()?,
/// );
/// let body = br#"{"data": ["1", "2"]}"#;
/// let request = SignedRequest::new(&headers, body, 1_698_796_800, Duration::from_secs(300));
/// assert_eq!(scheme.verify(&request)?.timestamp(), Some(1_698_796_800));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Paddle {
    pub(crate) secrets: HmacSecrets,
}

impl Paddle {
    /// Verifies with these secret keys; every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

impl Scheme for Paddle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (parsed, timestamp) = signature(request)?;
        self.secrets.check(&[parsed.timestamp, b":", request.body()], parsed.tags())?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signature(request).map(drop)
    }

    /// Id: body `event_id` (signed), dedupe on it. Type: body `event_type`
    /// (such as `transaction.completed`). No version. Timestamp: body
    /// `occurred_at` if it is Unix seconds (Paddle writes RFC 3339, which
    /// is skipped), else the signed `ts`.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/event_id")],
            vec![pointer("/event_type")],
            Vec::new(),
            vec![pointer("/occurred_at"), Source::SignedTimestamp],
        )
    }
}

/// The parsed `Paddle-Signature` header and its checked timestamp.
fn signature<'a>(request: &SignedRequest<'a>) -> Result<(KeyedTags<'a>, u64), VerifyError> {
    let header = request.required_header(&PADDLE_SIGNATURE)?;
    // Paddle writes no spaces: none are taken off.
    let parsed = KeyedTags::parse(header, b';', b"ts", b"h1", false)?;
    let timestamp = request.check_timestamp(parsed.timestamp)?;
    Ok((parsed, timestamp))
}

/// Paddle's `Paddle-Signature` header (`ts=…;h1=…`) for a secret key.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    let scheme = Paddle::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[ts.as_bytes(), b":", body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("paddle-signature", super::ascii(format!("ts={ts};h1={}", hex::encode(tag))));
    headers
}
