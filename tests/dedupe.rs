//! The dedupe layer behind real verification and envelope reading, with the
//! real in-memory store: each event reaches the handler once; duplicates,
//! in-flight duplicates, failures and store outages get the documented
//! answers.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::dedupe::{Attempt, Claims, DedupeLayer};
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::scheme::{GitHub, Scheme, Slack, StandardWebhooks};
use hookwarden::store::{BoxFuture, Claim, ClaimToken, IdempotencyStore, MemoryStore, StoreError};
use hookwarden::{VerifyLayer, testing};
use http::header::RETRY_AFTER;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const NOW: u64 = 1_700_000_000;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_WHSEC: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const EVENT: &str = r#"{"type":"invoice.paid","data":{"id":"in_1"}}"#;

/// A real store, counting the calls that reach it.
#[derive(Debug, Default)]
struct Counting {
    store: MemoryStore,
    calls: AtomicUsize,
}

impl IdempotencyStore for Counting {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.store.claim(key, token, lease)
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.store.complete(key, token, retain)
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.store.release(key, token)
    }
}

/// Fault injection: a store that is down.
#[derive(Debug)]
struct Down;

impl IdempotencyStore for Down {
    fn claim<'a>(
        &'a self,
        _: &'a str,
        _: &'a ClaimToken,
        _: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn complete<'a>(
        &'a self,
        _: &'a str,
        _: &'a ClaimToken,
        _: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn release<'a>(
        &'a self,
        _: &'a str,
        _: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
}

/// Fault injection: a store whose "server" stalls for a while from its
/// creation: a claim sent during the stall is applied when the stall ends,
/// whether or not the caller still waits, and the caller gives up after
/// `timeout` (a shared store's timeout). Releases are applied at once: they
/// can overtake a claim, as on another connection. A completion takes
/// `complete_delay`, and is not applied if its caller stops waiting first.
#[derive(Debug)]
struct Late {
    store: Arc<MemoryStore>,
    stalled_until: tokio::time::Instant,
    timeout: Duration,
    complete_delay: Duration,
}

impl Late {
    fn stalled(stall: Duration, timeout: Duration) -> Self {
        Self {
            store: Arc::default(),
            stalled_until: tokio::time::Instant::now() + stall,
            timeout,
            complete_delay: Duration::ZERO,
        }
    }
}

impl IdempotencyStore for Late {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let (store, key, token, until) =
            (self.store.clone(), key.to_owned(), token.clone(), self.stalled_until);
        let applied = tokio::spawn(async move {
            tokio::time::sleep_until(until).await;
            store.claim(&key, &token, lease).await
        });
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, applied).await {
                Ok(answer) => answer.expect("the claim task"),
                Err(_) => Err(StoreError::new("timed out")),
            }
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            tokio::time::sleep(self.complete_delay).await;
            self.store.complete(key, token, retain).await
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.store.release(key, token)
    }
}

/// The handler failed (the inner service's own error type).
#[derive(Debug)]
struct HandlerError;

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("handler failed")
    }
}

impl std::error::Error for HandlerError {}

/// What the test handler does on each call (by call number, from 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    Ok,
    Status(StatusCode),
    Fail,
    Panic,
    /// Signal `entered`, then wait for `proceed`.
    Wait,
}

#[derive(Clone)]
struct Handler {
    calls: Arc<AtomicUsize>,
    script: Arc<dyn Fn(usize) -> Act + Send + Sync>,
    entered: Arc<Notify>,
    proceed: Arc<Notify>,
}

impl Handler {
    fn new(script: impl Fn(usize) -> Act + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::default(),
            script: Arc::new(script),
            entered: Arc::default(),
            proceed: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = HandlerError,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        let this = self.clone();
        service_fn(move |request: Request<Full<Bytes>>| {
            let this = this.clone();
            async move {
                let call = this.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let id = request.extensions().get::<Envelope>().map(|e| e.id().to_owned());
                match (this.script)(call) {
                    Act::Ok => {}
                    Act::Status(status) => {
                        let mut response = Response::new(Full::new(Bytes::from("failed")));
                        *response.status_mut() = status;
                        return Ok(response);
                    }
                    Act::Fail => return Err(HandlerError),
                    Act::Panic => panic!("the handler panicked"),
                    Act::Wait => {
                        this.entered.notify_one();
                        this.proceed.notified().await;
                    }
                }
                let body = json!({ "processed": id, "call": call }).to_string();
                Ok(Response::new(Full::new(Bytes::from(body))))
            }
        })
    }
}

/// Verify (Standard Webhooks) → Envelope → Dedupe → handler.
fn stack(
    store: Arc<dyn IdempotencyStore>,
    handler: &Handler,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = HandlerError,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    stack_with(StandardWebhooks::new([WHSEC]).unwrap(), None, store, handler)
}

