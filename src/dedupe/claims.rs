use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Claim, ClaimToken, IdempotencyStore, StoreError};

/// The default lease of a claim: how long a delivery may be processed
/// before another attempt may claim it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);
/// The default retention of a completed key (senders retry for up to about
/// three days).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Claims keys in an [`IdempotencyStore`] with a lease, and completes or
/// releases them: the logic shared by the synchronous
/// [`DedupeLayer`](super::DedupeLayer) and a background dispatcher.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn hookwarden::store::IdempotencyStore>)
/// # -> Result<(), hookwarden::store::StoreError> {
/// use hookwarden::dedupe::{Attempt, Claims};
///
/// let claims = Claims::from_shared(store);
/// match claims.claim("stripe:id:evt_1").await? {
///     Attempt::Claimed(claim) => {
///         // ... process the event ...
///         claim.complete().await?; // or `release()`; dropping it releases too
///     }
///     Attempt::InFlight => { /* another attempt is processing it */ }
///     Attempt::Done => { /* already processed */ }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Claims {
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
    retain: Duration,
}

impl Claims {
    /// Claims in `store`, with the default lease and retention.
    pub fn new(store: impl IdempotencyStore) -> Self {
        Self::from_shared(Arc::new(store))
    }

    /// Claims in a shared store.
    pub fn from_shared(store: Arc<dyn IdempotencyStore>) -> Self {
        Self { store, lease: DEFAULT_LEASE, retain: DEFAULT_RETAIN }
    }

    /// How long a claim holds before another attempt may take the key
    /// (default 5 minutes). Keep it longer than processing takes.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a completed key is remembered (default 7 days). Keep it
    /// longer than the sender retries.
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn IdempotencyStore> {
        &self.store
    }

    /// The lease of new claims.
    pub fn lease_duration(&self) -> Duration {
        self.lease
    }

    /// The retention of completed keys.
    pub fn retain_duration(&self) -> Duration {
        self.retain
    }

    /// Tries to claim `key`.
    pub async fn claim(&self, key: &str) -> Result<Attempt, StoreError> {
        Ok(match self.store.claim(key, self.lease).await? {
            Claim::Claimed(token) => Attempt::Claimed(ClaimGuard {
                armed: Some(Armed { store: self.store.clone(), key: key.into(), token }),
                retain: self.retain,
            }),
            Claim::InFlight => Attempt::InFlight,
            Claim::Done => Attempt::Done,
        })
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("store", &self.store)
            .field("lease", &self.lease)
            .field("retain", &self.retain)
            .finish()
    }
}

/// The outcome of [`Claims::claim`].
#[derive(Debug)]
#[must_use = "only a `Claimed` attempt may process the event"]
pub enum Attempt {
    /// The key is ours: process, then complete or release the claim.
    Claimed(ClaimGuard),
    /// Another attempt holds the key and its lease has not run out.
    InFlight,
    /// The key was completed and is still retained.
    Done,
}

/// A held claim. Finish it with [`complete`](Self::complete) or
/// [`release`](Self::release); if it is dropped unfinished (the handler
/// panicked, the request was cancelled), the release is spawned on the
/// current tokio runtime, or, outside one, the claim lapses after its lease.
#[must_use = "a claim that is dropped is released at once"]
pub struct ClaimGuard {
    armed: Option<Armed>,
    retain: Duration,
}

struct Armed {
    store: Arc<dyn IdempotencyStore>,
    key: Box<str>,
    token: ClaimToken,
}

impl ClaimGuard {
    /// The claimed key.
    pub fn key(&self) -> &str {
        self.armed.as_ref().map_or("", |a| &a.key)
    }

    /// Marks the key done, retained for the configured time. Returns
    /// whether the claim still held (`false`: the lease ran out and another
    /// attempt took the key).
    ///
    /// Once this is called the guard no longer releases on drop: if the
    /// future is dropped before the store answers, the claim lapses after
    /// its lease rather than risk undoing a completion.
    pub async fn complete(mut self) -> Result<bool, StoreError> {
        let armed = self.armed.take().expect("an unfinished claim");
        armed.store.complete(&armed.key, &armed.token, self.retain).await
    }

    /// Gives the key up so the next attempt can claim it at once. Returns
    /// whether the claim still held.
    pub async fn release(mut self) -> Result<bool, StoreError> {
        let armed = self.armed.take().expect("an unfinished claim");
        armed.release().await
    }

    /// Disarms the guard and returns the key and token, to finish the
    /// claim elsewhere (through [`IdempotencyStore::complete`] or
    /// [`release`](IdempotencyStore::release)).
    pub fn into_parts(mut self) -> (Box<str>, ClaimToken) {
        let armed = self.armed.take().expect("an unfinished claim");
        (armed.key, armed.token)
    }
}

impl Armed {
    async fn release(self) -> Result<bool, StoreError> {
        self.store.release(&self.key, &self.token).await
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let Some(armed) = self.armed.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = armed.release().await {
                        tracing::warn!(
                            target: "hookwarden::dedupe",
                            %error,
                            "could not release an abandoned claim; it lapses after its lease"
                        );
                    }
                });
            }
            Err(_) => tracing::warn!(
                target: "hookwarden::dedupe",
                "a claim was abandoned outside a tokio runtime; it lapses after its lease"
            ),
        }
    }
}

impl fmt::Debug for ClaimGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("key", &self.key())
            .field("finished", &self.armed.is_none())
            .finish()
    }
}
