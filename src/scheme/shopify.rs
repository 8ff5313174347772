//! Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body.
//!
//! Shopify signs no timestamp and not its webhook id
//! (`X-Shopify-Webhook-Id`): dedupe on a digest of the body.

use super::conventions::{DedupeKey, EnvelopeConfig, header};
use super::generic_hmac::{Encoding, GenericHmac};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

/// Shopify's webhook signature (`X-Shopify-Hmac-Sha256`).
///
/// ```
/// use hookwarden::scheme::Shopify;
///
/// let scheme = Shopify::new(["app-client-secret"]).unwrap();
/// # let _ = scheme;
/// ```
#[derive(Debug, Clone)]
pub struct Shopify(pub(crate) GenericHmac);

impl Shopify {
    /// Verifies with these secrets (the app's client secret, as raw
    /// bytes); every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        GenericHmac::preset("shopify", "x-shopify-hmac-sha256", Encoding::Base64, None, secrets)
            .map(Self)
    }
}

impl Scheme for Shopify {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        self.0.verify(request)
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        self.0.precheck(request)
    }

    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![header("x-shopify-webhook-id"), header("x-shopify-event-id")],
            vec![header("x-shopify-topic")],
            vec![header("x-shopify-api-version")],
            Vec::new(),
        )
        .dedupe_key(DedupeKey::SignedIdOrDigest)
    }
}

/// Shopify's `X-Shopify-Hmac-Sha256` header.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, body: &[u8]) -> http::HeaderMap {
    Shopify::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}
