//! The workers: lease deliveries from the [inbox](crate::inbox), hand each
//! to the [`EventRouter`], and record the outcome in the inbox.
//!
//! A [`Dispatcher`] takes accepted deliveries into its inbox
//! ([`submit`](Dispatcher::submit) answers at once: accepted, duplicate,
//! full or unavailable, so the sender can be told 202, 200 or 503), and its
//! workers lease them back out. Each attempt has a timeout, and the lease is
//! renewed while the handler runs, so a long handler is not handed to a
//! second worker; a worker that dies (with its process) stops renewing, and
//! its delivery is handed out again once the lease runs out. An `Err`, a
//! panic or a timeout is a failed attempt, never a dead worker. A failed
//! attempt is rescheduled **in the inbox** per the [`RetryPolicy`] (it keeps
//! its place in the capacity while it waits), then dead-lettered; a payload
//! that does not fit its type is dead-lettered at once with serde's
//! message. Dead letters live in the inbox too, and survive restarts with a
//! durable one.
//!
//! Each attempt's outcome goes to the inbox as an
//! [`AttemptRecord`] (number, end, duration,
//! outcome, error), with the call that records it, so the delivery's
//! record keeps its [attempt log](crate::inbox::Record::attempt_log); and
//! it is logged as one INFO line under
//! [`DELIVERY_TARGET`](crate::telemetry::DELIVERY_TARGET), with the fields
//! [`telemetry`](crate::telemetry#one-line-per-delivery-outcome) lists.
//!
//! ```
//! use hookwarden::dispatch::{Dispatcher, RetryPolicy};
//! use hookwarden::event::{Delivery, Event};
//! use hookwarden::router::EventRouter;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let router = EventRouter::new().catch_all(|event: Event<serde_json::Value>| async move {
//!     println!("{} {}", event.event_type(), event.payload());
//!     Ok::<_, std::convert::Infallible>(())
//! });
//! let dispatcher = Dispatcher::builder(router).workers(2).capacity(100).start();
//! let delivery = Delivery::new("evt_1", "ping", "1", r#"{"hello":"world"}"#.into());
//! dispatcher.submit(delivery).await.unwrap();
//! let report = dispatcher.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(report.left, 0);
//! assert_eq!(dispatcher.stats().handled, 1);
//! # }
//! ```

mod retry;
mod timing;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument as _;

pub use retry::RetryPolicy;
pub use timing::HandlerTimes;

use timing::TimeHistogram;

use crate::background::event::Delivery;
use crate::background::inbox::{
    Accept, AttemptOutcome, AttemptRecord, DEFAULT_CAPACITY, Inbox, InboxError, Lease, Leased,
    MemoryInbox, Record, Replay, State,
};
use crate::background::router::EventRouter;
use crate::future::BoxFuture;
use crate::telemetry;

const TARGET: &str = "hookwarden::dispatch";

/// How many accepted ids [`Dispatcher::recent_ids`] remembers.
const RECENT: usize = 100;

/// A hook called for every new dead letter.
pub type DeadLetterHook = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

/// The default lease of a delivery a worker holds; renewed every third of
/// it while the handler runs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A delivery that will not be retried again: its handler failed every
/// attempt, or its payload does not fit its type.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The delivery, exactly as received.
    pub delivery: Arc<Delivery>,
    /// How many attempts were made (parsing the payload is part of each).
    pub attempts: u32,
    /// The last failure: the handler's error, `panic: …`, `timed out …`,
    /// or the serde error for a payload that does not fit.
    pub error: String,
    /// When it was dead-lettered.
    pub at: SystemTime,
}

impl From<Record> for DeadLetter {
    fn from(record: Record) -> Self {
        Self {
            delivery: record.delivery,
            attempts: record.attempts,
            error: record.last_error.unwrap_or_default(),
            at: record.updated_at,
        }
    }
}

/// Counters since the dispatcher started, in this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Deliveries accepted into the inbox.
    pub accepted: u64,
    /// Deliveries answered as duplicates by the inbox.
    pub duplicates: u64,
    /// Deliveries acknowledged without work: no handler takes their type
    /// and version.
    pub ignored: u64,
    /// Deliveries whose handler succeeded.
    pub handled: u64,
    /// Failed attempts that were scheduled for a retry.
    pub retries: u64,
    /// Failed attempts, whatever came next (a retry or a dead letter).
    pub failed_attempts: u64,
    /// Deliveries dead-lettered.
    pub dead_lettered: u64,
    /// Attempts running now.
    pub in_flight: usize,
    /// How long handler attempts took.
    pub handler_times: HandlerTimes,
}

