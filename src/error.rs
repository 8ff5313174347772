//! Configuration errors, reported when a layer or scheme is built.
//!
//! These are distinct from [`Rejection`](crate::Rejection)s: a `ConfigError`
//! means the receiver was set up wrong and should not start; a rejection
//! means one request was refused.

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
