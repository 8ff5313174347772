use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::store::{Claim, ClaimToken, IdempotencyStore, StoreError};

/// The default lease of a claim: how long a delivery may be processed
/// before another attempt may claim it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5 * 60);
/// The default retention of a completed key (senders retry for up to about
/// three days).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// When a background release tries, counted from its start: at once, then
/// while a claim that timed out may still be landing at the server.
const RELEASE_SCHEDULE: [Duration; 6] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(1_750),
    Duration::from_millis(3_750),
    Duration::from_millis(7_750),
];

/// The most background releases one [`Claims`] (and its clones) runs at
/// once; past that, an abandoned claim lapses after its lease.
const MAX_BACKGROUND_RELEASES: usize = 1_024;

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
///
/// # A claim whose answer never came
///
/// [`claim`](Self::claim) makes the claim's token before it calls the
/// store. If the call fails (a timeout, a lost connection) or its future is
/// dropped before the store answered, the claim may still be applied by
/// the server afterwards, held by that token. So the token is then released
/// in a background task on the current tokio runtime: at once, and again
/// 0.25, 0.75, 1.75, 3.75 and 7.75 s later (each try bounded by the
/// store's own timeout), until a release removes the claim. A release acts
/// only on a claim that this token holds, so it never frees another
/// attempt's claim, and it is harmless when the claim never landed.
///
/// A claim that the server applies after the last try, or while no tokio
/// runtime runs, or while 1,024 background releases of this `Claims`
/// already run, holds for its lease.
#[derive(Clone)]
pub struct Claims {
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
    retain: Duration,
    /// Background releases running, across clones.
    releasing: Arc<AtomicUsize>,
}

impl Claims {
    /// Claims in `store`, with the default lease and retention.
    pub fn new(store: impl IdempotencyStore) -> Self {
        Self::from_shared(Arc::new(store))
    }

    /// Claims in a shared store.
    pub fn from_shared(store: Arc<dyn IdempotencyStore>) -> Self {
        Self { store, lease: DEFAULT_LEASE, retain: DEFAULT_RETAIN, releasing: Arc::default() }
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

    /// Tries to claim `key`, with a fresh token.
    ///
    /// When this fails, or its future is dropped before the store answered,
    /// the claim may still land at the server: it is then released in the
    /// background (see [above](Self#a-claim-whose-answer-never-came)).
    pub async fn claim(&self, key: &str) -> Result<Attempt, StoreError> {
        let token = ClaimToken::random();
        // Until the store answers, the claim is unsettled: dropped here
        // (the future was dropped, or the call failed), it is released.
        let mut unsettled = Unsettled(Some(self.armed(key, token.clone())));
        let answer = self.store.claim(key, &token, self.lease).await;
        Ok(match answer? {
            Claim::Claimed(_) => {
                Attempt::Claimed(ClaimGuard { armed: unsettled.0.take(), retain: self.retain })
            }
            Claim::InFlight => {
                unsettled.0 = None;
                Attempt::InFlight
            }
            Claim::Done => {
                unsettled.0 = None;
                Attempt::Done
            }
        })
    }

    fn armed(&self, key: &str, token: ClaimToken) -> Armed {
        Armed {
            store: self.store.clone(),
            key: key.into(),
            token,
            releasing: self.releasing.clone(),
        }
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
/// current tokio runtime (and tried again for a few seconds while the store
/// fails), or, outside one, the claim lapses after its lease.
#[must_use = "a claim that is dropped is released at once"]
pub struct ClaimGuard {
    armed: Option<Armed>,
    retain: Duration,
}

/// A claim (or a claim that may have landed) and what releases it.
struct Armed {
    store: Arc<dyn IdempotencyStore>,
    key: Box<str>,
    token: ClaimToken,
    releasing: Arc<AtomicUsize>,
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
    ///
    /// When the store fails, or this future is dropped before it answered,
    /// the release goes on in the background, as for a dropped guard.
    pub async fn release(mut self) -> Result<bool, StoreError> {
        let armed = self.armed.as_ref().expect("an unfinished claim");
        let released = armed.store.release(&armed.key, &armed.token).await;
        if released.is_ok() {
            self.armed = None;
        }
        // Still armed (the store failed): dropping the guard retries.
        released
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(armed) = self.armed.take() {
            armed.release_in_background(Landed::Yes);
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

/// A claim sent to the store and not answered yet: released in the
/// background if dropped armed.
struct Unsettled(Option<Armed>);

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some(armed) = self.0.take() {
            armed.release_in_background(Landed::Unknown);
        }
    }
}

/// Whether the claim to release is known to have landed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Landed {
    /// The store answered `Claimed`: one successful release settles it.
    Yes,
    /// The store never answered: the claim may land later, so a release
    /// that found nothing is tried again.
    Unknown,
}

impl Armed {
    /// Spawns the release on the current tokio runtime: tried on the
    /// [`RELEASE_SCHEDULE`] until it removes the claim, or (for a claim that
    /// is known to have landed) until the store answers at all.
    fn release_in_background(self, landed: Landed) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                target: "hookwarden::dedupe",
                "a claim was abandoned outside a tokio runtime; it lapses after its lease"
            );
            return;
        };
        if self.releasing.fetch_add(1, Ordering::Relaxed) >= MAX_BACKGROUND_RELEASES {
            self.releasing.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(
                target: "hookwarden::dedupe",
                max = MAX_BACKGROUND_RELEASES,
                "too many claims being released in the background; \
                 this one lapses after its lease"
            );
            return;
        }
        // Counted down however the task ends (a runtime shutting down drops
        // it, maybe before it ever ran).
        let running = Running(self.releasing.clone());
        runtime.spawn(async move {
            let _running = running;
            let started = tokio::time::Instant::now();
            let mut last = Ok(false);
            for offset in RELEASE_SCHEDULE {
                if started.elapsed() < offset {
                    tokio::time::sleep_until(started + offset).await;
                }
                last = self.store.release(&self.key, &self.token).await;
                match (&last, landed) {
                    (Ok(true), _) | (Ok(false), Landed::Yes) => break,
                    (Ok(false), Landed::Unknown) | (Err(_), _) => {}
                }
            }
            match (last, landed) {
                (Ok(true), Landed::Unknown) => tracing::debug!(
                    target: "hookwarden::dedupe",
                    "released a claim that landed after its call failed or was dropped"
                ),
                (Ok(_), _) => {}
                (Err(error), Landed::Yes) => tracing::warn!(
                    target: "hookwarden::dedupe",
                    %error,
                    "could not release an abandoned claim; it lapses after its lease"
                ),
                (Err(error), Landed::Unknown) => tracing::debug!(
                    target: "hookwarden::dedupe",
                    %error,
                    "could not release a claim whose call failed or was dropped; \
                     if it landed, it lapses after its lease"
                ),
            }
        });
    }
}

/// Counts a background release down when it ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
