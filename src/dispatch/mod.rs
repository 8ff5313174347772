//! The background half: a bounded queue, a pool of workers, retries with
//! backoff, and the dead-letter list.
//!
//! A [`Dispatcher`] takes accepted deliveries ([`submit`](Dispatcher::submit)
//! refuses at once when the queue is full, so the sender can be told 503),
//! and its workers hand each one to the [`EventRouter`]. Each attempt runs
//! in its own task with a timeout: an `Err`, a panic or a timeout is a
//! failed attempt, never a dead worker. Failed attempts are retried per the
//! [`RetryPolicy`], then dead-lettered; a payload that does not fit its type
//! is dead-lettered at once with serde's message. The idempotency claim a
//! delivery holds is completed when it is handled or dead-lettered.
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
//! let dispatcher = Dispatcher::builder(router).workers(2).queue_capacity(100).start();
//! let delivery = Delivery::new("evt_1", "ping", "1", r#"{"hello":"world"}"#.into());
//! dispatcher.submit(delivery).await.unwrap();
//! let report = dispatcher.shutdown(Duration::from_secs(5)).await;
//! assert_eq!(report.left, 0);
//! assert_eq!(dispatcher.stats().handled, 1);
//! # }
//! ```

mod dead_letter;
mod retry;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tracing::Instrument as _;

pub use dead_letter::DeadLetter;
pub use retry::RetryPolicy;

use crate::event::Delivery;
use crate::queue::{EnqueueError, Job, MemoryQueue, Queue};
use crate::router::EventRouter;
use crate::store::IdempotencyStore;
use crate::telemetry;
use dead_letter::DeadLetters;

const TARGET: &str = "hookwarden::dispatch";

/// A hook called for every new dead letter.
pub type DeadLetterHook = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

/// Counters since the dispatcher started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Deliveries accepted into the queue.
    pub accepted: u64,
    /// Deliveries acknowledged without work: no handler takes their type
    /// and version.
    pub ignored: u64,
    /// Deliveries whose handler succeeded.
    pub handled: u64,
    /// Failed attempts that were scheduled for a retry.
    pub retries: u64,
    /// Deliveries dead-lettered.
    pub dead_lettered: u64,
    /// Deliveries waiting in the queue now.
    pub queued: usize,
    /// Attempts running now.
    pub in_flight: usize,
    /// Retries waiting for their backoff to pass now.
    pub scheduled_retries: usize,
}

/// What a graceful shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Deliveries not finished by the deadline (queued, running, or waiting
    /// to retry). With the in-memory queue, these are lost when the process
    /// exits.
    pub left: usize,
    /// Entries in the dead-letter list.
    pub dead_letters: usize,
    /// Whether everything was finished before the deadline.
    pub drained: bool,
}

/// Why [`Dispatcher::replay`] did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No dead letter has this id.
    #[error("no dead letter with id {0:?}")]
    NotFound(String),
}

/// Configures and starts a [`Dispatcher`].
pub struct DispatcherBuilder {
    router: EventRouter,
    queue: Option<Arc<dyn Queue>>,
    queue_capacity: usize,
    workers: usize,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    store: Option<(Arc<dyn IdempotencyStore>, Duration)>,
    dead_letter_capacity: usize,
    on_dead_letter: Option<DeadLetterHook>,
}

impl DispatcherBuilder {
    /// The handlers.
    pub fn router(mut self, router: EventRouter) -> Self {
        self.router = router;
        self
    }

    /// How long a delivery may take from its first attempt to its last
    /// (every attempt timing out, every backoff at its longest): a claim's
    /// lease should outlast it.
    pub fn schedule_length(&self) -> Duration {
        let attempts = self.retry.max_attempts();
        let backoffs: Duration = (1..attempts).map(|n| self.retry.backoff(n, 1.0)).sum();
        self.attempt_timeout.saturating_mul(attempts) + backoffs
    }

    /// Capacity of the default in-memory queue (default 1024).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Another queue, e.g. a durable inbox.
    pub fn queue(self, queue: impl Queue) -> Self {
        self.shared_queue(Arc::new(queue))
    }

    /// Like [`queue`](Self::queue), for a queue chosen at run time.
    pub fn shared_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
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

    /// The store whose claims deliveries carry: each is completed, and
    /// retained for `retain`, once its delivery is handled or dead-lettered.
    pub fn store(mut self, store: Arc<dyn IdempotencyStore>, retain: Duration) -> Self {
        self.store = Some((store, retain));
        self
    }

    /// How many dead letters are kept (default 1000); the oldest makes
    /// room, with an error log.
    pub fn dead_letter_capacity(mut self, capacity: usize) -> Self {
        self.dead_letter_capacity = capacity;
        self
    }

