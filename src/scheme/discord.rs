//! Discord webhook events: `X-Signature-Ed25519: <hex>` over
//! `timestamp + body`, with the timestamp in `X-Signature-Timestamp`
//! (feature `ed25519`).

use http::HeaderName;

use super::conventions::{AckStyle, EnvelopeConfig, Source, pointer};
use super::handshake::Handshake;
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

static X_SIGNATURE_ED25519: HeaderName = HeaderName::from_static("x-signature-ed25519");
static X_SIGNATURE_TIMESTAMP: HeaderName = HeaderName::from_static("x-signature-timestamp");
const NAME: &str = "discord";

/// Discord's request signature (`X-Signature-Ed25519`), for webhook events.
///
/// Discord signs every request to an app's URL with the application's
/// ed25519 key; the receiver checks it with the application's public key,
/// shown in hex on the developer portal's "General Information" page.
/// The signature covers the timestamp and every byte of the body, so the
/// whole event is authentic and a captured request verifies only within the
/// tolerance window.
///
/// Discord sends no event id: dedupe keys on the digest of the (signed)
/// body. Two byte-identical deliveries are one event, which is what a
/// retry is.
///
/// # Webhook events and interactions
///
/// [`Discord`] is made for *webhook events* (`{"version":1,"type":1,
/// "event":{"type":"APPLICATION_AUTHORIZED",…}}`), which are answered
/// `204 No Content` at once and handled in the background: the
/// [`Receiver`](crate::Receiver) does that. Its handshakes are answered by
/// [`VerifyLayer`](crate::VerifyLayer) before anything is kept:
///
/// - the webhook-event PING (`"type":0`) with `204`;
/// - the interactions PING (`"type":1` without `event`) with `{"type":1}`.
///
/// Other *interactions* (slash commands, components, …, `"type":2` and up)
/// need their answer in the HTTP response, which no background handler can
/// give: serve them with [`VerifyLayer`](crate::VerifyLayer) alone around
/// your own synchronous handler, not with the `Receiver` (which would answer
/// them `400 malformed_event`, as they carry no `event`).
///
/// ```
/// use hookwarden::scheme::Discord;
///
/// // The application's public key, in hex, as the developer portal shows it.
/// let scheme =
///     Discord::new(["1b5547c97acac55ce0038ed280a7b09a8f817b10a3f55faf562c32919fcd5be9"])?;
/// assert!(Discord::new(["not hex"]).is_err());
/// # let _ = scheme;
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Discord {
    public_keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl Discord {
    /// Verifies with these application public keys (64 hex digits each);
    /// every one is active, at most 8.
    pub fn new<I, S>(public_keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self { public_keys: super::public_keys(NAME, public_keys, parse_public_key)? })
    }
}

fn parse_public_key(hex_key: &str) -> Result<ed25519_dalek::VerifyingKey, ConfigError> {
    if hex_key.is_empty() {
        return Err(ConfigError::EmptySecret { scheme: NAME });
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes).map_err(|_| ConfigError::UndecodableSecret {
        scheme: NAME,
        expected: "hex of a 32-byte ed25519 public key",
    })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| ConfigError::UndecodableSecret {
        scheme: NAME,
        expected: "a valid ed25519 public key",
    })
}

/// Decodes 128 hex digits into a signature; anything else is malformed.
fn decode_signature(hex_signature: &[u8]) -> Result<ed25519_dalek::Signature, VerifyError> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(hex_signature, &mut bytes).map_err(|_| VerifyError::MalformedSignature)?;
    Ok(ed25519_dalek::Signature::from_bytes(&bytes))
}

/// The signature, the raw timestamp and the checked one.
fn signed_headers<'a>(
    request: &SignedRequest<'a>,
) -> Result<(ed25519_dalek::Signature, &'a [u8], u64), VerifyError> {
    let signature = decode_signature(request.required_header(&X_SIGNATURE_ED25519)?)?;
    let raw_ts = request.header(&X_SIGNATURE_TIMESTAMP)?.ok_or(VerifyError::MalformedSignature)?;
    let timestamp = request.check_timestamp(raw_ts)?;
    Ok((signature, raw_ts, timestamp))
}

impl Scheme for Discord {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (signature, raw_ts, timestamp) = signed_headers(request)?;
        // ed25519 hashes the message twice, so it needs it in one piece.
        let message = [raw_ts, request.body()].concat();
        super::check_every_key(&self.public_keys, |key| {
            key.verify_strict(&message, &signature).is_ok()
        })?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signed_headers(request).map(drop)
    }

    /// Type at `/event/type`; Discord sends no id, so the id (and the
    /// dedupe key) is the digest of the signed body; no version (the
    /// default); the signed timestamp; acknowledged with `204`.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![Source::BodyDigest],
            vec![pointer("/event/type")],
            Vec::new(),
            vec![Source::SignedTimestamp],
        )
        .ack_style(AckStyle::NoContent)
    }

    /// The webhook-event PING (`"type":0`) is answered `204`; the
    /// interactions PING (`"type":1` without `event`) with `{"type":1}`
    /// (a PONG).
    fn handshake(&self, request: &SignedRequest<'_>, _: &Verified) -> Option<Handshake> {
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "type")]
            kind: u64,
            #[serde(default)]
            event: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_slice(request.body()).ok()?;
        match (probe.kind, probe.event) {
            (0, _) => Some(Handshake::no_content("ping")),
            (1, None) => Some(Handshake::json("interactions_ping", br#"{"type":1}"#.to_vec())),
            _ => None,
        }
    }
}

/// Discord's `X-Signature-Ed25519` and `X-Signature-Timestamp` headers, for
/// a signing key given as the hex of its 32-byte seed (or of the 64-byte
/// NaCl secret key, seed then public key).
#[cfg(feature = "testing")]
pub fn sign(signing_key: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    use ed25519_dalek::Signer as _;
    let key = signing_key_from_hex(signing_key);
    let ts = timestamp.to_string();
    let signature = key.sign(&[ts.as_bytes(), body].concat());
    let mut headers = http::HeaderMap::new();
    headers.insert("x-signature-ed25519", super::ascii(hex::encode(signature.to_bytes())));
    headers.insert("x-signature-timestamp", super::ascii(ts));
    headers
}

/// The public key (hex, as the developer portal shows it) that verifies
/// what [`sign`] signs with `signing_key`.
#[cfg(feature = "testing")]
pub fn public_key(signing_key: &str) -> String {
    hex::encode(signing_key_from_hex(signing_key).verifying_key().to_bytes())
}

#[cfg(feature = "testing")]
fn signing_key_from_hex(signing_key: &str) -> ed25519_dalek::SigningKey {
    let bytes = hex::decode(signing_key.trim()).expect("a hex signing key");
    assert!(
        matches!(bytes.len(), 32 | 64),
        "a signing key is 32 bytes (a seed) or 64 (seed and public key)"
    );
    let seed: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if bytes.len() == 64 {
        assert_eq!(bytes[32..], key.verifying_key().to_bytes(), "the public half does not match");
    }
    key
}
