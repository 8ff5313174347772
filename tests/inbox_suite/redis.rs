//! The suite against [`RedisInbox`] (on `HOOKWARDEN_TEST_REDIS_URL`), and
//! what only a shared server shows: replicas leasing from one inbox, and a
//! server that stalls in the middle of an accept (on a private server from
//! `HOOKWARDEN_TEST_REDIS_SERVER`).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, Cursor, Inbox, RedisInbox, State};
use tokio::task::JoinSet;

use crate::private_redis::PrivateRedis;
use crate::suite::{Make, handled};

const LONG: Duration = Duration::from_secs(3600);

/// A namespace of its own for each inbox of the run.
fn unique(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("inbox-{test}-{}-{nanos:x}-{n}", std::process::id())
}

fn url() -> Option<String> {
    let url = std::env::var("HOOKWARDEN_TEST_REDIS_URL").ok();
    if url.is_none() {
        crate::common::skip("HOOKWARDEN_TEST_REDIS_URL not set: Redis inbox test not run");
    }
    url
}

fn make() -> Option<Make> {
    let url = url()?;
    Some(Arc::new(move |options| {
        let url = url.clone();
        Box::pin(async move {
            let inbox = RedisInbox::builder(url)
                .namespace(unique("suite"))
                .capacity(options.capacity)
                .retain(options.retain)
                .connect()
                .await
                .expect("connect to the test Redis");
            Arc::new(inbox) as Arc<dyn Inbox>
        })
    }))
}

inbox_suite!(make());

fn delivery(id: &str) -> Delivery {
    Delivery::new(id, "ping", "1", Bytes::from(format!(r#"{{"id":"{id}"}}"#)))
}

/// Two replicas (two connections, one namespace) lease concurrently, a few
/// at a time, from eight tasks: each of 200 deliveries is leased exactly
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_lease_each_delivery_exactly_once() {
    let Some(url) = url() else { return };
    let namespace = unique("replicas");
    let connect =
        || RedisInbox::builder(url.clone()).namespace(namespace.clone()).capacity(1000).connect();
    let replicas = [Arc::new(connect().await.unwrap()), Arc::new(connect().await.unwrap())];
    const N: usize = 200;
    for i in 0..N {
        let inbox = &replicas[i % 2];
        assert_eq!(
            inbox.accept(&delivery(&format!("evt-{i}")).into()).await.unwrap(),
            Accept::Accepted
        );
    }

    let mut tasks = JoinSet::new();
    for worker in 0..8 {
        let inbox = replicas[worker % 2].clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let leased = inbox.lease(7, LONG).await.expect("lease");
                if leased.is_empty() {
                    return mine;
                }
                mine.extend(leased.into_iter().map(|l| l.delivery.id().to_owned()));
            }
        });
    }
    let mut all = Vec::new();
    while let Some(mine) = tasks.join_next().await {
        all.extend(mine.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), N, "every delivery leased once, none twice");
    assert_eq!(distinct.len(), N);
    let stats = replicas[0].stats().await.unwrap();
    assert_eq!((stats.pending, stats.leased), (0, N as u64), "{stats:?}");
}

/// The server sleeps (`DEBUG SLEEP 3`, from another connection) while an
/// accept with a 1 s timeout runs: the accept fails. Afterwards the
/// delivery is either kept (a later accept is a duplicate, and it can be
/// leased) or not kept at all (a later accept is accepted): never a
/// duplicate without a delivery to lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_never_leaves_a_duplicate_without_a_delivery() {
    let Some(server) = PrivateRedis::start() else { return };
    let inbox = RedisInbox::builder(server.url())
        .namespace(unique("stall"))
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .expect("connect to the private Redis");
    let before = Arc::new(delivery("before-the-stall"));
    assert_eq!(inbox.accept(&before).await.unwrap(), Accept::Accepted);

    let stall = server.pause(3.0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let during = Arc::new(delivery("during-the-stall"));
    let started = Instant::now();
    let outcome = inbox.accept(&during).await;
    let took = started.elapsed();
    assert!(outcome.is_err(), "an accept answered during the stall: {outcome:?}");
    assert!(took < Duration::from_millis(2500), "the accept was not bounded: {took:?}");
    stall.join().expect("DEBUG SLEEP");

    let again = inbox.accept(&during).await.expect("accept after the stall");
    let leased = inbox.lease(10, LONG).await.unwrap();
    let ids: HashSet<&str> = leased.iter().map(|l| l.delivery.id()).collect();
    match again {
        Accept::Duplicate => {
            println!("the stalled accept landed after the timeout");
            assert!(ids.contains(during.id()), "a duplicate must have a delivery to lease");
        }
        Accept::Accepted => {
            println!("the stalled accept never landed");
            assert!(ids.contains(during.id()));
        }
        Accept::Full => panic!("not full"),
        _ => unreachable!("no other outcome"),
    }
    assert!(ids.contains(before.id()), "the delivery before the stall is kept");
    assert_eq!(leased.len(), 2, "{leased:?}");
}

