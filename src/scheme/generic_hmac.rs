//! A configurable HMAC-SHA256 scheme for senders without a preset, such as
//! your own services.
//!
//! The signature is one header holding the hex or base64 tag, optionally
//! after a prefix like `sha256=`. Optionally a timestamp header is read,
//! checked against the tolerance window and signed with the body as
//! `timestamp.body`; a timestamp the signature does not cover is never
//! checked (anyone could change it), so configuring one without signing it
//! is refused.
//!
//! Its defaults accept the sender most webhook guides show, as written:
//! `X-Webhook-Signature: <hex HMAC-SHA256 of JSON.stringify(payload)>`, an
//! optional `X-Webhook-Version`, and no id at all (the id is then the
//! digest of the body); see [`EnvelopeConfig::generic`].

use std::borrow::Cow;

use http::HeaderName;

use super::conventions::EnvelopeConfig;
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac};

/// How the tag is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// 64 hex digits, either case.
    #[default]
    Hex,
    /// Standard padded base64 (44 characters).
    Base64,
}

/// What the sender's HMAC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignedContent {
    /// The body alone.
    #[default]
    Body,
    /// The timestamp header's value, a `.`, then the body.
    TimestampDotBody,
}

/// A generic HMAC-SHA256 scheme, configured with [`GenericHmac::builder`].
///
/// Defaults: header `X-Webhook-Signature`, hex, an optional `sha256=`
/// prefix, no timestamp, the body signed, the
/// [generic conventions](EnvelopeConfig::generic).
///
/// ```
/// use hookwarden::scheme::{Encoding, GenericHmac, SignedContent};
///
/// let scheme = GenericHmac::builder()
///     .secret("s3cr3t")
///     .header("X-Signature")
///     .encoding(Encoding::Base64)
///     .timestamp_header("X-Timestamp")
///     .signed_content(SignedContent::TimestampDotBody)
///     .build()
///     .unwrap();
/// # let _ = scheme;
/// assert!(GenericHmac::builder().build().is_err(), "a secret is required");
/// ```
#[derive(Debug, Clone)]
pub struct GenericHmac {
    name: &'static str,
    header: HeaderName,
    encoding: Encoding,
    prefix: Option<(Cow<'static, str>, Prefix)>,
    /// Set only when signed with the body (`build` refuses anything else).
    timestamp_header: Option<HeaderName>,
    secrets: HmacSecrets,
    envelope: EnvelopeConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Required,
    Optional,
}

impl GenericHmac {
    /// A builder with the defaults above and no secret yet.
    pub fn builder() -> GenericHmacBuilder {
        GenericHmacBuilder::default()
    }

    /// The presets (GitHub, Shopify, Logto) are this scheme with fixed
    /// settings.
    pub(crate) fn preset<I, K>(
        name: &'static str,
        header: &'static str,
        encoding: Encoding,
        prefix: Option<(&'static str, bool)>,
        secrets: I,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self {
            name,
            header: HeaderName::from_static(header),
            encoding,
            prefix: prefix.map(|(p, required)| {
                (Cow::Borrowed(p), if required { Prefix::Required } else { Prefix::Optional })
            }),
            timestamp_header: None,
            secrets: HmacSecrets::new(name, secrets)?,
            envelope: EnvelopeConfig::generic(),
        })
    }

    /// The received tag and, when configured, the raw and the checked
    /// timestamp: everything [`verify`](Scheme::verify) reads before the
    /// body.
    fn signature<'a>(
        &self,
        request: &SignedRequest<'a>,
    ) -> Result<(Mac, Option<SignedTimestamp<'a>>), VerifyError> {
        let mut value = request.required_header(&self.header)?;
        if let Some((prefix, kind)) = &self.prefix {
            match value.strip_prefix(prefix.as_bytes()) {
                Some(rest) => value = rest,
                None if *kind == Prefix::Required => return Err(VerifyError::MalformedSignature),
                None => {}
            }
        }
        let received = match self.encoding {
            Encoding::Hex => Mac::from_hex(value)?,
            Encoding::Base64 => Mac::from_base64(value)?,
        };
        let timestamp = match &self.timestamp_header {
            Some(name) => {
                let raw = request.header(name)?.ok_or(VerifyError::MalformedSignature)?;
                Some((raw, request.check_timestamp(raw)?))
            }
            None => None,
        };
        Ok((received, timestamp))
    }

    #[cfg(feature = "testing")]
    pub(crate) fn sign_headers(&self, timestamp: u64, body: &[u8]) -> http::HeaderMap {
        use base64::Engine as _;
        let ts = timestamp.to_string();
        let tag = match &self.timestamp_header {
            Some(_) => self.secrets.sign(&[ts.as_bytes(), b".", body]),
            None => self.secrets.sign(&[body]),
        };
        let encoded = match self.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        };
        let value = match &self.prefix {
            Some((prefix, _)) => format!("{prefix}{encoded}"),
            None => encoded,
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(self.header.clone(), value.parse().expect("ASCII"));
        if let Some(name) = &self.timestamp_header {
            headers.insert(name.clone(), ts.parse().expect("ASCII"));
        }
        headers
    }
}

