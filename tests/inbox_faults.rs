//! Stalls, not only outages: a Receiver on a shared inbox, served over real
//! HTTP on 127.0.0.1, while its server stalls past the inbox's timeout
//! (Redis paused with `DEBUG SLEEP`; PostgreSQL behind a `LOCK TABLE` held by
//! another connection), and while a sender hangs up mid-accept. The sender
//! retries until it gets a 2xx, as real senders do; in every case the event
//! is then handled exactly once, and a later redelivery is a duplicate.
//!
//! The Redis tests start a private `redis-server` (from
//! `HOOKWARDEN_TEST_REDIS_SERVER`) on a free port, so pausing it disturbs
//! nothing else; the PostgreSQL test locks a table of its own on the server
//! at `HOOKWARDEN_TEST_POSTGRES_URL`. Without those, they say they were
//! skipped.

#![cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code, unused_imports))]

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Event;
use hookwarden::inbox::Inbox;
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::{Receiver, testing};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The inbox's timeout in these tests; every stall is longer.
const TIMEOUT: Duration = Duration::from_secs(1);

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{what}_{}_{nanos:x}", std::process::id())
}

/// A receiver on `inbox` whose handler counts its runs per event id.
struct Served {
    addr: SocketAddr,
    runs: Arc<Mutex<HashMap<String, u32>>>,
    _receiver: Receiver,
}

