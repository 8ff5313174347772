//! [Standard Webhooks](https://www.standardwebhooks.com/) (as sent by Svix
//! and the services built on it).
//!
//! Headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (or the
//! same with the `svix-` prefix). The signature header is a space-separated
//! list of `version,signature` entries; `v1` is HMAC-SHA256 in base64 over
//! `id.timestamp.body`, keyed with the base64 secret after `whsec_`. With
//! the `ed25519` feature, `v1a` entries are checked against `whpk_` public
//! keys. Entries of other versions are ignored.

#[cfg(any(feature = "ed25519", feature = "testing"))]
use base64::{Engine as _, engine::general_purpose::STANDARD};

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError, split_bounded};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, MAX_SIGNATURES, Mac};

/// At most this many `v1a` (ed25519) signatures are read from one request;
/// more is malformed. With at most [`MAX_PUBLIC_KEYS`] keys, one
/// unauthenticated request costs at most 12 ed25519 checks (each about a
/// hundred times an HMAC over a small body).
#[cfg(feature = "ed25519")]
pub const MAX_V1A_SIGNATURES: usize = 3;

/// At most this many `v1a` public keys are active at once.
#[cfg(feature = "ed25519")]
pub const MAX_PUBLIC_KEYS: usize = 4;

const NAME: &str = "standard-webhooks";

/// Header names (id, timestamp, signature): the standard ones, then Svix's.
static WEBHOOK_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("webhook-id"),
    HeaderName::from_static("webhook-timestamp"),
    HeaderName::from_static("webhook-signature"),
];
static SVIX_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("svix-id"),
    HeaderName::from_static("svix-timestamp"),
    HeaderName::from_static("svix-signature"),
];

/// The Standard Webhooks scheme (`v1`, and `v1a` with the `ed25519`
/// feature).
///
/// ```
/// use hookwarden::scheme::StandardWebhooks;
///
/// // Secrets as the sender shows them, with or without `whsec_`.
/// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
/// assert!(StandardWebhooks::new(["whsec_not base64!"]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    secrets: Option<HmacSecrets>,
    #[cfg(feature = "ed25519")]
    public_keys: Vec<ed25519_dalek::VerifyingKey>,
}

impl StandardWebhooks {
    /// Verifies `v1` signatures with these secrets (`whsec_<base64>`, or
    /// the bare base64). Every one is active.
    pub fn new<I, S>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets = secrets.into_iter().collect::<Vec<_>>();
        let keys = secrets
            .iter()
            .map(|s| {
                let s = s.as_ref();
                s.strip_prefix("whsec_").unwrap_or(s)
            })
            .collect::<Vec<_>>();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(ConfigError::EmptySecret { scheme: NAME });
        }
        Ok(Self {
            secrets: Some(HmacSecrets::from_base64(NAME, keys)?),
            #[cfg(feature = "ed25519")]
            public_keys: Vec::new(),
        })
    }

    /// Verifies only `v1a` (ed25519) signatures, with these public keys
    /// (`whpk_<base64>` or the bare base64 of 32 bytes).
    #[cfg(feature = "ed25519")]
    pub fn with_public_keys<I, S>(keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut scheme = Self { secrets: None, public_keys: Vec::new() };
        for key in keys {
            scheme = scheme.public_key(key.as_ref())?;
        }
        if scheme.public_keys.is_empty() {
            return Err(ConfigError::NoSecret { scheme: NAME });
        }
        Ok(scheme)
    }

    /// Adds a `v1a` public key (`whpk_<base64>`); `v1` and `v1a` signatures
    /// are then both accepted.
    #[cfg(feature = "ed25519")]
    pub fn public_key(mut self, key: &str) -> Result<Self, ConfigError> {
        let bad =
            ConfigError::UndecodableSecret { scheme: NAME, expected: "whpk_ base64 of 32 bytes" };
        let encoded = key.strip_prefix("whpk_").unwrap_or(key);
        let bytes: [u8; 32] =
            STANDARD.decode(encoded).ok().and_then(|b| b.try_into().ok()).ok_or(bad)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| {
            ConfigError::UndecodableSecret { scheme: NAME, expected: "a valid ed25519 public key" }
        })?;
        if self.public_keys.len() == MAX_PUBLIC_KEYS {
            return Err(ConfigError::Invalid {
                what: "standard-webhooks public keys",
                reason: format!("at most {MAX_PUBLIC_KEYS} are active at once"),
            });
        }
        self.public_keys.push(key);
        Ok(self)
    }

    #[cfg(feature = "testing")]
    pub(crate) fn hmac_secrets(&self) -> Option<&HmacSecrets> {
        self.secrets.as_ref()
    }
}

