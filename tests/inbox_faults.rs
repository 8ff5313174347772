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

#![cfg_attr(not(all(feature = "redis", feature = "postgres")), allow(dead_code, unused_imports))]

mod common;
#[path = "common/private_redis.rs"]
mod private_redis;
#[path = "common/sender.rs"]
mod sender;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookwarden::Receiver;
use hookwarden::event::Event;
use hookwarden::inbox::Inbox;
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use http::StatusCode;

use private_redis::PrivateRedis;
use sender::{SECRET, deliver, deliver_and_hang_up};

/// The inbox's timeout in these tests; every stall is longer.
const TIMEOUT: Duration = Duration::from_secs(1);

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

/// A sender's retries: every 300 ms until a 2xx; returns every answer.
async fn deliver_with_retries(addr: SocketAddr, id: &str) -> Vec<(StatusCode, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answers = Vec::new();
    loop {
        let (status, word) = deliver(addr, id).await;
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
    assert_eq!(deliver(served.addr, id).await, (StatusCode::OK, "duplicate".to_owned()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served.runs.lock().unwrap().get(id), Some(&1), "{id} handled exactly once");
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
    let warm = deliver(served.addr, "evt_warm").await;
    assert_eq!(warm.0, StatusCode::ACCEPTED, "{warm:?}");

    let paused = redis.pause(3.0).await;
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
    assert_eq!(deliver(served.addr, "evt_warm").await.0, StatusCode::ACCEPTED);

    let paused = redis.pause(1.5).await;
    // The whole request, then the connection closed while the accept waits
    // for the paused server.
    deliver_and_hang_up(served.addr, "evt_hangup").await;
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
    assert_eq!(deliver(served.addr, "evt_warm").await.0, StatusCode::ACCEPTED);

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