async fn serve(inbox: Arc<dyn Inbox>) -> Served {
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let seen = runs.clone();
    let router = EventRouter::new().catch_all(move |event: Event<serde_json::Value>| {
        *seen.lock().unwrap().entry(event.id().to_owned()).or_insert(0) += 1;
        async { Ok::<_, std::convert::Infallible>(()) }
    });
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(router)
        .shared_inbox(inbox)
        .poll_interval(Duration::from_millis(50))
        // A lease call that timed out during the stall may still have
        // leased a delivery on the server, held by no worker: it is handed
        // out again when that lease runs out.
        .lease(Duration::from_secs(3))
        .retry_after(Duration::from_secs(1))
        .build()
        .unwrap();
    let app = axum::Router::new().route_service("/webhooks", receiver.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served { addr, runs, _receiver: receiver }
}

fn body(id: &str) -> String {
    format!(r#"{{"type":"order.paid","data":{{"order":"{id}"}}}}"#)
}

fn signed(addr: SocketAddr, id: &str) -> http::Request<http_body_util::Full<Bytes>> {
    let body = body(id);
    let mut request = testing::request(
        "/webhooks",
        testing::standard_webhooks(SECRET, id, now(), body.as_bytes()),
        body,
    );
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    request
}

async fn post(addr: SocketAddr, id: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(signed(addr, id)).await.unwrap();
    let status = response.status();
    let bytes: Bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let word = json["error"].as_str().or(json["status"].as_str()).unwrap_or("").to_owned();
    (status, word)
}

/// A sender's retries: every 300 ms until a 2xx; returns every answer.
async fn deliver_with_retries(addr: SocketAddr, id: &str) -> Vec<(StatusCode, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answers = Vec::new();
    loop {
        let (status, word) = post(addr, id).await;
        answers.push((status, word.clone()));
        if status.is_success() {
            return answers;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{word}");
        assert_eq!(word, "store_unavailable");
        assert!(Instant::now() < deadline, "never acknowledged: {answers:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// After the sender got its 2xx: the event runs exactly once, and a
/// redelivery is a duplicate that does not run it again.
async fn handled_exactly_once(served: &Served, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while served.runs.lock().unwrap().get(id).is_none() {
        assert!(Instant::now() < deadline, "{id} was acknowledged but never handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(post(served.addr, id).await, (StatusCode::OK, "duplicate".to_owned()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served.runs.lock().unwrap().get(id), Some(&1), "{id} handled exactly once");
}

/// A private `redis-server` on a free port with `DEBUG` enabled; killed on
/// drop.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Option<Self> {
        let Ok(bin) = std::env::var("HOOKWARDEN_TEST_REDIS_SERVER") else {
            common::skip("HOOKWARDEN_TEST_REDIS_SERVER not set");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Pauses the server for `seconds` (in the background: `DEBUG SLEEP`
    /// blocks the connection that sends it).
    fn pause(&self, seconds: f64) -> std::thread::JoinHandle<()> {
        let port = self.port;
        std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let arg = seconds.to_string();
            let command =
                format!("*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${}\r\n{arg}\r\n", arg.len());
            std::io::Write::write_all(&mut stream, command.as_bytes()).unwrap();
            let mut reply = [0u8; 5];
            std::io::Read::read_exact(&mut stream, &mut reply).unwrap();
            assert_eq!(&reply, b"+OK\r\n");
        })
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "redis")]
async fn redis_inbox(url: String) -> Arc<dyn Inbox> {
    let inbox = hookwarden::inbox::RedisInbox::builder(url)
        .namespace(unique("faults"))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    Arc::new(inbox)
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_past_the_timeout_then_the_event_is_handled_once() {
    let Some(redis) = PrivateRedis::start() else { return };
    let served = serve(redis_inbox(redis.url()).await).await;
    let warm = post(served.addr, "evt_warm").await;
    assert_eq!(warm.0, StatusCode::ACCEPTED, "{warm:?}");

    let paused = redis.pause(3.0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answers = deliver_with_retries(served.addr, "evt_stalled").await;
    assert_eq!(answers[0], (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable".to_owned()));
    println!("answers during and after a 3 s pause: {answers:?}");
    paused.join().unwrap();
    handled_exactly_once(&served, "evt_stalled").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_hangs_up_mid_accept_then_retries_gets_it_handled_once() {
    let Some(redis) = PrivateRedis::start() else { return };
    let served = serve(redis_inbox(redis.url()).await).await;
    assert_eq!(post(served.addr, "evt_warm").await.0, StatusCode::ACCEPTED);

    let paused = redis.pause(1.5);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The whole request, then the connection closed while the accept waits
    // for the paused server.
    let request = signed(served.addr, "evt_hangup");
    let mut raw = "POST /webhooks HTTP/1.1\r\n".to_owned();
    for (name, value) in request.headers() {
        raw.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    raw.push_str("\r\n");
    raw.push_str(&body("evt_hangup"));
    let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    paused.join().unwrap();

    let answers = deliver_with_retries(served.addr, "evt_hangup").await;
    println!("the retry after a hang-up mid-accept: {answers:?}");
    handled_exactly_once(&served, "evt_hangup").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_a_held_table_lock_then_the_event_is_handled_once() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    let table = unique("hookwarden_inbox_lock");
    let inbox = hookwarden::inbox::PostgresInbox::builder(url.clone())
        .table(table.clone())
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    inbox.migrate().await.unwrap();
    let served = serve(Arc::new(inbox)).await;
    // Steady state: the statements are prepared before the stall.
    assert_eq!(post(served.addr, "evt_warm").await.0, StatusCode::ACCEPTED);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("BEGIN; LOCK TABLE {table} IN SHARE MODE")).await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        client.batch_execute("COMMIT").await.unwrap();
        client
    });
    let answers = deliver_with_retries(served.addr, "evt_locked").await;
    assert_eq!(answers[0], (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable".to_owned()));
    println!("answers during and after a 3 s table lock: {answers:?}");
    let client = release.await.unwrap();
    handled_exactly_once(&served, "evt_locked").await;
    drop(served);
    client.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.unwrap();
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_paused_past_the_timeout_then_the_event_is_handled_once() {
    common::skip("built without the `redis` feature");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_behind_a_held_table_lock_then_the_event_is_handled_once() {
    common::skip("built without the `postgres` feature");
}

#[cfg(not(feature = "redis"))]
#[test]
fn a_sender_that_hangs_up_mid_accept_then_retries_gets_it_handled_once() {
    common::skip("built without the `redis` feature");
}
