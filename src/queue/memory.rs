use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::{EnqueueError, Job, Queue};
use crate::store::BoxFuture;

/// The default queue: bounded, in memory.
///
/// A delivery acknowledged but still queued when the process dies is lost;
/// use a durable queue where that matters.
pub struct MemoryQueue {
    jobs: Mutex<VecDeque<Job>>,
    capacity: usize,
    closed: AtomicBool,
    ready: Notify,
}

impl MemoryQueue {
    /// A queue that holds at most `capacity` new deliveries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            jobs: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
            ready: Notify::new(),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        // A panic while holding this lock cannot leave the deque invalid.
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, job: Job) {
        self.jobs().push_back(job);
        self.ready.notify_one();
    }
}

impl Queue for MemoryQueue {
    fn enqueue(&self, job: Job) -> BoxFuture<'_, Result<(), EnqueueError>> {
        let result = if self.closed.load(Ordering::Acquire) {
            Err(EnqueueError::Closed)
        } else {
            let mut jobs = self.jobs();
            if jobs.len() >= self.capacity {
                Err(EnqueueError::Full)
            } else {
                jobs.push_back(job);
                drop(jobs);
                self.ready.notify_one();
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn requeue(&self, job: Job) -> BoxFuture<'_, ()> {
        self.push(job);
        Box::pin(std::future::ready(()))
    }

    fn next(&self) -> BoxFuture<'_, Option<Job>> {
        Box::pin(async move {
            loop {
                let notified = self.ready.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(job) = self.jobs().pop_front() {
                    return Some(job);
                }
                if self.closed.load(Ordering::Acquire) {
                    return None;
                }
                notified.await;
            }
        })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_waiters();
    }

    fn len(&self) -> usize {
        self.jobs().len()
    }
}

impl fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Delivery;
    use bytes::Bytes;
    use std::sync::Arc;

    fn job(id: &str) -> Job {
        Job { delivery: Arc::new(Delivery::new(id, "t", "1", Bytes::new())), attempts: 0 }
    }

    #[tokio::test]
    async fn full_refuses_new_but_takes_back_retries() {
        let queue = MemoryQueue::new(1);
        queue.enqueue(job("a")).await.unwrap();
        assert_eq!(queue.enqueue(job("b")).await, Err(EnqueueError::Full));
        queue.requeue(job("retry")).await;
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.next().await.unwrap().delivery.id(), "a");
        assert_eq!(queue.next().await.unwrap().delivery.id(), "retry");
    }

    #[tokio::test]
    async fn close_drains_then_ends_and_wakes_waiters() {
        let queue = Arc::new(MemoryQueue::new(4));
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.next().await.map(|j| j.delivery.id().to_owned()) }
        });
        tokio::task::yield_now().await;
        queue.close();
        assert_eq!(waiter.await.unwrap(), None);
        assert_eq!(queue.enqueue(job("late")).await, Err(EnqueueError::Closed));
    }
}
