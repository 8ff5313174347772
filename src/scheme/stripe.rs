//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`.
//!
//! The HMAC-SHA256 covers `t.body`, keyed with the whole endpoint secret
//! string (`whsec_…` included, not decoded). During a secret roll Stripe
//! sends one `v1` per active secret; `v0` (test-mode legacy) is ignored.
//! Stripe's event id is in the body and not separately signed, but the
//! whole body is, so the id read from it after verification is authentic.

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{KeyedTags, Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::HmacSecrets;

static STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
const NAME: &str = "stripe";

/// Stripe's webhook signature (`Stripe-Signature`).
///
/// ```
/// use hookwarden::scheme::Stripe;
///
/// let scheme = Stripe::new(["whsec_your_endpoint_secret"]).unwrap();
/// # let _ = scheme;
/// ```
#[derive(Debug, Clone)]
pub struct Stripe {
    pub(crate) secrets: HmacSecrets,
}

impl Stripe {
    /// Verifies with these endpoint secrets (the whole `whsec_…` strings);
    /// every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

impl Scheme for Stripe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (parsed, timestamp) = signature(request)?;
        self.secrets.check(&[parsed.timestamp, b".", request.body()], parsed.tags())?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signature(request).map(drop)
    }

    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/id")],
            vec![pointer("/type")],
            vec![pointer("/api_version")],
            vec![pointer("/created"), Source::SignedTimestamp],
        )
    }
}

/// The parsed `Stripe-Signature` header and its checked timestamp.
fn signature<'a>(request: &SignedRequest<'a>) -> Result<(KeyedTags<'a>, u64), VerifyError> {
    let header = request.required_header(&STRIPE_SIGNATURE)?;
    let parsed = KeyedTags::parse(header, b',', b"t", b"v1", true)?;
    let timestamp = request.check_timestamp(parsed.timestamp)?;
    Ok((parsed, timestamp))
}

/// Stripe's `Stripe-Signature` header (`t=…,v1=…`) for an endpoint secret.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    let scheme = Stripe::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[ts.as_bytes(), b".", body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("stripe-signature", super::ascii(format!("t={ts},v1={}", hex::encode(tag))));
    headers
}
