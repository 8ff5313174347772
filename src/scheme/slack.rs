//! Slack: `X-Slack-Signature: v0=<hex>` over `v0:timestamp:body`, with the
//! timestamp in `X-Slack-Request-Timestamp`.
//!
//! Slack's bodies are often form-encoded, not JSON; the signature covers
//! them byte for byte either way.

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, pointer};
use super::handshake::Handshake;
use super::{Scheme, SignedRequest, Verified, VerifyError, contains, v0_headers, verify_v0};
use crate::error::ConfigError;
use crate::mac::HmacSecrets;

static X_SLACK_SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");
static X_SLACK_REQUEST_TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");
const NAME: &str = "slack";

/// Slack's request signature (`X-Slack-Signature`).
///
/// ```
/// use hookwarden::scheme::Slack;
///
/// let scheme = Slack::new(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
/// # let _ = scheme;
/// ```
#[derive(Debug, Clone)]
pub struct Slack {
    pub(crate) secrets: HmacSecrets,
}

impl Slack {
    /// Verifies with these signing secrets; every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

impl Scheme for Slack {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let timestamp =
            verify_v0(&self.secrets, request, &X_SLACK_SIGNATURE, &X_SLACK_REQUEST_TIMESTAMP)?;
        Ok(Verified::new(NAME).with_timestamp(timestamp))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        v0_headers(request, &X_SLACK_SIGNATURE, &X_SLACK_REQUEST_TIMESTAMP).map(drop)
    }

    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![pointer("/event_id")],
            vec![pointer("/type")],
            Vec::new(),
            vec![pointer("/event_time"), Source::SignedTimestamp],
        )
    }

    /// `url_verification`: the `challenge` is echoed as
    /// `{"challenge":…}`.
    fn handshake(&self, request: &SignedRequest<'_>, _: &Verified) -> Option<Handshake> {
        #[derive(serde::Deserialize)]
        struct UrlVerification<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            challenge: Option<std::borrow::Cow<'a, str>>,
        }
        // Cheap test first: events do not mention it.
        let body = request.body();
        if !contains(body, b"url_verification") {
            return None;
        }
        let parsed: UrlVerification<'_> = serde_json::from_slice(body).ok()?;
        if parsed.kind != "url_verification" {
            return None;
        }
        let reply = serde_json::json!({ "challenge": parsed.challenge? });
        Some(Handshake::json("url_verification", reply.to_string().into_bytes()))
    }
}

/// Slack's `X-Slack-Signature` and `X-Slack-Request-Timestamp` headers.
#[cfg(feature = "testing")]
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> http::HeaderMap {
    let scheme = Slack::new([secret]).expect("a non-empty secret");
    let ts = timestamp.to_string();
    let tag = scheme.secrets.sign(&[b"v0:", ts.as_bytes(), b":", body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("x-slack-request-timestamp", super::ascii(ts));
    headers.insert("x-slack-signature", super::ascii(format!("v0={}", hex::encode(tag))));
    headers
}
