//! Senders as they are really written, through the whole receiver and the
//! example's demo catalogue:
//!
//! - the Node.js sender most webhook guides show, run for real with `node`
//!   over HTTP on 127.0.0.1, accepted by the generic scheme as written (no
//!   id, `X-Webhook-Version: 1.0`), its canonical `user.registered` v1
//!   payload upcast to v2 by the demo catalogue;
//! - a captured delivery replayed under a fresh unsigned id is a
//!   duplicate, for every scheme whose id header is unsigned.

#[path = "../examples/common/demo.rs"]
#[allow(dead_code)]
mod demo;

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use hookwarden::scheme::{GenericHmac, GitHub, Scheme, Shopify};
use hookwarden::{Receiver, testing};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

const SECRET: &str = "It's a Secret to Everybody";

/// A receiver with the demo catalogue; every handled event lands in the
/// returned list.
fn receiver(scheme: impl Scheme) -> (Receiver, Arc<Mutex<Vec<Value>>>) {
    let handled = Arc::new(Mutex::new(Vec::new()));
    let sink = handled.clone();
    let report: demo::Report = Arc::new(move |line| sink.lock().unwrap().push(line));
    let receiver = Receiver::builder(scheme)
        .router(demo::router(demo::Demo::default(), report))
        .default_version("1")
        .build()
        .unwrap();
    (receiver, handled)
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_common_node_sender_is_accepted_as_written() {
    if Command::new("node").arg("--version").output().is_err() {
        common::skip("no `node` on this machine (`.ci/run` installs it)");
        return;
    }
    let scheme = GenericHmac::builder().secret(SECRET).build().unwrap();
    let (receiver, handled) = receiver(scheme);
    let app = Router::new().route_service("/webhooks", receiver.service());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/node_sender.js");
    let url = format!("http://{addr}/webhooks");
    let output = tokio::process::Command::new("node")
        .args([script, &url, SECRET])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("the sender finishes")
        .expect("node runs");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0]["status"], 202, "{answers:?}");
    assert_eq!(answers[0]["body"]["status"], "accepted");
    assert_eq!(answers[1]["status"], 200, "the retry: {answers:?}");
    assert_eq!(answers[1]["body"]["status"], "duplicate");
    assert_eq!(answers[1]["body"]["id"], answers[0]["body"]["id"]);
    assert_eq!(answers[2]["status"], 202, "{answers:?}");
    // No id was sent: the id is the digest of the body.
    let id = answers[0]["body"]["id"].as_str().unwrap();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    eventually("both events are handled", || handled.lock().unwrap().len() == 2).await;
    let mut lines = handled.lock().unwrap().clone();
    lines.sort_by_key(|line| line["user_id"].as_str().map(str::to_owned));
    for line in &mut lines {
        line.as_object_mut().unwrap().remove("id");
    }
    assert_eq!(
        lines,
        [
            // `X-Webhook-Version: 1.0` routes as version 1, upcast to v2.
            json!({"type": "user.registered", "version": "1", "attempt": 1,
                   "handler": "user_registered", "user_id": "usr_123", "display_name": "ada"}),
            // No version header: the default version.
            json!({"type": "user.registered", "version": "1", "attempt": 1,
                   "handler": "user_registered", "user_id": "usr_124", "display_name": "grace"}),
        ]
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handled.lock().unwrap().len(), 2, "the retry was not handled again");
}

/// Sends `body` with `headers` through the receiver in process.
async fn deliver(
    receiver: &Receiver,
    headers: HeaderMap,
    body: &'static [u8],
) -> (StatusCode, Value) {
    let request = testing::request("/webhooks", headers, Bytes::from_static(body));
    let response = receiver.service().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// A captured delivery, replayed by someone without the secret under a
/// fresh value of the sender's unsigned id header, is a duplicate.
async fn assert_replay_under_fresh_id_is_duplicate(
    scheme: impl Scheme,
    signed: HeaderMap,
    id_header: &str,
    body: &'static [u8],
) {
    let name = scheme.name();
    let (receiver, handled) = receiver(scheme);
    let with_id = |id: &str| {
        let mut headers = signed.clone();
        headers.insert(http::HeaderName::try_from(id_header).unwrap(), id.parse().unwrap());
        headers
    };
    let (status, answer) = deliver(&receiver, with_id("original-1"), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{name}: {answer}");
    assert_eq!(answer["id"], "original-1", "{name}: the header id is still reported");
    for fresh in ["replay-2", "replay-3", "replay-4"] {
        let (status, answer) = deliver(&receiver, with_id(fresh), body).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
        assert_eq!(answer["status"], "duplicate", "{name}");
    }
    eventually("the original is handled", || handled.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handled.lock().unwrap().len(), 1, "{name}: handled once, not four times");
}

#[tokio::test]
async fn replays_under_fresh_unsigned_ids_are_duplicates() {
    const PUSH: &[u8] = br#"{"ref":"refs/heads/main","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","repository":{"full_name":"octo-org/octo-repo"}}"#;
    let mut headers = testing::github(SECRET, PUSH);
    headers.insert("x-github-event", "push".parse().unwrap());
    assert_replay_under_fresh_id_is_duplicate(
        GitHub::new([SECRET]).unwrap(),
        headers,
        "x-github-delivery",
        PUSH,
    )
    .await;

    const ORDER: &[u8] =
        br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"403.00"}"#;
    let mut headers = testing::shopify(SECRET, ORDER);
    headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
    assert_replay_under_fresh_id_is_duplicate(
        Shopify::new([SECRET]).unwrap(),
        headers,
        "x-shopify-webhook-id",
        ORDER,
    )
    .await;

    const SIGNUP: &[u8] = br#"{"event":"user.registered","data":{"user_id":"u1","email":"a@example.com","username":"a","registered_at":"2026-01-01T00:00:00Z"}}"#;
    let generic = GenericHmac::builder().secret(SECRET).build().unwrap();
    let headers = testing::generic_hmac(&generic, 0, SIGNUP);
    assert_replay_under_fresh_id_is_duplicate(generic, headers, "x-webhook-id", SIGNUP).await;
}
