//! The whole receiver over real HTTP on 127.0.0.1: the 202 comes before the
//! handler runs; retries, panics, a full queue, shutdown, dead letters,
//! versions, unknown types and Slack's handshake, seen from the wire.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hookwarden::dispatch::RetryPolicy;
use hookwarden::event::{Event, EventType};
use hookwarden::ip::{IpAllowlistLayer, IpRanges};
use hookwarden::router::EventRouter;
use hookwarden::scheme::{Slack, StandardWebhooks};
use hookwarden::{Receiver, ReceiverBuilder, ReceiverHandle, testing};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Deserialize)]
struct UserRegisteredV1 {
    name: String,
}
impl EventType for UserRegisteredV1 {
    const TYPE: &'static str = "user.registered";
    const VERSION: &'static str = "1";
}

#[derive(Debug, Deserialize)]
struct UserRegistered {
    display_name: String,
}
impl EventType for UserRegistered {
    const TYPE: &'static str = "user.registered";
    const VERSION: &'static str = "2";
}
impl From<UserRegisteredV1> for UserRegistered {
    fn from(v1: UserRegisteredV1) -> Self {
        Self { display_name: v1.name }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn builder() -> ReceiverBuilder {
    Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(20)))
}

async fn serve(receiver: &Receiver) -> SocketAddr {
    let app = Router::new().route_service("/webhooks", receiver.service());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    addr
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: serde_json::Value,
}

async fn post(addr: SocketAddr, headers: HeaderMap, body: String) -> Answer {
    let mut request = testing::request("/webhooks", headers, body);
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes: Bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

/// A signed Standard Webhooks delivery of `user.registered`.
async fn deliver(addr: SocketAddr, id: &str, event_type: &str, version: &str) -> Answer {
    let name = if version == "1" { "name" } else { "display_name" };
    let body = serde_json::json!({ "type": event_type, "version": version, "data": { name: format!("user {id}") } })
        .to_string();
    post(addr, testing::standard_webhooks(SECRET, id, now(), body.as_bytes()), body).await
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn handled(handle: &ReceiverHandle) -> u64 {
    handle.stats().handled
}

#[tokio::test]
async fn the_202_arrives_before_a_slow_handler_finishes() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = finished.clone();
    let router = EventRouter::new().payload_at("data").on(move |_: Event<UserRegistered>| {
        let flag = flag.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            flag.store(true, Ordering::SeqCst);
            Ok::<_, String>(())
        }
    });
    let receiver = builder().router(router).build().unwrap();
    let addr = serve(&receiver).await;

    let started = Instant::now();
    let answer = deliver(addr, "evt_slow", "user.registered", "2").await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.json, serde_json::json!({ "status": "accepted", "id": "evt_slow" }));
    assert!(started.elapsed() < Duration::from_millis(1000), "answered at once");
    assert!(!finished.load(Ordering::SeqCst), "the handler is still running");
    eventually("the handler finishes", || finished.load(Ordering::SeqCst)).await;

    let duplicate = deliver(addr, "evt_slow", "user.registered", "2").await;
    assert_eq!(duplicate.status, StatusCode::OK);
    assert_eq!(duplicate.json["status"], "duplicate");
}

#[tokio::test]
async fn retries_reach_the_attempt_that_succeeds_and_a_panic_is_just_a_failure() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let log = attempts.clone();
    let router = EventRouter::new().payload_at("data").on(move |event: Event<UserRegistered>| {
        log.lock().unwrap().push((event.id().to_owned(), event.attempt()));
        async move {
            match event.attempt() {
                1 if event.id() == "evt_panics" => panic!("handler bug on the first attempt"),
                1 | 2 => Err(format!("attempt {} fails", event.attempt())),
                _ => Ok(()),
            }
        }
    });
    let receiver = builder().router(router).workers(1).build().unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;

    assert_eq!(
        deliver(addr, "evt_flaky", "user.registered", "2").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        deliver(addr, "evt_panics", "user.registered", "2").await.status,
        StatusCode::ACCEPTED
    );
    eventually("both events handled", || handled(&handle) == 2).await;

    let attempts = attempts.lock().unwrap().clone();
    let of =
        |id: &str| attempts.iter().filter(|(i, _)| i == id).map(|(_, a)| *a).collect::<Vec<_>>();
    assert_eq!(of("evt_flaky"), [1, 2, 3]);
    assert_eq!(of("evt_panics"), [1, 2, 3]);
    // The only worker survived the panic and the receiver still answers.
    assert_eq!(
        deliver(addr, "evt_after", "user.registered", "2").await.status,
        StatusCode::ACCEPTED
    );
    eventually("the later event handled", || handled(&handle) == 3).await;
}

