use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::event::Delivery;

/// A delivery that will not be retried again: its handler failed every
/// attempt, or its payload does not fit its type.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The delivery, exactly as received.
    pub delivery: Arc<Delivery>,
    /// How many attempts were made (parsing the payload is part of each).
    pub attempts: u32,
    /// The last failure: the handler's error, `panic: …`, `timeout`, or the
    /// serde error for a payload that does not fit.
    pub error: String,
    /// When it was dead-lettered.
    pub at: SystemTime,
}

/// The bounded dead-letter list; the oldest entry makes room for a new one
/// (with an error log: nothing leaves silently).
#[derive(Debug)]
pub(crate) struct DeadLetters {
    entries: Mutex<VecDeque<DeadLetter>>,
    capacity: usize,
}

impl DeadLetters {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(VecDeque::new()), capacity: capacity.max(1) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<DeadLetter>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn push(&self, letter: DeadLetter) {
        let mut entries = self.entries();
        if entries.len() == self.capacity
            && let Some(evicted) = entries.pop_front()
        {
            tracing::error!(
                target: "hookwarden::dispatch",
                id = evicted.delivery.id(),
                "dead-letter list full: evicting the oldest entry"
            );
        }
        entries.push_back(letter);
    }

    pub(crate) fn list(&self) -> Vec<DeadLetter> {
        self.entries().iter().cloned().collect()
    }

    pub(crate) fn take(&self, id: &str) -> Option<DeadLetter> {
        let mut entries = self.entries();
        let index = entries.iter().position(|l| l.delivery.id() == id)?;
        entries.remove(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}
