//! The suite against [`PostgresInbox`], on the server at
//! `HOOKWARDEN_TEST_POSTGRES_URL`, each test in a namespace of its own;
//! then two replicas sharing one inbox, and a stall behind a table lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, Inbox, PostgresInbox, State};
use tokio::task::JoinSet;

use crate::suite::{Make, failed, handled};

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
        assert_eq!(replica.accept(&delivery(id).into()).await.unwrap(), Accept::Accepted);
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
                    assert!(
                        replica.complete(&one.lease, &handled(&one)).await.unwrap(),
                        "a fresh lease holds"
                    );
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
    assert_eq!(
        inbox.accept(&warm.into()).await.unwrap(),
        Accept::Accepted,
        "prepares the statement"
    );

    let (locker, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker.batch_execute(&format!("BEGIN; LOCK TABLE {table} IN {mode} MODE")).await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        locker.batch_execute("COMMIT").await.unwrap();
        locker
    });

    let stalled = Arc::new(delivery("stalled"));
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

/// A table made before the delivery records (without `scheme` and
/// `attempt_log`) gets them from `migrate`, its rows kept, and the inbox
/// logs attempts on it from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_adds_the_record_columns_to_an_older_table() {
    let Some(url) = url() else { return };
    let table = unique("hw_older");
    let build = || {
        PostgresInbox::builder(url.clone())
            .table(table.clone())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let earlier = build();
    earlier.migrate().await.unwrap();
    let kept = delivery("evt_older").with_scheme("github");
    assert_eq!(earlier.accept(&kept.into()).await.unwrap(), Accept::Accepted);
    drop(earlier);
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    // The table as the version before the records left it.
    admin
        .batch_execute(&format!("ALTER TABLE {table} DROP COLUMN scheme, DROP COLUMN attempt_log"))
        .await
        .unwrap();

    let inbox = build();
    inbox.migrate().await.expect("migrate an older table");
    inbox.migrate().await.expect("and again: idempotent");
    let record = inbox.get("evt_older").await.unwrap().expect("the row is kept");
    assert_eq!((record.state, record.delivery.scheme()), (State::Pending, None));
    assert!(record.attempt_log.is_empty());
    let leased = inbox.lease(1, LONG).await.unwrap().pop().expect("due");
    let error = failed(&leased, "503 from downstream");
    assert!(inbox.retry(&leased.lease, Duration::ZERO, &error).await.unwrap());
    let record = inbox.get("evt_older").await.unwrap().unwrap();
    assert_eq!(record.attempt_log, [error]);
    let fresh = delivery("evt_fresh").with_scheme("stripe");
    assert_eq!(inbox.accept(&fresh.into()).await.unwrap(), Accept::Accepted);
    let record = inbox.get("evt_fresh").await.unwrap().unwrap();
    assert_eq!(record.delivery.scheme(), Some("stripe"));

    drop(inbox);
    admin.batch_execute(&format!("DROP TABLE IF EXISTS {table}")).await.unwrap();
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

/// A handle on a fresh namespace of the shared table, with a generous
/// timeout (the machine running the suite may be busy).
async fn fresh_inbox(url: &str, what: &str, capacity: usize) -> PostgresInbox {
    let inbox = PostgresInbox::builder(url)
        .namespace(unique(what))
        .capacity(capacity)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    inbox.migrate().await.unwrap();
    inbox
}

/// Accepts every delivery at once (each from its own task, released
/// together); their answers, in order.
async fn accept_at_once(inbox: &PostgresInbox, deliveries: Vec<Delivery>) -> Vec<Accept> {
    let barrier = Arc::new(tokio::sync::Barrier::new(deliveries.len()));
    let mut tasks = JoinSet::new();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let (inbox, barrier) = (inbox.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            (i, inbox.accept(&delivery.into()).await.expect("accept"))
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    answers.sort_unstable_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

/// 200 accepts at once: 180 distinct keys, ten of them sent twice, and
/// ten redeliveries of a key already held. Each key is accepted once, the
/// rest are duplicates, and they took far fewer statements than accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_share_statements_and_each_gets_its_answer() {
    let Some(url) = url() else { return };
    let inbox = fresh_inbox(&url, "burst", 10_000).await;
    assert_eq!(inbox.accept(&delivery("held").into()).await.unwrap(), Accept::Accepted);
    let before = inbox.accept_batches();
    assert_eq!(before, 1);

    let mut deliveries: Vec<Delivery> = (0..180).map(|i| delivery(&format!("k{i}"))).collect();
    // The second copy of a key may carry another event id: the key decides.
    deliveries.extend((0..10).map(|i| {
        Delivery::new(format!("again-{i}"), "ping", "1", Bytes::from_static(b"{}"))
            .with_dedupe_key(format!("k{i}"))
    }));
    deliveries.extend((0..10).map(|_| delivery("held")));
    let answers = accept_at_once(&inbox, deliveries).await;

    let statements = inbox.accept_batches() - before;
    println!("200 concurrent accepts took {statements} statement(s)");
    assert!(statements < 200, "{statements} statements for 200 accepts");
    for i in 0..10 {
        let mut pair = [answers[i], answers[180 + i]];
        pair.sort_unstable_by_key(|a| *a != Accept::Accepted);
        assert_eq!(pair, [Accept::Accepted, Accept::Duplicate], "key k{i}");
    }
    assert!(answers[10..180].iter().all(|a| *a == Accept::Accepted), "{answers:?}");
    assert!(answers[190..].iter().all(|a| *a == Accept::Duplicate), "{answers:?}");

    let stats = inbox.stats().await.unwrap();
    assert_eq!(stats.pending, 181);
    for i in 0..10 {
        // Whichever copy came first is the one kept.
        let first = inbox.get(&format!("k{i}")).await.unwrap();
        let second = inbox.get(&format!("again-{i}")).await.unwrap();
        assert!(first.is_some() != second.is_some(), "k{i} kept exactly once");
    }
}

/// 20 accepts at once into room for 5: exactly 5 are accepted, the others
/// are full, and nothing was written for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_past_the_capacity_fills_it_and_writes_nothing_more() {
    let Some(url) = url() else { return };
    let inbox = fresh_inbox(&url, "burst_full", 5).await;
    let answers =
        accept_at_once(&inbox, (0..20).map(|i| delivery(&format!("f{i}"))).collect()).await;
    let accepted = answers.iter().filter(|a| **a == Accept::Accepted).count();
    assert_eq!(accepted, 5, "{answers:?}");
    assert!(answers.iter().all(|a| matches!(a, Accept::Accepted | Accept::Full)), "{answers:?}");
    assert_eq!(inbox.stats().await.unwrap().pending, 5);
    for (i, answer) in answers.iter().enumerate() {
        let kept = inbox.get(&format!("f{i}")).await.unwrap().is_some();
        assert_eq!(kept, *answer == Accept::Accepted, "f{i}: {answer:?}");
    }
}

/// A delivery the server refuses (a NUL in a text column) among others
/// accepted at once fails alone: the others are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_delivery_fails_only_its_own_accept() {
    let Some(url) = url() else { return };
    let inbox = fresh_inbox(&url, "refused", 10_000).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let (inbox, barrier) = (inbox.clone(), barrier.clone());
        let event_type = if i == 7 { "bad\0type" } else { "ping" };
        let delivery = Delivery::new(format!("r{i}"), event_type, "1", Bytes::from_static(b"{}"));
        tasks.spawn(async move {
            barrier.wait().await;
            (i, inbox.accept(&delivery.into()).await)
        });
    }
    while let Some(answer) = tasks.join_next().await {
        let (i, answer) = answer.unwrap();
        if i == 7 {
            let err = answer.expect_err("the server refuses a NUL in text");
            assert!(!err.to_string().contains(&url), "{err}");
        } else {
            assert_eq!(answer.unwrap(), Accept::Accepted, "r{i}");
        }
    }
    assert_eq!(inbox.stats().await.unwrap().pending, 19);
}