/// What a graceful shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Deliveries in the inbox not finished by the deadline (pending,
    /// leased or waiting to retry). With the in-memory inbox these are lost
    /// when the process exits; a durable inbox hands them out at the next
    /// start.
    pub left: u64,
    /// Dead letters in the inbox.
    pub dead_letters: u64,
    /// Whether every running attempt finished before the deadline (and,
    /// with the in-memory inbox, every delivery was handled).
    pub drained: bool,
}

/// Why [`Dispatcher::submit`] did not keep a delivery.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The inbox is at capacity.
    #[error("the inbox is full")]
    Full,
    /// The dispatcher is shutting down.
    #[error("the dispatcher is shutting down")]
    Closed,
    /// The inbox could not answer.
    #[error(transparent)]
    Unavailable(#[from] InboxError),
}

/// What [`Dispatcher::submit`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Submitted {
    /// The inbox now holds it.
    Accepted,
    /// The inbox already held, or remembered, a delivery with its key.
    Duplicate,
}

/// Why [`Dispatcher::replay`] did nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No delivery has this id.
    #[error("no delivery with id {0:?}")]
    NotFound(String),
    /// The delivery is not a dead letter.
    #[error("delivery {0:?} is not a dead letter")]
    NotDead(String),
    /// The inbox could not answer.
    #[error(transparent)]
    Unavailable(#[from] InboxError),
}

/// Configures and starts a [`Dispatcher`].
pub struct DispatcherBuilder {
    router: EventRouter,
    inbox: Option<Arc<dyn Inbox>>,
    capacity: usize,
    workers: usize,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    lease: Duration,
    lease_batch: Option<usize>,
    poll_interval: Duration,
    purge_interval: Duration,
    on_dead_letter: Option<DeadLetterHook>,
}

impl DispatcherBuilder {
    /// The handlers.
    pub fn router(mut self, router: EventRouter) -> Self {
        self.router = router;
        self
    }

    /// Capacity of the default in-memory inbox (default 1024); a durable
    /// inbox has its own.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Another inbox, e.g. a durable one (default: in memory).
    pub fn inbox(self, inbox: impl Inbox) -> Self {
        self.shared_inbox(Arc::new(inbox))
    }

    /// Like [`inbox`](Self::inbox), for an inbox chosen at run time.
    pub fn shared_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// How many attempts run at once (default 4, at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// How long one attempt may take before it counts as failed (default
    /// 30 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// How failed attempts are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long a worker's lease lasts between renewals (default 30 s,
    /// renewed every 10 s while the handler runs): after a crash, the
    /// delivery is handed out again within this time.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How many deliveries a worker leases at once (default: 1 from the
    /// in-memory inbox, where a lease costs nothing; 8 from a durable one,
    /// where each lease is a write). The worker runs them in order and
    /// renews the waiting ones' leases with the running one's; a larger
    /// batch saves writes, a smaller one spreads deliveries more evenly
    /// over the workers.
    pub fn lease_batch(mut self, deliveries: usize) -> Self {
        self.lease_batch = Some(deliveries.max(1));
        self
    }

    /// How often idle workers look for work they were not woken for
    /// (retries, work accepted by other replicas, expired leases); default
    /// 500 ms.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Called for every new dead letter (e.g. to alert).
    pub fn on_dead_letter(mut self, hook: impl Fn(&DeadLetter) + Send + Sync + 'static) -> Self {
        self.on_dead_letter = Some(Arc::new(hook));
        self
    }

