//! GitLab: `X-Gitlab-Token: <secret token>`, a shared token sent as is.
//!
//! **This is not a signature.** GitLab sends the webhook's secret token
//! itself in every request, and nothing covers the body: anyone who sees
//! one request (a logging proxy, a misconfigured TLS terminator, a plain
//! HTTP hop) has the token and can forge any delivery, with any body,
//! forever. Use an `https://` URL, keep the token out of logs, and rotate
//! it if a request may have been seen. There is no timestamp either.
//!
//! The token is compared in constant time: the SHA-256 of the received
//! token is compared with the SHA-256 of every configured token, all of
//! them, with no early exit, so neither which token matched nor how long a
//! configured token is can be learnt from timing.
//!
//! The delivery headers (`X-Gitlab-Event-UUID`, `Idempotency-Key`) are as
//! unprotected as the body, so dedupe keys on a digest of the body: a
//! captured delivery sent again under a fresh UUID is still a duplicate.

use http::HeaderName;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use super::conventions::{DedupeKey, EnvelopeConfig, Source, header, pointer};
use super::{Scheme, SignedRequest, Verified, VerifyError};
use crate::error::ConfigError;

static TOKEN: HeaderName = HeaderName::from_static("x-gitlab-token");
const NAME: &str = "gitlab";

/// GitLab's webhook secret token (`X-Gitlab-Token`).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{GitLab, Scheme, SignedRequest, VerifyError};
///
/// // The "Secret token" of the webhook, as entered in GitLab.
/// let scheme = GitLab::new(["a-long-random-token"])?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-gitlab-token", "a-long-random-token".parse().unwrap());
/// let body = br#"{"object_kind":"push"}"#;
/// let request = SignedRequest::new(&headers, body, 0, Duration::from_secs(300));
/// assert!(scheme.verify(&request).is_ok());
/// headers.insert("x-gitlab-token", "a-guess".parse().unwrap());
/// let request = SignedRequest::new(&headers, body, 0, Duration::from_secs(300));
/// assert_eq!(scheme.verify(&request).err(), Some(VerifyError::InvalidSignature));
/// assert!(GitLab::new([""]).is_err(), "an empty token would match anything sent empty");
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct GitLab {
    /// SHA-256 of each accepted token; the tokens themselves are not kept.
    digests: Vec<Zeroizing<[u8; 32]>>,
}

impl GitLab {
    /// Accepts any of these tokens (raw strings); every one is active, for
    /// rotation.
    ///
    /// Fails if there is no token or a token is empty.
    pub fn new<I, K>(tokens: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut digests = Vec::new();
        for token in tokens {
            let token = token.as_ref();
            if token.is_empty() {
                return Err(ConfigError::EmptySecret { scheme: NAME });
            }
            digests.push(Zeroizing::new(Sha256::digest(token).into()));
        }
        if digests.is_empty() {
            return Err(ConfigError::NoSecret { scheme: NAME });
        }
        Ok(Self { digests })
    }
}

impl std::fmt::Debug for GitLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLab").field("tokens", &self.digests.len()).finish_non_exhaustive()
    }
}

impl Scheme for GitLab {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Refuses a missing token as `missing_signature`, an empty one or one
    /// repeated with different values as `malformed_signature`, and a
    /// wrong one as `invalid_signature`.
    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let token = request.required_header(&TOKEN)?;
        if token.is_empty() {
            return Err(VerifyError::MalformedSignature);
        }
        let received: [u8; 32] = Sha256::digest(token).into();
        let matched = self.digests.iter().fold(Choice::from(0), |matched, expected| {
            matched | expected.as_slice().ct_eq(&received[..])
        });
        if bool::from(matched) {
            Ok(Verified::new(NAME))
        } else {
            Err(VerifyError::InvalidSignature)
        }
    }

    /// The whole check: the token does not depend on the body, so a wrong
    /// one is refused without waiting for the body.
    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        self.verify(request).map(drop)
    }

    /// Id: the `X-Gitlab-Event-UUID` header, else `Idempotency-Key`, else
    /// the body digest (all unsigned); type: the `X-Gitlab-Event` header
    /// (`Push Hook`, …), else body `object_kind`; no version; no
    /// timestamp; dedupe on the body digest.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![header("x-gitlab-event-uuid"), header("idempotency-key"), Source::BodyDigest],
            vec![header("x-gitlab-event"), pointer("/object_kind")],
            Vec::new(),
            Vec::new(),
        )
        .dedupe_key(DedupeKey::SignedIdOrDigest)
    }
}

/// GitLab's `X-Gitlab-Token` header (the token itself: GitLab signs
/// nothing).
#[cfg(feature = "testing")]
pub fn sign(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(TOKEN.clone(), super::ascii(token.to_owned()));
    headers
}
