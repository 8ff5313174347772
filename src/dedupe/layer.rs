use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::Dedupe;
use super::claims::Claims;
use crate::store::IdempotencyStore;

/// The default `Retry-After` of `in_progress` and `store_unavailable`
/// answers.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Applies [`Dedupe`]: lets each event through to the inner service once;
/// see the [module documentation](crate::dedupe).
#[derive(Clone)]
pub struct DedupeLayer {
    pub(crate) claims: Claims,
    pub(crate) retry_after: Duration,
}

impl DedupeLayer {
    /// Claims event ids in `store`; 5 min lease, 7 day retention, 30 s
    /// `Retry-After`.
    pub fn new(store: impl IdempotencyStore) -> Self {
        Self::from_claims(Claims::new(store))
    }

    /// Like [`new`](Self::new), for a store shared with other layers or a
    /// dispatcher.
    pub fn from_shared(store: Arc<dyn IdempotencyStore>) -> Self {
        Self::from_claims(Claims::from_shared(store))
    }

    /// Claims with these settings.
    pub fn from_claims(claims: Claims) -> Self {
        Self { claims, retry_after: DEFAULT_RETRY_AFTER }
    }

    /// How long a claim holds before another delivery of the same event
    /// may take it (default 5 minutes): longer than the handler ever takes.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.claims = self.claims.lease(lease);
        self
    }

    /// How long a processed event is remembered (default 7 days): longer
    /// than the sender retries (up to about 3 days for the big senders).
    pub fn retain(mut self, retain: Duration) -> Self {
        self.claims = self.claims.retain(retain);
        self
    }

    /// The `Retry-After` of `in_progress` (409) and `store_unavailable`
    /// (503) answers (default 30 s; sent in whole seconds, at least 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The claim settings, to share with a background dispatcher.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

impl fmt::Debug for DedupeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupeLayer")
            .field("claims", &self.claims)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl<S> Layer<S> for DedupeLayer {
    type Service = Dedupe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Dedupe::from_parts(inner, self.claims.clone(), self.retry_after)
    }
}
