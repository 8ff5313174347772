//! Metric names, recorded through the [`metrics`](https://docs.rs/metrics)
//! facade when the `metrics` feature is on (install any exporter; without
//! one, recording costs next to nothing). Without the feature these calls
//! compile to nothing.
//!
//! | name | kind | labels | meaning |
//! | --- | --- | --- | --- |
//! | `hookwarden_deliveries_total` | counter | `outcome`: `accepted`, `duplicate`, `ignored`, `handshake`, `overloaded`, `rejected` | requests answered by the receiver |
//! | `hookwarden_verify_failures_total` | counter | `reason`: the rejection code | refused requests, by reason |
//! | `hookwarden_queue_depth` | gauge | — | deliveries waiting in the inbox (pending and retrying), every 5 s |
//! | `hookwarden_handler_duration_seconds` | histogram | `outcome`: `handled`, `failed` | time per handler attempt |
//! | `hookwarden_retries_total` | counter | — | failed attempts scheduled for another try |
//! | `hookwarden_dead_letters_total` | counter | — | deliveries that went to the dead-letter list |
//!
//! Tracing spans use a fixed field vocabulary: `id`, `type`, `version`,
//! `attempt`, `outcome`. Nothing derived from a secret or a signature is
//! ever recorded.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

/// Counts a request answered by the receiver.
pub(crate) fn delivery(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("hookwarden_deliveries_total", "outcome" => outcome).increment(1);
}

/// Counts a refused request by its rejection code.
pub(crate) fn rejected(code: &'static str) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("hookwarden_deliveries_total", "outcome" => "rejected").increment(1);
        metrics::counter!("hookwarden_verify_failures_total", "reason" => code).increment(1);
    }
}

/// Records how many deliveries wait in the inbox.
pub(crate) fn queue_depth(depth: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("hookwarden_queue_depth").set(depth as f64);
}

/// Records one handler attempt.
pub(crate) fn handler_duration(seconds: f64, ok: bool) {
    #[cfg(feature = "metrics")]
    metrics::histogram!(
        "hookwarden_handler_duration_seconds",
        "outcome" => if ok { "handled" } else { "failed" }
    )
    .record(seconds);
}

/// Counts a retry.
pub(crate) fn retry() {
    #[cfg(feature = "metrics")]
    metrics::counter!("hookwarden_retries_total").increment(1);
}

/// Counts a dead letter.
pub(crate) fn dead_letter() {
    #[cfg(feature = "metrics")]
    metrics::counter!("hookwarden_dead_letters_total").increment(1);
}

/// Gives every metric its help text, and creates the unlabelled counters
/// at zero, so a scrape shows them (and `rate()` has a start) before the
/// first event. Called when the admin router installs its exporter.
#[cfg(feature = "admin")]
pub(crate) fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

    describe_counter!(
        "hookwarden_deliveries_total",
        "Requests answered by the receiver, by outcome"
    );
    describe_counter!("hookwarden_verify_failures_total", "Refused requests, by rejection code");
    describe_gauge!(
        "hookwarden_queue_depth",
        "Deliveries waiting in the inbox (pending and retrying)"
    );
    describe_histogram!(
        "hookwarden_handler_duration_seconds",
        Unit::Seconds,
        "Time per handler attempt, by outcome"
    );
    describe_counter!("hookwarden_retries_total", "Failed attempts scheduled for another try");
    describe_counter!(
        "hookwarden_dead_letters_total",
        "Deliveries that went to the dead-letter list"
    );
    metrics::counter!("hookwarden_retries_total").absolute(0);
    metrics::counter!("hookwarden_dead_letters_total").absolute(0);
}