impl Scheme for GenericHmac {
    fn name(&self) -> &'static str {
        self.name
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (received, timestamp) = self.signature(request)?;
        let mut verified = Verified::new(self.name);
        // `build` makes sure a timestamp header is always signed.
        let matched = match timestamp {
            Some((raw, checked)) => {
                verified = verified.with_timestamp(checked);
                self.secrets.verify(&[raw, b".", request.body()], &[received])
            }
            None => self.secrets.verify(&[request.body()], &[received]),
        };
        if matched { Ok(verified) } else { Err(VerifyError::InvalidSignature) }
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        self.signature(request).map(drop)
    }

    fn envelope(&self) -> EnvelopeConfig {
        self.envelope.clone()
    }
}

/// A signed timestamp: as received, and as checked (Unix seconds).
type SignedTimestamp<'a> = (&'a [u8], u64);

/// Configures a [`GenericHmac`]; errors are reported by
/// [`build`](Self::build).
#[derive(Default)]
pub struct GenericHmacBuilder {
    secrets: Vec<zeroize::Zeroizing<Vec<u8>>>,
    header: Option<String>,
    encoding: Encoding,
    prefix: Option<Option<String>>,
    timestamp_header: Option<String>,
    signed: SignedContent,
    envelope: Option<EnvelopeConfig>,
}

impl std::fmt::Debug for GenericHmacBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericHmacBuilder")
            .field("secrets", &self.secrets.len())
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl GenericHmacBuilder {
    /// Adds an active secret (raw bytes). Call again to rotate.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(zeroize::Zeroizing::new(secret.as_ref().to_vec()));
        self
    }

    /// The header that carries the signature (default `X-Webhook-Signature`).
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Hex (default) or base64.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// A prefix the header value must start with, e.g. `sha256=`. By
    /// default `sha256=` is accepted but not required.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(Some(prefix.into()));
        self
    }

    /// No prefix at all.
    pub fn no_prefix(mut self) -> Self {
        self.prefix = Some(None);
        self
    }

    /// A header with the Unix timestamp of sending, signed as
    /// `timestamp.body` and checked against the tolerance window. (Setting
    /// [`signed_content`](Self::signed_content) back to the body alone is
    /// refused by [`build`](Self::build): an unsigned timestamp proves
    /// nothing.)
    pub fn timestamp_header(mut self, name: impl Into<String>) -> Self {
        self.timestamp_header = Some(name.into());
        self.signed = SignedContent::TimestampDotBody;
        self
    }

    /// What the HMAC covers.
    pub fn signed_content(mut self, signed: SignedContent) -> Self {
        self.signed = signed;
        self
    }

    /// Where the envelope fields are (default
    /// [`EnvelopeConfig::generic`]).
    pub fn envelope(mut self, config: EnvelopeConfig) -> Self {
        self.envelope = Some(config);
        self
    }

    /// Checks the configuration and pre-keys the secrets.
    pub fn build(self) -> Result<GenericHmac, ConfigError> {
        let header = parse_header(self.header.as_deref().unwrap_or("x-webhook-signature"))?;
        let timestamp_header = self.timestamp_header.as_deref().map(parse_header).transpose()?;
        match (self.signed, &timestamp_header) {
            (SignedContent::TimestampDotBody, None) => {
                return Err(ConfigError::Invalid {
                    what: "hmac signed content",
                    reason: "signing the timestamp needs a timestamp header".into(),
                });
            }
            (SignedContent::Body, Some(_)) => {
                return Err(ConfigError::Invalid {
                    what: "hmac timestamp header",
                    reason: "a timestamp the signature does not cover could be changed by anyone; \
                             sign it (SignedContent::TimestampDotBody) or do not check it"
                        .into(),
                });
            }
            _ => {}
        }
        let prefix = match self.prefix {
            None => Some((Cow::Borrowed("sha256="), Prefix::Optional)),
            Some(None) => None,
            Some(Some(p)) if p.is_empty() => None,
            Some(Some(p)) => Some((Cow::Owned(p), Prefix::Required)),
        };
        Ok(GenericHmac {
            name: "hmac",
            header,
            encoding: self.encoding,
            prefix,
            timestamp_header,
            secrets: HmacSecrets::new("hmac", self.secrets.iter().map(|s| s.as_slice()))?,
            envelope: self.envelope.unwrap_or_default(),
        })
    }
}

fn parse_header(name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::try_from(name).map_err(|_| ConfigError::InvalidHeaderName { name: name.to_owned() })
}

/// The headers a [`GenericHmac`] scheme expects, signed with its first
/// secret (the timestamp is used only if the scheme has a timestamp header).
#[cfg(feature = "testing")]
pub fn sign(scheme: &GenericHmac, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    scheme.sign_headers(timestamp, body)
}
