//! Signature schemes: how each sender signs a delivery, and how it is checked.
//!
//! A [`Scheme`] looks at the headers and the exact bytes of the body and
//! either vouches for the request with [`Verified`] facts or refuses it with
//! a [`VerifyError`]. The built-in schemes, one per module:
//!
//! | scheme | header | signed content | timestamp | signed id |
//! | --- | --- | --- | --- | --- |
//! | [`StandardWebhooks`] (Svix) | `webhook-signature` (`v1,<base64>` …) | `id.timestamp.body` | `webhook-timestamp` | `webhook-id` |
//! | [`GitHub`] | `X-Hub-Signature-256` (`sha256=<hex>`) | body | — | — |
//! | [`Stripe`] | `Stripe-Signature` (`t=…,v1=<hex>`) | `t.body` | `t` | — |
//! | [`Slack`] | `X-Slack-Signature` (`v0=<hex>`) | `v0:timestamp:body` | `X-Slack-Request-Timestamp` | — |
//! | [`Shopify`] | `X-Shopify-Hmac-Sha256` (base64) | body | — | — |
//! | [`Logto`] | `logto-signature-sha-256` (hex) | body | — | — |
//! | [`Zoom`] | `x-zm-signature` (`v0=<hex>`) | `v0:timestamp:body` | `x-zm-request-timestamp` | — |
//! | [`Twitch`] (EventSub) | `Twitch-Eventsub-Message-Signature` (`sha256=<hex>`) | `id` + `timestamp` + `body` | `Twitch-Eventsub-Message-Timestamp` (RFC 3339) | `Twitch-Eventsub-Message-Id` |
//! | [`Paddle`] (Billing) | `Paddle-Signature` (`ts=…;h1=<hex>` …) | `ts:body` | `ts` | — |
//! | [`Linear`] | `Linear-Signature` (hex) | body | body `webhookTimestamp` (ms), checked after the signature | — |
//! | [`Square`] | `x-square-hmacsha256-signature` (base64) | notification URL + body | — | — |
//! | [`Twilio`] | `X-Twilio-Signature` (base64 HMAC-SHA1) | URL + sorted form parameters, or URL with `bodySHA256` | — | — |
//! | [`Intercom`] | `X-Hub-Signature` (`sha1=<hex>`, HMAC-SHA1) | body | — | — |
//! | [`GitLab`] | `X-Gitlab-Token` (the token itself: **not a signature**) | nothing | — | — |
//! | [`GenericHmac`] | configurable | body, or `timestamp.body` | optional | — |
//! | `Discord` (feature `ed25519`) | `X-Signature-Ed25519` (hex ed25519) | `timestamp + body` | `X-Signature-Timestamp` | — (body digest) |
//! | `SendGrid` (feature `p256`) | `X-Twilio-Email-Event-Webhook-Signature` (base64 DER ECDSA P-256) | `timestamp + body` | `X-Twilio-Email-Event-Webhook-Timestamp` | — (body: each event's `sg_event_id`) |
//! | [`Mailgun`] | body `signature.signature` (hex) | `timestamp + token` only, **not the event data** | body `signature.timestamp` | `signature.token` |
//!
//! Schemes without a signed timestamp (GitHub, Shopify, Logto, GitLab,
//! Square, Twilio, Intercom, and the generic scheme without one) cannot
//! refuse a replayed delivery by its age. Where the delivery id is an
//! unsigned header (GitHub, Shopify, Zoom, GitLab, Linear, Twilio, the
//! generic scheme's `X-Webhook-Id`), the scheme's conventions dedupe on a
//! digest of the signed body instead, so a replay under a fresh id is
//! still a duplicate ([`DedupeKey`]).
//!
//! # Writing your own scheme
//!
//! Implement [`Scheme`]; [`SignedRequest`] offers the header and timestamp
//! rules every built-in scheme follows, and
//! [`HmacSecrets`](crate::mac::HmacSecrets) the constant-time check:
//!
//! ```
//! use hookwarden::mac::{HmacSecrets, Mac};
//! use hookwarden::scheme::{Scheme, SignedRequest, Verified, VerifyError};
//!
//! /// `X-Acme-Signature: <hex HMAC-SHA256 of the body>`
//! #[derive(Debug)]
//! struct Acme(HmacSecrets);
//!
//! impl Scheme for Acme {
//!     fn name(&self) -> &'static str {
//!         "acme"
//!     }
//!
//!     fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
//!         let header = request.required_header("x-acme-signature")?;
//!         let received = Mac::from_hex(header)?;
//!         if self.0.verify(&[request.body()], &[received]) {
//!             Ok(Verified::new(self.name()))
//!         } else {
//!             Err(VerifyError::InvalidSignature)
//!         }
//!     }
//! }
//! # let _ = Acme(HmacSecrets::new("acme", ["secret"]).unwrap());
//! ```
//!
//! A scheme whose signature is in the headers should also implement
//! [`Scheme::precheck`] (the header steps of `verify`, without the body),
//! so that a request without a usable signature is refused without waiting
//! for its body; every built-in scheme does, but Mailgun, which signs in the
//! body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::AsHeaderName;
use http::{HeaderMap, Uri};