    /// Spawns the workers on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start(self) -> Dispatcher {
        let inbox =
            self.inbox.unwrap_or_else(|| Arc::new(MemoryInbox::with_capacity(self.capacity)));
        let lease_batch = self.lease_batch.unwrap_or(if inbox.is_durable() { 8 } else { 1 });
        let inner = Arc::new(Inner {
            lease_batch,
            inbox,
            router: self.router,
            attempt_timeout: self.attempt_timeout,
            retry: self.retry,
            lease: self.lease,
            poll_interval: self.poll_interval,
            on_dead_letter: self.on_dead_letter,
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            times: TimeHistogram::new(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            in_flight: AtomicUsize::new(0),
            workers_running: AtomicUsize::new(self.workers),
            closing: AtomicBool::new(false),
            inbox_down: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            changed: Notify::new(),
            wake: Notify::new(),
            due: Mutex::new(BinaryHeap::new()),
            due_added: AtomicU64::new(0),
            running: Mutex::new(hashbrown::HashMap::new()),
            next_run: AtomicU64::new(0),
        });
        telemetry::dispatcher_started();
        for _ in 0..self.workers {
            tokio::spawn(worker(inner.clone()));
        }
        tokio::spawn(maintenance(Arc::downgrade(&inner), self.purge_interval));
        Dispatcher { inner }
    }
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("router", &self.router)
            .field("inbox", &self.inbox)
            .field("workers", &self.workers)
            .field("capacity", &self.capacity)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retry", &self.retry)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// The inbox and its workers; cheap to clone (all clones share them).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    lease_batch: usize,
    inbox: Arc<dyn Inbox>,
    router: EventRouter,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    lease: Duration,
    poll_interval: Duration,
    on_dead_letter: Option<DeadLetterHook>,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    ignored: AtomicU64,
    handled: AtomicU64,
    retries: AtomicU64,
    failed_attempts: AtomicU64,
    dead_lettered: AtomicU64,
    times: TimeHistogram,
    /// The ids most recently accepted, newest at the back.
    recent: Mutex<VecDeque<Arc<str>>>,
    in_flight: AtomicUsize,
    workers_running: AtomicUsize,
    /// Shutdown has begun: no new deliveries; a durable inbox is no longer
    /// leased from.
    closing: AtomicBool,
    /// Whether the inbox failed the last accept (for [`Ack`](crate::Ack)'s
    /// outage lines).
    inbox_down: AtomicBool,
    /// The shutdown deadline passed: workers stop at once.
    stopped: AtomicBool,
    /// Signalled when an attempt finishes or a worker stops (for draining).
    changed: Notify,
    /// Signalled when work may be due (an accept, a replay, shutdown).
    wake: Notify,
    /// When retries scheduled by this process fall due.
    due: Mutex<BinaryHeap<Reverse<Instant>>>,
    /// Counts the additions to `due`, so that an idle worker whose timer
    /// is set knows when it may have to look sooner.
    due_added: AtomicU64,
    /// The leases of the batches running now (their attempts started or
    /// waiting), handed back if the shutdown deadline passes.
    /// (hashbrown's default hasher: the ids are this process's counter
    /// values, so there is no flooding to defend against.)
    running: Mutex<hashbrown::HashMap<u64, Running>>,
    next_run: AtomicU64,
}

impl Dispatcher {
    /// Configures a dispatcher for `router`.
    pub fn builder(router: EventRouter) -> DispatcherBuilder {
        DispatcherBuilder {
            router,
            inbox: None,
            capacity: DEFAULT_CAPACITY,
            workers: 4,
            attempt_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            lease: DEFAULT_LEASE,
            lease_batch: None,
            poll_interval: Duration::from_millis(500),
            purge_interval: Duration::from_secs(60),
            on_dead_letter: None,
        }
    }

