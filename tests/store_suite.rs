//! One behavioural suite, run against every idempotency store.
//!
//! The Redis and PostgreSQL instantiations read `HOOKWARDEN_TEST_REDIS_URL`
//! and `HOOKWARDEN_TEST_POSTGRES_URL` (`.ci/services.sh` starts both servers
//! and exports them); without them, those tests say they were skipped. With
//! them set and the server unreachable, they fail. Every test uses its own
//! namespaces, unique to the run, so reruns and parallel tests never meet.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwarden::store::{Claim, ClaimToken, IdempotencyStore, MemoryStore};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio::time::sleep;

type Store = Arc<dyn IdempotencyStore>;

/// Two handles on one backend, in different namespaces.
struct Stores {
    a: Store,
    b: Store,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Short enough to wait out; long enough that the checks made right after a
/// claim land well within it, on a busy machine too.
const SHORT: Duration = Duration::from_millis(800);
const PAST_SHORT: Duration = Duration::from_millis(1_150);

fn unique(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("suite-{test}-{}-{nanos:x}", std::process::id())
}

/// Claims `key` with a fresh token, which must win.
async fn claimed(store: &Store, key: &str, lease: Duration) -> ClaimToken {
    let token = ClaimToken::random();
    match store.claim(key, &token, lease).await.expect("claim") {
        Claim::Claimed(held) if held == token => token,
        other => panic!("{key}: expected a claim by {token:?}, got {other:?}"),
    }
}

/// Claims `key` with a fresh token.
async fn claim(store: &Store, key: &str) -> Claim {
    store.claim(key, &ClaimToken::random(), MINUTE).await.expect("claim")
}

// ---- the suite ------------------------------------------------------------

async fn claim_complete_release(s: Stores) {
    let store = &s.a;
    let first = claimed(store, "evt_1", MINUTE).await;
    assert_eq!(claim(store, "evt_1").await, Claim::InFlight);

    // Released: claimable again at once, with a new token.
    assert!(store.release("evt_1", &first).await.unwrap());
    assert!(!store.release("evt_1", &first).await.unwrap(), "released twice");
    let second = claimed(store, "evt_1", MINUTE).await;
    assert_ne!(first, second);
    assert!(!store.complete("evt_1", &first, HOUR).await.unwrap(), "old token completed");

    // Completed: done while retained; the token is spent.
    assert!(store.complete("evt_1", &second, HOUR).await.unwrap());
    assert_eq!(claim(store, "evt_1").await, Claim::Done);
    assert!(!store.complete("evt_1", &second, HOUR).await.unwrap(), "completed twice");
    assert!(!store.release("evt_1", &second).await.unwrap(), "released after completion");
    assert_eq!(claim(store, "evt_1").await, Claim::Done);

    // Other keys are untouched.
    let other = claimed(store, "evt_2", MINUTE).await;
    assert!(store.complete("evt_2", &other, HOUR).await.unwrap());
}

async fn token_mismatch(s: Stores) {
    let store = &s.a;
    let token = claimed(store, "evt", MINUTE).await;
    let forged = ClaimToken::random();
    assert!(!store.complete("evt", &forged, HOUR).await.unwrap());
    assert!(!store.release("evt", &forged).await.unwrap());
    assert_eq!(claim(store, "evt").await, Claim::InFlight);

    // A token is good for its own key only.
    let other = claimed(store, "other", MINUTE).await;
    assert!(!store.complete("evt", &other, HOUR).await.unwrap());
    assert!(!store.release("other", &token).await.unwrap());

    // Never-claimed keys: nothing to complete or release.
    assert!(!store.complete("never", &token, HOUR).await.unwrap());
    assert!(!store.release("never", &token).await.unwrap());
    assert!(matches!(claim(store, "never").await, Claim::Claimed(_)));

    assert!(store.complete("evt", &token, HOUR).await.unwrap());
    assert_eq!(claim(store, "evt").await, Claim::Done);
}

async fn lease_expiry(s: Stores) {
    let store = &s.a;
    let stale = claimed(store, "evt", SHORT).await;
    let lapsed = claimed(store, "lapsed", SHORT).await;
    assert_eq!(claim(store, "evt").await, Claim::InFlight);
    sleep(PAST_SHORT).await;

    // The lease ran out: claimable again, and the old token is worthless,
    // whether or not someone claimed the key since.
    let fresh = claimed(store, "evt", MINUTE).await;
    assert_ne!(stale, fresh);
    assert!(!store.complete("evt", &stale, HOUR).await.unwrap(), "stale worker overwrote a claim");
    assert!(!store.release("evt", &stale).await.unwrap(), "stale worker released a claim");
    assert_eq!(claim(store, "evt").await, Claim::InFlight);
    assert!(store.complete("evt", &fresh, HOUR).await.unwrap());
    assert_eq!(claim(store, "evt").await, Claim::Done);

    assert!(!store.complete("lapsed", &lapsed, HOUR).await.unwrap(), "completed after its lease");
    assert!(!store.release("lapsed", &lapsed).await.unwrap(), "released after its lease");
    assert!(matches!(claim(store, "lapsed").await, Claim::Claimed(_)));
}

/// The caller's token: a claim with the token that holds the key is
/// answered `Claimed` again, without a longer lease; and a release that
/// comes before its claim (a claim the server applied late) finds nothing,
/// then a release after it frees the key.
async fn the_callers_token(s: Stores) {
    let store = &s.a;
    let token = ClaimToken::random();
    let again = |lease| store.claim("evt", &token, lease);
    assert_eq!(again(SHORT).await.unwrap(), Claim::Claimed(token.clone()));
    assert_eq!(again(HOUR).await.unwrap(), Claim::Claimed(token.clone()));
    assert_eq!(claim(store, "evt").await, Claim::InFlight);
    sleep(PAST_SHORT).await;
    // The second claim did not extend the first one's lease.
    assert!(!store.release("evt", &token).await.unwrap(), "the lease ran out");
    let fresh = claimed(store, "evt", MINUTE).await;
    assert_eq!(again(MINUTE).await.unwrap(), Claim::InFlight);
    assert!(store.complete("evt", &fresh, HOUR).await.unwrap());
    assert_eq!(store.claim("evt", &fresh, MINUTE).await.unwrap(), Claim::Done);

    let late = ClaimToken::random();
    assert!(!store.release("late", &late).await.unwrap(), "nothing to release yet");
    assert_eq!(store.claim("late", &late, HOUR).await.unwrap(), Claim::Claimed(late.clone()));
    assert!(store.release("late", &late).await.unwrap());
    claimed(store, "late", MINUTE).await;
}

async fn retention_expiry(s: Stores) {
    let store = &s.a;
    let short = claimed(store, "short", MINUTE).await;
    let long = claimed(store, "long", MINUTE).await;
    assert!(store.complete("short", &short, SHORT).await.unwrap());
    assert!(store.complete("long", &long, HOUR).await.unwrap());
    assert_eq!(claim(store, "short").await, Claim::Done);
    sleep(PAST_SHORT).await;

    let again = claimed(store, "short", MINUTE).await;
    assert_eq!(claim(store, "long").await, Claim::Done);
    assert!(store.complete("short", &again, HOUR).await.unwrap());
    assert_eq!(claim(store, "short").await, Claim::Done);
}

async fn namespaces(s: Stores) {
    let in_a = claimed(&s.a, "evt", MINUTE).await;
    // Same key, other namespace, same backend: another key.
    let in_b = claimed(&s.b, "evt", MINUTE).await;
    assert!(!s.b.complete("evt", &in_a, HOUR).await.unwrap(), "a's token worked in b");
    assert!(!s.a.release("evt", &in_b).await.unwrap(), "b's token worked in a");

    assert!(s.a.complete("evt", &in_a, HOUR).await.unwrap());
    assert_eq!(claim(&s.a, "evt").await, Claim::Done);
    assert_eq!(claim(&s.b, "evt").await, Claim::InFlight);
    assert!(s.b.release("evt", &in_b).await.unwrap());
    assert!(matches!(claim(&s.b, "evt").await, Claim::Claimed(_)));
    assert_eq!(claim(&s.a, "evt").await, Claim::Done);
}

async fn any_key(s: Stores) {
    let store = &s.a;
    let long = "x".repeat(64 * 1024);
    let keys = ["", "a", "A", "a ", "évènement/💥", "with:colons:and\nnewlines", long.as_str()];
    for key in keys {
        let token = claimed(store, key, MINUTE).await;
        assert!(store.complete(key, &token, HOUR).await.unwrap(), "{key:.20?}");
    }
    for key in keys {
        assert_eq!(claim(store, key).await, Claim::Done, "{key:.20?}");
    }
    assert!(matches!(claim(store, &format!("{long}y")).await, Claim::Claimed(_)));
}

async fn one_winner_of_1000(s: Stores) {
    const CLAIMS: usize = 1_000;
    let barrier = Arc::new(Barrier::new(CLAIMS));
    let mut tasks = JoinSet::new();
    for _ in 0..CLAIMS {
        let store = s.a.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let token = ClaimToken::random();
            barrier.wait().await;
            store.claim("contended", &token, MINUTE).await
        });
    }
    let (mut winners, mut in_flight) = (Vec::new(), 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task").expect("claim") {
            Claim::Claimed(token) => winners.push(token),
            Claim::InFlight => in_flight += 1,
            Claim::Done => panic!("nobody completed the key"),
        }
    }
    assert_eq!(winners.len(), 1, "winners");
    assert_eq!(in_flight, CLAIMS - 1);
    assert!(s.a.complete("contended", &winners[0], HOUR).await.unwrap());
}