    /// Called for every new dead letter (e.g. to alert or persist it).
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
        let queue = self.queue.unwrap_or_else(|| Arc::new(MemoryQueue::new(self.queue_capacity)));
        let inner = Arc::new(Inner {
            queue,
            router: self.router,
            attempt_timeout: self.attempt_timeout,
            retry: self.retry,
            store: self.store,
            dead: DeadLetters::new(self.dead_letter_capacity),
            on_dead_letter: self.on_dead_letter,
            accepted: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            scheduled: AtomicUsize::new(0),
            workers_running: AtomicUsize::new(self.workers),
            closing: AtomicBool::new(false),
            changed: Notify::new(),
        });
        for _ in 0..self.workers {
            tokio::spawn(worker(inner.clone()));
        }
        Dispatcher { inner }
    }
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("router", &self.router)
            .field("workers", &self.workers)
            .field("queue_capacity", &self.queue_capacity)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The queue and its workers; cheap to clone (all clones share them).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<dyn Queue>,
    router: EventRouter,
    attempt_timeout: Duration,
    retry: RetryPolicy,
    store: Option<(Arc<dyn IdempotencyStore>, Duration)>,
    dead: DeadLetters,
    on_dead_letter: Option<DeadLetterHook>,
    accepted: AtomicU64,
    ignored: AtomicU64,
    handled: AtomicU64,
    retries: AtomicU64,
    dead_lettered: AtomicU64,
    in_flight: AtomicUsize,
    scheduled: AtomicUsize,
    workers_running: AtomicUsize,
    closing: AtomicBool,
    /// Signalled when a retry is requeued or work finishes (for draining).
    changed: Notify,
}

impl Dispatcher {
    /// Configures a dispatcher for `router`.
    pub fn builder(router: EventRouter) -> DispatcherBuilder {
        DispatcherBuilder {
            router,
            queue: None,
            queue_capacity: 1024,
            workers: 4,
            attempt_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            store: None,
            dead_letter_capacity: 1000,
            on_dead_letter: None,
        }
    }

    /// Queues a delivery, or refuses at once when the queue is full or
    /// closed.
    pub async fn submit(&self, delivery: Delivery) -> Result<(), EnqueueError> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(EnqueueError::Closed);
        }
        self.inner.queue.enqueue(Job { delivery: Arc::new(delivery), attempts: 0 }).await?;
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        // `len` takes the queue's lock: only worth it when it is recorded.
        if cfg!(feature = "metrics") {
            telemetry::queue_depth(self.inner.queue.len());
        }
        Ok(())
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

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.inner.dead.list()
    }

    /// Takes the dead letter with this id off the list and queues it again,
    /// with a fresh attempt count.
    pub async fn replay(&self, id: &str) -> Result<(), ReplayError> {
        let letter =
            self.inner.dead.take(id).ok_or_else(|| ReplayError::NotFound(id.to_owned()))?;
        tracing::info!(target: TARGET, id, "replaying a dead letter");
        self.inner.queue.requeue(Job { delivery: letter.delivery, attempts: 0 }).await;
        Ok(())
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        Stats {
            accepted: inner.accepted.load(Ordering::Relaxed),
            ignored: inner.ignored.load(Ordering::Relaxed),
            handled: inner.handled.load(Ordering::Relaxed),
            retries: inner.retries.load(Ordering::Relaxed),
            dead_lettered: inner.dead_lettered.load(Ordering::Relaxed),
            queued: inner.queue.len(),
            in_flight: inner.in_flight.load(Ordering::Relaxed),
            scheduled_retries: inner.scheduled.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, lets the workers finish what is queued, running or
    /// waiting to retry, and waits at most `deadline` for them.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        inner.queue.close();
        inner.changed.notify_waiters();
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
        let left = inner.queue.len()
            + inner.in_flight.load(Ordering::Acquire)
            + inner.scheduled.load(Ordering::Acquire);
        let report = ShutdownReport { left, dead_letters: inner.dead.len(), drained };
        if drained {
            tracing::info!(target: TARGET, "drained");
        } else {
            tracing::warn!(target: TARGET, left, "shutdown deadline passed with deliveries unfinished");
        }
        report
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

async fn worker(inner: Arc<Inner>) {
    loop {
        match inner.queue.next().await {
            Some(job) => {
                if cfg!(feature = "metrics") {
                    telemetry::queue_depth(inner.queue.len());
                }
                run(&inner, job).await;
            }
            // Closed and empty; but a retry may still be waiting to come back.
            None if inner.scheduled.load(Ordering::Acquire) > 0 => {
                let changed = inner.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if inner.scheduled.load(Ordering::Acquire) > 0 && inner.queue.is_empty() {
                    changed.await;
                }
            }
            None => break,
        }
    }
    inner.workers_running.fetch_sub(1, Ordering::AcqRel);
    inner.changed.notify_waiters();
}

enum Failure {
    /// Retrying cannot help (the payload does not fit its type).
    Unprocessable(String),
    /// This attempt failed; another may succeed.
    Attempt(String),
}

async fn run(inner: &Arc<Inner>, job: Job) {
    let attempt = job.attempts + 1;
    let delivery = job.delivery.clone();
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
    let result = attempt_once(inner, delivery.clone(), attempt).instrument(span.clone()).await;
    let _enter = span.enter();
    match result {
        Ok(()) => {
            span.record("outcome", "handled");
            inner.handled.fetch_add(1, Ordering::Relaxed);
            finish(inner, &job).await;
        }
        Err(Failure::Attempt(error)) if attempt < inner.retry.max_attempts() => {
            span.record("outcome", "retry");
            let delay = inner.retry.backoff_jittered(attempt);
            tracing::warn!(target: TARGET, %error, retry_in_ms = delay.as_millis() as u64, "attempt failed");
            inner.retries.fetch_add(1, Ordering::Relaxed);
            telemetry::retry();
            inner.scheduled.fetch_add(1, Ordering::AcqRel);
            let inner = inner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                inner.queue.requeue(Job { delivery, attempts: attempt }).await;
                inner.scheduled.fetch_sub(1, Ordering::AcqRel);
                inner.changed.notify_waiters();
            });
        }
        Err(Failure::Attempt(error) | Failure::Unprocessable(error)) => {
            span.record("outcome", "dead_letter");
            tracing::error!(target: TARGET, %error, "dead-lettered");
            let letter = DeadLetter {
                delivery: delivery.clone(),
                attempts: attempt,
                error,
                at: SystemTime::now(),
            };
            if let Some(hook) = &inner.on_dead_letter {
                hook(&letter);
            }
            inner.dead.push(letter);
            inner.dead_lettered.fetch_add(1, Ordering::Relaxed);
            telemetry::dead_letter();
            finish(inner, &job).await;
        }
    }
    inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    inner.changed.notify_waiters();
}

