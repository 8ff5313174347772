//! The queue between the immediate acknowledgement and the workers.
//!
//! [`Queue`] is a trait so that a durable inbox (acknowledge only after a
//! durable write, for crash safety) can replace the default
//! [`MemoryQueue`] without touching handlers. The contract:
//!
//! * [`enqueue`](Queue::enqueue) accepts a new delivery or refuses it at
//!   once when full (the sender gets 503 and retries); it never waits for
//!   room.
//! * [`requeue`](Queue::requeue) takes back a delivery whose attempt failed;
//!   it must not refuse for lack of room, because that delivery was already
//!   acknowledged.
//! * [`next`](Queue::next) waits for the next delivery, and answers `None`
//!   once the queue is closed and empty.
//! * [`settle`](Queue::settle) says a delivery is finished (handled or
//!   dead-lettered); a durable queue deletes it then.

use std::fmt;
use std::sync::Arc;

use crate::event::Delivery;
use crate::store::BoxFuture;

mod memory;

pub use memory::MemoryQueue;

/// A delivery waiting for a worker, with the attempts made so far.
#[derive(Debug, Clone)]
pub struct Job {
    /// The delivery.
    pub delivery: Arc<Delivery>,
    /// How many attempts have been made (0 before the first).
    pub attempts: u32,
}

/// Why a delivery was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue is at capacity.
    #[error("the queue is full")]
    Full,
    /// The queue is closed (shutting down).
    #[error("the queue is closed")]
    Closed,
    /// A durable queue could not write the delivery.
    #[error("the queue could not store the delivery")]
    Unavailable,
}

/// Where accepted deliveries wait for a worker.
pub trait Queue: Send + Sync + fmt::Debug + 'static {
    /// Adds a new delivery, or refuses at once.
    fn enqueue(&self, job: Job) -> BoxFuture<'_, Result<(), EnqueueError>>;

    /// Takes back an acknowledged delivery for another attempt; never
    /// refuses for lack of room.
    fn requeue(&self, job: Job) -> BoxFuture<'_, ()>;

    /// The next delivery; `None` once closed and empty.
    fn next(&self) -> BoxFuture<'_, Option<Job>>;

    /// The delivery is finished (handled or dead-lettered).
    fn settle(&self, _job: &Job) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Refuses new deliveries from now on; queued ones are still handed out.
    fn close(&self);

    /// How many deliveries are waiting.
    fn len(&self) -> usize;

    /// Whether none are waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
