//! Configuration errors, reported when a layer or scheme is built, and the
//! errors of a signature check.
//!
//! These are distinct from [`Rejection`](crate::Rejection)s: a `ConfigError`
//! means the receiver was set up wrong and should not start; a rejection
//! means one request was refused.

use crate::rejection::Rejection;

/// A layer or scheme could not be built from the configuration given.
///
/// The messages name what is wrong but never include a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A scheme was built without any secret: there is no way to configure
    /// "verify nothing".
    #[error("{scheme}: at least one secret is required")]
    NoSecret {
        /// The scheme being configured.
        scheme: &'static str,
    },
    /// A secret is empty.
    #[error("{scheme}: a secret is empty")]
    EmptySecret {
        /// The scheme being configured.
        scheme: &'static str,
    },
    /// A secret is not in the encoding its scheme expects.
    #[error("{scheme}: a secret is not valid {expected}")]
    UndecodableSecret {
        /// The scheme being configured.
        scheme: &'static str,
        /// What the secret should look like.
        expected: &'static str,
    },
    /// A header name is not a valid HTTP header name.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name that was given.
        name: String,
    },
    /// A CIDR range or IP address could not be parsed.
    #[error("invalid address range {input:?}: {reason}")]
    InvalidCidr {
        /// The text that was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A list that must not be empty was given empty.
    #[error("{what} must not be empty")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// Any other invalid setting.
    #[error("{what}: {reason}")]
    Invalid {
        /// The setting.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// Why a signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature header is missing.
    #[error("the signature header is missing")]
    MissingSignature,
    /// A signature, timestamp or id header cannot be parsed, or is given
    /// twice with different values.
    #[error("the signature header cannot be parsed")]
    MalformedSignature,
    /// No signature matches any active secret.
    #[error("no signature matches")]
    InvalidSignature,
    /// The signed timestamp is too far in the past or the future.
    #[error("the timestamp is outside the tolerance window")]
    TimestampOutOfTolerance,
}

impl From<VerifyError> for Rejection {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::MissingSignature => Rejection::MissingSignature,
            VerifyError::MalformedSignature => Rejection::MalformedSignature,
            VerifyError::InvalidSignature => Rejection::InvalidSignature,
            VerifyError::TimestampOutOfTolerance => Rejection::TimestampOutOfTolerance,
        }
    }
}
