//! What a receiver logs, captured field by field by a tracing layer of
//! this test's own, while real deliveries and real forgeries arrive over
//! HTTP on 127.0.0.1: one INFO line per attempt outcome under
//! `hookwarden::delivery`, with the documented fields only and nothing of
//! a secret or a body; and never a line above DEBUG for a rejected request.
//!
//! The subscriber is set for the test's thread, and everything (server,
//! workers, client) runs on a current-thread runtime on that thread.

#[allow(dead_code)] // used without some features
mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use hookwarden::dispatch::RetryPolicy;
use hookwarden::event::{Event, EventType};
use hookwarden::inbox::{AttemptOutcome, State};
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::telemetry::DELIVERY_TARGET;
use hookwarden::{REJECTION_TARGET, Receiver, ReceiverHandle, testing};
use http::{HeaderMap, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::Registry;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A value only the bodies hold: it must never reach a log line.
const BODY_MARKER: &str = "alice-private@example.com";

/// The fields a delivery line may carry (besides its message).
const VOCABULARY: [&str; 10] = [
    "id",
    "type",
    "version",
    "scheme",
    "attempt",
    "outcome",
    "state",
    "duration_ms",
    "retry_in_ms",
    "error",
];
/// The fields every delivery line carries.
const ALWAYS: [&str; 8] =
    ["id", "type", "version", "scheme", "attempt", "outcome", "state", "duration_ms"];

/// One event or span as the layer saw it, every field as text.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Keeps every event and span it is shown.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Seen>>>);

impl Capture {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &TracingEvent<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        let seen = Seen { target: meta.target().to_owned(), level: *meta.level(), fields };
        self.0.lock().unwrap().push(seen);
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let meta = attrs.metadata();
        let seen = Seen { target: meta.target().to_owned(), level: *meta.level(), fields };
        self.0.lock().unwrap().push(seen);
    }

    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        values.record(&mut Fields(&mut fields));
        let seen = Seen { target: "(span record)".to_owned(), level: Level::TRACE, fields };
        self.0.lock().unwrap().push(seen);
    }
}

#[derive(Debug, Deserialize)]
struct Counted {
    #[allow(dead_code)] // only parsed
    count: u32,
}