/// `envelope`: the scheme's own conventions unless given.
fn stack_with(
    scheme: impl Scheme,
    envelope: Option<EnvelopeLayer>,
    store: Arc<dyn IdempotencyStore>,
    handler: &Handler,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = HandlerError,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let envelope = envelope.unwrap_or_else(|| EnvelopeLayer::for_scheme(&scheme));
    ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme).clock(FixedClock::new(NOW)))
        .layer(envelope)
        .layer(DedupeLayer::from_shared(store).retry_after(Duration::from_secs(7)))
        .service(handler.service())
}

fn delivery(id: &str) -> Request<Full<Bytes>> {
    let headers = testing::standard_webhooks(WHSEC, id, NOW, EVENT.as_bytes());
    testing::request("/webhooks", headers, EVENT)
}

fn forged(id: &str) -> Request<Full<Bytes>> {
    let headers = testing::standard_webhooks(OTHER_WHSEC, id, NOW, EVENT.as_bytes());
    testing::request("/webhooks", headers, EVENT)
}

/// Redelivers `id` until the claim an abandoned request held is released
/// (a spawned task does it), for at most a second; the last status.
async fn status_once_released<S>(service: S, id: &str) -> StatusCode
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut status = StatusCode::CONFLICT;
    for _ in 0..100 {
        status = service.clone().oneshot(delivery(id)).await.unwrap().status();
        if status != StatusCode::CONFLICT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    status
}

/// Redelivers `id` every 50 ms while the answer is 409 or 503, for at most
/// 5 s; the final status and how long the 409s went on.
async fn redeliver_until_settled<S>(service: S, id: &str) -> (StatusCode, Duration)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>> + Clone,
    S::Error: std::fmt::Debug,
{
    let started = tokio::time::Instant::now();
    let mut first_conflict = None;
    loop {
        let status = service.clone().oneshot(delivery(id)).await.unwrap().status();
        let now = tokio::time::Instant::now();
        if status == StatusCode::CONFLICT {
            first_conflict.get_or_insert(now);
        }
        let settled = status != StatusCode::CONFLICT && status != StatusCode::SERVICE_UNAVAILABLE;
        if settled || now - started > Duration::from_secs(5) {
            return (status, first_conflict.map_or(Duration::ZERO, |at| now - at));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn json_body(response: Response<Full<Bytes>>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

#[tokio::test]
async fn a_forged_request_never_touches_the_store() {
    let store = Arc::new(Counting::default());
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(store.clone(), &handler);

    let response = service.clone().oneshot(forged("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(store.calls.load(Ordering::SeqCst), 0, "the forgery reached the store");
    assert!(store.store.is_empty());

    // The genuine delivery with the same id is not blocked by it.
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["processed"], "msg_1");
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn an_event_reaches_the_handler_once_then_is_a_duplicate() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(store, &handler);

    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await, json!({ "processed": "msg_1", "call": 1 }));

    for _ in 0..3 {
        let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(json_body(response).await, json!({ "status": "duplicate", "id": "msg_1" }));
    }
    assert_eq!(handler.calls(), 1);

    // Another id is another event.
    let response = service.oneshot(delivery("msg_2")).await.unwrap();
    assert_eq!(json_body(response).await["processed"], "msg_2");
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn a_duplicate_during_a_slow_handler_is_told_to_retry() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|call| if call == 1 { Act::Wait } else { Act::Ok });
    let service = stack(store, &handler);

    let first = tokio::spawn(service.clone().oneshot(delivery("msg_1")));
    handler.entered.notified().await;

    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.headers()[RETRY_AFTER], "7");
    assert_eq!(json_body(response).await["error"], "in_progress");

    handler.proceed.notify_one();
    let response = first.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["processed"], "msg_1");

    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(json_body(response).await["status"], "duplicate");
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn a_failing_answer_releases_the_claim_so_the_retry_is_processed() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|call| match call {
        1 => Act::Status(StatusCode::INTERNAL_SERVER_ERROR),
        2 => Act::Status(StatusCode::BAD_REQUEST),
        _ => Act::Ok,
    });
    let service = stack(store, &handler);

    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "the handler's own answer");
    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(response).await["call"], 3);

    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(json_body(response).await["status"], "duplicate");
    assert_eq!(handler.calls(), 3);
}

