//! Connection, pooling, timeout and migration code for each database
//! engine, shared by its idempotency store and its inbox.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;

/// How the shared backends name a key: the first 16 bytes of its SHA-256.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn key_digest(key: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let full = Sha256::digest(key.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A duration in whole milliseconds, at least 1 (backends refuse 0) and
/// saturating at `i64::MAX`.
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
pub(crate) fn whole_millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}