    /// Keeps a delivery in the inbox (deduped on its
    /// [`dedupe_key`](Delivery::dedupe_key)), or refuses at once when the
    /// inbox is full, unavailable or shutting down.
    pub async fn submit(&self, delivery: Delivery) -> Result<Submitted, SubmitError> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::Acquire) {
            return Err(SubmitError::Closed);
        }
        // Shared from here: an inbox may keep it as it is.
        let delivery = Arc::new(delivery);
        match inner.inbox.accept(&delivery).await? {
            Accept::Accepted => {
                inner.accepted.fetch_add(1, Ordering::Relaxed);
                {
                    let mut recent = lock(&inner.recent);
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(delivery.shared_id());
                }
                inner.wake.notify_one();
                Ok(Submitted::Accepted)
            }
            Accept::Duplicate => {
                inner.duplicates.fetch_add(1, Ordering::Relaxed);
                Ok(Submitted::Duplicate)
            }
            Accept::Full => Err(SubmitError::Full),
        }
    }

    /// Whether a handler takes this (type, version).
    pub fn accepts(&self, event_type: &str, version: &str) -> bool {
        self.inner.router.accepts(event_type, version)
    }

    /// Counts a delivery acknowledged without work because no handler
    /// takes it.
    pub fn count_ignored(&self) {
        self.inner.ignored.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Whether the inbox failed the last accept: set by [`Ack`](crate::Ack),
    /// so that an outage is logged as it starts and as it ends, not once a
    /// request.
    pub(crate) fn inbox_down(&self) -> &AtomicBool {
        &self.inner.inbox_down
    }

    /// The inbox.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        &self.inner.inbox
    }

    /// Up to 1,000 dead letters, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, InboxError> {
        let page = self.inner.inbox.list(State::Dead, 1000, None).await?;
        Ok(page.records.into_iter().map(DeadLetter::from).collect())
    }

    /// Makes the dead letter with this id pending again, with fresh
    /// attempts.
    pub async fn replay(&self, id: &str) -> Result<(), ReplayError> {
        match self.inner.inbox.replay(id).await? {
            Replay::Replayed => {
                tracing::info!(target: TARGET, id, "replaying a dead letter");
                self.inner.wake.notify_one();
                Ok(())
            }
            Replay::NotFound => Err(ReplayError::NotFound(id.to_owned())),
            Replay::NotDead => Err(ReplayError::NotDead(id.to_owned())),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        Stats {
            accepted: inner.accepted.load(Ordering::Relaxed),
            duplicates: inner.duplicates.load(Ordering::Relaxed),
            ignored: inner.ignored.load(Ordering::Relaxed),
            handled: inner.handled.load(Ordering::Relaxed),
            retries: inner.retries.load(Ordering::Relaxed),
            failed_attempts: inner.failed_attempts.load(Ordering::Relaxed),
            dead_lettered: inner.dead_lettered.load(Ordering::Relaxed),
            in_flight: inner.in_flight.load(Ordering::Relaxed),
            handler_times: inner.times.snapshot(),
        }
    }

    /// The ids of the deliveries this dispatcher accepted most recently
    /// (up to 100), newest first; look each up with
    /// [`Inbox::get`] for its state.
    pub fn recent_ids(&self) -> Vec<Arc<str>> {
        lock(&self.inner.recent).iter().rev().cloned().collect()
    }

    /// Stops accepting and waits at most `deadline` for the workers.
    ///
    /// With the in-memory inbox the workers first handle what it holds
    /// (retries included), since it would be lost. With a durable inbox
    /// they stop leasing at once, running attempts finish, and the rest
    /// stays in the inbox for the next start. Attempts still running at the
    /// deadline hand their lease back, so the next start does not wait for
    /// the lease to run out.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::SeqCst);
        inner.wake.notify_waiters();
        let drained = tokio::time::timeout(deadline, async {
            loop {
                let changed = inner.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if inner.workers_running.load(Ordering::Acquire) == 0 {
                    return;
                }
                changed.await;
            }
        })
        .await
        .is_ok();
        inner.stopped.store(true, Ordering::Release);
        inner.wake.notify_waiters();
        let cut_off: Vec<Running> = lock(&inner.running).drain().map(|(_, run)| run).collect();
        for run in &cut_off {
            // An attempt that had started is logged as abandoned.
            let abandoned = run.started.map(|started| {
                AttemptRecord::new(run.attempt, AttemptOutcome::Abandoned, started.elapsed())
            });
            match inner.inbox.abandon(&run.lease, abandoned.as_ref()).await {
                Ok(handed_back) => {
                    if let Some(attempt) = &abandoned {
                        let state = if handed_back { "pending" } else { "unrecorded" };
                        outcome_line(&run.delivery, attempt, state, None);
                    }
                }
                Err(error) => tracing::warn!(
                    target: TARGET,
                    %error,
                    "could not hand a lease back; the delivery is handed out again when it runs out"
                ),
            }
        }
        let (left, dead_letters) = match inner.inbox.stats().await {
            Ok(stats) => (stats.active(), stats.dead),
            Err(error) => {
                tracing::warn!(target: TARGET, %error, "could not count what was left");
                (0, 0)
            }
        };
        let drained = drained && (inner.inbox.is_durable() || left == 0);
        if drained {
            tracing::info!(target: TARGET, "drained");
        } else if inner.inbox.is_durable() {
            tracing::info!(target: TARGET, left, "stopped; the rest stays in the inbox");
        } else {
            tracing::warn!(target: TARGET, left, "shutdown deadline passed with deliveries unfinished");
        }
        ShutdownReport { left, dead_letters, drained }
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("inbox", &self.inner.inbox)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing below panics while holding these locks.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// Remembers that this process scheduled work due at `at`.
    fn due_at(&self, at: Instant) {
        lock(&self.due).push(Reverse(at));
        self.due_added.fetch_add(1, Ordering::Release);
    }

    /// When an idle worker should look again: the next retry this process
    /// scheduled, or the poll interval, whichever comes first.
    fn next_look(&self) -> Instant {
        let now = Instant::now();
        let mut due = lock(&self.due);
        while due.peek().is_some_and(|Reverse(at)| *at <= now) {
            due.pop();
        }
        let poll = now + self.poll_interval;
        due.peek().map_or(poll, |Reverse(at)| (*at).min(poll))
    }

    /// Whether idle workers should stop: at the deadline; once closing with
    /// a durable inbox; or once closing with nothing left to handle.
    async fn should_stop(&self) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return true;
        }
        if !self.closing.load(Ordering::Acquire) {
            return false;
        }
        if self.inbox.is_durable() {
            return true;
        }
        matches!(self.inbox.stats().await, Ok(stats) if stats.active() == 0)
    }
}

