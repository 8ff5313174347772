//! The dedupe layer over a shared store that stalls past its timeout, or
//! whose sender hangs up mid-claim: Verify, Envelope and Dedupe in an axum
//! router, served over real HTTP on 127.0.0.1, with a sender that retries
//! every 0.5 s until it gets a 2xx, as real senders do.
//!
//! The stalled claim may be applied by the server after the layer stopped
//! waiting for it (503 to the sender), or after the sender hung up (for
//! PostgreSQL the server's own `statement_timeout` may cancel it first);
//! either way the layer releases it with the token it made. So the retries after the
//! stall get the event handled exactly once, soon after the stall ends:
//! never `409 in_progress` for the claim's whole lease (5 minutes).
//!
//! * Redis: a private `redis-server` (from `HOOKWARDEN_TEST_REDIS_SERVER`)
//!   on a free port, paused with `DEBUG SLEEP`, so pausing it disturbs
//!   nothing else.
//! * PostgreSQL: a store table of this test's own on the server at
//!   `HOOKWARDEN_TEST_POSTGRES_URL`, locked `IN SHARE MODE` by another
//!   connection; nothing else uses that table.
//!
//! Without those variables, the tests say they were skipped.

#![cfg_attr(not(all(feature = "redis", feature = "postgres")), allow(dead_code, unused_imports))]

mod common;
#[path = "common/private_redis.rs"]
mod private_redis;
#[path = "common/sender.rs"]
mod sender;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::post;
use hookwarden::VerifyLayer;
use hookwarden::dedupe::DedupeLayer;
use hookwarden::envelope::EnvelopeLayer;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::store::IdempotencyStore;
use http::StatusCode;
use tower::ServiceBuilder;

use private_redis::PrivateRedis;
use sender::{SECRET, deliver, deliver_and_hang_up};

/// The store's timeout in these tests; every stall is longer.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How often the sender retries.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// "A few seconds": the longest a retry may still be refused once the
/// stall ended, and the longest run of 409s.
const SOON: Duration = Duration::from_secs(5);

fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{what}_{}_{nanos:x}", std::process::id())
}

/// Verify, Envelope and Dedupe (default lease: 5 minutes) over `store`, in
/// front of a handler that counts its runs.
struct Served {
    addr: SocketAddr,
    runs: Arc<AtomicUsize>,
}

impl Served {
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

async fn serve(store: Arc<dyn IdempotencyStore>) -> Served {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let handler = post(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "processed" }
    });
    let webhooks = ServiceBuilder::new()
        .layer(VerifyLayer::new(StandardWebhooks::new([SECRET]).unwrap()))
        .layer(EnvelopeLayer::for_scheme(&StandardWebhooks::new([SECRET]).unwrap()))
        .layer(DedupeLayer::from_shared(store).retry_after(Duration::from_secs(1)));
    let app = axum::Router::new().route("/webhooks", handler.route_layer(webhooks));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served { addr, runs }
}

/// What the sender saw, each answer with when it came.
struct Answers(Vec<(Instant, StatusCode, String)>);