// ---- the backends ---------------------------------------------------------

async fn memory(test: &str) -> Option<Stores> {
    let a = MemoryStore::builder().namespace(unique(test)).max_entries(10_000).build();
    let b = a.with_namespace(unique(&format!("{test}-b")));
    Some(Stores { a: Arc::new(a), b: Arc::new(b) })
}

#[cfg(feature = "redis")]
async fn redis(test: &str) -> Option<Stores> {
    use hookwarden::store::RedisStore;
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_REDIS_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_REDIS_URL not set");
        return None;
    };
    let a = RedisStore::builder(url)
        .namespace(unique(test))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("HOOKWARDEN_TEST_REDIS_URL is set but the server does not answer");
    let b = a.with_namespace(unique(&format!("{test}-b")));
    Some(Stores { a: Arc::new(a), b: Arc::new(b) })
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &str) -> Option<Stores> {
    crate::common::skip("built without the `redis` feature");
    None
}

#[cfg(feature = "postgres")]
async fn postgres(test: &str) -> Option<Stores> {
    use hookwarden::store::PostgresStore;
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return None;
    };
    let a = PostgresStore::builder(url)
        .namespace(unique(test))
        .timeout(Duration::from_secs(10))
        .pool_size(8)
        .build()
        .expect("HOOKWARDEN_TEST_POSTGRES_URL is malformed");
    a.migrate().await.expect("HOOKWARDEN_TEST_POSTGRES_URL is set but the server does not answer");
    let b = a.with_namespace(unique(&format!("{test}-b")));
    Some(Stores { a: Arc::new(a), b: Arc::new(b) })
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_: &str) -> Option<Stores> {
    crate::common::skip("built without the `postgres` feature");
    None
}

