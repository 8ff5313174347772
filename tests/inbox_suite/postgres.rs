//! The suite against [`PostgresInbox`], on the server at
//! `HOOKWARDEN_TEST_POSTGRES_URL`, each test in a namespace of its own;
//! then two replicas sharing one inbox, and a stall behind a table lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, Inbox, PostgresInbox};
use tokio::task::JoinSet;

use crate::suite::Make;

const URL_VAR: &str = "HOOKWARDEN_TEST_POSTGRES_URL";
const LONG: Duration = Duration::from_secs(3600);

fn url() -> Option<String> {
    let url = std::env::var(URL_VAR).ok();
    if url.is_none() {
        crate::common::skip(&format!("{URL_VAR} is not set: the PostgreSQL inbox was not tested"));
    }
    url
}

/// A name unique to this run and call: lowercase letters, digits and `_`.
fn unique(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{what}_{}_{:x}_{n}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

fn make() -> Option<Make> {
    let url = url()?;
    Some(Arc::new(move |options| {
        let url = url.clone();
        Box::pin(async move {
            let inbox = PostgresInbox::builder(url)
                .namespace(unique("suite"))
                .capacity(options.capacity)
                .retain(options.retain)
                // Generous: the machine running the suite may be busy.
                .timeout(Duration::from_secs(10))
                .build()
                .expect("inbox");
            inbox.migrate().await.expect("migrate");
            Arc::new(inbox) as Arc<dyn Inbox>
        })
    }))
}

inbox_suite!(make());

fn delivery(id: &str) -> Delivery {
    Delivery::new(id, "ping", "1", Bytes::from(format!(r#"{{"id":"{id}"}}"#)))
}

/// Two handles on one namespace, each with its own pool, as two replicas:
/// 200 deliveries leased by eight workers at once are each handed out
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_lease_each_delivery_exactly_once() {
    let Some(url) = url() else { return };
    let namespace = unique("replicas");
    let build = || {
        PostgresInbox::builder(url.clone())
            .namespace(namespace.clone())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let (first, second) = (build(), build());
    first.migrate().await.unwrap();
    second.migrate().await.unwrap();
    const N: usize = 200;
    let ids: Vec<String> = (0..N).map(|i| format!("{namespace}-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let replica = if i % 2 == 0 { &first } else { &second };
        assert_eq!(replica.accept(&delivery(id)).await.unwrap(), Accept::Accepted);
    }

    let mut workers = JoinSet::new();
    for worker in 0..8 {
        let replica = if worker % 2 == 0 { first.clone() } else { second.clone() };
        workers.spawn(async move {
            let mut got = Vec::new();
            loop {
                let leased = replica.lease(3, LONG).await.expect("lease");
                if leased.is_empty() {
                    return got;
                }
                for one in leased {
                    assert_eq!(one.attempt, 1);
                    assert!(replica.complete(&one.lease).await.unwrap(), "a fresh lease holds");
                    got.push(one.delivery.id().to_owned());
                }
            }
        });
    }
    let mut times: HashMap<String, usize> = HashMap::new();
    while let Some(got) = workers.join_next().await {
        for id in got.unwrap() {
            *times.entry(id).or_default() += 1;
        }
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "leased more than once: {twice:?}");
    assert_eq!(times.len(), N, "every delivery leased");
    assert!(ids.iter().all(|id| times.contains_key(id)));
    assert!(first.lease(10, LONG).await.unwrap().is_empty());
    assert_eq!(first.stats().await.unwrap().done, N as u64);
}

/// Another connection holds a lock on the table for 3 s while an accept
/// with a 1 s timeout waits behind it (its statement already prepared):
/// the accept answers an error. Afterwards the delivery is either kept
/// (then a redelivery is a duplicate and the delivery is leased) or not
/// (then a redelivery is accepted); never a duplicate without a delivery.
async fn stall_behind_a_table_lock(mode: &str) {
    let Some(url) = url() else { return };
    let table = unique("hw_stall");
    let inbox = PostgresInbox::builder(url.clone())
        .table(table.clone())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    inbox.migrate().await.unwrap();
    let warm = delivery("warm-up");
    assert_eq!(inbox.accept(&warm).await.unwrap(), Accept::Accepted, "prepares the statement");

    let (locker, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker.batch_execute(&format!("BEGIN; LOCK TABLE {table} IN {mode} MODE")).await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        locker.batch_execute("COMMIT").await.unwrap();
        locker
    });

    let stalled = delivery("stalled");
    let err = inbox.accept(&stalled).await.expect_err("the accept cannot finish behind the lock");
    assert!(err.to_string().contains("timed out"), "{err}");
    let locker = release.await.unwrap();

    let again = inbox.accept(&stalled).await.unwrap();
    println!("after a {mode} lock, a redelivery is {again:?}");
    assert!(matches!(again, Accept::Accepted | Accept::Duplicate), "{again:?}");
    let leased = inbox.lease(10, LONG).await.unwrap();
    let mut ids: Vec<&str> = leased.iter().map(|l| l.delivery.id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["stalled", "warm-up"], "kept exactly once, and leasable");
    assert_eq!(inbox.accept(&stalled).await.unwrap(), Accept::Duplicate);

    drop(inbox);
    locker.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_behind_a_share_lock_never_leaves_a_duplicate_without_a_delivery() {
    stall_behind_a_table_lock("SHARE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_behind_an_exclusive_lock_never_leaves_a_duplicate_without_a_delivery() {
    stall_behind_a_table_lock("ACCESS EXCLUSIVE").await;
}

/// Replicas starting at once migrate a new table at once: each succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_of_a_new_table_succeed() {
    let Some(url) = url() else { return };
    let table = unique("hw_migrate");
    let mut runs = JoinSet::new();
    for _ in 0..4 {
        let inbox = PostgresInbox::builder(url.clone()).table(table.clone()).build().unwrap();
        runs.spawn(async move { inbox.migrate().await });
    }
    while let Some(run) = runs.join_next().await {
        run.unwrap().expect("migrate");
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.unwrap();
}