impl Answers {
    /// The sender's retries, every [`RETRY_EVERY`], until a 2xx (for at
    /// most 15 s). Only 503 `store_unavailable` and 409 `in_progress` may
    /// come before it.
    async fn until_acknowledged(addr: SocketAddr, id: &str) -> Self {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut answers = Vec::new();
        loop {
            let (status, word) = deliver(addr, id).await;
            answers.push((Instant::now(), status, word.clone()));
            if status.is_success() {
                return Self(answers);
            }
            match (status, word.as_str()) {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                | (StatusCode::CONFLICT, "in_progress") => {}
                other => panic!("unexpected answer {other:?}"),
            }
            assert!(Instant::now() < deadline, "never acknowledged: {:?}", Self(answers));
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    fn first(&self) -> (StatusCode, &str) {
        (self.0[0].1, &self.0[0].2)
    }

    fn acknowledged_at(&self) -> Instant {
        let (at, status, word) = self.0.last().expect("an answer");
        assert_eq!((*status, word.as_str()), (StatusCode::OK, "processed"));
        *at
    }

    /// From the first 409 to the acknowledgement (zero without a 409).
    fn conflicts_for(&self) -> Duration {
        let first = self.0.iter().find(|(_, status, _)| *status == StatusCode::CONFLICT);
        first.map_or(Duration::ZERO, |(at, _, _)| self.acknowledged_at() - *at)
    }

    /// The acknowledgement came soon after the stall ended, after 409s for
    /// a few seconds at most.
    fn assert_soon_after(&self, stall_ended: Instant) {
        let after = self.acknowledged_at().saturating_duration_since(stall_ended);
        assert!(after < SOON, "acknowledged {after:?} after the stall ended: {self:?}");
        assert!(self.conflicts_for() < SOON, "409 for {:?}: {self:?}", self.conflicts_for());
    }
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = self.0.first().map(|(at, _, _)| *at);
        f.debug_list()
            .entries(self.0.iter().map(|(at, status, word)| {
                let ms = start.map_or(0, |start| (*at - start).as_millis());
                format!("+{ms} ms {} {word}", status.as_u16())
            }))
            .finish()
    }
}

/// The event ran exactly once, and a redelivery is a duplicate that does
/// not run it again.
async fn handled_exactly_once(served: &Served, id: &str) {
    assert_eq!(served.runs(), 1, "handled once");
    assert_eq!(deliver(served.addr, id).await, (StatusCode::OK, "duplicate".to_owned()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served.runs(), 1, "handled exactly once");
}

#[cfg(feature = "redis")]
async fn redis_store(redis: &PrivateRedis) -> Arc<dyn IdempotencyStore> {
    let store = hookwarden::store::RedisStore::builder(redis.url())
        .namespace(unique("dedupe-faults"))
        .timeout(TIMEOUT)
        .connect()
        .await
        .expect("connect");
    Arc::new(store)
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_past_the_timeout_then_the_event_is_handled_once() {
    let Some(redis) = PrivateRedis::start() else { return };
    let served = serve(redis_store(&redis).await).await;
    assert_eq!(deliver(served.addr, "evt_warm").await.0, StatusCode::OK);
    served.runs.store(0, Ordering::SeqCst);

    let paused = redis.pause(3.0).await;
    let answers = Answers::until_acknowledged(served.addr, "evt_stalled").await;
    let woke = paused.join().unwrap();
    println!("answers during and after a 3 s pause: {answers:?}");
    assert_eq!(answers.first(), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
    answers.assert_soon_after(woke);
    handled_exactly_once(&served, "evt_stalled").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_hangs_up_mid_claim_then_retries_gets_it_handled_once() {
    let Some(redis) = PrivateRedis::start() else { return };
    let served = serve(redis_store(&redis).await).await;

    // Slow, not past the timeout: the claim answers after the hang-up.
    let paused = redis.pause(1.5).await;
    deliver_and_hang_up(served.addr, "evt_hangup").await;
    let woke = paused.join().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(served.runs(), 0, "the request was dropped before the handler");

    let answers = Answers::until_acknowledged(served.addr, "evt_hangup").await;
    println!("the retries after a hang-up mid-claim: {answers:?}");
    answers.assert_soon_after(woke);
    handled_exactly_once(&served, "evt_hangup").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_a_held_table_lock_then_the_event_is_handled_once() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    let table = unique("hookwarden_dedupe_lock");
    let store = hookwarden::store::PostgresStore::builder(url.clone())
        .table(table.clone())
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let served = serve(Arc::new(store)).await;
    // Steady state: the statements are prepared before the stall.
    assert_eq!(deliver(served.addr, "evt_warm").await.0, StatusCode::OK);
    served.runs.store(0, Ordering::SeqCst);

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("BEGIN; LOCK TABLE {table} IN SHARE MODE")).await.unwrap();
    let unlock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        client.batch_execute("COMMIT").await.unwrap();
        (client, Instant::now())
    });
    let answers = Answers::until_acknowledged(served.addr, "evt_locked").await;
    let (client, unlocked) = unlock.await.unwrap();
    println!("answers during and after a 3 s table lock: {answers:?}");
    assert_eq!(answers.first(), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
    answers.assert_soon_after(unlocked);
    handled_exactly_once(&served, "evt_locked").await;
    client.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.unwrap();
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_paused_past_the_timeout_then_the_event_is_handled_once() {
    common::skip("built without the `redis` feature");
}

#[cfg(not(feature = "redis"))]
#[test]
fn a_sender_that_hangs_up_mid_claim_then_retries_gets_it_handled_once() {
    common::skip("built without the `redis` feature");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_behind_a_held_table_lock_then_the_event_is_handled_once() {
    common::skip("built without the `postgres` feature");
}
