//! The inbox: where an acknowledged delivery is kept until it is handled.
//!
//! The [`Receiver`](crate::Receiver) answers `202` only once the inbox
//! holds the delivery, and everything after that (attempts, retries, dead
//! letters, replay) is state of the delivery in the inbox, not of the
//! process. With a durable inbox a crash loses nothing acknowledged.
//!
//! # Semantics every backend keeps
//!
//! * [`accept`](Inbox::accept) is **one atomic step**: the dedupe check on
//!   the delivery's [dedupe key](Delivery::dedupe_key) and the write. It
//!   answers [`Accept::Accepted`] (the inbox now holds the delivery, durably
//!   for a durable backend), [`Accept::Duplicate`] (it already held a
//!   delivery with this key, in any state, or remembers it as done within
//!   the retention window), [`Accept::Full`] (nothing was written), or an
//!   [`InboxError`] (unavailable; the caller cannot know whether the write
//!   landed, but either way no key answers `Duplicate` without a delivery
//!   being kept).
//! * Capacity counts the deliveries [`Pending`](State::Pending),
//!   [`Leased`](State::Leased) and [`Retrying`](State::Retrying): a
//!   delivery waiting for its retry still takes room, so backpressure holds
//!   while a downstream is failing. Dead letters and done deliveries do not.
//! * [`lease`](Inbox::lease) hands out deliveries that are pending, whose
//!   retry is due, or whose lease ran out (a crashed or hung worker), oldest
//!   due first, each with a fresh [`Lease`] token, and counts the attempt.
//!   Only the holder of the current token can [`renew`](Inbox::renew),
//!   [`complete`](Inbox::complete), [`retry`](Inbox::retry),
//!   [`dead_letter`](Inbox::dead_letter) or [`abandon`](Inbox::abandon):
//!   a stale worker's call answers `false` and changes nothing.
//! * A call that fails (an [`InboxError`], or a timeout) may still take
//!   effect on the server afterwards. For `accept` that is harmless (the
//!   delivery is then kept, and handled). A `lease` that timed out may have
//!   leased deliveries that no worker holds: they are handed out again once
//!   that lease runs out, as after a crash.
//! * Delays are durations measured by the backend's own clock (the
//!   database server's `now()` for a shared inbox), never instants of this
//!   host's.
//! * Done deliveries are remembered for the retention window (default 7
//!   days, [`DEFAULT_RETAIN`]) so that redeliveries are answered
//!   `Duplicate`; [`purge`](Inbox::purge) deletes those past it.
//!
//! # Delivery records
//!
//! [`get`](Inbox::get) and [`list`](Inbox::list) answer [`Record`]s: the
//! delivery as received (id, type, version, [scheme](Delivery::scheme),
//! received time, [client IP](Delivery::client_ip), the exact bytes), its
//! state, and its [attempt log](Record::attempt_log): each attempt's
//! number, end, duration, [outcome](AttemptOutcome) and error, the last
//! [`MAX_ATTEMPT_LOG`] of them, each error cut to [`MAX_ERROR_LEN`] bytes.
//! The log is written with the outcomes, never when a delivery is
//! accepted: the dispatcher hands each [`AttemptRecord`] to
//! [`complete`](Inbox::complete), [`retry`](Inbox::retry),
//! [`dead_letter`](Inbox::dead_letter) or [`abandon`](Inbox::abandon),
//! which keep it in the same step as the change of state; and
//! [`lease`](Inbox::lease) logs an attempt whose lease ran out unreported
//! as [lost](AttemptOutcome::Lost). The log survives a replay (whose
//! attempts count from 1 again); a durable inbox keeps it across restarts.
//!
//! # Backends
//!
//! | inbox | feature | survives a crash | shared by replicas |
//! | --- | --- | --- | --- |
//! | [`MemoryInbox`] | (default) | no | no |
//! | `SqliteInbox` | `sqlite` | yes (WAL, `synchronous=FULL`, group commit) | no |
//! | `PostgresInbox` | `postgres` | yes | yes |
//! | `RedisInbox` | `redis` | as far as Redis persists (`appendfsync always`) | yes |
//!
//! The behavioural suite in this crate's `tests/inbox_suite/` is the
//! checklist for a backend of your own.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use crate::background::event::Delivery;
pub use crate::future::BoxFuture;

mod attempt;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use attempt::{AttemptOutcome, AttemptRecord, MAX_ATTEMPT_LOG, MAX_ERROR_LEN};
pub use memory::{MemoryInbox, MemoryInboxBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresInbox, PostgresInboxBuilder};
#[cfg(feature = "redis")]
pub use redis::{RedisInbox, RedisInboxBuilder};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteCommitStats, SqliteInbox, SqliteInboxBuilder};

