//! How long handler attempts take: a fixed-bucket histogram of atomics,
//! cheap enough to record every attempt, read as p50 / p99 for the admin
//! page.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (1–2.5–5 steps from 50 µs
/// to a minute); one more bucket takes everything longer.
const BOUNDS_MICROS: [u64; 19] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Buckets: one per bound, and one past the last.
const BUCKETS: usize = BOUNDS_MICROS.len() + 1;

/// The live histogram: one relaxed atomic add per bucket hit, plus the sum
/// and the maximum.
#[derive(Debug)]
pub(super) struct TimeHistogram {
    counts: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl TimeHistogram {
    pub(super) const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; BUCKETS],
            sum_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }

    /// Records one attempt that took `elapsed`.
    pub(super) fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        // Read first: a new maximum is rare, and a locked update is not free.
        if micros > self.max_micros.load(Ordering::Relaxed) {
            self.max_micros.fetch_max(micros, Ordering::Relaxed);
        }
    }

    /// What it holds now.
    pub(super) fn snapshot(&self) -> HandlerTimes {
        HandlerTimes {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
            max_micros: self.max_micros.load(Ordering::Relaxed),
        }
    }
}

/// How long handler attempts took since the dispatcher started (every
/// attempt, succeeded or failed), in fixed buckets from 50 µs to a minute;
/// part of [`Stats`](super::Stats).
///
/// Quantiles are estimated within their bucket (linearly, as Prometheus'
/// `histogram_quantile` does), and never above the longest attempt seen.
///
/// ```
/// use hookwarden::dispatch::HandlerTimes;
///
/// let none = HandlerTimes::default();
/// assert_eq!(none.count(), 0);
/// assert_eq!(none.p50(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandlerTimes {
    counts: [u64; BUCKETS],
    sum_micros: u64,
    max_micros: u64,
}

impl HandlerTimes {
    /// How many attempts were timed.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The median attempt time, if any attempt was timed.
    pub fn p50(&self) -> Option<Duration> {
        self.quantile(0.5)
    }

    /// The 99th percentile attempt time, if any attempt was timed.
    pub fn p99(&self) -> Option<Duration> {
        self.quantile(0.99)
    }

    /// The longest attempt.
    pub fn max(&self) -> Option<Duration> {
        (self.count() > 0).then(|| Duration::from_micros(self.max_micros))
    }

    /// The mean attempt time.
    pub fn mean(&self) -> Option<Duration> {
        let count = self.count();
        (count > 0).then(|| Duration::from_micros(self.sum_micros / count))
    }

    /// The `q` quantile (`0.0..=1.0`), estimated within its bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The rank of the wanted attempt, counting from 1.
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut below = 0;
        for (bucket, &in_bucket) in self.counts.iter().enumerate() {
            if below + in_bucket >= rank {
                let lower = if bucket == 0 { 0 } else { BOUNDS_MICROS[bucket - 1] };
                let upper = BOUNDS_MICROS.get(bucket).copied().unwrap_or(self.max_micros);
                let fraction = (rank - below) as f64 / in_bucket as f64;
                let estimate = lower as f64 + (upper.saturating_sub(lower)) as f64 * fraction;
                let micros = (estimate as u64).min(self.max_micros);
                return Some(Duration::from_micros(micros));
            }
            below += in_bucket;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quantiles_fall_in_the_right_bucket_and_never_past_the_max() {
        let histogram = TimeHistogram::new();
        for _ in 0..98 {
            histogram.record(ms(3));
        }
        histogram.record(ms(400));
        histogram.record(ms(420));
        let times = histogram.snapshot();
        assert_eq!(times.count(), 100);
        // Within the bucket of 3 ms: (2.5 ms, 5 ms].
        let p50 = times.p50().unwrap();
        assert!(p50 > Duration::from_micros(2_500) && p50 <= ms(5), "{p50:?}");
        let p99 = times.p99().unwrap();
        assert!(p99 > ms(250) && p99 <= ms(420), "{p99:?}");
        assert_eq!(times.max(), Some(ms(420)));
        assert_eq!(times.quantile(1.0), Some(ms(420)));
        assert_eq!(times.quantile(1.5), None);
    }

    #[test]
    fn times_past_the_last_bound_are_kept() {
        let histogram = TimeHistogram::new();
        histogram.record(Duration::from_secs(90));
        let times = histogram.snapshot();
        assert_eq!(times.p50(), Some(Duration::from_secs(90)));
        assert_eq!(times.mean(), Some(Duration::from_secs(90)));
    }

    #[test]
    fn a_bound_belongs_to_its_own_bucket() {
        let histogram = TimeHistogram::new();
        histogram.record(Duration::from_micros(50));
        assert_eq!(histogram.snapshot().counts[0], 1);
        histogram.record(Duration::from_micros(51));
        assert_eq!(histogram.snapshot().counts[1], 1);
    }
}