async fn worker(inner: Arc<Inner>) {
    let mut failing = false;
    // One timer for the worker's whole life, moved only when it should
    // look sooner (a retry was scheduled) or it has fired: an idle worker,
    // woken for every delivery, would otherwise read the clock and set and
    // cancel a timer each time.
    let mut seen_due = inner.due_added.load(Ordering::Acquire);
    let look = tokio::time::sleep_until(inner.next_look());
    tokio::pin!(look);
    loop {
        if inner.stopped.load(Ordering::Acquire)
            || (inner.closing.load(Ordering::Acquire) && inner.inbox.is_durable())
        {
            break;
        }
        match inner.inbox.lease(inner.lease_batch, inner.lease).await {
            Ok(leased) if !leased.is_empty() => {
                failing = false;
                run_batch(&inner, leased).await;
                continue;
            }
            Ok(_) => failing = false,
            Err(error) => {
                if !failing {
                    tracing::warn!(target: TARGET, %error, "cannot lease from the inbox; retrying");
                }
                failing = true;
            }
        }
        // About to wait: registered only now, so a busy worker does not
        // register and drop a waiter for every batch. Nothing is missed: a
        // delivery accepted since the lease left a permit (`notify_one`),
        // and the stop conditions are read after registering.
        let wake = inner.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let closing = inner.closing.load(Ordering::SeqCst);
        // Closing, it also waits for outcomes, registered before it reads
        // whether any deliveries are left.
        let changed = inner.changed.notified();
        tokio::pin!(changed);
        if closing {
            changed.as_mut().enable();
        }
        if inner.should_stop().await {
            break;
        }
        let due_added = inner.due_added.load(Ordering::Acquire);
        if look.is_elapsed() || due_added != seen_due {
            seen_due = due_added;
            let next = inner.next_look();
            if look.is_elapsed() || next < look.deadline() {
                look.as_mut().reset(next);
            }
        }
        tokio::select! {
            () = &mut wake => {}
            () = &mut changed, if closing => {}
            () = look.as_mut() => {}
        }
    }
    inner.workers_running.fetch_sub(1, Ordering::AcqRel);
    inner.changed.notify_waiters();
    // Another idle worker may be waiting for this one's outcome.
    inner.wake.notify_one();
}

/// Records the inbox's gauges (queue depth, oldest pending age, whether the
/// inbox answers: every 5 s, with the `metrics` feature) and purges done
/// deliveries past their retention (every `purge_every`), until the
/// dispatcher is dropped or shut down.
async fn maintenance(inner: Weak<Inner>, purge_every: Duration) {
    const GAUGES_EVERY: Duration = Duration::from_secs(5);
    let mut next_purge = Instant::now() + purge_every;
    loop {
        {
            let Some(inner) = inner.upgrade() else { return };
            if inner.closing.load(Ordering::Acquire) {
                return;
            }
            if cfg!(feature = "metrics") {
                match inner.inbox.stats().await {
                    Ok(stats) => {
                        telemetry::queue_depth((stats.pending + stats.retrying) as usize);
                        telemetry::oldest_pending(stats.oldest_pending);
                        telemetry::inbox_up(true);
                    }
                    Err(error) => {
                        tracing::debug!(target: TARGET, %error, "cannot read the inbox's gauges");
                        telemetry::inbox_up(false);
                    }
                }
            }
            if Instant::now() >= next_purge {
                next_purge = Instant::now() + purge_every;
                match inner.inbox.purge().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(
                        target: TARGET,
                        purged,
                        "forgot done deliveries past their retention"
                    ),
                    Err(error) => tracing::debug!(target: TARGET, %error, "purge failed"),
                }
            }
        }
        let pause =
            if cfg!(feature = "metrics") { GAUGES_EVERY.min(purge_every) } else { purge_every };
        tokio::time::sleep(pause).await;
    }
}

/// A leased delivery of a batch running now.
struct Running {
    lease: Lease,
    delivery: Arc<Delivery>,
    attempt: u32,
    /// When its attempt started, once it has.
    started: Option<Instant>,
}

