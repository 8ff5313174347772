//! The JSON the admin API answers with: deliveries, stats, errors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::background::dispatch::{HandlerTimes, Stats};
use crate::background::inbox::{InboxStats, Record};

/// A delivery without its body, as listed.
pub(super) fn summary(record: &Record) -> Map<String, Value> {
    let delivery = &record.delivery;
    let mut view = Map::new();
    view.insert("id".into(), delivery.id().into());
    view.insert("scheme".into(), delivery.scheme().into());
    view.insert("type".into(), delivery.event_type().into());
    view.insert("version".into(), delivery.version().into());
    view.insert("state".into(), record.state.as_str().into());
    view.insert("attempts".into(), record.attempts.into());
    view.insert("last_error".into(), record.last_error.clone().into());
    view.insert("received_at".into(), rfc3339(delivery.received_at()).into());
    view.insert("updated_at".into(), rfc3339(record.updated_at).into());
    view.insert("due_at".into(), record.due_at.map(rfc3339).into());
    view.insert("client_ip".into(), delivery.client_ip().map(|ip| ip.to_string()).into());
    view
}

/// One delivery with everything the inbox keeps, its body included: as
/// UTF-8 text when it is, else base64 (`body_encoding` says which).
pub(super) fn detail(record: &Record) -> Value {
    let delivery = &record.delivery;
    let mut view = summary(record);
    view.insert("timestamp".into(), delivery.timestamp().into());
    view.insert("dedupe_key".into(), delivery.dedupe_key().into());
    view.insert("body_bytes".into(), delivery.body().len().into());
    // Each attempt the inbox remembers (the last ones), oldest first.
    let attempts: Vec<Value> = record
        .attempt_log()
        .iter()
        .map(|attempt| {
            json!({
                "attempt": attempt.attempt(),
                "outcome": attempt.outcome().as_str(),
                "started_at": attempt.started_at().map(rfc3339),
                "finished_at": rfc3339(attempt.finished_at()),
                "duration_ms": attempt.duration().map(|d| d.as_secs_f64() * 1000.0),
                "error": attempt.error(),
            })
        })
        .collect();
    view.insert("attempt_log".into(), attempts.into());
    let (body, encoding) = match std::str::from_utf8(delivery.body()) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => (STANDARD.encode(delivery.body()), "base64"),
    };
    view.insert("body".into(), body.into());
    view.insert("body_encoding".into(), encoding.into());
    Value::Object(view)
}

/// `GET /admin/api/stats`: this process's counters, the inbox's counts
/// (`null` with `inbox_error` when it cannot answer), handler times and
/// rejections by code.
pub(super) fn stats(
    stats: &Stats,
    inbox: Result<InboxStats, String>,
    durable: bool,
    rejected: impl IntoIterator<Item = (&'static str, u64)>,
) -> Value {
    let rejected: Map<String, Value> =
        rejected.into_iter().map(|(code, n)| (code.to_owned(), n.into())).collect();
    let mut view = json!({
        "accepted": stats.accepted,
        "duplicates": stats.duplicates,
        "ignored": stats.ignored,
        "handled": stats.handled,
        "failed_attempts": stats.failed_attempts,
        "retries": stats.retries,
        "dead_lettered": stats.dead_lettered,
        "in_flight": stats.in_flight,
        "handler_ms": handler_ms(&stats.handler_times),
        "rejected": rejected,
        "durable": durable,
    });
    let counts = match inbox {
        Ok(inbox) => json!({
            "pending": inbox.pending,
            "leased": inbox.leased,
            "retrying": inbox.retrying,
            "dead": inbox.dead,
            "done": inbox.done,
            "oldest_pending_seconds": inbox.oldest_pending.map(|age| age.as_secs_f64()),
        }),
        Err(error) => json!({
            "pending": null, "leased": null, "retrying": null, "dead": null, "done": null,
            "oldest_pending_seconds": null, "inbox_error": error,
        }),
    };
    if let (Value::Object(view), Value::Object(counts)) = (&mut view, counts) {
        view.extend(counts);
    }
    view
}

fn handler_ms(times: &HandlerTimes) -> Value {
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
    json!({
        "count": times.count(),
        "p50": ms(times.p50()),
        "p99": ms(times.p99()),
        "mean": ms(times.mean()),
        "max": ms(times.max()),
    })
}

/// `2026-03-01T12:34:56.789Z`: UTC, milliseconds.
pub(super) fn rfc3339(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    // The civil date of a day count, with years starting on 1 March so the
    // leap day is the last of the year.
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(1_740_787_200, 0), "2025-03-01T00:00:00.000Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }
}