pub use crate::error::VerifyError;
use crate::mac::{MAX_SIGNATURES, Mac};

mod conventions;
#[cfg(feature = "ed25519")]
pub(crate) mod discord;
pub(crate) mod generic_hmac;
pub(crate) mod github;
pub(crate) mod gitlab;
mod handshake;
pub(crate) mod intercom;
pub(crate) mod linear;
pub(crate) mod logto;
pub(crate) mod mailgun;
pub(crate) mod paddle;
#[cfg(feature = "p256")]
pub(crate) mod sendgrid;
pub(crate) mod shopify;
pub(crate) mod slack;
pub(crate) mod square;
pub(crate) mod standard_webhooks;
pub(crate) mod stripe;
pub(crate) mod twilio;
pub(crate) mod twitch;
pub(crate) mod zoom;

pub use conventions::{
    AckStyle, BodyFormat, DEFAULT_VERSION, DedupeKey, EnvelopeConfig, JsonPointer, Source,
};
#[cfg(feature = "ed25519")]
pub use discord::Discord;
pub use generic_hmac::{Encoding, GenericHmac, SignedContent};
pub use github::GitHub;
pub use gitlab::GitLab;
pub use handshake::Handshake;
pub use intercom::Intercom;
pub use linear::Linear;
pub use logto::Logto;
pub use mailgun::Mailgun;
pub use paddle::Paddle;
#[cfg(feature = "p256")]
pub use sendgrid::SendGrid;
pub use shopify::Shopify;
pub use slack::Slack;
pub use square::Square;
pub use standard_webhooks::StandardWebhooks;
#[cfg(feature = "ed25519")]
pub use standard_webhooks::{MAX_PUBLIC_KEYS, MAX_V1A_SIGNATURES};
pub use stripe::Stripe;
pub use twilio::Twilio;
pub use twitch::Twitch;
pub use zoom::Zoom;

/// A sender: how it signs a delivery, and its conventions.
///
/// Implementations must compare in constant time and must not log or return
/// anything derived from a secret. Only [`name`](Self::name) and
/// [`verify`](Self::verify) are required; the conventions default to the
/// generic ones.
pub trait Scheme: Send + Sync + fmt::Debug + 'static {
    /// A short lowercase name, e.g. `"github"`; recorded in [`Verified`]
    /// and the first part of every dedupe key.
    fn name(&self) -> &'static str;

    /// Checks the request's signature over its exact body bytes.
    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError>;

    /// Refuses, before the body is waited for, a request that
    /// [`verify`](Self::verify) would refuse whatever the body: the
    /// signature header missing or unparsable, the signed timestamp outside
    /// the tolerance window.
    ///
    /// [`Verify`](crate::verify::Verify) calls it with the headers, the
    /// target and an **empty** body when the body has not all arrived with
    /// the headers, so a sender that trickles a body behind a missing or
    /// stale signature is answered at once instead of holding memory (and a
    /// slot of [`max_inflight`](crate::verify::VerifyLayer::max_inflight))
    /// while it arrives. (A body that did arrive whole goes straight to
    /// `verify`.) Two rules, or deliveries are lost: it must accept every
    /// request `verify` accepts, and refuse only with the error `verify`
    /// would give. The simplest way to keep both is to run the header steps
    /// of `verify`, in the same order, and stop before the body. The
    /// default accepts everything (right for a scheme whose signature is in
    /// the body, such as [`Mailgun`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use hookwarden::scheme::{GitHub, Scheme, SignedRequest, VerifyError};
    /// use http::HeaderMap;
    ///
    /// let scheme = GitHub::new(["It's a Secret to Everybody"]).unwrap();
    /// let no_signature = HeaderMap::new();
    /// let request = SignedRequest::new(&no_signature, b"", 0, Duration::from_secs(300));
    /// assert_eq!(scheme.precheck(&request), Err(VerifyError::MissingSignature));
    /// ```
    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        let _ = request;
        Ok(())
    }

    /// Where this sender puts the envelope fields (id, type, version,
    /// timestamp), what dedupe keys on, what the body is and how a kept
    /// delivery is acknowledged; [`EnvelopeConfig::generic`] unless
    /// overridden.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::generic()
    }

    /// The synchronous answer this request needs, if it is a handshake
    /// rather than an event (Slack's `url_verification`, Discord's PING, …).
    ///
    /// Called only after [`verify`](Self::verify) succeeded, with the same
    /// request; `None` (the default) for events.
    fn handshake(&self, request: &SignedRequest<'_>, verified: &Verified) -> Option<Handshake> {
        let _ = (request, verified);
        None
    }
}

