//! Mailgun: the signature is inside the JSON body,
//! `{"signature":{"timestamp":"…","token":"…","signature":"<hex>"},
//! "event-data":{…}}`, an HMAC-SHA256 of `timestamp + token` keyed with the
//! domain's HTTP webhook signing key.

use std::borrow::Cow;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac};

const NAME: &str = "mailgun";

/// Mailgun's tokens are 50 characters; anything much longer is refused
/// before it is hashed or kept as a dedupe key.
const MAX_TOKEN: usize = 256;

/// Mailgun's webhook signature, inside the JSON body:
/// `{"signature":{"timestamp":"…","token":"…","signature":"<hex>"},
/// "event-data":{…}}`, an HMAC-SHA256 of `timestamp + token` keyed with the
/// domain's HTTP webhook signing key.
///
/// **The event data is not covered by the signature.** The HMAC proves that
/// Mailgun issued this timestamp and token, nothing more: anyone who sees
/// one delivery (a log, a proxy, a misconfigured TLS terminator) can put
/// other `event-data` beside its `signature` object and it still verifies,
/// within the tolerance window. What limits that:
///
/// - the timestamp is checked against the tolerance, so a captured
///   signature is useless after a few minutes;
/// - the token is the dedupe key (it is signed, and Mailgun draws a fresh
///   one for every delivery), so a signature is accepted for one delivery
///   only: a forged variant sent after the genuine delivery is a duplicate.
///   One sent *before* it (racing Mailgun) would be kept instead of it.
///
/// So serve the endpoint over HTTPS only, keep the tolerance short, and
/// treat the event data as a notification to check against Mailgun's
/// events API where it matters.
///
/// Mailgun's legacy form-encoded webhooks (the three fields as form
/// parameters) are not supported: the body must be the JSON payload.
///
/// ```
/// use hookwarden::scheme::Mailgun;
///
/// // The domain's HTTP webhook signing key.
/// let scheme = Mailgun::new(["key-3ax6xnjp29jd6fds4gc373sgvjxteol0"])?;
/// assert!(Mailgun::new([""]).is_err());
/// # let _ = scheme;
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mailgun {
    pub(crate) secrets: HmacSecrets,
}

impl Mailgun {
    /// Verifies with these HTTP webhook signing keys (as the dashboard
    /// shows them); every one is active.
    pub fn new<I, K>(signing_keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, signing_keys)? })
    }
}

/// The part of the body the signature is read from; every other field
/// (`event-data`) is skipped unread.
#[derive(serde::Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    signature: Option<SignatureFields<'a>>,
}

#[derive(serde::Deserialize)]
struct SignatureFields<'a> {
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    token: Cow<'a, str>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
}

impl Scheme for Mailgun {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let body = request.body();
        // A JSON object, not an array that serde would also read into
        // `Body`.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(VerifyError::MalformedSignature);
        }
        // Not JSON, a field of the wrong kind, or a field given twice.
        let parsed: Body<'_> =
            serde_json::from_slice(body).map_err(|_| VerifyError::MalformedSignature)?;
        let fields = parsed.signature.ok_or(VerifyError::MissingSignature)?;
        let received = Mac::from_hex(fields.signature.as_bytes())?;
        let token = fields.token.as_ref();
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(VerifyError::MalformedSignature);
        }
        let raw_ts = fields.timestamp.as_bytes();
        let timestamp = request.check_timestamp(raw_ts)?;
        self.secrets.check(&[raw_ts, token.as_bytes()], &[received])?;
        Ok(Verified::new(NAME).with_timestamp(timestamp).with_signed_id(token))
    }

    /// Id: the signed token (also the dedupe key: one delivery per
    /// signature); type `/event-data/event`; no version (the default); the
    /// signed timestamp. The event's own `id` in `event-data` is not signed
    /// and not used.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![Source::SignedId],
            vec![pointer("/event-data/event")],
            Vec::new(),
            vec![Source::SignedTimestamp],
        )
    }
}

/// A whole Mailgun webhook body: `{"signature":{…},"event-data":…}` with
/// `event_data` (JSON) as given, signed with `signing_key`.
///
/// Unlike the other signers this returns the body, not headers: Mailgun
/// puts its signature in the body.
#[cfg(feature = "testing")]
pub fn sign(signing_key: &str, timestamp: u64, token: &str, event_data: &[u8]) -> Vec<u8> {
    let scheme = Mailgun::new([signing_key]).expect("a non-empty signing key");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[ts.as_bytes(), token.as_bytes()]);
    let signature = serde_json::json!({
        "timestamp": ts,
        "token": token,
        "signature": hex::encode(tag),
    });
    let mut body = br#"{"signature":"#.to_vec();
    body.extend_from_slice(signature.to_string().as_bytes());
    body.extend_from_slice(br#","event-data":"#);
    body.extend_from_slice(event_data);
    body.push(b'}');
    body
}