impl Scheme for StandardWebhooks {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let signed = signed_headers(request)?;
        let message: [&[u8]; 5] = [signed.id.as_bytes(), b".", signed.raw_ts, b".", request.body()];
        let mut matched = false;
        if let Some(secrets) = &self.secrets {
            matched |= secrets.verify(&message, signed.macs());
        }
        #[cfg(feature = "ed25519")]
        {
            matched |= self.verify_ed25519(&message, &signed.ed_signatures);
        }
        if !matched {
            return Err(VerifyError::InvalidSignature);
        }
        Ok(Verified::new(NAME).with_timestamp(signed.timestamp).with_signed_id(signed.id))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signed_headers(request).map(drop)
    }

    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![Source::SignedId],
            vec![pointer("/type")],
            vec![pointer("/version")],
            vec![Source::SignedTimestamp],
        )
    }
}

/// What the headers say: the id, the raw and the checked timestamp, and
/// the signatures (at least one of a version this build checks).
struct Signed<'a> {
    id: &'a str,
    raw_ts: &'a [u8],
    timestamp: u64,
    macs: [Mac; MAX_SIGNATURES],
    n_macs: usize,
    #[cfg(feature = "ed25519")]
    ed_signatures: Vec<ed25519_dalek::Signature>,
}

impl Signed<'_> {
    fn macs(&self) -> &[Mac] {
        &self.macs[..self.n_macs]
    }
}

fn signed_headers<'a>(request: &SignedRequest<'a>) -> Result<Signed<'a>, VerifyError> {
    let ([id_name, ts_name, _], signatures) = match request.header(&WEBHOOK_HEADERS[2])? {
        Some(signatures) => (&WEBHOOK_HEADERS, signatures),
        None => (&SVIX_HEADERS, request.required_header(&SVIX_HEADERS[2])?),
    };
    let id = request.header(id_name)?.ok_or(VerifyError::MalformedSignature)?;
    let id = std::str::from_utf8(id).map_err(|_| VerifyError::MalformedSignature)?;
    if id.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    let raw_ts = request.header(ts_name)?.ok_or(VerifyError::MalformedSignature)?;
    let timestamp = request.check_timestamp(raw_ts)?;

    let mut macs = [Mac::from_bytes([0; 32]); MAX_SIGNATURES];
    let mut n_macs = 0;
    #[cfg(feature = "ed25519")]
    let mut ed_signatures = Vec::new();
    for entry in split_bounded(signatures, b' ', MAX_SIGNATURES) {
        let entry = entry?;
        if entry.is_empty() {
            continue; // tolerate doubled spaces
        }
        let comma = entry.iter().position(|&b| b == b',').ok_or(VerifyError::MalformedSignature)?;
        let (version, signature) = (&entry[..comma], &entry[comma + 1..]);
        match version {
            b"v1" => {
                macs[n_macs] = Mac::from_base64(signature)?;
                n_macs += 1;
            }
            #[cfg(feature = "ed25519")]
            b"v1a" if ed_signatures.len() == MAX_V1A_SIGNATURES => {
                return Err(VerifyError::MalformedSignature);
            }
            #[cfg(feature = "ed25519")]
            b"v1a" => ed_signatures.push(decode_ed25519(signature)?),
            _ => {}
        }
    }
    #[cfg_attr(not(feature = "ed25519"), allow(unused_mut))]
    let mut candidates = n_macs;
    #[cfg(feature = "ed25519")]
    {
        candidates += ed_signatures.len();
    }
    if candidates == 0 {
        // Nothing we know how to check: no signature at all.
        return Err(VerifyError::MalformedSignature);
    }
    Ok(Signed {
        id,
        raw_ts,
        timestamp,
        macs,
        n_macs,
        #[cfg(feature = "ed25519")]
        ed_signatures,
    })
}