#[tokio::test]
async fn a_full_queue_answers_503_and_every_accepted_event_is_handled() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, s) = (gate.clone(), seen.clone());
    let router = EventRouter::new().payload_at("data").on(move |event: Event<UserRegistered>| {
        let (gate, seen) = (g.clone(), s.clone());
        async move {
            gate.acquire().await.unwrap().forget();
            seen.lock().unwrap().push(event.id().to_owned());
            Ok::<_, String>(())
        }
    });
    let receiver = builder().router(router).workers(1).capacity(2).build().unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;

    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for i in 0..8 {
        let id = format!("evt_{i}");
        let answer = deliver(addr, &id, "user.registered", "2").await;
        match answer.status {
            StatusCode::ACCEPTED => accepted.push(id),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.json["error"], "overloaded");
                let retry_after: u64 =
                    answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry_after >= 1);
                refused.push(id);
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Capacity counts the one running and the one waiting: the rest are
    // refused.
    assert_eq!(accepted.len(), 2, "accepted {accepted:?}");
    assert_eq!(refused.len(), 6);

    gate.add_permits(100);
    eventually("every accepted event handled", || handled(&handle) == 2).await;
    let mut seen_ids = seen.lock().unwrap().clone();
    seen_ids.sort();
    assert_eq!(seen_ids, accepted);

    // Nothing was kept of the refused event: the sender's retry is taken.
    let retry = deliver(addr, &refused[0], "user.registered", "2").await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    eventually("the retried event handled", || handled(&handle) == 3).await;
}

#[tokio::test]
async fn graceful_shutdown_drains_and_then_refuses() {
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    let router = EventRouter::new().payload_at("data").on(move |_: Event<UserRegistered>| {
        let c = c.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(())
        }
    });
    let receiver = builder().router(router).workers(2).build().unwrap();
    let addr = serve(&receiver).await;
    for i in 0..6 {
        assert_eq!(
            deliver(addr, &format!("evt_{i}"), "user.registered", "2").await.status,
            StatusCode::ACCEPTED
        );
    }
    let report = receiver.handle().shutdown(Duration::from_secs(10)).await;
    assert!(report.drained);
    assert_eq!(report.left, 0);
    assert_eq!(
        count.load(Ordering::SeqCst),
        6,
        "every accepted event ran before shutdown returned"
    );

    let late = deliver(addr, "evt_late", "user.registered", "2").await;
    assert_eq!(late.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(late.json["error"], "overloaded");
}

#[tokio::test]
async fn dead_letters_can_be_inspected_and_replayed() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let router = EventRouter::new().payload_at("data").on(move |_: Event<UserRegistered>| {
        let ok = h.load(Ordering::SeqCst);
        async move { if ok { Ok(()) } else { Err("downstream unavailable") } }
    });
    let receiver = builder()
        .router(router)
        .retry(
            RetryPolicy::default().with_max_attempts(3).initial_backoff(Duration::from_millis(10)),
        )
        .build()
        .unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;

    assert_eq!(
        deliver(addr, "evt_dead", "user.registered", "2").await.status,
        StatusCode::ACCEPTED
    );
    eventually("dead-lettered", || handle.stats().dead_lettered == 1).await;
    let letters = handle.dead_letters().await.unwrap();
    let letter = &letters[0];
    assert_eq!((letter.delivery.id(), letter.attempts), ("evt_dead", 3));
    assert_eq!(letter.error, "downstream unavailable");
    // Dead-lettered counts as done: a redelivery is a duplicate, not a rerun.
    assert_eq!(deliver(addr, "evt_dead", "user.registered", "2").await.status, StatusCode::OK);

    healthy.store(true, Ordering::SeqCst);
    handle.replay("evt_dead").await.unwrap();
    eventually("the replay handled", || handled(&handle) == 1).await;
    assert!(handle.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn v1_and_v2_reach_the_same_typed_handler() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let n = names.clone();
    let router = EventRouter::new()
        .payload_at("data")
        .on(move |event: Event<UserRegistered>| {
            n.lock().unwrap().push((event.version().to_owned(), event.display_name.clone()));
            async { Ok::<_, String>(()) }
        })
        .upcast::<UserRegisteredV1, UserRegistered>();
    let receiver = builder().router(router).workers(1).build().unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;
    deliver(addr, "evt_v1", "user.registered", "1").await;
    eventually("v1 handled", || handled(&handle) == 1).await;
    deliver(addr, "evt_v2", "user.registered", "2").await;
    eventually("v2 handled", || handled(&handle) == 2).await;
    assert_eq!(
        *names.lock().unwrap(),
        [("1".to_owned(), "user evt_v1".to_owned()), ("2".to_owned(), "user evt_v2".to_owned())]
    );
}

