//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed
//! with the app's client secret.
//!
//! Intercom signs no timestamp: a captured notification verifies forever.
//! The notification id (`id`, `notif_…`) is in the signed body, so dedupe
//! keys on it and a replay is a duplicate for as long as the inbox keeps
//! the key. SHA-1 is what Intercom uses; as an HMAC it is still sound, but
//! the tag is 20 bytes, checked as strictly as every other.

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac, Sha1};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature");
const NAME: &str = "intercom";

/// Intercom's webhook signature (`X-Hub-Signature`, HMAC-SHA1).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Intercom, Scheme, SignedRequest};
///
/// // The client secret from the app's Basic Info page (here RFC 2202's
/// // HMAC-SHA1 test case 2).
/// let scheme = Intercom::new(["Jefe"])?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "x-hub-signature",
///     "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79".parse().unwrap(),
/// );
/// let body = b"what do ya want for nothing?";
/// let request = SignedRequest::new(&headers, body, 0, Duration::from_secs(300));
/// assert!(scheme.verify(&request).is_ok());
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Intercom {
    secrets: HmacSecrets<Sha1>,
}

impl Intercom {
    /// Verifies with these client secrets (raw strings); every one is
    /// active, for rotation.
    pub fn new<I, K>(client_secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::<Sha1>::with_digest(NAME, client_secrets)? })
    }
}

/// The tag in `X-Hub-Signature` (`sha1=<hex>`).
fn received(request: &SignedRequest<'_>) -> Result<Mac<20>, VerifyError> {
    let header = request.required_header(&SIGNATURE)?;
    let hex = header.strip_prefix(b"sha1=").ok_or(VerifyError::MalformedSignature)?;
    Mac::from_hex(hex)
}

impl Scheme for Intercom {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        self.secrets.check(&[request.body()], &[received(request)?])?;
        Ok(Verified::new(NAME))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        received(request).map(drop)
    }

    /// Id: body `id` (the notification id, signed), else the body digest
    /// (a `ping` has a `null` id); type: body `topic`; no version;
    /// timestamp: body `created_at` (Unix seconds, signed but not checked
    /// against the clock); dedupe on the id.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/id"), Source::BodyDigest],
            vec![pointer("/topic")],
            Vec::new(),
            vec![pointer("/created_at")],
        )
    }
}

/// Intercom's `X-Hub-Signature` header.
#[cfg(feature = "testing")]
pub fn sign(client_secret: &str, body: &[u8]) -> http::HeaderMap {
    let scheme = Intercom::new([client_secret]).expect("a non-empty secret");
    let tag = scheme.secrets.sign(&[body]);
    let mut headers = http::HeaderMap::new();
    headers.insert(SIGNATURE.clone(), super::ascii(format!("sha1={}", hex::encode(tag))));
    headers
}