#[cfg(feature = "ed25519")]
fn decode_ed25519(signature: &[u8]) -> Result<ed25519_dalek::Signature, VerifyError> {
    // 64 bytes are 88 base64 characters with padding.
    if signature.len() != 88 {
        return Err(VerifyError::MalformedSignature);
    }
    let mut buf = [0u8; 66];
    match STANDARD.decode_slice(signature, &mut buf) {
        Ok(64) => {
            let bytes: [u8; 64] = buf[..64].try_into().expect("64 bytes");
            Ok(ed25519_dalek::Signature::from_bytes(&bytes))
        }
        _ => Err(VerifyError::MalformedSignature),
    }
}

#[cfg(feature = "ed25519")]
impl StandardWebhooks {
    fn verify_ed25519(&self, message: &[&[u8]], signatures: &[ed25519_dalek::Signature]) -> bool {
        if self.public_keys.is_empty() || signatures.is_empty() {
            return false;
        }
        // ed25519 verification needs the message in one piece.
        let joined = message.concat();
        let mut matched = false;
        for key in &self.public_keys {
            for signature in signatures {
                // Public-key checks leak nothing secret; still, check all.
                matched |= key.verify_strict(&joined, signature).is_ok();
            }
        }
        matched
    }
}

/// Standard Webhooks `v1` headers (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) for a `whsec_…` secret.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    let scheme = StandardWebhooks::new([secret]).expect("a valid whsec_ secret");
    let secrets = scheme.hmac_secrets().expect("an HMAC scheme");
    let ts = timestamp.to_string();
    let tag = secrets.sign(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", super::ascii(id.to_owned()));
    headers.insert("webhook-timestamp", super::ascii(ts));
    headers.insert("webhook-signature", super::ascii(format!("v1,{}", STANDARD.encode(tag))));
    headers
}

/// Standard Webhooks `v1a` (ed25519) headers for a `whsk_…` signing key
/// (the base64 of a 32-byte seed).
#[cfg(all(feature = "testing", feature = "ed25519"))]
pub fn sign_ed25519(signing_key: &str, id: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    use ed25519_dalek::Signer as _;
    let key = ed25519_signing_key(signing_key);
    let ts = timestamp.to_string();
    let message = [id.as_bytes(), b".", ts.as_bytes(), b".", body].concat();
    let signature = key.sign(&message);
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", super::ascii(id.to_owned()));
    headers.insert("webhook-timestamp", super::ascii(ts));
    headers.insert(
        "webhook-signature",
        super::ascii(format!("v1a,{}", STANDARD.encode(signature.to_bytes()))),
    );
    headers
}

/// The `whpk_` public key that verifies signatures of a `whsk_` key.
#[cfg(all(feature = "testing", feature = "ed25519"))]
pub fn ed25519_public_key(signing_key: &str) -> String {
    let key = ed25519_signing_key(signing_key);
    format!("whpk_{}", STANDARD.encode(key.verifying_key().to_bytes()))
}

/// The key of a `whsk_…` string (the base64 of a 32-byte seed).
#[cfg(all(feature = "testing", feature = "ed25519"))]
fn ed25519_signing_key(signing_key: &str) -> ed25519_dalek::SigningKey {
    let seed: [u8; 32] = STANDARD
        .decode(signing_key.strip_prefix("whsk_").unwrap_or(signing_key))
        .ok()
        .and_then(|b| b.try_into().ok())
        .expect("a whsk_ key of 32 bytes");
    ed25519_dalek::SigningKey::from_bytes(&seed)
}