/// Why an attempt failed: how ([`AttemptOutcome::Unprocessable`] when
/// retrying cannot help), and the error.
struct Failure {
    outcome: AttemptOutcome,
    error: String,
}

impl Failure {
    fn new(outcome: AttemptOutcome, error: impl Into<String>) -> Self {
        Self { outcome, error: error.into() }
    }

    fn panicked(payload: Box<dyn std::any::Any + Send>) -> Self {
        Self::new(AttemptOutcome::Panicked, format!("panic: {}", panic_message(payload)))
    }

    fn failed(error: impl fmt::Display) -> Self {
        Self::new(AttemptOutcome::Failed, error.to_string())
    }

    /// Whether another attempt may succeed.
    fn is_retryable(&self) -> bool {
        self.outcome != AttemptOutcome::Unprocessable
    }
}

/// Runs a leased batch in order. The leases of those still waiting are
/// renewed along with the running one's; when a durable inbox's dispatcher
/// shuts down, those not yet started are handed back at once.
async fn run_batch(inner: &Arc<Inner>, leased: Vec<Leased>) {
    // The batch's run ids are consecutive. The first starts now: its start
    // is recorded with it, under the one lock taken for the batch.
    let now = Instant::now();
    let first_id = inner.next_run.fetch_add(leased.len() as u64, Ordering::Relaxed);
    {
        let mut running = lock(&inner.running);
        for (run_id, one) in (first_id..).zip(&leased) {
            running.insert(
                run_id,
                Running {
                    lease: one.lease.clone(),
                    delivery: one.delivery.clone(),
                    attempt: one.attempt,
                    started: (run_id == first_id).then_some(now),
                },
            );
        }
    }
    let mut started = Some(now);
    // Made when a recording has to wait (a durable inbox's write).
    let mut recording: Option<tokio::task::JoinSet<()>> = None;
    let mut rest = leased.into_iter();
    let mut run_id = first_id;
    while let Some(one) = rest.next() {
        let stopping = inner.stopped.load(Ordering::Acquire)
            || (inner.closing.load(Ordering::Acquire) && inner.inbox.is_durable());
        if stopping {
            for (run_id, one) in (run_id..).zip(std::iter::once(one).chain(rest)) {
                if lock(&inner.running).remove(&run_id).is_some() {
                    let _ = inner.inbox.abandon(&one.lease, None).await;
                }
            }
            break;
        }
        let waiting: Vec<Lease> = rest.as_slice().iter().map(|l| l.lease.clone()).collect();
        run(inner, run_id, one, &waiting, &mut recording, started.take()).await;
        run_id += 1;
    }
    // Every outcome is recorded before the worker leases again.
    if let Some(mut recording) = recording {
        while recording.join_next().await.is_some() {}
    }
}

/// Runs one attempt, then records its outcome. The recording's first step
/// runs here; if it has to wait for the inbox (a durable inbox's write),
/// it goes on in `recording` while the worker starts its batch's next
/// delivery, so a batch's outcomes share the inbox's commits.
async fn run(
    inner: &Arc<Inner>,
    run_id: u64,
    leased: Leased,
    waiting: &[Lease],
    recording: &mut Option<tokio::task::JoinSet<()>>,
    // When it was recorded as started, if it was.
    started: Option<Instant>,
) {
    let Leased { delivery, attempt, lease } = leased;
    let span = tracing::info_span!(
        target: TARGET,
        "event",
        id = delivery.id(),
        r#type = delivery.event_type(),
        version = delivery.version(),
        attempt,
        outcome = tracing::field::Empty,
    );
    inner.in_flight.fetch_add(1, Ordering::AcqRel);
    if !inner.inbox.is_durable() {
        // An inbox in memory records at once: nothing to overlap, and one
        // span covers both steps.
        let recorded = span.clone();
        async move {
            let (result, report, stopped) =
                attempt_and_report(inner, run_id, &delivery, attempt, &lease, waiting, started)
                    .await;
            settle(inner, delivery, report, lease, result, stopped, recorded).await;
        }
        .instrument(span)
        .await;
        return;
    }
    let (result, report, stopped) =
        attempt_and_report(inner, run_id, &delivery, attempt, &lease, waiting, started)
            .instrument(span.clone())
            .await;
    let (inner, recorded) = (inner.clone(), span.clone());
    let settling =
        async move { settle(&inner, delivery, report, lease, result, stopped, recorded).await }
            .instrument(span);
    let mut settling = Box::pin(settling);
    let settled =
        std::future::poll_fn(|cx| Poll::Ready(settling.as_mut().poll(cx).is_ready())).await;
    if !settled {
        recording.get_or_insert_with(tokio::task::JoinSet::new).spawn(settling);
    }
}