macro_rules! forward_scheme {
    ($($pointer:ident),*) => {$(
        impl<T: Scheme + ?Sized> Scheme for $pointer<T> {
            fn name(&self) -> &'static str {
                (**self).name()
            }

            fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
                (**self).verify(request)
            }

            fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
                (**self).precheck(request)
            }

            fn envelope(&self) -> EnvelopeConfig {
                (**self).envelope()
            }

            fn handshake(
                &self,
                request: &SignedRequest<'_>,
                verified: &Verified,
            ) -> Option<Handshake> {
                (**self).handshake(request, verified)
            }
        }
    )*};
}

forward_scheme!(Arc, Box);

/// What a scheme sees of a request: headers, the exact body bytes, the
/// current time and the tolerance for timestamps.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    headers: &'a HeaderMap,
    body: &'a [u8],
    now: u64,
    tolerance: Duration,
    uri: Option<&'a Uri>,
}

impl<'a> SignedRequest<'a> {
    /// A request as received at `now` (Unix seconds), with timestamps
    /// accepted up to `tolerance` away from `now` in either direction.
    pub fn new(headers: &'a HeaderMap, body: &'a [u8], now: u64, tolerance: Duration) -> Self {
        Self { headers, body, now, tolerance, uri: None }
    }

    /// The request's target (path and query, as received), for schemes
    /// that sign the URL (Twilio, Square) together with the public URL
    /// they were configured with.
    pub fn with_uri(mut self, uri: &'a Uri) -> Self {
        self.uri = Some(uri);
        self
    }

    /// The request's target, when known (see [`with_uri`](Self::with_uri)).
    pub fn uri(&self) -> Option<&'a Uri> {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The body, exactly as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The current time, in Unix seconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// How far a signed timestamp may be from [`now`](Self::now).
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// The value of a header that must appear at most once.
    ///
    /// A header repeated with the same value counts once; repeated with
    /// different values it is malformed (which one would the sender mean?).
    pub fn header(&self, name: impl AsHeaderName) -> Result<Option<&'a [u8]>, VerifyError> {
        let mut values = self.headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.any(|other| other != first) {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(Some(first.as_bytes()))
    }

    /// Like [`header`](Self::header), but a missing header is
    /// [`VerifyError::MissingSignature`].
    pub fn required_header(&self, name: impl AsHeaderName) -> Result<&'a [u8], VerifyError> {
        self.header(name)?.ok_or(VerifyError::MissingSignature)
    }

    /// Parses a Unix timestamp in seconds and checks it against the
    /// tolerance window, in the past and the future.
    ///
    /// Only ASCII digits are accepted: a sign, spaces, a fraction or a value
    /// beyond `u64` is malformed. No arithmetic on it can overflow.
    pub fn check_timestamp(&self, raw: &[u8]) -> Result<u64, VerifyError> {
        let timestamp = parse_unix_seconds(raw).ok_or(VerifyError::MalformedSignature)?;
        if self.now.abs_diff(timestamp) > self.tolerance.as_secs() {
            return Err(VerifyError::TimestampOutOfTolerance);
        }
        Ok(timestamp)
    }
}

