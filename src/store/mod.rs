//! Idempotency stores: where the dedupe layer claims event ids.
//!
//! A sender retries until it sees a 2xx, and may deliver the same event
//! twice even then; the dedupe layer turns "at least once" into "once per
//! event id" by claiming each id in an [`IdempotencyStore`] before the event
//! is handled.
//!
//! # Semantics
//!
//! * [`claim(key, token, lease)`](IdempotencyStore::claim) answers
//!   [`Claim::Claimed`] when `token` now holds the key, [`Claim::InFlight`]
//!   when another claim holds it, or [`Claim::Done`] when the key was
//!   completed and is still retained. Of any number of concurrent claims of
//!   one key, exactly one wins.
//! * The caller makes the token ([`ClaimToken::random`], fresh for each
//!   claim) *before* the call. So it knows the token even when the call
//!   fails or is dropped, while the claim may still be on its way to the
//!   server and be applied there later: it can release that claim then.
//!   A claim with the token that already holds the key answers
//!   [`Claim::Claimed`] again and leaves the lease as it was.
//! * A claim lasts for its lease. A claim whose lease ran out (its worker
//!   died, or hung) is claimable again, and its token is then worthless
//!   (even if nobody claimed the key since).
//! * [`complete(key, token, retain)`](IdempotencyStore::complete) and
//!   [`release(key, token)`](IdempotencyStore::release) act only while
//!   `token` still holds the claim: a worker that outlived its lease cannot
//!   overwrite a newer claim. They answer whether they acted.
//! * A completed key is retained for `retain`; after that it is forgotten
//!   and claimable again.
//! * Every store takes a **namespace** when it is built (one per receiver,
//!   say `"orders"` and `"billing"`), so two receivers sharing a backend
//!   never see each other's keys. `with_namespace` gives a handle to the same
//!   backend under another namespace.
//! * Errors ([`StoreError`]) mean "could not answer": the dedupe layer fails
//!   closed and answers 503, so the sender retries later.
//!
//! # Stores
//!
//! | store | feature | dedupes across |
//! | --- | --- | --- |
//! | [`MemoryStore`] | (default) | the threads of **one process only** |
//! | `RedisStore` | `redis` | every process sharing the Redis server |
//! | `PostgresStore` | `postgres` | every process sharing the database |
//!
//! The shared stores keep a fixed-size digest of each key (the first 16
//! bytes of its SHA-256), so event ids of any length cost the same and are
//! not written to the backend as they are.
//!
//! # Writing your own
//!
//! The trait is object-safe, with boxed futures; a store fits in a few
//! dozen lines. This one keeps everything in one locked map (fine for a
//! test, too slow and unbounded for production, where [`MemoryStore`] is the
//! better choice):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use std::time::{Duration, Instant};
//!
//! use hookwarden::store::{BoxFuture, Claim, ClaimToken, IdempotencyStore, StoreError};
//!
//! #[derive(Debug, Default)]
//! struct MapStore(Mutex<HashMap<String, (Option<ClaimToken>, Instant)>>);
//!
//! impl IdempotencyStore for MapStore {
//!     fn claim<'a>(&'a self, key: &'a str, token: &'a ClaimToken, lease: Duration) -> BoxFuture<'a, Result<Claim, StoreError>> {
//!         Box::pin(async move {
//!             let mut map = self.0.lock().unwrap();
//!             let now = Instant::now();
//!             match map.get(key) {
//!                 Some((None, until)) if *until > now => return Ok(Claim::Done),
//!                 Some((Some(held), until)) if *until > now => {
//!                     return Ok(if held == token { Claim::Claimed(token.clone()) } else { Claim::InFlight });
//!                 }
//!                 _ => {}
//!             }
//!             map.insert(key.to_owned(), (Some(token.clone()), now + lease));
//!             Ok(Claim::Claimed(token.clone()))
//!         })
//!     }
//!
//!     fn complete<'a>(&'a self, key: &'a str, token: &'a ClaimToken, retain: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
//!         Box::pin(async move {
//!             let mut map = self.0.lock().unwrap();
//!             let now = Instant::now();
//!             match map.get_mut(key) {
//!                 Some(entry) if entry.0.as_ref() == Some(token) && entry.1 > now => {
//!                     *entry = (None, now + retain);
//!                     Ok(true)
//!                 }
//!                 _ => Ok(false),
//!             }
//!         })
//!     }
//!
//!     fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> BoxFuture<'a, Result<bool, StoreError>> {
//!         Box::pin(async move {
//!             let mut map = self.0.lock().unwrap();
//!             let held = matches!(map.get(key), Some((Some(t), until)) if t == token && *until > Instant::now());
//!             Ok(held && map.remove(key).is_some())
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! let store = MapStore::default();
//! let token = ClaimToken::random();
//! assert_eq!(store.claim("evt_1", &token, Duration::from_secs(30)).await?, Claim::Claimed(token.clone()));
//! let other = ClaimToken::random();
//! assert_eq!(store.claim("evt_1", &other, Duration::from_secs(30)).await?, Claim::InFlight);
//! assert!(store.complete("evt_1", &token, Duration::from_secs(3600)).await?);
//! assert_eq!(store.claim("evt_1", &other, Duration::from_secs(30)).await?, Claim::Done);
//! # Ok(())
//! # }
//! ```
//!
//! A real shared store also needs a namespace (prefix its keys), a timeout
//! on every call, and the one-winner guarantee across processes; the
//! behavioural suite in this crate's `tests/store_suite.rs` is a good
//! checklist.

use std::fmt;
use std::time::Duration;

pub(crate) mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use self::memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "postgres")]
pub use self::postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};

pub use crate::future::BoxFuture;

/// The outcome of [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is held by the token given to the claim (here again) until
    /// the lease runs out; finish with
    /// [`complete`](IdempotencyStore::complete) or
    /// [`release`](IdempotencyStore::release) using this token.
    Claimed(ClaimToken),
    /// Another claim holds the key and its lease has not run out.
    InFlight,
    /// The key was completed and is still retained.
    Done,
}

/// Proof of a claim: an unguessable value, made fresh by the caller for
/// each claim ([`random`](Self::random)).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub(crate) u128);

impl ClaimToken {
    /// A fresh random token.
    pub fn random() -> Self {
        Self(crate::random::random_u128())
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
    /// Claims `key` for `lease` with `token`, atomically: of any number of
    /// concurrent claims (across threads and, for shared stores,
    /// processes), one wins.
    ///
    /// `token` is made by the caller before the call, fresh for each claim
    /// ([`ClaimToken::random`]): when the call fails (a timeout) or is
    /// dropped, the claim may still be applied by the server afterwards, and
    /// the caller can then release it with the token it knows. A claim with
    /// the token that already holds the key answers [`Claim::Claimed`] and
    /// leaves the lease as it was.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Marks `key` done and retains it for `retain`, if `token` still holds
    /// the claim. Returns whether it did.
    ///
    /// A claim holds while its lease runs: once the lease ran out, its token
    /// no longer completes or releases anything, even if nobody claimed the
    /// key since (a shared store may already have forgotten the claim).
    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Gives up the claim, if `token` still holds it, so the key can be
    /// claimed again at once. Returns whether it did.
    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}