/// Runs attempt number `attempt` (unless earlier ones never finished) and
/// reports it: its result, its entry in the attempt log, and whether the
/// shutdown deadline took its lease back meanwhile.
async fn attempt_and_report(
    inner: &Arc<Inner>,
    run_id: u64,
    delivery: &Arc<Delivery>,
    attempt: u32,
    lease: &Lease,
    waiting: &[Lease],
    // When it was recorded as started, if it was.
    started: Option<Instant>,
) -> (Result<(), Failure>, AttemptRecord, bool) {
    let max = inner.retry.max_attempts();
    // tokio's clock, so that tests on a paused clock see the durations
    // they simulate.
    let started = started.unwrap_or_else(|| {
        let started = Instant::now();
        if let Some(running) = lock(&inner.running).get_mut(&run_id) {
            running.started = Some(started);
        }
        started
    });
    let (result, ran) = if attempt > max {
        // Earlier attempts were started and never finished: their process
        // died (perhaps because of this very delivery).
        let failure = Failure::new(
            AttemptOutcome::Unprocessable,
            format!(
                "gave up after {} attempts; the last never finished (did the process stop?)",
                attempt - 1
            ),
        );
        (Err(failure), started.elapsed())
    } else {
        let result = attempt_once(inner, delivery, attempt, lease, waiting).await;
        let ran = started.elapsed();
        inner.times.record(ran);
        telemetry::handler_duration(ran.as_secs_f64(), result.is_ok());
        (result, ran)
    };
    let stopped = lock(&inner.running).remove(&run_id).is_none();
    let report = match &result {
        Ok(()) => AttemptRecord::new(attempt, AttemptOutcome::Handled, ran),
        Err(failure) => {
            AttemptRecord::new(attempt, failure.outcome, ran).with_error(&failure.error)
        }
    };
    (result, report, stopped)
}

/// Records the outcome of an attempt in the inbox (`report`, its entry in
/// the attempt log, goes with it), then logs it: one line under
/// [`DELIVERY_TARGET`](telemetry::DELIVERY_TARGET).
async fn settle(
    inner: &Inner,
    delivery: Arc<Delivery>,
    report: AttemptRecord,
    lease: Lease,
    result: Result<(), Failure>,
    stopped: bool,
    span: tracing::Span,
) {
    let max = inner.retry.max_attempts();
    let attempt = report.attempt();
    if stopped {
        // The shutdown deadline passed and the lease was handed back (and
        // the attempt logged as abandoned).
        span.record("outcome", "abandoned");
    } else {
        match result {
            Ok(()) => {
                span.record("outcome", "handled");
                inner.handled.fetch_add(1, Ordering::Relaxed);
                let recorded = record("complete", || inner.inbox.complete(&lease, &report)).await;
                outcome_line(&delivery, &report, recorded_as(recorded, "done"), None);
            }
            Err(failure) if failure.is_retryable() && attempt < max => {
                span.record("outcome", "retry");
                inner.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let delay = inner.retry.backoff_jittered(attempt);
                inner.retries.fetch_add(1, Ordering::Relaxed);
                telemetry::retry();
                let recorded = record("retry", || inner.inbox.retry(&lease, delay, &report)).await;
                if recorded {
                    inner.due_at(Instant::now() + delay);
                }
                outcome_line(&delivery, &report, recorded_as(recorded, "retrying"), Some(delay));
            }
            Err(failure) => {
                span.record("outcome", "dead_letter");
                inner.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let recorded =
                    record("dead_letter", || inner.inbox.dead_letter(&lease, &report)).await;
                outcome_line(&delivery, &report, recorded_as(recorded, "dead"), None);
                if recorded {
                    inner.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    telemetry::dead_letter();
                    if let Some(hook) = &inner.on_dead_letter {
                        let letter = DeadLetter {
                            delivery: delivery.clone(),
                            attempts: attempt.min(max),
                            error: failure.error,
                            at: SystemTime::now(),
                        };
                        hook(&letter);
                    }
                }
            }
        }
    }
    inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    // Only a closing dispatcher's idle workers wait for outcomes (to see
    // whether the memory inbox is empty). One that read `closing` before
    // this outcome was recorded reads the inbox after it, so it misses
    // nothing when this load comes first.
    if inner.closing.load(Ordering::SeqCst) {
        inner.changed.notify_waiters();
    }
}

