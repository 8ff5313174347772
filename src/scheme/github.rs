//! GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body.
//!
//! GitHub signs neither its delivery id (`X-GitHub-Delivery`) nor a
//! timestamp, so a captured delivery verifies forever: dedupe on a digest of
//! the body, and keep the secret secret.

use super::conventions::{DedupeKey, EnvelopeConfig, header};
use super::generic_hmac::{Encoding, GenericHmac};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

/// GitHub's webhook signature (`X-Hub-Signature-256`).
///
/// ```
/// use hookwarden::scheme::GitHub;
///
/// let scheme = GitHub::new(["It's a Secret to Everybody"]).unwrap();
/// # let _ = scheme;
/// ```
#[derive(Debug, Clone)]
pub struct GitHub(pub(crate) GenericHmac);

impl GitHub {
    /// Verifies with these secrets (raw strings, as set in GitHub's webhook
    /// settings); every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        GenericHmac::preset(
            "github",
            "x-hub-signature-256",
            Encoding::Hex,
            Some(("sha256=", true)),
            secrets,
        )
        .map(Self)
    }
}

impl Scheme for GitHub {
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
            vec![header("x-github-delivery")],
            vec![header("x-github-event")],
            Vec::new(),
            Vec::new(),
        )
        .dedupe_key(DedupeKey::SignedIdOrDigest)
    }
}

/// GitHub's `X-Hub-Signature-256` header.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, body: &[u8]) -> http::HeaderMap {
    GitHub::new([secret]).expect("a non-empty secret").0.sign_headers(0, body)
}