fn parse_unix_seconds(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() {
        return None;
    }
    raw.iter().try_fold(0u64, |acc, &d| {
        let digit = d.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// What a successful verification vouches for, left in the request's
/// extensions by [`Verify`](crate::verify::Verify) for later layers and
/// handlers.
///
/// Its presence is the proof that the request was verified: layers that must
/// only see authentic requests (dedupe) refuse to work without it.
#[derive(Clone)]
pub struct Verified {
    scheme: &'static str,
    timestamp: Option<u64>,
    signed_id: Option<Arc<str>>,
    tenant: Option<Box<str>>,
    body: Bytes,
}

impl Verified {
    /// Facts for a request verified by the scheme named `scheme`.
    pub fn new(scheme: &'static str) -> Self {
        Self { scheme, timestamp: None, signed_id: None, tenant: None, body: Bytes::new() }
    }

    /// Records the signed timestamp (Unix seconds).
    pub fn with_timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Records an event id that the signature covers.
    pub fn with_signed_id(mut self, id: &str) -> Self {
        self.signed_id = Some(id.into());
        self
    }

    pub(crate) fn with_tenant(mut self, tenant: Box<str>) -> Self {
        self.tenant = Some(tenant);
        self
    }

    pub(crate) fn with_body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }

    /// The name of the scheme that verified the request.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The signed timestamp, for schemes that sign one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// The event id, for schemes whose signature covers it.
    pub fn signed_id(&self) -> Option<&str> {
        self.signed_id.as_deref()
    }

    /// The signed id, shared with the envelope that takes it as its id.
    pub(crate) fn shared_signed_id(&self) -> Option<&Arc<str>> {
        self.signed_id.as_ref()
    }

    /// The tenant whose secrets verified the request, when the
    /// [`VerifyLayer`](crate::VerifyLayer) serves
    /// [several](crate::verify::Tenants).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The exact body bytes that were verified (a cheap clone).
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp)
            .field("signed_id", &self.signed_id)
            .field("tenant", &self.tenant)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A header value for a test signer.
#[cfg(feature = "testing")]
pub(crate) fn ascii(text: String) -> http::HeaderValue {
    http::HeaderValue::try_from(text).expect("signed header values are ASCII")
}

/// Whether `needle` occurs in `haystack`: a cheap test before parsing a
/// body for a handshake.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// At most this many public keys are active at once in a scheme with key
/// pairs (Discord, SendGrid): with a few signatures per request at most, the
/// work one unauthenticated request can cause stays small.
pub const MAX_PUBLIC_KEYS_PER_SCHEME: usize = 8;

/// Parses the public keys of a scheme with key pairs: at least one, at
/// most [`MAX_PUBLIC_KEYS_PER_SCHEME`].
#[cfg(any(feature = "ed25519", feature = "p256"))]
pub(crate) fn public_keys<K, I, S>(
    scheme: &'static str,
    keys: I,
    parse: impl Fn(&str) -> Result<K, crate::error::ConfigError>,
) -> Result<Vec<K>, crate::error::ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut parsed = Vec::new();
    for key in keys {
        if parsed.len() == MAX_PUBLIC_KEYS_PER_SCHEME {
            return Err(crate::error::ConfigError::Invalid {
                what: "public keys",
                reason: format!(
                    "{scheme}: at most {MAX_PUBLIC_KEYS_PER_SCHEME} may be active at once"
                ),
            });
        }
        parsed.push(parse(key.as_ref().trim())?);
    }
    if parsed.is_empty() {
        return Err(crate::error::ConfigError::NoSecret { scheme });
    }
    Ok(parsed)
}

/// Checks a signature against every public key, with no early exit (public
/// data, but the same habit as the MAC checks), as a scheme with key pairs
/// answers: [`VerifyError::InvalidSignature`] when no key verifies it.
#[cfg(any(feature = "ed25519", feature = "p256"))]
pub(crate) fn check_every_key<K>(
    keys: &[K],
    verifies: impl Fn(&K) -> bool,
) -> Result<(), VerifyError> {
    let matched = keys.iter().fold(false, |matched, key| matched | verifies(key));
    if matched { Ok(()) } else { Err(VerifyError::InvalidSignature) }
}

/// Slack's signature, which Zoom copied: `v0=<hex>` in `signature`, over
/// `v0:{timestamp}:{body}` with the Unix timestamp in `timestamp`. Returns
/// the checked timestamp.
pub(crate) fn verify_v0(
    secrets: &crate::mac::HmacSecrets,
    request: &SignedRequest<'_>,
    signature: &http::HeaderName,
    timestamp: &http::HeaderName,
) -> Result<u64, VerifyError> {
    let (received, raw_ts, checked) = v0_headers(request, signature, timestamp)?;
    secrets.check(&[b"v0:", raw_ts, b":", request.body()], &[received])?;
    Ok(checked)
}

/// The header half of [`verify_v0`]: the received tag, the raw timestamp
/// and the checked one (a scheme's [`Scheme::precheck`]).
pub(crate) fn v0_headers<'a>(
    request: &SignedRequest<'a>,
    signature: &http::HeaderName,
    timestamp: &http::HeaderName,
) -> Result<(Mac, &'a [u8], u64), VerifyError> {
    let header = request.required_header(signature)?;
    let hex = header.strip_prefix(b"v0=").ok_or(VerifyError::MalformedSignature)?;
    let received = Mac::from_hex(hex)?;
    let raw_ts = request.header(timestamp)?.ok_or(VerifyError::MalformedSignature)?;
    let checked = request.check_timestamp(raw_ts)?;
    Ok((received, raw_ts, checked))
}