/// Done deliveries are listed, paged by completion time, and found by id,
/// without their bodies; purge leaves those within the retention alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_deliveries_are_listed_and_found_without_their_bodies() {
    let Some(url) = url() else { return };
    let inbox = RedisInbox::builder(url).namespace(unique("done")).connect().await.unwrap();
    for i in 0..5 {
        inbox.accept(&delivery(&format!("done-{i}")).into()).await.unwrap();
    }
    for leased in inbox.lease(5, LONG).await.unwrap() {
        assert!(inbox.complete(&leased.lease, &handled(&leased)).await.unwrap());
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = inbox.list(State::Done, 2, cursor.as_ref()).await.unwrap();
        seen.extend(page.records.iter().map(|r| r.delivery.id().to_owned()));
        assert!(
            page.records.iter().all(|r| r.state == State::Done && r.delivery.body().is_empty())
        );
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, (0..5).map(|i| format!("done-{i}")).collect::<Vec<_>>());
    let record = inbox.get("done-3").await.unwrap().expect("remembered");
    assert_eq!((record.state, record.attempts), (State::Done, 1));
    assert_eq!(inbox.purge().await.unwrap(), 0);
    assert_eq!(inbox.stats().await.unwrap().done, 5);
    assert!(inbox.list(State::Done, 2, Some(&Cursor::new("nonsense"))).await.is_err());
}

/// A delivery kept by an earlier version (its hash without the `scheme`
/// and `log` fields) reads back without a scheme and with an empty log,
/// and its attempts are logged from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_kept_by_an_earlier_version_reads_back_and_is_logged() {
    let Some(url) = url() else { return };
    let namespace = unique("older");
    let inbox = RedisInbox::builder(url.clone()).namespace(&namespace).connect().await.unwrap();
    let kept = delivery("evt_older").with_scheme("github");
    assert_eq!(inbox.accept(&kept.into()).await.unwrap(), Accept::Accepted);

    let client = ::redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let hashes: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("hookwarden:{{{namespace}}}:d:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 1, "{hashes:?}");
    let removed: i64 = ::redis::cmd("HDEL")
        .arg(&hashes[0])
        .arg("scheme")
        .arg("log")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the scheme was kept, and no log before an attempt");

    let record = inbox.get("evt_older").await.unwrap().expect("kept");
    assert_eq!((record.state, record.delivery.scheme()), (State::Pending, None));
    assert!(record.attempt_log.is_empty());
    let leased = inbox.lease(1, LONG).await.unwrap().pop().expect("due");
    let done = handled(&leased);
    assert!(inbox.complete(&leased.lease, &done).await.unwrap());
    let record = inbox.get("evt_older").await.unwrap().expect("remembered");
    assert_eq!(record.attempt_log, [done]);
}

/// Neither the inbox nor its builder shows the URL (it may hold a password).
#[tokio::test]
async fn debug_output_never_shows_the_url() {
    let Some(url) = url() else { return };
    let secret = url.replacen("redis://", "redis://user:hunter2@", 1);
    let builder = RedisInbox::builder(secret.clone()).namespace(unique("debug"));
    assert!(!format!("{builder:?}").contains("hunter2"), "{builder:?}");
    let inbox = RedisInbox::builder(url).namespace(unique("debug")).connect().await.unwrap();
    assert!(!format!("{inbox:?}").contains("127.0.0.1"), "{inbox:?}");
    let refused = RedisInbox::builder(secret).connect().await.unwrap_err();
    assert!(!refused.to_string().contains("hunter2"), "{refused}");
}

/// `check_persistence` reads the server's settings: the test server keeps
/// no append-only file, so it warns.
#[tokio::test]
async fn check_persistence_warns_without_fsync_on_every_write() {
    let Some(url) = url() else { return };
    let inbox = RedisInbox::builder(url).namespace(unique("persistence")).connect().await.unwrap();
    match inbox.check_persistence().await.expect("CONFIG GET") {
        Some(warning) => {
            println!("{warning}");
            assert!(warning.contains("appendfsync always"), "{warning}");
        }
        None => println!("the test server fsyncs every write"),
    }
}
