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
//! | `hookwarden_oldest_pending_age_seconds` | gauge | — | how long the oldest pending delivery has waited since it was accepted (0 when none is pending), every 5 s |
//! | `hookwarden_inbox_up` | gauge | — | 1 when the inbox answered its last query for these gauges, 0 when it failed, every 5 s |
//! | `hookwarden_handler_duration_seconds` | histogram | `outcome`: `handled`, `failed` | time per handler attempt |
//! | `hookwarden_retries_total` | counter | — | failed attempts scheduled for another try |
//! | `hookwarden_dead_letters_total` | counter | — | deliveries that went to the dead-letter list |
//!
//! The counters that the shipped alert rules compare over time
//! (`deploy/prometheus/hookwarden.rules.yml`) are registered at zero when a
//! receiver or dispatcher is built, so that the first increment after a
//! start shows up as an increase; install the exporter before building
//! the receiver.
//!
//! Tracing spans use a fixed field vocabulary: `id`, `type`, `version`,
//! `attempt`, `outcome`. Nothing derived from a secret or a signature is
//! ever recorded.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

/// Registers the request-side counters at zero, for a receiver just built.
pub(crate) fn receiver_built() {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("hookwarden_deliveries_total", "outcome" => "accepted").increment(0);
        // The rejections the alert rules watch.
        for code in
            ["invalid_signature", "missing_signature", "malformed_signature", "store_unavailable"]
        {
            metrics::counter!("hookwarden_verify_failures_total", "reason" => code).increment(0);
        }
    }
}

/// Registers the background counters at zero, for a dispatcher just
/// started.
pub(crate) fn dispatcher_started() {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("hookwarden_retries_total").increment(0);
        metrics::counter!("hookwarden_dead_letters_total").increment(0);
    }
}

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

/// Records how long the oldest pending delivery has waited (`None`: no
/// delivery is pending).
pub(crate) fn oldest_pending(age: Option<std::time::Duration>) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("hookwarden_oldest_pending_age_seconds")
        .set(age.map_or(0.0, |age| age.as_secs_f64()));
}

/// Records whether the inbox answered.
pub(crate) fn inbox_up(up: bool) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("hookwarden_inbox_up").set(if up { 1.0 } else { 0.0 });
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
    describe_gauge!(
        "hookwarden_oldest_pending_age_seconds",
        Unit::Seconds,
        "How long the oldest pending delivery has waited (0 when none is pending)"
    );
    describe_gauge!("hookwarden_inbox_up", "1 when the inbox answered its last check, 0 when not");
    // Counters start at zero when the receiver is built (the dispatcher
    // does it with `increment(0)`, which keeps counts already made).
}
