//! Idempotency stores: where the dedupe layer claims event ids.
//!
//! A claim carries a lease and a token. `complete` and `release` act only
//! when the token still matches, so a worker that outlived its lease cannot
//! overwrite a newer claim; a claim whose lease ran out is claimable again.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future, as returned by [`IdempotencyStore`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is now ours until the lease runs out; finish with
    /// [`complete`](IdempotencyStore::complete) or
    /// [`release`](IdempotencyStore::release) using this token.
    Claimed(ClaimToken),
    /// Another claim holds the key and its lease has not run out.
    InFlight,
    /// The key was completed and is still retained.
    Done,
}

/// Proof of a claim: an unguessable, unique value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub(crate) u128);

impl ClaimToken {
    /// A fresh random token.
    pub fn random() -> Self {
        Self(rand_u128())
    }

    /// The token as 32 lowercase hex digits (how shared stores keep it).
    pub fn to_hex(&self) -> String {
        format!("{:032x}", self.0)
    }

    /// The raw value.
    pub fn as_u128(&self) -> u128 {
        self.0
    }

    /// A token from its raw value.
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }
}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimToken({:08x}…)", (self.0 >> 96) as u32)
    }
}

fn rand_u128() -> u128 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    // Unique per process (counter) and unpredictable (SipHash with random
    // keys); tokens are compared, never used as secrets.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = RandomState::new();
    let mut hi = state.build_hasher();
    hi.write_u64(n);
    let mut lo = state.build_hasher();
    lo.write_u64(!n);
    (u128::from(hi.finish()) << 64) | u128::from(lo.finish())
}

/// The store could not answer (unreachable, timed out, or failed).
///
/// The dedupe layer answers 503 `store_unavailable`: fail closed.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store unavailable: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with a description (never include credentials).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// Where event ids are claimed, so each event is processed once.
///
/// Object-safe: the dedupe layer and the receiver hold an
/// `Arc<dyn IdempotencyStore>`.
pub trait IdempotencyStore: Send + Sync + fmt::Debug + 'static {
    /// Claims `key` for `lease`, atomically: of any number of concurrent
    /// claims (across threads and, for shared stores, processes), one wins.
    fn claim<'a>(&'a self, key: &'a str, lease: Duration) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Marks `key` done and retains it for `retain`, if `token` still holds
    /// the claim. Returns whether it did.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Gives up the claim, if `token` still holds it, so the key can be
    /// claimed again at once. Returns whether it did.
    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> BoxFuture<'a, Result<bool, StoreError>>;
}