/// Every test of the suite, against one backend.
macro_rules! suite {
    ($backend:ident) => {
        mod $backend {
            suite!(@test $backend, claim_complete_release);
            suite!(@test $backend, token_mismatch);
            suite!(@test $backend, the_callers_token);
            suite!(@test $backend, lease_expiry);
            suite!(@test $backend, retention_expiry);
            suite!(@test $backend, namespaces);
            suite!(@test $backend, any_key);
            suite!(@test $backend, one_winner_of_1000);
        }
    };
    (@test $backend:ident, $test:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            if let Some(stores) = super::$backend(stringify!($test)).await {
                super::$test(stores).await;
            }
        }
    };
}

suite!(memory);
suite!(redis);
suite!(postgres);

// ---- beyond the shared suite ------------------------------------------------

/// Neither Debug output nor errors repeat a password from the URL.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_never_shows_the_password() {
    use hookwarden::store::RedisStore;
    let builder =
        RedisStore::builder("redis://:hunter2@127.0.0.1:1/").timeout(Duration::from_millis(500));
    assert!(!format!("{builder:?}").contains("hunter2"));
    let err = builder.connect().await.expect_err("nothing listens on port 1");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = RedisStore::builder("redis://:hunter2@[bad/").connect().await.expect_err("malformed");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// Neither Debug output nor errors repeat a password from the URL.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_never_shows_the_password() {
    use hookwarden::store::PostgresStore;
    let builder = PostgresStore::builder("postgres://app:hunter2@127.0.0.1:1/app")
        .timeout(Duration::from_millis(500));
    assert!(!format!("{builder:?}").contains("hunter2"));
    let store = builder.build().expect("builds without connecting");
    assert!(!format!("{store:?}").contains("hunter2"));
    let err = store
        .claim("evt", &ClaimToken::random(), MINUTE)
        .await
        .expect_err("nothing listens on port 1");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = store.migrate().await.expect_err("nothing listens on port 1");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// `purge_expired` deletes expired rows in bounded batches; their keys are
