//! `GET /metrics`: Prometheus text format with every name the
//! `telemetry` module documents, read by a Prometheus text parser (and by
//! `promtool check metrics` where it is installed).

use std::collections::HashSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use hookwarden::dispatch::RetryPolicy;
use hookwarden::event::Event;
use hookwarden::router::EventRouter;
use http::{Method, StatusCode};
use prometheus_parse::{Scrape, Value};

use crate::common::skip;
use crate::harness::{self, FAILS, admin, deliver, forge, serve, until, until_state};

/// The names `src/telemetry.rs` documents, with their kinds.
const DOCUMENTED: &[(&str, &str)] = &[
    ("hookwarden_deliveries_total", "counter"),
    ("hookwarden_verify_failures_total", "counter"),
    ("hookwarden_queue_depth", "gauge"),
    ("hookwarden_handler_duration_seconds", "histogram"),
    ("hookwarden_retries_total", "counter"),
    ("hookwarden_dead_letters_total", "counter"),
];

#[tokio::test]
async fn metrics_are_prometheus_text_with_every_documented_name() {
    let served = serve(None).await;
    // A retry needs a receiver that allows a second attempt.
    let retrying = hookwarden::Receiver::builder(
        hookwarden::scheme::StandardWebhooks::new([harness::SECRET]).unwrap(),
    )
    .router(EventRouter::new().catch_all(|event: Event<serde_json::Value>| async move {
        if event.attempt() == 1 { Err("first attempt fails") } else { Ok(()) }
    }))
    .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(10)))
    .build()
    .unwrap();
    let body = harness::body("order.paid", "evt_m0");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let request = hookwarden::testing::request(
        "/",
        hookwarden::testing::standard_webhooks(harness::SECRET, "evt_m0", now, body.as_bytes()),
        body,
    );
    let answer = tower::ServiceExt::oneshot(retrying.service(), request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    until("the retried event to be handled", async || retrying.handle().stats().handled == 1).await;

    assert_eq!(deliver(served.webhooks, "evt_m1", "order.paid").await, StatusCode::ACCEPTED);
    assert_eq!(deliver(served.webhooks, "evt_m2", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(forge(served.webhooks, "evt_m3").await, StatusCode::UNAUTHORIZED);
    until_state(served.admin, "evt_m2", "dead").await;

    let answer = admin(served.admin, Method::GET, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4")
    );
    let text = answer.text();
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
    let names: HashSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for (name, kind) in DOCUMENTED {
        assert!(names.contains(name), "{name} is exported:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} {kind}")), "{name} is a {kind}:\n{text}");
        assert!(scrape.docs.contains_key(*name), "{name} has help text");
    }
    let sample = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .unwrap_or_else(|| panic!("{name} {label:?}:\n{text}"))
            .value
            .clone()
    };
    assert!(matches!(
        sample("hookwarden_verify_failures_total", ("reason", "invalid_signature")),
        Value::Counter(n) if n >= 1.0
    ));
    assert!(matches!(
        sample("hookwarden_deliveries_total", ("outcome", "accepted")),
        Value::Counter(n) if n >= 3.0
    ));
    match sample("hookwarden_handler_duration_seconds", ("outcome", "handled")) {
        Value::Histogram(buckets) => {
            assert!(buckets.iter().any(|b| b.less_than == 0.001), "the configured buckets");
            assert!(buckets.last().unwrap().count >= 1.0);
        }
        other => panic!("handler duration: {other:?}"),
    }

    promtool_check(&text);
}

/// `promtool check metrics`, where Prometheus' tool is installed.
fn promtool_check(text: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = spawned else {
        skip(
            "promtool is not installed (apt-get install prometheus): the text parser alone checked /metrics",
        );
        return;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