/// One attempt. Its first poll runs here, with panics caught: a handler that
/// finishes without waiting needs neither a task nor a timer. One that
/// waits moves to its own task, where a panic is caught and the timeout can
/// abort it. (A handler that blocks its thread cannot be interrupted either
/// way: keep blocking work in `spawn_blocking`.)
async fn attempt_once(inner: &Inner, delivery: Arc<Delivery>, attempt: u32) -> Result<(), Failure> {
    // Calling the handler may panic before it returns its future.
    let mut future = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        inner.router.start(delivery, attempt)
    })) {
        Ok(started) => started.map_err(Failure::Unprocessable)?,
        Err(payload) => {
            return Err(Failure::Attempt(format!("panic: {}", panic_message(payload))));
        }
    };
    // Clock reads are not free (a system call on some virtual machines).
    let started = cfg!(feature = "metrics").then(std::time::Instant::now);
    let first = std::future::poll_fn(|cx| {
        Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))))
    })
    .await;
    let result = match first {
        Ok(Poll::Ready(outcome)) => outcome.map_err(|error| Failure::Attempt(error.to_string())),
        Err(payload) => Err(Failure::Attempt(format!("panic: {}", panic_message(payload)))),
        Ok(Poll::Pending) => {
            let task = tokio::spawn(future);
            let abort = task.abort_handle();
            match tokio::time::timeout(inner.attempt_timeout, task).await {
                Ok(Ok(outcome)) => outcome.map_err(|error| Failure::Attempt(error.to_string())),
                Ok(Err(join)) if join.is_panic() => {
                    Err(Failure::Attempt(format!("panic: {}", panic_message(join.into_panic()))))
                }
                Ok(Err(_cancelled)) => Err(Failure::Attempt("cancelled".to_owned())),
                Err(_elapsed) => {
                    abort.abort();
                    Err(Failure::Attempt(format!("timed out after {:?}", inner.attempt_timeout)))
                }
            }
        }
    };
    if let Some(started) = started {
        telemetry::handler_duration(started.elapsed().as_secs_f64(), result.is_ok());
    }
    result
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Completes the delivery's claim and settles it with the queue.
async fn finish(inner: &Inner, job: &Job) {
    if let (Some((store, retain)), Some((key, token))) = (&inner.store, job.delivery.claim()) {
        match store.complete(key, token, *retain).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                target: TARGET,
                "the claim had expired before completion; a redelivery may be processed again"
            ),
            Err(error) => tracing::warn!(target: TARGET, %error, "could not complete the claim"),
        }
    }
    inner.queue.settle(job).await;
}
