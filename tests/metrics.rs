//! The `metrics` feature: the documented names, recorded by a real
//! recorder while deliveries flow through a receiver, and the inbox's
//! gauges that the alert rules read.
//!
//! One recorder serves the whole test binary and the gauges have no
//! labels, so the tests take turns and compare counters before and after.

mod common;
#[cfg(all(feature = "metrics", feature = "redis"))]
#[path = "common/private_redis.rs"]
#[allow(dead_code)] // `pause` is for the stall tests
mod private_redis;

#[cfg(not(feature = "metrics"))]
#[test]
fn the_metrics_tests_need_the_metrics_feature() {
    common::skip("metrics: built without the `metrics` feature");
}

#[cfg(all(feature = "metrics", not(feature = "redis")))]
#[test]
fn an_inbox_that_stops_answering_needs_the_redis_feature() {
    common::skip("metrics: the inbox-down test is built with the `redis` feature");
}

#[cfg(feature = "metrics")]
mod with_metrics {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use hookwarden::event::Event;
    use hookwarden::router::EventRouter;
    use hookwarden::scheme::StandardWebhooks;
    use hookwarden::{Receiver, testing};
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
    use metrics_util::registry::{AtomicStorage, Registry};
    use tower::ServiceExt as _;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The inbox's gauges are recorded every 5 s; a test waits for two rounds.
    const GAUGES_WAIT: Duration = Duration::from_secs(12);

