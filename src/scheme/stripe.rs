//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`.
//!
//! The HMAC-SHA256 covers `t.body`, keyed with the whole endpoint secret
//! string (`whsec_…` included, not decoded). During a secret roll Stripe
//! sends one `v1` per active secret; `v0` (test-mode legacy) is ignored.
//! Stripe's event id is in the body and not separately signed, but the
//! whole body is, so the id read from it after verification is authentic.

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError, split_bounded};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, MAX_SIGNATURES, Mac};

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
        let header = request.required_header(&STRIPE_SIGNATURE)?;
        let mut timestamp: Option<&[u8]> = None;
        let mut macs = [Mac::from_bytes([0; 32]); MAX_SIGNATURES];
        let mut n_macs = 0;
        for pair in split_bounded(header, b',', MAX_SIGNATURES + 2) {
            let pair = pair?;
            let eq = pair.iter().position(|&b| b == b'=').ok_or(VerifyError::MalformedSignature)?;
            let (key, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
            match key {
                b"t" => {
                    if timestamp.is_some_and(|t| t != value) {
                        return Err(VerifyError::MalformedSignature);
                    }
                    timestamp = Some(value);
                }
                b"v1" => {
                    if n_macs == MAX_SIGNATURES {
                        return Err(VerifyError::MalformedSignature);
                    }
                    macs[n_macs] = Mac::from_hex(value)?;
                    n_macs += 1;
                }
                _ => {}
            }
        }
        let raw_ts = timestamp.ok_or(VerifyError::MalformedSignature)?;
        let timestamp = request.check_timestamp(raw_ts)?;
        if n_macs == 0 {
            return Err(VerifyError::MalformedSignature);
        }
        if self.secrets.verify(&[raw_ts, b".", request.body()], &macs[..n_macs]) {
            Ok(Verified::new(NAME).with_timestamp(timestamp))
        } else {
            Err(VerifyError::InvalidSignature)
        }
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