#[tokio::test]
async fn a_handler_error_releases_the_claim() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|call| if call == 1 { Act::Fail } else { Act::Ok });
    let service = stack(store, &handler);

    let outcome = service.clone().oneshot(delivery("msg_1")).await;
    assert!(outcome.is_err(), "the inner service's error comes through as is");
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn a_cancelled_request_releases_the_claim() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|call| if call == 1 { Act::Wait } else { Act::Ok });
    let service = stack(store, &handler);

    let first = tokio::spawn(service.clone().oneshot(delivery("msg_1")));
    handler.entered.notified().await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    assert_eq!(status_once_released(service, "msg_1").await, StatusCode::OK);
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn a_panicking_handler_releases_the_claim() {
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|call| if call == 1 { Act::Panic } else { Act::Ok });
    let service = stack(store, &handler);

    let first = tokio::spawn(service.clone().oneshot(delivery("msg_1")));
    assert!(first.await.unwrap_err().is_panic());

    assert_eq!(status_once_released(service, "msg_1").await, StatusCode::OK);
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn a_claim_that_lands_after_its_timeout_is_released() {
    // The claim lands 300 ms after it was sent; the caller gave up at 100.
    let store = Arc::new(Late::stalled(Duration::from_millis(300), Duration::from_millis(100)));
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(store.clone(), &handler);

    let response = service.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_body(response).await["error"], "store_unavailable");

    // Without the release, the late claim would answer 409 for its lease.
    let (status, conflicts) = redeliver_until_settled(service.clone(), "msg_1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(conflicts < Duration::from_secs(2), "409 for {conflicts:?}");
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(json_body(response).await["status"], "duplicate");
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn a_request_dropped_while_claiming_leaves_no_claim_behind() {
    let store = Arc::new(Late::stalled(Duration::from_millis(200), Duration::from_secs(10)));
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(store.clone(), &handler);

    // The sender hangs up while the claim is on its way.
    let dropped =
        tokio::time::timeout(Duration::from_millis(50), service.clone().oneshot(delivery("msg_1")));
    assert!(dropped.await.is_err(), "still claiming");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(handler.calls(), 0, "the dropped request never reached the handler");

    let (status, conflicts) = redeliver_until_settled(service, "msg_1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(conflicts < Duration::from_secs(2), "409 for {conflicts:?}");
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn a_request_dropped_while_completing_still_completes() {
    let store = Arc::new(Late {
        complete_delay: Duration::from_millis(200),
        ..Late::stalled(Duration::ZERO, Duration::from_secs(10))
    });
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(store.clone(), &handler);

    // The handler answered 2xx; the sender hangs up during the completion.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        service.clone().oneshot(delivery("msg_1")),
    );
    assert!(dropped.await.is_err(), "still completing");
    assert_eq!(handler.calls(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(json_body(response).await["status"], "duplicate", "the completion ran on");
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn claims_release_a_claim_whose_call_failed() {
    let store = Arc::new(Late::stalled(Duration::from_millis(200), Duration::from_millis(50)));
    let claims = Claims::from_shared(store.clone());
    assert!(claims.claim("k").await.is_err(), "timed out");
    let dropped = tokio::time::timeout(Duration::from_millis(20), claims.claim("j"));
    assert!(dropped.await.is_err(), "dropped before the store answered");

    tokio::time::sleep_until(store.stalled_until + Duration::from_millis(50)).await;
    // Both claims landed by now; the background releases remove them.
    for key in ["k", "j"] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let token = ClaimToken::random();
        loop {
            match store.store.claim(key, &token, Duration::from_secs(60)).await.unwrap() {
                Claim::Claimed(_) => break,
                Claim::InFlight if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("{key}: {other:?} past the releases"),
            }
        }
    }
}

#[tokio::test]
async fn a_store_outage_fails_closed() {
    let handler = Handler::new(|_| Act::Ok);
    let service = stack(Arc::new(Down), &handler);

    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "7");
    assert_eq!(json_body(response).await["error"], "store_unavailable");
    assert_eq!(handler.calls(), 0, "nothing reaches the handler unclaimed");
}

#[tokio::test]
async fn without_verify_or_envelope_every_request_is_refused() {
    let handler = Handler::new(|_| Act::Ok);

    // Dedupe alone: no `Verified`.
    let store = Arc::new(Counting::default());
    let service = ServiceBuilder::new()
        .layer(DedupeLayer::from_shared(store.clone()))
        .service(handler.service());
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_body(response).await["error"], "misconfigured");

    // Verify, then Dedupe: no `Envelope`.
    let service = ServiceBuilder::new()
        .layer(
            VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap()).clock(FixedClock::new(NOW)),
        )
        .layer(DedupeLayer::from_shared(store.clone()))
        .service(handler.service());
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // Dedupe outside Verify: the wrong order.
    let service = ServiceBuilder::new()
        .layer(DedupeLayer::from_shared(store.clone()))
        .layer(
            VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap()).clock(FixedClock::new(NOW)),
        )
        .layer(EnvelopeLayer::for_scheme(&StandardWebhooks::new([WHSEC]).unwrap()))
        .service(handler.service());
    let response = service.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    assert_eq!(handler.calls(), 0);
    assert_eq!(store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_slack_handshake_is_answered_before_dedupe() {
    const SLACK: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    let store = Arc::new(Counting::default());
    let handler = Handler::new(|_| Act::Ok);
    let service = stack_with(Slack::new([SLACK]).unwrap(), None, store.clone(), &handler);
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    for _ in 0..2 {
        let headers = testing::slack(SLACK, NOW, body.as_bytes());
        let response =
            service.clone().oneshot(testing::request("/slack", headers, body)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            json_body(response).await,
            json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
        );
    }
    assert_eq!(handler.calls(), 0, "answered by VerifyLayer");
    assert_eq!(store.calls.load(Ordering::SeqCst), 0, "nothing claimed");
}

#[tokio::test]
async fn a_replay_with_a_fresh_unsigned_id_is_caught_by_the_body_digest() {
    const SECRET: &str = "It's a Secret to Everybody";
    let body = br#"{"action":"opened","number":2,"pull_request":{"id":279147437,"title":"Update the README"}}"#;
    let github = |delivery: &str| {
        let mut headers: HeaderMap = testing::github(SECRET, body);
        headers.insert("x-github-delivery", delivery.parse().unwrap());
        headers.insert("x-github-event", "pull_request".parse().unwrap());
        testing::request("/github", headers, &body[..])
    };
    let store = Arc::new(MemoryStore::new());
    let handler = Handler::new(|_| Act::Ok);
    // GitHub's own conventions: the unsigned delivery id is reported, the
    // body digest keys dedupe.
    let service = stack_with(GitHub::new([SECRET]).unwrap(), None, store, &handler);
    let response =
        service.clone().oneshot(github("72d3162e-cc78-11e3-81ab-4c9367dc0958")).await.unwrap();
    assert_eq!(json_body(response).await["processed"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    // An attacker replays the captured body under a new delivery id.
    let response = service.oneshot(github("00000000-0000-0000-0000-000000000000")).await.unwrap();
    assert_eq!(
        json_body(response).await,
        json!({ "status": "duplicate", "id": "00000000-0000-0000-0000-000000000000" })
    );
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn the_layers_stack_on_an_axum_route() {
    async fn on_event(Extension(event): Extension<Envelope>) -> String {
        format!("processed {} {}", event.event_type(), event.id())
    }
    let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryStore::new());
    let webhooks = ServiceBuilder::new()
        .layer(
            VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap()).clock(FixedClock::new(NOW)),
        )
        .layer(EnvelopeLayer::for_scheme(&StandardWebhooks::new([WHSEC]).unwrap()))
        .layer(DedupeLayer::from_shared(store));
    let app: Router = Router::new().route("/webhooks", post(on_event).route_layer(webhooks));

    let response = app.clone().oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"processed invoice.paid msg_1");

    let response = app.oneshot(delivery("msg_1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body, json!({ "status": "duplicate", "id": "msg_1" }));
}

#[tokio::test]
async fn claims_are_reusable_outside_the_layer() {
    let store = Arc::new(MemoryStore::new());
    let claims = Claims::from_shared(store).lease(Duration::from_secs(30));

    let Attempt::Claimed(claim) = claims.claim("k").await.unwrap() else { panic!("a fresh key") };
    assert_eq!(claim.key(), "k");
    assert!(matches!(claims.claim("k").await.unwrap(), Attempt::InFlight));
    drop(claim);
    tokio::task::yield_now().await;
    let Attempt::Claimed(claim) = claims.claim("k").await.unwrap() else {
        panic!("a dropped claim is released")
    };
    assert!(claim.complete().await.unwrap());
    assert!(matches!(claims.claim("k").await.unwrap(), Attempt::Done));
}

#[test]
fn a_claim_dropped_outside_a_runtime_lapses_quietly() {
    let store = Arc::new(MemoryStore::new());
    let claims = Claims::from_shared(store).lease(Duration::from_millis(1));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let attempt = runtime.block_on(claims.claim("k")).unwrap();
    drop(runtime);
    drop(attempt);
    std::thread::sleep(Duration::from_millis(5));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let again = runtime.block_on(claims.claim("k")).unwrap();
    assert!(matches!(again, Attempt::Claimed(_)), "the lease ran out");
}

/// `Infallible` handlers (axum's) keep their error type through every layer.
#[test]
fn the_error_type_is_the_inner_services() {
    fn assert_infallible<S: Service<Request<Full<Bytes>>, Error = Infallible>>(_: &S) {}
    let inner = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap()))
        .layer(EnvelopeLayer::for_scheme(&StandardWebhooks::new([WHSEC]).unwrap()))
        .layer(DedupeLayer::new(MemoryStore::new()))
        .service(inner);
    assert_infallible(&service);
}
