//! Logto: `logto-signature-sha-256: <hex>` over the body (some versions
//! write a `sha256=` prefix, which is accepted).
//!
//! Logto sends no event id and signs no timestamp: the dedupe key is a
//! digest of the body.

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::generic_hmac::{Encoding, GenericHmac};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

/// Logto's webhook signature (`logto-signature-sha-256`).
///
/// ```
/// use hookwarden::scheme::Logto;
///
/// let scheme = Logto::new(["signing-key"]).unwrap();
/// # let _ = scheme;
/// ```
#[derive(Debug, Clone)]
pub struct Logto(pub(crate) GenericHmac);

impl Logto {
    /// Verifies with these signing keys (raw strings); every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        GenericHmac::preset(
            "logto",
            "logto-signature-sha-256",
            Encoding::Hex,
            Some(("sha256=", false)),
            secrets,
        )
        .map(Self)
    }
}

impl Scheme for Logto {
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
            vec![Source::BodyDigest],
            vec![pointer("/event")],
            Vec::new(),
            Vec::new(),
        )
    }
}

/// Logto's `logto-signature-sha-256` header.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, body: &[u8]) -> http::HeaderMap {
    Logto::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}
