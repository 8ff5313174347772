//! SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over
//! `timestamp + body` (feature `p256`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha256};

use super::conventions::{BodyFormat, EnvelopeConfig, Source, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-email-event-webhook-signature");
static TIMESTAMP: HeaderName = HeaderName::from_static("x-twilio-email-event-webhook-timestamp");
const NAME: &str = "sendgrid";

/// A DER ECDSA P-256 signature is at most 72 bytes: 96 base64 characters.
const MAX_SIGNATURE_BASE64: usize = 96;

/// SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over
/// `timestamp + body` (feature `p256`).
///
/// Headers `X-Twilio-Email-Event-Webhook-Signature` (the base64 of a DER
/// signature) and `X-Twilio-Email-Event-Webhook-Timestamp` (Unix seconds,
/// checked against the tolerance). The verification key is the one the
/// SendGrid dashboard shows once "Signed Event Webhook" is on: the base64
/// of a DER `SubjectPublicKeyInfo` (`MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…`).
///
/// The signature covers the timestamp and every byte of the body, so every
/// event in it is authentic and a captured request verifies only within the
/// tolerance window.
///
/// The body is a JSON array of events ([`BodyFormat::JsonBatch`]): each is
/// kept and handled as an event of its own, with its own id
/// (`sg_event_id`), type (`event`) and timestamp (`timestamp`), and deduped
/// on its own id, so a resent batch, or one that overlaps an earlier one,
/// is handled once per event.
///
/// ```
/// use hookwarden::scheme::SendGrid;
///
/// // The verification key, as the dashboard shows it.
/// let scheme = SendGrid::new([
///     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
/// ])?;
/// assert!(SendGrid::new(["not base64!"]).is_err());
/// # let _ = scheme;
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SendGrid {
    public_keys: Vec<VerifyingKey>,
}

impl SendGrid {
    /// Verifies with these verification keys (base64 of DER
    /// `SubjectPublicKeyInfo`, P-256); every one is active, at most
    /// 8.
    pub fn new<I, S>(public_keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self { public_keys: super::public_keys(NAME, public_keys, parse_public_key)? })
    }
}

fn parse_public_key(key: &str) -> Result<VerifyingKey, ConfigError> {
    if key.is_empty() {
        return Err(ConfigError::EmptySecret { scheme: NAME });
    }
    let der = STANDARD.decode(key).map_err(|_| ConfigError::UndecodableSecret {
        scheme: NAME,
        expected: "base64 of a DER public key",
    })?;
    VerifyingKey::from_public_key_der(&der).map_err(|_| ConfigError::UndecodableSecret {
        scheme: NAME,
        expected: "a DER SubjectPublicKeyInfo of a P-256 key",
    })
}

/// Decodes the base64 of a DER signature into a fixed buffer; anything
/// longer than a P-256 signature can be, or not DER, is malformed.
fn decode_signature(base64: &[u8]) -> Result<Signature, VerifyError> {
    if base64.is_empty() || base64.len() > MAX_SIGNATURE_BASE64 {
        return Err(VerifyError::MalformedSignature);
    }
    let mut der = [0u8; MAX_SIGNATURE_BASE64 / 4 * 3];
    let len =
        STANDARD.decode_slice(base64, &mut der).map_err(|_| VerifyError::MalformedSignature)?;
    Signature::from_der(&der[..len]).map_err(|_| VerifyError::MalformedSignature)
}

/// The signature, the raw timestamp and the checked one.
fn signed_headers<'a>(
    request: &SignedRequest<'a>,
) -> Result<(Signature, &'a [u8], u64), VerifyError> {
    let signature = decode_signature(request.required_header(&SIGNATURE)?)?;
    let raw_ts = request.header(&TIMESTAMP)?.ok_or(VerifyError::MalformedSignature)?;
    let timestamp = request.check_timestamp(raw_ts)?;
    Ok((signature, raw_ts, timestamp))
}

impl Scheme for SendGrid {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (signature, raw_ts, timestamp) = signed_headers(request)?;
        // Hashed once, piece by piece; checked against every key.
        let digest = Sha256::new().chain_update(raw_ts).chain_update(request.body()).finalize();
        super::check_every_key(&self.public_keys, |key| {
            key.verify_prehash(&digest, &signature).is_ok()
        })?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signed_headers(request).map(drop)
    }

    /// A batch: each element's id is `sg_event_id` (else the element's
    /// digest), type `event`, timestamp `timestamp` (else the signed one),
    /// no version (the default); dedupe on the element's id, which the
    /// signature covers.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/sg_event_id"), Source::BodyDigest],
            vec![pointer("/event")],
            Vec::new(),
            vec![pointer("/timestamp"), Source::SignedTimestamp],
        )
        .body_format(BodyFormat::JsonBatch)
    }
}

/// SendGrid's signature and timestamp headers, for a private key given as
/// the hex of its 32-byte scalar. Signatures are deterministic (RFC 6979).
#[cfg(feature = "testing")]
pub fn sign(private_key: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    use p256::ecdsa::signature::DigestSigner as _;
    let key = signing_key(private_key);
    let ts = timestamp.to_string();
    let digest = Sha256::new().chain_update(ts.as_bytes()).chain_update(body);
    let signature: Signature = key.sign_digest(digest);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-twilio-email-event-webhook-signature",
        super::ascii(STANDARD.encode(signature.to_der().as_bytes())),
    );
    headers.insert("x-twilio-email-event-webhook-timestamp", super::ascii(ts));
    headers
}

/// The verification key (base64 of DER, as the dashboard shows it) that
/// verifies what [`sign`] signs with `private_key`.
#[cfg(feature = "testing")]
pub fn public_key(private_key: &str) -> String {
    use p256::pkcs8::EncodePublicKey as _;
    let key = p256::PublicKey::from(signing_key(private_key).verifying_key());
    let der = key.to_public_key_der().expect("a P-256 key encodes as DER");
    STANDARD.encode(der.as_bytes())
}

#[cfg(feature = "testing")]
fn signing_key(private_key: &str) -> p256::ecdsa::SigningKey {
    let bytes = hex::decode(private_key.trim()).expect("a hex private key");
    p256::ecdsa::SigningKey::from_slice(&bytes).expect("a valid 32-byte P-256 scalar")
}
