//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed with the
//! account's auth token over the request URL and, for form bodies, every
//! POST parameter.
//!
//! # What is signed
//!
//! * **Form bodies** (`application/x-www-form-urlencoded`, what Twilio
//!   sends for messaging and voice webhooks): the full URL, then each
//!   parameter's name and value (percent-decoded), sorted by name and then
//!   by value, in byte order, concatenated with nothing between them.
//! * **JSON bodies**: Twilio adds a `bodySHA256` query parameter, the hex
//!   SHA-256 of the body, and signs the URL alone (so the digest is signed).
//!   The body's SHA-256 must equal that parameter; both the signature and
//!   the digest are compared in constant time, and a request fails if
//!   either differs. A `bodySHA256` parameter anywhere in the query selects
//!   this mode.
//!
//! # The URL
//!
//! The URL that is signed is the one Twilio requested. It is rebuilt as
//! `public_url` (configured: `scheme://host[:port]`, nothing after it) joined
//! with the path and query of the request exactly as received
//! ([`SignedRequest::uri`]: percent-encoding and parameter order
//! untouched). The `Host` header, `X-Forwarded-*` and any authority in the
//! request line are never used, so a client cannot choose which URL its
//! signature is checked against. A proxy in front of the receiver must
//! pass the path and query through unchanged (a proxy that strips a prefix
//! breaks every signature). A request whose target is unknown (a
//! [`SignedRequest`] built without [`with_uri`](SignedRequest::with_uri))
//! is refused.
//!
//! Like Twilio's own validators, the URL is tried both with and without
//! its port (`https://example.com/sms` and `https://example.com:443/sms`),
//! since Twilio signs whichever form it used for the request.
//!
//! # What it cannot protect against
//!
//! Twilio signs no timestamp: a captured request verifies forever. The
//! `I-Twilio-Idempotency-Token` header is not signed, and a message's SID
//! repeats across its status callbacks (`queued`, `sent`, `delivered`, …),
//! so dedupe keys on a digest of the body: a replay under a fresh token is
//! a duplicate, each new status is a new event. SHA-1 is what Twilio uses;
//! as an HMAC it is still sound.

use http::{HeaderName, Uri};
use sha2::{Digest, Sha256};

use super::conventions::{BodyFormat, DedupeKey, EnvelopeConfig, Source, header, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac, Sha1};

static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
const NAME: &str = "twilio";
const BODY_SHA256: &str = "bodySHA256";

/// Twilio's request signature (`X-Twilio-Signature`, HMAC-SHA1).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Scheme, SignedRequest, Twilio};
///
/// // The auth token, and where Twilio reaches this receiver: scheme, host
/// // and port only; the path and query come from each request. (The
/// // worked example of Twilio's "Webhooks security" page.)
/// let scheme = Twilio::new(["12345"], "https://example.com")?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-twilio-signature", "L/OH5YylLD5NRKLltdqwSvS0BnU=".parse().unwrap());
/// let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234\
///              &From=%2B14158675310&To=%2B18005551212";
/// let target: http::Uri = "/myapp.php?foo=1&bar=2".parse().unwrap();
/// let request =
///     SignedRequest::new(&headers, body, 0, Duration::from_secs(300)).with_uri(&target);
/// assert!(scheme.verify(&request).is_ok());
/// assert!(Twilio::new(["12345"], "https://example.com/sms").is_err());
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Twilio {
    secrets: HmacSecrets<Sha1>,
    /// `scheme://host:port`, the port written out (the default if none was
    /// configured).
    with_port: Box<str>,
    /// `scheme://host`.
    without_port: Box<str>,
}

impl Twilio {
    /// The type of a delivery with no status parameter (an incoming message
    /// or call, say, or a JSON body).
    pub const DEFAULT_TYPE: &'static str = "twilio.request";

    /// At most this many form parameters are read from one request; more
    /// is malformed (Twilio sends a few dozen).
    pub const MAX_PARAMETERS: usize = 512;

    /// Verifies with these auth tokens (every one is active, for rotation)
    /// for requests that reach this receiver at `public_url`:
    /// `https://host` or `https://host:port` (`http` is accepted for
    /// tests), with at most a trailing `/` after it.
    ///
    /// Fails if there is no token, a token is empty, or `public_url` has
    /// anything but a scheme, a host and a port (a path, a query, user
    /// info).
    pub fn new<I, K>(auth_tokens: I, public_url: &str) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let invalid = |reason: &str| ConfigError::Invalid {
            what: "twilio public URL",
            reason: format!("{public_url:?}: {reason}"),
        };
        let uri: Uri = public_url.parse().map_err(|_| invalid("not a URL"))?;
        let default_port = match uri.scheme_str() {
            Some("https") => 443,
            Some("http") => 80,
            _ => return Err(invalid("must start with https://")),
        };
        let Some(authority) = uri.authority() else {
            return Err(invalid("must name a host"));
        };
        if authority.as_str().contains('@') {
            return Err(invalid("must not hold user info"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid(
                "scheme, host and port only: the path and query come from each request",
            ));
        }
        let scheme = uri.scheme_str().unwrap_or_default();
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(default_port);
        Ok(Self {
            secrets: HmacSecrets::<Sha1>::with_digest(NAME, auth_tokens)?,
            with_port: format!("{scheme}://{host}:{port}").into(),
            without_port: format!("{scheme}://{host}").into(),
        })
    }