/// then claimed afresh.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_purges_expired_rows() {
    use hookwarden::store::PostgresStore;
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    // A table of its own: the counts below are not disturbed by other tests.
    let table = "hookwarden_test_purge";
    let namespace = unique("purge");
    let store = PostgresStore::builder(&url)
        .table(table)
        .namespace(namespace.clone())
        .cleanup_interval(None)
        .build()
        .expect("build");
    store.migrate().await.expect("migrate");
    let store: Store = Arc::new(store.clone());
    for i in 0..7 {
        let key = format!("k{i}");
        let token = claimed(&store, &key, MINUTE).await;
        assert!(store.complete(&key, &token, Duration::from_millis(200)).await.unwrap());
    }
    sleep(Duration::from_millis(400)).await;
    // Other runs' expired rows count too: a batch of 3 is full, then
    // bigger batches until none is left.
    let small = PostgresStore::builder(&url).table(table).cleanup_batch(3).build().unwrap();
    assert_eq!(small.purge_expired().await.unwrap(), 3);
    let big = PostgresStore::builder(&url).table(table).cleanup_batch(10_000).build().unwrap();
    // The rows are really gone (an expired row could be claimed again
    // without any purge, so only the table tells).
    let (sql, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let count = |sql: tokio_postgres::Client, namespace: String| async move {
        let query = format!("SELECT count(*) FROM {table} WHERE namespace = $1");
        let row = sql.query_one(&query, &[&namespace]).await.unwrap();
        (sql, row.get::<_, i64>(0))
    };
    let (sql, before) = count(sql, namespace.clone()).await;
    assert!(before > 0, "some of this test's 7 rows are left after the batch of 3");
    while big.purge_expired().await.unwrap() > 0 {}
    let (_, after) = count(sql, namespace).await;
    assert_eq!(after, 0, "every expired row is purged");
    for i in 0..7 {
        assert!(matches!(claim(&store, &format!("k{i}")).await, Claim::Claimed(_)));
    }
}

#[test]
fn postgres_schema_sql_is_available() {
    #[cfg(feature = "postgres")]
    {
        let sql = hookwarden::store::PostgresStore::schema_sql("webhooks.idempotency").unwrap();
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS webhooks.idempotency"), "{sql}");
        assert!(hookwarden::store::PostgresStore::schema_sql("x; DROP TABLE y").is_err());
    }
    #[cfg(not(feature = "postgres"))]
    crate::common::skip("postgres_schema_sql_is_available: built without the `postgres` feature");
}

/// With automatic cleanup on, a completion also deletes expired rows.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_completions_clean_up() {
    use hookwarden::store::PostgresStore;
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        crate::common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    // A table of its own: no other test's cleanup deletes these rows.
    let table = "hookwarden_test_cleanup";
    let namespace = unique("cleanup");
    let quiet = PostgresStore::builder(&url)
        .table(table)
        .namespace(&namespace)
        .cleanup_interval(None)
        .build()
        .expect("build");
    quiet.migrate().await.expect("migrate");
    let cleaning = PostgresStore::builder(&url)
        .table(table)
        .namespace(&namespace)
        .cleanup_interval(Some(Duration::from_millis(1)))
        .cleanup_batch(10_000)
        .build()
        .expect("build");
    let (quiet, cleaning): (Store, Store) = (Arc::new(quiet), Arc::new(cleaning));
    for i in 0..5 {
        let key = format!("k{i}");
        let token = claimed(&quiet, &key, MINUTE).await;
        assert!(quiet.complete(&key, &token, Duration::from_millis(100)).await.unwrap());
    }

    let (sql, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows = async || -> i64 {
        let query = "SELECT count(*) FROM hookwarden_test_cleanup WHERE namespace = $1";
        sql.query_one(query, &[&namespace]).await.unwrap().get(0)
    };
    sleep(Duration::from_millis(300)).await;
    assert_eq!(rows().await, 5, "expired, but nothing cleaned up yet");
    let token = claimed(&cleaning, "trigger", MINUTE).await;
    assert!(cleaning.complete("trigger", &token, HOUR).await.unwrap());
    assert_eq!(rows().await, 1, "only the row still retained is left");
}