/// How long done deliveries are remembered by default (senders retry for
/// up to about three days).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How many deliveries an inbox holds by default (pending, leased and
/// retrying).
pub const DEFAULT_CAPACITY: usize = 1024;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Waiting for its first attempt, or handed back.
    Pending,
    /// A worker holds it now.
    Leased,
    /// An attempt failed; it waits for its retry to be due.
    Retrying,
    /// Every attempt failed, or retrying cannot help: kept until replayed.
    Dead,
    /// Handled; remembered for the retention window.
    Done,
}

impl State {
    /// Every state, in the order of a delivery's life.
    pub const ALL: [State; 5] =
        [State::Pending, State::Leased, State::Retrying, State::Dead, State::Done];

    /// The state's name: `pending`, `leased`, `retrying`, `dead`, `done`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Leased => "leased",
            State::Retrying => "retrying",
            State::Dead => "dead",
            State::Done => "done",
        }
    }

    /// Whether the delivery counts against the inbox's capacity.
    pub fn is_active(self) -> bool {
        matches!(self, State::Pending | State::Leased | State::Retrying)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = InboxError;

    fn from_str(s: &str) -> Result<Self, InboxError> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| InboxError::new(format!("unknown delivery state {s:?}")))
    }
}

/// The outcome of [`Inbox::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accept {
    /// The inbox now holds the delivery (durably, for a durable inbox).
    Accepted,
    /// The inbox already holds, or remembers, a delivery with this key.
    Duplicate,
    /// The inbox is at capacity; nothing was written.
    Full,
}

/// The outcome of [`Inbox::replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// The dead letter is pending again, with fresh attempts.
    Replayed,
    /// No delivery has this id.
    NotFound,
    /// The delivery is not a dead letter.
    NotDead,
}

/// Proof of a lease: the delivery's dedupe key and the lease's token.
///
/// A new lease of the same delivery gets a new token, so a worker whose
/// lease ran out can no longer finish it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    key: Arc<str>,
    token: u128,
}

impl Lease {
    /// A lease on the delivery with dedupe key `key` (for backends).
    pub fn new(key: impl Into<Arc<str>>, token: u128) -> Self {
        Self { key: key.into(), token }
    }

    /// A lease with a fresh random token (for backends).
    pub fn random(key: impl Into<Arc<str>>) -> Self {
        Self::new(key, crate::random::random_u128())
    }

    /// The dedupe key of the leased delivery.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lease's token.
    pub fn token(&self) -> u128 {
        self.token
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({:?}, {:08x}…)", self.key, (self.token >> 96) as u32)
    }
}

/// A delivery handed to a worker by [`Inbox::lease`].
#[derive(Debug, Clone)]
pub struct Leased {
    /// The delivery, exactly as accepted.
    pub delivery: Arc<Delivery>,
    /// Which attempt this is, counting from 1 (earlier attempts include
    /// those of workers that died).
    pub attempt: u32,
    /// The lease to finish it with.
    pub lease: Lease,
}

/// A delivery as the inbox holds it, from [`Inbox::get`] and
/// [`Inbox::list`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Record {
    /// The delivery, exactly as accepted.
    pub delivery: Arc<Delivery>,
    /// Where it is in its life.
    pub state: State,
    /// Attempts started so far.
    pub attempts: u32,
    /// The last failed attempt's error (cut to [`MAX_ERROR_LEN`] bytes).
    pub last_error: Option<String>,
    /// For a retrying delivery, when its retry is due; for a leased one,
    /// when its lease runs out.
    pub due_at: Option<SystemTime>,
    /// When its state last changed.
    pub updated_at: SystemTime,
    /// Its latest attempts, oldest first (at most [`MAX_ATTEMPT_LOG`]).
    pub attempt_log: Vec<AttemptRecord>,
}

impl Record {
    /// A record (for backends).
    pub fn new(delivery: Arc<Delivery>, state: State, attempts: u32) -> Self {
        Self {
            delivery,
            state,
            attempts,
            last_error: None,
            due_at: None,
            updated_at: SystemTime::now(),
            attempt_log: Vec::new(),
        }
    }

    /// Its latest attempts, oldest first: the last [`MAX_ATTEMPT_LOG`],
    /// each with its number, end, duration, outcome and error.
    pub fn attempt_log(&self) -> &[AttemptRecord] {
        &self.attempt_log
    }

    /// The latest attempt logged, if any.
    pub fn last_attempt(&self) -> Option<&AttemptRecord> {
        self.attempt_log.last()
    }

    /// With its attempt log (for backends); keeps the last
    /// [`MAX_ATTEMPT_LOG`].
    pub fn with_attempt_log(mut self, mut log: Vec<AttemptRecord>) -> Self {
        if log.len() > MAX_ATTEMPT_LOG {
            log.drain(..log.len() - MAX_ATTEMPT_LOG);
        }
        self.attempt_log = log;
        self
    }

    /// With the last error.
    pub fn with_last_error(mut self, error: Option<String>) -> Self {
        self.last_error = error;
        self
    }

    /// With the due time.
    pub fn with_due_at(mut self, due_at: Option<SystemTime>) -> Self {
        self.due_at = due_at;
        self
    }