/// The state a delivery is in after its outcome was recorded, or
/// `unrecorded` (the lease was lost, or the inbox did not answer: it is
/// handed out again).
fn recorded_as(recorded: bool, state: &'static str) -> &'static str {
    if recorded { state } else { "unrecorded" }
}

/// Logs one attempt's outcome; see [`telemetry`] for the fields.
fn outcome_line(
    delivery: &Delivery,
    attempt: &AttemptRecord,
    state: &'static str,
    retry_in: Option<Duration>,
) {
    telemetry::DeliveryOutcome {
        id: delivery.id(),
        event_type: delivery.event_type(),
        version: delivery.version(),
        scheme: delivery.scheme(),
        attempt: attempt.attempt(),
        outcome: attempt.outcome().as_str(),
        state,
        duration: attempt.duration(),
        retry_in,
        error: attempt.error(),
        error_quotes_payload: attempt.outcome() == AttemptOutcome::Unprocessable,
    }
    .log();
}

/// Records an outcome in the inbox, retrying a failing inbox a few times
/// (about 1.5 s in all). Returns whether it was recorded.
async fn record<'a>(
    what: &'static str,
    call: impl Fn() -> BoxFuture<'a, Result<bool, InboxError>>,
) -> bool {
    let mut delay = Duration::from_millis(100);
    for tries in 1..=5 {
        match call().await {
            Ok(true) => return true,
            Ok(false) => {
                tracing::warn!(
                    target: TARGET,
                    what,
                    "the lease was lost before the outcome was recorded; \
                     the delivery is handled by whoever holds it now"
                );
                return false;
            }
            Err(error) if tries < 5 => {
                tracing::warn!(target: TARGET, what, %error, "cannot record the outcome; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(error) => {
                tracing::error!(
                    target: TARGET,
                    what,
                    %error,
                    "cannot record the outcome; the delivery is handed out again when its lease runs out"
                );
            }
        }
    }
    false
}

/// One attempt. Its first poll runs here, with panics caught: a handler that
/// finishes without waiting needs neither a task nor a timer. One that
/// waits moves to its own task, where a panic is caught and the timeout can
/// abort it, and the lease is renewed every third of its length while it
/// runs. (A handler that blocks its thread cannot be interrupted either
/// way: keep blocking work in `spawn_blocking`.)
async fn attempt_once(
    inner: &Inner,
    delivery: &Arc<Delivery>,
    attempt: u32,
    lease: &Lease,
    waiting: &[Lease],
) -> Result<(), Failure> {
    // Calling the handler may panic before it returns its future.
    let mut future = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        inner.router.start(delivery.clone(), attempt)
    })) {
        Ok(route) => route.map_err(|error| Failure::new(AttemptOutcome::Unprocessable, error))?,
        Err(payload) => return Err(Failure::panicked(payload)),
    };
    let first = std::future::poll_fn(|cx| {
        Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))))
    })
    .await;
    match first {
        Ok(Poll::Ready(outcome)) => outcome.map_err(Failure::failed),
        Err(payload) => Err(Failure::panicked(payload)),
        Ok(Poll::Pending) => {
            let mut task = tokio::spawn(future);
            let deadline = tokio::time::sleep(inner.attempt_timeout);
            tokio::pin!(deadline);
            let renew_every = inner.lease / 3;
            let mut renewal = tokio::time::interval_at(Instant::now() + renew_every, renew_every);
            renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    joined = &mut task => break match joined {
                        Ok(outcome) => outcome.map_err(Failure::failed),
                        Err(join) if join.is_panic() => Err(Failure::panicked(join.into_panic())),
                        Err(_cancelled) => Err(Failure::failed("cancelled")),
                    },
                    () = &mut deadline => {
                        task.abort();
                        break Err(Failure::new(
                            AttemptOutcome::TimedOut,
                            format!("timed out after {:?}", inner.attempt_timeout),
                        ));
                    }
                    _ = renewal.tick() => {
                        for held in std::iter::once(lease).chain(waiting) {
                            match inner.inbox.renew(held, inner.lease).await {
                                Ok(true) => {}
                                Ok(false) => tracing::warn!(
                                    target: TARGET,
                                    "a lease was lost while the handler ran; another worker may run its delivery too"
                                ),
                                Err(error) => tracing::warn!(target: TARGET, %error, "cannot renew a lease"),
                            }
                        }
                    }
                }
            }
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
