//! The admin bearer token: kept only as its SHA-256 digest, compared in
//! constant time, never printed.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ConfigError;

/// The shortest token accepted: 16 characters, about 96 bits when drawn
/// from a base64 alphabet.
pub const MIN_TOKEN_LEN: usize = 16;

/// The bearer token every admin request must carry.
///
/// Only its SHA-256 digest is kept, so the token itself is not in memory
/// after [`new`](Self::new) returns; `Debug` prints `AdminToken(redacted)`;
/// no error message contains it. A presented token is checked by comparing
/// the digests in constant time, so neither the token's content nor its
/// length shows in the time a refusal takes.
///
/// ```
/// use hookwarden::admin::AdminToken;
///
/// let token = AdminToken::new("correct-horse-battery-staple")?;
/// assert!(token.matches("correct-horse-battery-staple"));
/// assert!(!token.matches("correct-horse-battery-stapler"));
/// assert_eq!(format!("{token:?}"), "AdminToken(redacted)");
///
/// // Empty or short tokens are refused when the admin router is built.
/// assert!(AdminToken::new("").is_err());
/// assert!(AdminToken::new("hunter2").is_err());
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// Checks and keeps `token`: at least [`MIN_TOKEN_LEN`] characters,
    /// each printable ASCII other than a space (what a bearer token can
    /// carry in a header).
    pub fn new(token: impl AsRef<str>) -> Result<Self, ConfigError> {
        let token = token.as_ref();
        let invalid =
            |reason: &str| ConfigError::Invalid { what: "admin token", reason: reason.to_owned() };
        if token.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("must be printable ASCII without spaces"));
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(invalid(&format!(
                "must be at least {MIN_TOKEN_LEN} characters (use a long random string)"
            )));
        }
        Ok(Self { digest: Sha256::digest(token.as_bytes()).into() })
    }

    /// Whether `presented` is the token, in constant time.
    pub fn matches(&self, presented: impl AsRef<[u8]>) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_ref()).into();
        self.digest.ct_eq(&presented).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_contain_the_token() {
        for bad in ["short-secret", "sixteen chars with spaces", "naïve-but-long-enough-token"] {
            let error = AdminToken::new(bad).unwrap_err().to_string();
            assert!(!error.contains(bad), "{error}");
            assert!(error.contains("admin token"), "{error}");
        }
    }

    #[test]
    fn a_prefix_or_an_extension_does_not_match() {
        let token = AdminToken::new("0123456789abcdef").unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcde"));
        assert!(!token.matches("0123456789abcdef0"));
        assert!(!token.matches(""));
    }
}