impl EventType for Counted {
    const TYPE: &'static str = "counted";
    const VERSION: &'static str = "1";
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Serves a receiver whose handlers fail `flaky` once, panic on `boom`
/// every time, and take `counted` as a typed payload; two attempts at most.
async fn serve() -> (SocketAddr, ReceiverHandle) {
    let flaky_runs = Arc::new(AtomicU32::new(0));
    let router = EventRouter::new()
        .payload_at("data")
        .on(|_: Event<Counted>| async { Ok::<_, std::io::Error>(()) })
        .catch_all(move |event: Event<serde_json::Value>| {
            let runs = flaky_runs.clone();
            async move {
                match event.event_type() {
                    "flaky" if runs.fetch_add(1, Ordering::SeqCst) == 0 => {
                        Err(std::io::Error::other("downstream answered 503"))
                    }
                    "boom" => panic!("boom"),
                    _ => Ok(()),
                }
            }
        });
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(router)
        .retry(
            RetryPolicy::default().with_max_attempts(2).initial_backoff(Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let app = Router::new().route_service("/webhooks", receiver.service());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    (addr, receiver.handle())
}

async fn post(addr: SocketAddr, headers: HeaderMap, body: String) -> StatusCode {
    let mut request = testing::request("/webhooks", headers, body);
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap().status()
}

/// A signed delivery of `event_type` whose data quotes the body marker.
async fn deliver(addr: SocketAddr, id: &str, event_type: &str, secret: &str) -> StatusCode {
    let body = serde_json::json!({
        "type": event_type,
        "version": "1",
        "data": { "count": BODY_MARKER, "email": BODY_MARKER },
    })
    .to_string();
    post(addr, testing::standard_webhooks(secret, id, now(), body.as_bytes()), body).await
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing seen holds a secret or a body's value.
fn assert_nothing_secret(seen: &[Seen]) {
    for one in seen {
        for (name, value) in &one.fields {
            for secret in [SECRET, &SECRET["whsec_".len()..], BODY_MARKER] {
                assert!(
                    !value.contains(secret),
                    "{} {name}={value:?} leaks {secret:?}",
                    one.target
                );
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_attempt_outcome_is_one_info_line_with_the_fixed_fields() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let (addr, handle) = serve().await;
    for (id, event_type) in
        [("evt_flaky", "flaky"), ("evt_counted", "counted"), ("evt_boom", "boom")]
    {
        assert_eq!(deliver(addr, id, event_type, SECRET).await, StatusCode::ACCEPTED, "{id}");
    }
    eventually("every outcome", || {
        let stats = handle.stats();
        stats.handled == 1 && stats.dead_lettered == 2
    })
    .await;

    let seen = capture.seen();
    assert_nothing_secret(&seen);
    let lines: Vec<&Seen> = seen.iter().filter(|one| one.target == DELIVERY_TARGET).collect();
    for line in &lines {
        assert_eq!(line.level, Level::INFO, "{line:?}");
        assert_eq!(line.field("message"), Some("delivery outcome"), "{line:?}");
        for name in line.fields.keys().filter(|name| *name != "message") {
            assert!(
                VOCABULARY.contains(&name.as_str()),
                "{name} is not in the vocabulary: {line:?}"
            );
        }
        for name in ALWAYS {
            assert!(line.fields.contains_key(name), "{name} missing: {line:?}");
        }
        assert_eq!(line.field("scheme"), Some("standard-webhooks"));
        assert_eq!(line.field("version"), Some("1"));
        let ms: f64 = line.field("duration_ms").unwrap().parse().expect("a number");
        assert!((0.0..10_000.0).contains(&ms), "{line:?}");
    }
    let summary: Vec<(&str, &str, &str, &str, Option<&str>)> = lines
        .iter()
        .map(|line| {
            let f = |name| line.field(name).unwrap();
            (f("id"), f("attempt"), f("outcome"), f("state"), line.field("error"))
        })
        .collect();
    let of = |id: &str| summary.iter().filter(|s| s.0 == id).cloned().collect::<Vec<_>>();
    assert_eq!(
        of("evt_flaky"),
        [
            ("evt_flaky", "1", "failed", "retrying", Some("downstream answered 503")),
            ("evt_flaky", "2", "handled", "done", None),
        ]
    );
    assert_eq!(
        of("evt_boom"),
        [
            ("evt_boom", "1", "panicked", "retrying", Some("panic: boom")),
            ("evt_boom", "2", "panicked", "dead", Some("panic: boom")),
        ]
    );
    let counted = of("evt_counted");
    assert_eq!(counted.len(), 1, "{counted:?}");
    let (_, attempt, outcome, state, error) = counted[0];
    assert_eq!((attempt, outcome, state), ("1", "unprocessable", "dead"));
    let error = error.expect("why it does not fit");
    assert!(error.contains("invalid type") && error.contains(r#""…""#), "{error}");
    let retrying = lines.iter().find(|l| l.field("state") == Some("retrying")).unwrap();
    assert!(retrying.field("retry_in_ms").is_some(), "{retrying:?}");
    assert_eq!(lines.len(), 5, "one line per attempt");

    // The inbox keeps the same attempts, with the unredacted error.
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let record = handle.inbox().get("evt_flaky").await.unwrap().expect("kept");
    assert_eq!((record.state, record.attempts), (State::Done, 2));
    assert_eq!(record.delivery.scheme(), Some("standard-webhooks"));
    // Without an allowlist the client is the TCP peer, which the Receiver
    // reads from axum's `ConnectInfo` with the `axum` feature.
    let expected_ip = if cfg!(feature = "axum") { Some(loopback) } else { None };
    assert_eq!(record.delivery.client_ip(), expected_ip);
    let log: Vec<_> =
        record.attempt_log.iter().map(|a| (a.attempt(), a.outcome(), a.error())).collect();
    assert_eq!(
        log,
        [
            (1, AttemptOutcome::Failed, Some("downstream answered 503")),
            (2, AttemptOutcome::Handled, None),
        ]
    );
    assert!(record.attempt_log.iter().all(|a| a.duration().is_some() && a.started_at().is_some()));
    let record = handle.inbox().get("evt_counted").await.unwrap().expect("kept");
    assert_eq!(record.state, State::Dead);
    let last = record.last_attempt().expect("logged");
    assert_eq!(last.outcome(), AttemptOutcome::Unprocessable);
    assert!(last.error().unwrap().contains(BODY_MARKER), "the record keeps serde's whole message");
}

#[tokio::test(flavor = "current_thread")]
async fn rejected_requests_never_log_above_debug() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let (addr, handle) = serve().await;
    const FORGED: usize = 30;
    let other = "whsec_dGhpcyBpcyBub3QgdGhlIHJpZ2h0IHNlY3JldCE=";
    for i in 0..FORGED {
        let status = deliver(addr, &format!("evt_forged_{i}"), "flaky", other).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let unsigned = post(addr, HeaderMap::new(), "{}".to_owned()).await;
    assert_eq!(unsigned, StatusCode::UNAUTHORIZED);
    assert_eq!(handle.stats().accepted, 0);

    let seen = capture.seen();
    assert_nothing_secret(&seen);
    let loud: Vec<&Seen> = seen
        .iter()
        .filter(|one| one.target.starts_with("hookwarden") && one.level <= Level::INFO)
        .collect();
    assert!(loud.is_empty(), "logged above DEBUG for rejected requests: {loud:?}");
    let quiet = seen
        .iter()
        .filter(|one| one.target == REJECTION_TARGET && one.level == Level::DEBUG)
        .count();
    assert_eq!(quiet, FORGED + 1, "each rejection recorded once, at DEBUG");
}

/// An inbox that cannot be reached (PostgreSQL on a port where nothing
/// listens) fails every accept: each authentic delivery is answered 503
/// `store_unavailable`, and the outage is said once at WARN, not once a
/// request (each worker that cannot lease says so once too); each refusal
/// is still recorded at DEBUG.
#[cfg(not(feature = "postgres"))]
#[test]
fn an_unreachable_inbox_is_said_once_not_once_a_request() {
    common::skip("the unreachable inbox's log: built without the `postgres` feature");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_inbox_is_said_once_not_once_a_request() {
    use hookwarden::inbox::PostgresInbox;

    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    // Bound, then closed: nothing listens there now.
    let inbox = PostgresInbox::builder(format!("postgres://hookwarden@{closed}/hookwarden"))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(EventRouter::new().catch_all(|_: Event<serde_json::Value>| async {
            Ok::<_, std::convert::Infallible>(())
        }))
        .inbox(inbox)
        .build()
        .unwrap();
    let app = Router::new().route_service("/webhooks", receiver.service());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    const TRIES: usize = 8;
    for i in 0..TRIES {
        let status = deliver(addr, &format!("evt_down_{i}"), "flaky", SECRET).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let seen = capture.seen();
    assert_nothing_secret(&seen);
    let warnings: Vec<&Seen> = seen
        .iter()
        .filter(|one| one.target.starts_with("hookwarden") && one.level <= Level::WARN)
        .collect();
    let (ack, others): (Vec<&Seen>, Vec<&Seen>) =
        warnings.iter().partition(|one| one.target == "hookwarden::ack");
    assert_eq!(ack.len(), 1, "one WARN for the outage: {ack:?}");
    assert!(ack[0].field("message").unwrap().contains("inbox unavailable"), "{ack:?}");
    // The workers cannot lease either: each says so once (4 workers).
    assert!(others.len() <= 4, "{others:?}");
    assert!(
        others
            .iter()
            .all(|one| one.field("message") == Some("cannot lease from the inbox; retrying"))
    );
    let refusals = seen
        .iter()
        .filter(|one| {
            one.target == REJECTION_TARGET && one.field("code") == Some("store_unavailable")
        })
        .count();
    assert_eq!(refusals, TRIES, "each refusal recorded at DEBUG");
}
