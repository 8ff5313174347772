//! What the crate tells operators: metrics and logs.
//!
//! # Metrics
//!
//! Recorded through the [`metrics`](https://docs.rs/metrics) facade when
//! the `metrics` feature is on (install any exporter; without one,
//! recording costs next to nothing). Without the feature these calls
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
//! # Logs
//!
//! Through [`tracing`](https://docs.rs/tracing), each module under a target
//! of its own (`hookwarden::ip`, `hookwarden::verify`,
//! `hookwarden::dispatch`, …). Nothing derived from a secret, a signature
//! or an admin token is ever recorded, nor a header's value or a body.
//!
//! ## One line per delivery outcome
//!
//! Every attempt at a delivery ends in exactly one event at INFO under
//! [`DELIVERY_TARGET`] (`hookwarden::delivery`), with the message
//! `delivery outcome` and these fields, and no others:
//!
//! | field | when | value |
//! | --- | --- | --- |
//! | `id` | always | the event id |
//! | `type` | always | the event type |
//! | `version` | always | the event version |
//! | `scheme` | when known | the scheme that verified it (`github`, `stripe`, …) |
//! | `attempt` | always | the attempt's number, from 1 |
//! | `outcome` | always | how it ended: `handled`, `failed`, `timed_out`, `panicked`, `unprocessable`, `abandoned` (see [`AttemptOutcome`](crate::inbox::AttemptOutcome)) |
//! | `state` | always | what the delivery is now: `done`, `retrying`, `dead`, `pending` (abandoned: handed back), or `unrecorded` (the inbox did not take the outcome; the delivery is handed out again) |
//! | `duration_ms` | always | how long the attempt ran, in milliseconds (to the microsecond) |
//! | `retry_in_ms` | retrying | when the next attempt is due, in milliseconds |
//! | `error` | on failure | the attempt's error, at most [`MAX_ERROR_LEN`](crate::inbox::MAX_ERROR_LEN) bytes: the handler's error as its `Display` writes it (keep secrets out of it), `panic: …`, `timed out after …`; for an unprocessable payload, serde's message with every quoted string replaced by `"…"`, since those are values from the body |
//!
//! The same attempts, with their errors unredacted, are kept in the
//! inbox's [delivery records](crate::inbox#delivery-records). Run with
//! `RUST_LOG=hookwarden::delivery=info` (or a [`tracing_subscriber`
//! filter](https://docs.rs/tracing-subscriber) to the same effect) for
//! these lines alone. Dead letters are counted by
//! `hookwarden_dead_letters_total` and can be hooked with
//! [`on_dead_letter`](crate::dispatch::DispatcherBuilder::on_dead_letter)
//! to alert.
//!
//! The workers' span, `event`, carries `id`, `type`, `version`,
//! `attempt` and `outcome` (`handled`, `retry`, `dead_letter`,
//! `abandoned`).
//!
//! ## Rejections are aggregated
//!
//! A refused request is logged at DEBUG (or TRACE), never above, under
//! [`REJECTION_TARGET`](crate::REJECTION_TARGET) with its `code`, and
//! counted by `hookwarden_verify_failures_total{reason=code}`: a flood of
//! forged or unwanted requests never turns into one INFO, WARN or ERROR
//! line per request. A misconfigured server (no peer address) is said once,
//! at ERROR; an inbox that cannot be reached, once at WARN as the outage
//! starts (`hookwarden::ack`) and once at INFO as it ends, its refusals
//! (503 `store_unavailable`) at DEBUG in between.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use std::borrow::Cow;
use std::time::Duration;

/// The target of the one line logged per delivery outcome (see the
/// [module documentation](self#one-line-per-delivery-outcome)).
///
/// ```
/// assert_eq!(hookwarden::telemetry::DELIVERY_TARGET, "hookwarden::delivery");
/// ```
pub const DELIVERY_TARGET: &str = "hookwarden::delivery";

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

/// One delivery outcome, as logged under [`DELIVERY_TARGET`].
pub(crate) struct DeliveryOutcome<'a> {
    pub(crate) id: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) version: &'a str,
    pub(crate) scheme: Option<&'a str>,
    pub(crate) attempt: u32,
    pub(crate) outcome: &'static str,
    pub(crate) state: &'static str,
    pub(crate) duration: Option<Duration>,
    pub(crate) retry_in: Option<Duration>,
    pub(crate) error: Option<&'a str>,
    /// The error may quote values from the body (serde's messages do).
    pub(crate) error_quotes_payload: bool,
}

impl DeliveryOutcome<'_> {
    /// Logs the line at INFO (nothing is formatted unless a subscriber
    /// wants it).
    pub(crate) fn log(&self) {
        if !tracing::enabled!(target: DELIVERY_TARGET, tracing::Level::INFO) {
            return;
        }
        let error = match self.error {
            Some(error) if self.error_quotes_payload => Some(without_quoted_strings(error)),
            Some(error) => Some(Cow::Borrowed(error)),
            None => None,
        };
        let micros = self.duration.unwrap_or_default().as_micros();
        tracing::info!(
            target: DELIVERY_TARGET,
            id = self.id,
            r#type = self.event_type,
            version = self.version,
            scheme = self.scheme,
            attempt = self.attempt,
            outcome = self.outcome,
            state = self.state,
            duration_ms = micros as f64 / 1000.0,
            retry_in_ms = self.retry_in.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            error = error.as_deref(),
            "delivery outcome"
        );
    }
}

/// `text` with what is between each pair of double quotes replaced by
/// `…` (a `\"` inside does not end the quote; an unclosed quote runs to
/// the end).
fn without_quoted_strings(text: &str) -> Cow<'_, str> {
    if !text.contains('"') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        out.push('…');
        let mut escaped = false;
        for inner in chars.by_ref() {
            match inner {
                '"' if !escaped => {
                    out.push('"');
                    break;
                }
                '\\' if !escaped => escaped = true,
                _ => escaped = false,
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_are_redacted() {
        assert_eq!(
            without_quoted_strings(
                r#"invalid type: string "alice@example.com", expected u32 at line 1 column 30"#
            ),
            r#"invalid type: string "…", expected u32 at line 1 column 30"#
        );
        assert_eq!(
            without_quoted_strings(r#"data: invalid value: string "a\"b", and "c""#),
            r#"data: invalid value: string "…", and "…""#
        );
        assert_eq!(without_quoted_strings(r#"cut "short"#), r#"cut "…"#);
        assert_eq!(without_quoted_strings("missing field `email`"), "missing field `email`");
    }
}