    /// Whether the signature covers `target` (path and query) and `params`
    /// under any token, with the URL written with or without its port.
    fn matches(&self, target: &[u8], params: &[(&[u8], &[u8])], received: Mac<20>) -> bool {
        let mut message: Vec<&[u8]> = Vec::with_capacity(2 + 2 * params.len());
        message.extend([self.with_port.as_bytes(), target]);
        for (name, value) in params {
            message.extend([*name, *value]);
        }
        let with_port = self.secrets.verify(&message, &[received]);
        message[0] = self.without_port.as_bytes();
        let without_port = self.secrets.verify(&message, &[received]);
        // Both are computed: `|`, not `||`.
        with_port | without_port
    }
}

impl Scheme for Twilio {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let (received, target, body_digest) = signed_target(request)?;
        if let Some(expected) = body_digest {
            // A JSON body: the URL alone is signed, and the body must be
            // the one whose digest it carries.
            let actual = Mac::<32>::from_bytes(Sha256::digest(request.body()).into());
            let signed = self.matches(target.as_bytes(), &[], received);
            let same_body: bool = expected.ct_eq(&actual).into();
            return if signed & same_body {
                Ok(Verified::new(NAME))
            } else {
                Err(VerifyError::InvalidSignature)
            };
        }
        let decoded: Vec<_> =
            form_urlencoded::parse(request.body()).take(Self::MAX_PARAMETERS + 1).collect();
        if decoded.len() > Self::MAX_PARAMETERS {
            return Err(VerifyError::MalformedSignature);
        }
        let mut params: Vec<(&[u8], &[u8])> =
            decoded.iter().map(|(name, value)| (name.as_bytes(), value.as_bytes())).collect();
        params.sort_unstable();
        if self.matches(target.as_bytes(), &params, received) {
            Ok(Verified::new(NAME))
        } else {
            Err(VerifyError::InvalidSignature)
        }
    }

    /// The signature header, the target and its `bodySHA256`: the body is
    /// not read.
    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signed_target(request).map(drop)
    }

    /// For form bodies: id from the `I-Twilio-Idempotency-Token` header
    /// (unsigned), else `MessageSid`, `CallSid` or `SmsSid`, else the body
    /// digest; type from `MessageStatus`, `CallStatus` or `SmsStatus`, else
    /// [`Twilio::DEFAULT_TYPE`]; no version; no timestamp; dedupe on the body
    /// digest (a SID repeats across status callbacks). A JSON body is read
    /// the same way, so it has the default type and its id is the header
    /// or the digest: give the [`EnvelopeLayer`](crate::envelope::EnvelopeLayer)
    /// your own [`EnvelopeConfig`] to read more of it.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![
                header("i-twilio-idempotency-token"),
                pointer("/MessageSid"),
                pointer("/CallSid"),
                pointer("/SmsSid"),
                Source::BodyDigest,
            ],
            vec![pointer("/MessageStatus"), pointer("/CallStatus"), pointer("/SmsStatus")],
            Vec::new(),
            Vec::new(),
        )
        .default_type(Self::DEFAULT_TYPE)
        .body_format(BodyFormat::Form)
        .dedupe_key(DedupeKey::BodyDigest)
    }
}

/// The `bodySHA256` query parameter, if there is one; given twice with
/// different values it is malformed.
/// The received tag, the request's target (path and query) and, for a
/// JSON body, the `bodySHA256` the URL carries.
fn signed_target<'a>(
    request: &SignedRequest<'a>,
) -> Result<(Mac<20>, &'a str, Option<Mac<32>>), VerifyError> {
    let received = Mac::<20>::from_base64(request.required_header(&SIGNATURE)?)?;
    // Without the request's target there is no URL to check against:
    // refused, never skipped.
    let uri = request.uri().ok_or(VerifyError::InvalidSignature)?;
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let body_digest = match body_digest_parameter(uri.query().unwrap_or_default())? {
        Some(digest) => Some(Mac::<32>::from_hex(digest.as_bytes())?),
        None => None,
    };
    Ok((received, target, body_digest))
}

fn body_digest_parameter(query: &str) -> Result<Option<&str>, VerifyError> {
    let mut found = None;
    for pair in query.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if name != BODY_SHA256 {
            continue;
        }
        if found.is_some_and(|earlier| earlier != value) {
            return Err(VerifyError::MalformedSignature);
        }
        found = Some(value);
    }
    Ok(found)
}

/// Twilio's `X-Twilio-Signature` header for a request to `url` (the full
/// URL, as Twilio would request it) with these form parameters (none for a
/// JSON body: put its `bodySHA256` in the URL).
#[cfg(feature = "testing")]
pub fn sign(auth_token: &str, url: &str, params: &[(&str, &str)]) -> http::HeaderMap {
    use base64::Engine as _;
    let secrets = HmacSecrets::<Sha1>::with_digest(NAME, [auth_token]).expect("a non-empty token");
    let mut sorted = params.to_vec();
    sorted.sort_unstable();
    let mut message: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in &sorted {
        message.extend([name.as_bytes(), value.as_bytes()]);
    }
    let tag = secrets.sign(&message);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        SIGNATURE.clone(),
        super::ascii(base64::engine::general_purpose::STANDARD.encode(tag)),
    );
    headers
}