    /// With the time of the last change.
    pub fn with_updated_at(mut self, updated_at: SystemTime) -> Self {
        self.updated_at = updated_at;
        self
    }
}

/// Where [`Inbox::list`] carries on: opaque, from the previous [`Page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from a backend's own position (for backends).
    pub fn new(position: impl Into<String>) -> Self {
        Self(position.into())
    }

    /// The backend's position.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of [`Inbox::list`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Page {
    /// The records, oldest first.
    pub records: Vec<Record>,
    /// Where the next page starts, if there is more.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page (for backends).
    pub fn new(records: Vec<Record>, next: Option<Cursor>) -> Self {
        Self { records, next }
    }
}

/// Counts by state, from [`Inbox::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxStats {
    /// Waiting for a worker.
    pub pending: u64,
    /// Held by a worker.
    pub leased: u64,
    /// Waiting for a retry.
    pub retrying: u64,
    /// Dead letters.
    pub dead: u64,
    /// Handled and still remembered (an in-memory inbox counts the ids it
    /// remembers).
    pub done: u64,
    /// How long the oldest pending delivery has waited.
    pub oldest_pending: Option<Duration>,
}

impl InboxStats {
    /// Deliveries that count against the capacity: pending, leased and
    /// retrying.
    pub fn active(&self) -> u64 {
        self.pending + self.leased + self.retrying
    }

    /// The count for one state.
    pub fn count(&self, state: State) -> u64 {
        match state {
            State::Pending => self.pending,
            State::Leased => self.leased,
            State::Retrying => self.retrying,
            State::Dead => self.dead,
            State::Done => self.done,
        }
    }

    /// Sets the count for one state (for backends).
    pub fn set(&mut self, state: State, count: u64) {
        match state {
            State::Pending => self.pending = count,
            State::Leased => self.leased = count,
            State::Retrying => self.retrying = count,
            State::Dead => self.dead = count,
            State::Done => self.done = count,
        }
    }
}

/// The inbox could not answer (unreachable, timed out, or failed).
///
/// The receiver answers 503 `store_unavailable`: the sender retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("inbox unavailable: {message}")]
pub struct InboxError {
    message: String,
}

impl InboxError {
    /// An inbox error with a description (never include credentials).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// Where acknowledged deliveries are kept until handled; see the [module
/// documentation](self).
///
/// Object-safe: the dispatcher holds an `Arc<dyn Inbox>`.
pub trait Inbox: Send + Sync + fmt::Debug + 'static {
    /// Keeps `delivery` unless one with its dedupe key is held or
    /// remembered, in one atomic step. It comes shared, so an inbox that
    /// keeps it in memory, or hands it to a writer task, takes it as it is
    /// rather than copying it.
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>>;

    /// Leases up to `max` deliveries that are due, for `lease_for`, and
    /// counts an attempt for each. A delivery whose lease ran out gets a
    /// [lost](AttemptRecord::lost) attempt in its log first.
    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>>;

    /// Extends the lease to `lease_for` from now, if it still holds.
    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;

    /// The delivery was handled: done, remembered for the retention window.
    /// `attempt` (outcome [`Handled`](AttemptOutcome::Handled)) joins the
    /// attempt log in the same step.
    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;

    /// The attempt failed: due again after `delay`. `attempt` joins the
    /// attempt log, and its error becomes the
    /// [`last_error`](Record::last_error).
    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;

    /// The delivery will not be retried: a dead letter, until replayed.
    /// `attempt` joins the attempt log, and its error becomes the
    /// [`last_error`](Record::last_error).
    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;

    /// Hands the lease back unfinished (a graceful shutdown): pending again
    /// at once, and the attempt is not counted. `attempt`, for an attempt
    /// that had started (outcome [`Abandoned`](AttemptOutcome::Abandoned)),
    /// joins the attempt log; `None` for a delivery never started.
    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;

    /// Makes the dead letter with this event id pending again, with fresh
    /// attempts.
    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>>;

    /// The delivery with this event id (the latest received, if several
    /// share it).
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>>;

    /// Up to `limit` deliveries in `state`, oldest first, from `cursor`.
    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>>;

    /// Counts by state.
    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>>;

    /// Forgets done deliveries older than the retention window (in bounded
    /// batches); returns how many.
    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>>;

    /// Whether acknowledged deliveries survive this process.
    fn is_durable(&self) -> bool;
}

impl<T: Inbox + ?Sized> Inbox for Arc<T> {
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
        (**self).accept(delivery)
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        (**self).lease(max, lease_for)
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        (**self).renew(lease, lease_for)
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        (**self).complete(lease, attempt)
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        (**self).retry(lease, delay, attempt)
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        (**self).dead_letter(lease, attempt)
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        (**self).abandon(lease, attempt)
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        (**self).replay(id)
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        (**self).get(id)
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        (**self).list(state, limit, cursor)
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        (**self).stats()
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        (**self).purge()
    }

    fn is_durable(&self) -> bool {
        (**self).is_durable()
    }
}