/// A signature header of `key=value` pairs, such as Stripe's
/// `t=…,v1=…,v1=…` or Paddle's `ts=…;h1=…`: one timestamp (repeated only
/// with the same value) and up to [`MAX_SIGNATURES`] hex tags; other keys
/// are ignored.
pub(crate) struct KeyedTags<'a> {
    /// The raw timestamp, as signed.
    pub(crate) timestamp: &'a [u8],
    tags: [Mac; MAX_SIGNATURES],
    count: usize,
}

impl<'a> KeyedTags<'a> {
    /// Parses `header`: pairs split on `sep`, the timestamp under
    /// `timestamp_key`, tags under `tag_key`; with `trim`, spaces around
    /// keys and values are ignored. No timestamp or no tag is malformed.
    pub(crate) fn parse(
        header: &'a [u8],
        sep: u8,
        timestamp_key: &[u8],
        tag_key: &[u8],
        trim: bool,
    ) -> Result<Self, VerifyError> {
        let mut timestamp: Option<&[u8]> = None;
        let mut tags = [Mac::from_bytes([0; 32]); MAX_SIGNATURES];
        let mut count = 0;
        for pair in split_bounded(header, sep, MAX_SIGNATURES + 2) {
            let pair = pair?;
            let eq = pair.iter().position(|&b| b == b'=').ok_or(VerifyError::MalformedSignature)?;
            let (mut key, mut value) = (&pair[..eq], &pair[eq + 1..]);
            if trim {
                (key, value) = (key.trim_ascii(), value.trim_ascii());
            }
            if key == timestamp_key {
                if timestamp.is_some_and(|t| t != value) {
                    return Err(VerifyError::MalformedSignature);
                }
                timestamp = Some(value);
            } else if key == tag_key {
                if count == MAX_SIGNATURES {
                    return Err(VerifyError::MalformedSignature);
                }
                tags[count] = Mac::from_hex(value)?;
                count += 1;
            }
        }
        let timestamp = timestamp.ok_or(VerifyError::MalformedSignature)?;
        if count == 0 {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(Self { timestamp, tags, count })
    }

    /// The tags received.
    pub(crate) fn tags(&self) -> &[Mac] {
        &self.tags[..self.count]
    }
}

/// Splits `s` on `sep`; past `max` parts the iterator yields an error, so
/// a hostile header cannot cause unbounded work.
pub(crate) fn split_bounded(
    s: &[u8],
    sep: u8,
    max: usize,
) -> impl Iterator<Item = Result<&[u8], VerifyError>> {
    s.split(move |&b| b == sep)
        .enumerate()
        .map(move |(i, part)| if i < max { Ok(part) } else { Err(VerifyError::MalformedSignature) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_digits_only_and_cannot_overflow() {
        assert_eq!(parse_unix_seconds(b"1614265330"), Some(1_614_265_330));
        assert_eq!(parse_unix_seconds(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_unix_seconds(b"18446744073709551616"), None);
        assert_eq!(parse_unix_seconds(b"99999999999999999999999"), None);
        for bad in [&b""[..], b"-1", b"+1", b" 1", b"1.5", b"1e9", b"0x10"] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tolerance_applies_both_ways() {
        let headers = HeaderMap::new();
        let request = SignedRequest::new(&headers, b"", 1000, Duration::from_secs(300));
        assert_eq!(request.check_timestamp(b"700"), Ok(700));
        assert_eq!(request.check_timestamp(b"1300"), Ok(1300));
        assert_eq!(request.check_timestamp(b"699"), Err(VerifyError::TimestampOutOfTolerance));
        assert_eq!(request.check_timestamp(b"1301"), Err(VerifyError::TimestampOutOfTolerance));
        assert_eq!(
            request.check_timestamp(b"18446744073709551615"),
            Err(VerifyError::TimestampOutOfTolerance)
        );
    }

    #[test]
    fn a_header_repeated_with_different_values_is_malformed() {
        let mut headers = HeaderMap::new();
        headers.append("x-sig", "a".parse().unwrap());
        headers.append("x-sig", "a".parse().unwrap());
        let request = SignedRequest::new(&headers, b"", 0, Duration::ZERO);
        assert_eq!(request.header("x-sig"), Ok(Some(&b"a"[..])));
        headers.append("x-sig", "b".parse().unwrap());
        let request = SignedRequest::new(&headers, b"", 0, Duration::ZERO);
        assert_eq!(request.header("x-sig"), Err(VerifyError::MalformedSignature));
        assert_eq!(request.required_header("x-other"), Err(VerifyError::MissingSignature));
    }
}