/// Accepts per second: 300 one after the other, then 600 at each of 4, 16
/// and 32 at once (distinct keys, 1 KiB bodies), in a namespace of its own
/// (deleted at the end) of the shared table. A measurement, not a check: `cargo test --release
/// --all-features --test inbox_suite postgres::accept_rate -- --ignored
/// --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement"]
async fn accept_rate() {
    const ONE_BY_ONE: usize = 300;
    const BURST: u64 = 600;
    let Some(url) = url() else { return };
    let namespace = unique("rate");
    let inbox = PostgresInbox::builder(url.clone())
        .namespace(namespace.clone())
        .capacity(100_000)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    inbox.migrate().await.unwrap();
    let body = Bytes::from(vec![b'x'; 1024]);
    let next = Arc::new(AtomicU64::new(0));
    let make = move || {
        let n = next.fetch_add(1, Ordering::Relaxed);
        Delivery::new(format!("rate-{n}"), "ping", "1", body.clone())
    };
    let started = std::time::Instant::now();
    for _ in 0..ONE_BY_ONE {
        assert_eq!(inbox.accept(&make().into()).await.unwrap(), Accept::Accepted);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut statements = inbox.accept_batches();
    println!(
        "one at a time: {ONE_BY_ONE} accepts in {secs:.3} s, {:.0}/s",
        ONE_BY_ONE as f64 / secs
    );
    for concurrency in [4, 16, 32] {
        let left = Arc::new(AtomicU64::new(BURST));
        let started = std::time::Instant::now();
        let mut workers = JoinSet::new();
        for _ in 0..concurrency {
            let (inbox, left, make) = (inbox.clone(), left.clone(), make.clone());
            workers.spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    assert_eq!(inbox.accept(&make().into()).await.unwrap(), Accept::Accepted);
                }
            });
        }
        while let Some(worker) = workers.join_next().await {
            worker.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let these = inbox.accept_batches() - statements;
        statements += these;
        println!(
            "{concurrency} at once: {BURST} accepts in {secs:.3} s, {:.0}/s, {these} statements",
            BURST as f64 / secs
        );
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let deleted = "DELETE FROM hookwarden_inbox WHERE namespace = $1";
    client.execute(deleted, &[&namespace]).await.unwrap();
}
