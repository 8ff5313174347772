use std::time::Duration;

/// How failed attempts are retried: exponential backoff with jitter, up to
/// a maximum number of attempts, then the dead-letter list.
///
/// The delay after failed attempt `n` (from 1) is drawn uniformly from
/// `[d/2, d]` where `d = min(initial × 2^(n-1), max)` ("equal jitter"):
/// retries of many events spread out, and none comes sooner than half the
/// nominal delay.
///
/// ```
/// use hookwarden::dispatch::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.max_attempts(), 5);
/// let first = policy.backoff(1, 0.5);
/// assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial: Duration,
    max: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts; 0.5 s before the first retry, doubling, at most 5 min.
    fn default() -> Self {
        Self { max_attempts: 5, initial: Duration::from_millis(500), max: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// The nominal delay before the first retry.
    pub fn initial_backoff(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The largest nominal delay.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// How many attempts are made before dead-lettering.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay after failed attempt `attempt` (from 1), for `unit` in
    /// `[0, 1)` (the jitter draw).
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        let nominal = self.initial.saturating_mul(1u32 << doublings.min(31)).min(self.max);
        let half = nominal / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// [`backoff`](Self::backoff) with a fresh random draw.
    pub(crate) fn backoff_jittered(&self, attempt: u32) -> Duration {
        self.backoff(attempt, random_unit())
    }
}

/// A uniform draw from `[0, 1)`; for jitter only.
fn random_unit() -> f64 {
    (crate::random::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps_with_jitter_in_the_upper_half() {
        let policy = RetryPolicy::default().max_backoff(Duration::from_secs(4));
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(4, 1.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(40, 1.0), Duration::from_secs(4), "capped, no overflow");
        for _ in 0..1000 {
            let d = policy.backoff_jittered(3);
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(2), "{d:?}");
        }
    }
}