#[tokio::test]
async fn unknown_types_are_ignored_or_reach_the_catch_all() {
    let plain = builder()
        .router(
            EventRouter::new()
                .payload_at("data")
                .on(|_: Event<UserRegistered>| async { Ok::<_, String>(()) }),
        )
        .build()
        .unwrap();
    let addr = serve(&plain).await;
    let answer = deliver(addr, "evt_unknown", "user.deleted", "1").await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.json["status"], "ignored");
    assert_eq!(answer.json["type"], "user.deleted");
    // A version with no route is unknown too.
    assert_eq!(deliver(addr, "evt_v9", "user.registered", "9").await.json["status"], "ignored");
    assert_eq!(plain.handle().stats().ignored, 2, "ignored events are counted");

    let caught = Arc::new(Mutex::new(Vec::new()));
    let c = caught.clone();
    let with_catch_all = builder()
        .router(EventRouter::new().catch_all(move |event: Event<serde_json::Value>| {
            c.lock().unwrap().push(event.event_type().to_owned());
            async { Ok::<_, String>(()) }
        }))
        .build()
        .unwrap();
    let handle = with_catch_all.handle();
    let addr = serve(&with_catch_all).await;
    assert_eq!(deliver(addr, "evt_any", "user.deleted", "1").await.json["status"], "accepted");
    eventually("caught", || handled(&handle) == 1).await;
    assert_eq!(*caught.lock().unwrap(), ["user.deleted"]);
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_its_challenge() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let receiver = Receiver::builder(Slack::new([secret]).unwrap()).build().unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let answer = post(addr, testing::slack(secret, now(), body.as_bytes()), body.to_owned()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    assert_eq!(handle.stats().accepted, 0, "a handshake is never queued");

    // Unsigned, the handshake is refused like anything else.
    let headers = testing::slack("another secret", now(), body.as_bytes());
    assert_eq!(post(addr, headers, body.to_owned()).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refusals_keep_their_codes_through_the_receiver() {
    let receiver = builder()
        .allowlist(
            IpAllowlistLayer::new(["192.0.2.0/24"])
                .unwrap()
                .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip()),
        )
        .build()
        .unwrap();
    let addr = serve(&receiver).await;
    let denied = deliver(addr, "evt_1", "user.registered", "2").await;
    assert_eq!(
        (denied.status, denied.json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("ip_not_allowed"))
    );

    receiver
        .handle()
        .allowlist()
        .unwrap()
        .replace(IpRanges::parse(["127.0.0.0/8"]).unwrap())
        .unwrap();
    let body = r#"{"type":"user.registered","data":{}}"#.to_owned();
    let mut headers = testing::standard_webhooks(SECRET, "evt_2", now(), body.as_bytes());
    headers.insert("webhook-signature", "v1,".parse().unwrap());
    let malformed = post(addr, headers, body).await;
    assert_eq!(malformed.json["error"], "malformed_signature");

    let not_json = "not json".to_owned();
    let headers = testing::standard_webhooks(SECRET, "evt_3", now(), not_json.as_bytes());
    let answer = post(addr, headers, not_json).await;
    assert_eq!(
        (answer.status, answer.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_event"))
    );
}

/// `--queue 2 --workers 1 --fail-first 2`: a downstream that fails every
/// event's first two attempts. Deliveries waiting for their retry keep
/// their place in the inbox, so new ones are refused with 503 `overloaded`
/// while it fails, and every one that got a 202 is handled.
#[tokio::test]
async fn a_failing_downstream_keeps_backpressure_and_every_202_is_handled() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let router = EventRouter::new().payload_at("data").on(move |event: Event<UserRegistered>| {
        let log = log.clone();
        async move {
            if event.attempt() <= 2 {
                return Err(format!("downstream failed attempt {}", event.attempt()));
            }
            log.lock().unwrap().push(event.id().to_owned());
            Ok(())
        }
    });
    let receiver = builder().router(router).workers(1).capacity(2).build().unwrap();
    let handle = receiver.handle();
    let addr = serve(&receiver).await;

    let (mut accepted, mut overloaded) = (Vec::new(), 0);
    for i in 0..60 {
        let id = format!("evt_{i}");
        let answer = deliver(addr, &id, "user.registered", "2").await;
        match answer.status {
            StatusCode::ACCEPTED => accepted.push(id),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.json["error"], "overloaded");
                assert!(answer.headers.contains_key("retry-after"));
                overloaded += 1;
            }
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(overloaded > 0, "backpressure while the downstream fails");
    assert!(accepted.len() >= 2, "{accepted:?}");
    let expected = accepted.len() as u64;
    eventually("every 202'd delivery handled", || handled(&handle) == expected).await;
    let mut handled_ids = seen.lock().unwrap().clone();
    handled_ids.sort();
    accepted.sort();
    assert_eq!(handled_ids, accepted);
    println!("{} accepted, {overloaded} refused with 503 overloaded", accepted.len());
}
