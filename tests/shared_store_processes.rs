//! Two receiver processes sharing one Redis (or PostgreSQL) inbox, sent the
//! same deliveries at the same time: each event is handled exactly once.
//!
//! The receivers are real child processes: this test binary re-runs itself
//! with `--ignored --exact child_receiver`, and the child serves a
//! `Receiver` on 127.0.0.1, printing `PORT n` and one `HANDLED id` line per
//! handled event. The tests read `HOOKWARDEN_TEST_REDIS_URL` and
//! `HOOKWARDEN_TEST_POSTGRES_URL` and say they were skipped without them.

// Built without one of them, the child's branch for it is unreachable.
#![cfg_attr(
    not(all(feature = "redis", feature = "postgres")),
    allow(dead_code, unused_imports, unreachable_code, unused_variables)
)]

mod common;
#[path = "common/inbox_url.rs"]
mod inbox_url;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::testing;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 40;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A child receiver process and the lines it printed.
struct ChildReceiver {
    child: Child,
    port: u16,
}

impl Drop for ChildReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    store_url: &str,
    namespace: &str,
    name: &'static str,
    lines: mpsc::Sender<(&'static str, String)>,
) -> ChildReceiver {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_receiver", "--nocapture", "--test-threads=1"])
        .env("HOOKWARDEN_CHILD_STORE", store_url)
        .env("HOOKWARDEN_CHILD_NAMESPACE", namespace)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-run the test binary");
    let stdout = child.stdout.take().unwrap();
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints `test child_receiver ... ` before the first line.
            if let Some((_, port)) = line.split_once("PORT ") {
                let _ = port_tx.send(port.parse::<u16>().unwrap());
            } else if let Some((_, id)) = line.split_once("HANDLED ") {
                let _ = lines.send((name, id.to_owned()));
            }
        }
    });
    let mut receiver = ChildReceiver { child, port: 0 };
    receiver.port =
        port_rx.recv_timeout(Duration::from_secs(60)).expect("the child receiver starts");
    receiver
}

async fn post(port: u16, id: &str) -> StatusCode {
    let body = format!(r#"{{"type":"order.paid","data":{{"order":"{id}"}}}}"#);
    let mut request = testing::request(
        "/webhooks",
        testing::standard_webhooks(SECRET, id, now(), body.as_bytes()),
        body,
    );
    request.headers_mut().insert(http::header::HOST, format!("127.0.0.1:{port}").parse().unwrap());
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let _: Bytes = response.into_body().collect().await.unwrap().to_bytes();
    status
}

async fn each_event_handled_once(store_url: &str) {
    let namespace = format!("two-processes-{}-{:x}", std::process::id(), now());
    let (tx, rx) = mpsc::channel();
    let a = spawn(store_url, &namespace, "a", tx.clone());
    let b = spawn(store_url, &namespace, "b", tx);

    let mut statuses = HashMap::<StatusCode, usize>::new();
    for i in 0..EVENTS {
        let id = format!("evt_{i}");
        // The same delivery to both processes at once, as a sender's retry
        // racing its original would arrive.
        let (x, y) = tokio::join!(post(a.port, &id), post(b.port, &id));
        for status in [x, y] {
            *statuses.entry(status).or_default() += 1;
        }
    }
    assert_eq!(
        statuses.get(&StatusCode::ACCEPTED),
        Some(&EVENTS),
        "one 202 per event: {statuses:?}"
    );
    assert_eq!(
        statuses.get(&StatusCode::OK),
        Some(&EVENTS),
        "one 200 duplicate per event: {statuses:?}"
    );

    let mut handled = HashMap::<String, Vec<&str>>::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handled.len() < EVENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let (process, id) = rx.recv_timeout(left).expect("every event is handled");
        handled.entry(id).or_default().push(process);
    }
    // A late second handling would show up here.
    while let Ok((process, id)) = rx.recv_timeout(Duration::from_millis(500)) {
        handled.entry(id).or_default().push(process);
    }
    for (id, by) in &handled {
        assert_eq!(by.len(), 1, "{id} handled by {by:?}");
    }
    let by_a = handled.values().filter(|by| by[0] == "a").count();
    println!(
        "{EVENTS} events, each handled once: {by_a} by process a, {} by process b",
        EVENTS - by_a
    );
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_handle_each_event_once() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_REDIS_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_REDIS_URL not set");
        return;
    };
    each_event_handled_once(&url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_postgres_handle_each_event_once() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    each_event_handled_once(&url).await;
}

#[cfg(not(feature = "redis"))]
#[test]
fn two_processes_sharing_redis_handle_each_event_once() {
    common::skip("built without the `redis` feature");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn two_processes_sharing_postgres_handle_each_event_once() {
    common::skip("built without the `postgres` feature");
}

/// The child process: a receiver on the shared store, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the two-process tests, started by them"]
async fn child_receiver() {
    use hookwarden::Receiver;
    use hookwarden::event::Event;
    use hookwarden::router::EventRouter;
    use hookwarden::scheme::StandardWebhooks;

    let url = std::env::var("HOOKWARDEN_CHILD_STORE").expect("started by a two-process test");
    let namespace = std::env::var("HOOKWARDEN_CHILD_NAMESPACE").unwrap();
    let inbox = inbox_url::open(&url, &namespace).await;
    let router = EventRouter::new().catch_all(|event: Event<serde_json::Value>| async move {
        // Slow enough that the two processes' claims overlap in time.
        tokio::time::sleep(Duration::from_millis(20)).await;
        println!("HANDLED {}", event.id());
        Ok::<_, std::convert::Infallible>(())
    });
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(router)
        .shared_inbox(inbox)
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let app = axum::Router::new().route_service("/webhooks", receiver.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    axum::serve(listener, app).await.unwrap();
}
