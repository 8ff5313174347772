//! The `metrics` feature: the documented names, recorded by a real
//! recorder while deliveries flow through a receiver.

#[cfg(not(feature = "metrics"))]
mod common;

#[cfg(not(feature = "metrics"))]
#[test]
fn the_metrics_tests_need_the_metrics_feature() {
    common::skip("metrics: built without the `metrics` feature");
}

#[cfg(feature = "metrics")]
mod with_metrics {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use hookwarden::event::Event;
    use hookwarden::router::EventRouter;
    use hookwarden::scheme::StandardWebhooks;
    use hookwarden::{Receiver, testing};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::ServiceExt as _;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[tokio::test]
    async fn deliveries_rejections_and_handler_runs_are_counted() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("the only recorder in this test binary");

        let router = EventRouter::new().catch_all(|event: Event<serde_json::Value>| async move {
            if event.attempt() == 1 { Err("first attempt fails") } else { Ok(()) }
        });
        let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
            .router(router)
            .retry(
                hookwarden::dispatch::RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(10)),
            )
            .build()
            .unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let body = r#"{"type":"ping","data":{}}"#;
        let signed = || {
            testing::request(
                "/",
                testing::standard_webhooks(SECRET, "evt_1", now, body.as_bytes()),
                body,
            )
        };
        let service = receiver.service();
        assert_eq!(service.clone().oneshot(signed()).await.unwrap().status(), 202);
        assert_eq!(service.clone().oneshot(signed()).await.unwrap().status(), 200);
        let mut forged = signed();
        forged.headers_mut().insert(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap(),
        );
        assert_eq!(service.clone().oneshot(forged).await.unwrap().status(), 401);
        let deadline = Instant::now() + Duration::from_secs(10);
        while receiver.handle().stats().handled < 1 {
            assert!(Instant::now() < deadline, "the event is handled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let snapshot = snapshotter.snapshot().into_vec();
        let find = |name: &str, label: Option<(&str, &str)>| {
            snapshot.iter().find_map(|(key, _, _, value)| {
                let key = key.key();
                let labelled =
                    label.is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v));
                (key.name() == name && labelled).then_some(value)
            })
        };
        let counter = |name, label| match find(name, label) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name} {label:?}: {other:?}"),
        };
        assert_eq!(counter("hookwarden_deliveries_total", Some(("outcome", "accepted"))), 1);
        assert_eq!(counter("hookwarden_deliveries_total", Some(("outcome", "duplicate"))), 1);
        assert_eq!(counter("hookwarden_deliveries_total", Some(("outcome", "rejected"))), 1);
        assert_eq!(
            counter("hookwarden_verify_failures_total", Some(("reason", "invalid_signature"))),
            1
        );
        assert_eq!(counter("hookwarden_retries_total", None), 1);
        match find("hookwarden_handler_duration_seconds", Some(("outcome", "handled"))) {
            Some(DebugValue::Histogram(values)) => assert_eq!(values.len(), 1),
            other => panic!("handler duration: {other:?}"),
        }
        assert!(matches!(find("hookwarden_queue_depth", None), Some(DebugValue::Gauge(_))));
        assert!(find("hookwarden_dead_letters_total", None).is_none(), "nothing was dead-lettered");
    }
}