    /// Waits for this test's turn, with the recorder installed.
    async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
        static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let turn = SERIAL.lock().await;
        recorded();
        turn
    }

    /// A recorder that keeps what it is given, as an exporter does: counters
    /// add up, gauges hold their last value, histograms every sample. (The
    /// debugging recorder's snapshots reset them.)
    #[derive(Clone)]
    struct Kept(Arc<Registry<Key, AtomicStorage>>);

    impl metrics::Recorder for Kept {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.0.get_or_create_counter(key, |counter| Counter::from_arc(counter.clone()))
        }

        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.0.get_or_create_gauge(key, |gauge| Gauge::from_arc(gauge.clone()))
        }

        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.0.get_or_create_histogram(key, |samples| Histogram::from_arc(samples.clone()))
        }
    }

    fn recorded() -> &'static Kept {
        static RECORDER: OnceLock<Kept> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder = Kept(Arc::new(Registry::atomic()));
            metrics::set_global_recorder(recorder.clone())
                .expect("the only recorder in this binary");
            recorder
        })
    }

    fn matches(key: &Key, name: &str, label: Option<(&str, &str)>) -> bool {
        key.name() == name
            && label.is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v))
    }

    /// What the recorder holds now.
    struct Snapshot {
        counters: Vec<(Key, u64)>,
        gauges: Vec<(Key, f64)>,
        histograms: Vec<(Key, usize)>,
    }

    impl Snapshot {
        fn take() -> Self {
            let registry = &recorded().0;
            Self {
                counters: (registry.get_counter_handles().into_iter())
                    .map(|(key, n)| (key, n.load(Ordering::Acquire)))
                    .collect(),
                gauges: (registry.get_gauge_handles().into_iter())
                    .map(|(key, bits)| (key, f64::from_bits(bits.load(Ordering::Acquire))))
                    .collect(),
                histograms: (registry.get_histogram_handles().into_iter())
                    .map(|(key, samples)| (key, samples.data().len()))
                    .collect(),
            }
        }

        /// A counter's value, `None` when it was never registered.
        fn counter(&self, name: &str, label: Option<(&str, &str)>) -> Option<u64> {
            self.counters.iter().find(|(key, _)| matches(key, name, label)).map(|(_, n)| *n)
        }

        /// How many samples a histogram holds.
        fn samples(&self, name: &str, label: Option<(&str, &str)>) -> usize {
            let found = self.histograms.iter().find(|(key, _)| matches(key, name, label));
            found.map_or(0, |(_, n)| *n)
        }

        fn gauge(&self, name: &str) -> Option<f64> {
            self.gauges.iter().find(|(key, _)| matches(key, name, None)).map(|(_, v)| *v)
        }
    }

    /// Waits until the gauge `name` satisfies `wanted`; returns its value.
    async fn gauge_until(name: &str, wanted: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + GAUGES_WAIT;
        loop {
            let value = Snapshot::take().gauge(name);
            if let Some(value) = value.filter(|v| wanted(*v)) {
                return value;
            }
            assert!(Instant::now() < deadline, "{name} is {value:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    fn signed(id: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
        let body = r#"{"type":"ping","data":{}}"#;
        testing::request("/", testing::standard_webhooks(SECRET, id, now(), body.as_bytes()), body)
    }

    #[tokio::test]
    async fn deliveries_rejections_and_handler_runs_are_counted() {
        let _turn = turn().await;
        let before = Snapshot::take();

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
        let service = receiver.service();
        assert_eq!(service.clone().oneshot(signed("evt_1")).await.unwrap().status(), 202);
        assert_eq!(service.clone().oneshot(signed("evt_1")).await.unwrap().status(), 200);
        let mut forged = signed("evt_1");
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

        let after = Snapshot::take();
        let counted = |name, label| {
            after.counter(name, label).unwrap_or(0) - before.counter(name, label).unwrap_or(0)
        };
        assert_eq!(counted("hookwarden_deliveries_total", Some(("outcome", "accepted"))), 1);
        assert_eq!(counted("hookwarden_deliveries_total", Some(("outcome", "duplicate"))), 1);
        assert_eq!(counted("hookwarden_deliveries_total", Some(("outcome", "rejected"))), 1);
        assert_eq!(
            counted("hookwarden_verify_failures_total", Some(("reason", "invalid_signature"))),
            1
        );
        assert_eq!(counted("hookwarden_retries_total", None), 1);
        let handled = Some(("outcome", "handled"));
        let timed = after.samples("hookwarden_handler_duration_seconds", handled)
            - before.samples("hookwarden_handler_duration_seconds", handled);
        assert_eq!(timed, 1);
        assert!(after.gauge("hookwarden_queue_depth").is_some());
        // Registered at zero when the receiver was built, so that the first
        // one shows in Prometheus as an increase.
        assert!(after.counter("hookwarden_dead_letters_total", None).is_some());
        let refused = Some(("reason", "store_unavailable"));
        assert!(after.counter("hookwarden_verify_failures_total", refused).is_some());
        assert_eq!(counted("hookwarden_dead_letters_total", None), 0, "nothing was dead-lettered");
    }

    #[tokio::test]
    async fn the_oldest_pending_delivery_ages_until_a_worker_takes_it() {
        let _turn = turn().await;
        // One worker, held by the first event until the test lets it go; the
        // second event waits in the inbox.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = gate.clone();
        let router = EventRouter::new().catch_all(move |_: Event<serde_json::Value>| {
            let held = held.clone();
            async move {
                held.acquire().await.expect("the gate stays open").forget();
                Ok::<_, std::convert::Infallible>(())
            }
        });
        let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
            .router(router)
            .workers(1)
            .lease_batch(1)
            .build()
            .unwrap();
        assert_eq!(gauge_until("hookwarden_inbox_up", |up| up == 1.0).await, 1.0);
        let service = receiver.service();
        assert_eq!(service.clone().oneshot(signed("evt_held")).await.unwrap().status(), 202);
        assert_eq!(service.clone().oneshot(signed("evt_waiting")).await.unwrap().status(), 202);
        let waited_from = Instant::now();

        let age = gauge_until("hookwarden_oldest_pending_age_seconds", |age| age >= 1.0).await;
        assert!(age <= waited_from.elapsed().as_secs_f64() + 1.0, "{age} s");
        assert_eq!(Snapshot::take().gauge("hookwarden_queue_depth"), Some(1.0));

        gate.add_permits(2);
        let deadline = Instant::now() + Duration::from_secs(10);
        while receiver.handle().stats().handled < 2 {
            assert!(Instant::now() < deadline, "both events are handled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gauge_until("hookwarden_oldest_pending_age_seconds", |age| age == 0.0).await;
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn an_inbox_that_stops_answering_is_reported_down() {
        let _turn = turn().await;
        let Some(redis) = crate::private_redis::PrivateRedis::start() else { return };
        let inbox = hookwarden::inbox::RedisInbox::builder(redis.url())
            .namespace("metrics")
            .timeout(Duration::from_secs(1))
            .connect()
            .await
            .unwrap();
        let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
            .router(EventRouter::new().catch_all(|_: Event<serde_json::Value>| async {
                Ok::<_, std::convert::Infallible>(())
            }))
            .inbox(inbox)
            .build()
            .unwrap();
        gauge_until("hookwarden_inbox_up", |up| up == 1.0).await;
        let before = Snapshot::take();

        drop(redis);
        let service = receiver.service();
        let answer = service.oneshot(signed("evt_refused")).await.unwrap();
        assert_eq!(answer.status(), 503);
        gauge_until("hookwarden_inbox_up", |up| up == 0.0).await;
        let refused = Some(("reason", "store_unavailable"));
        let counted =
            Snapshot::take().counter("hookwarden_verify_failures_total", refused).unwrap()
                - before.counter("hookwarden_verify_failures_total", refused).unwrap();
        assert_eq!(counted, 1);
    }
}
