//! The source of "now" for timestamp checks, injectable for tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall clock, in whole seconds since the Unix epoch.
///
/// Timestamped signature schemes compare the sender's timestamp with this
/// clock. The default is [`SystemClock`]; tests inject a [`FixedClock`].
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since the Unix epoch (0 if the system clock is before it).
    fn unix_now(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// A clock that stands still until told to move; clones share the time.
///
/// ```
/// use hookwarden::clock::{Clock, FixedClock};
///
/// let clock = FixedClock::new(1_700_000_000);
/// clock.advance(30);
/// assert_eq!(clock.unix_now(), 1_700_000_030);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FixedClock(Arc<AtomicU64>);

impl FixedClock {
    /// A clock stopped at `unix_seconds`.
    pub fn new(unix_seconds: u64) -> Self {
        Self(Arc::new(AtomicU64::new(unix_seconds)))
    }

    /// Sets the time.
    pub fn set(&self, unix_seconds: u64) {
        self.0.store(unix_seconds, Ordering::Relaxed);
    }

    /// Moves the time forward.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn unix_now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
