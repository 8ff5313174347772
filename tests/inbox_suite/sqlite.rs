//! The suite against [`SqliteInbox`], each test in a fresh file of its own
//! (SQLite is embedded: these never skip), and what only a file-backed
//! inbox can show: reopening carries on, writes are committed in groups.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{
    Accept, AttemptOutcome, AttemptRecord, BoxFuture, Cursor, Inbox, InboxError, InboxStats, Lease,
    Leased, Page, Record, Replay, SqliteInbox, State,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::suite::{Make, failed, handled};

const LONG: Duration = Duration::from_secs(3600);

/// A database file in the temporary directory, deleted (with its WAL
/// files) when dropped.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    fn new(test: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("hookwarden-inbox-{test}-{}-{nanos:x}-{n}.db", std::process::id());
        Self(std::env::temp_dir().join(name))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An inbox that deletes its file once closed.
#[derive(Debug)]
struct Owned {
    // Declared first: closed (its writer stopped) before the file goes.
    inbox: SqliteInbox,
    _file: TempFile,
}

fn make() -> Option<Make> {
    Some(Arc::new(|options| {
        Box::pin(async move {
            let file = TempFile::new("suite");
            let inbox = SqliteInbox::builder(file.path())
                .capacity(options.capacity)
                .retain(options.retain)
                .open()
                .expect("open a fresh SQLite inbox");
            Arc::new(Owned { inbox, _file: file }) as Arc<dyn Inbox>
        })
    }))
}

inbox_suite!(make());

impl Inbox for Owned {
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
        self.inbox.accept(delivery)
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        self.inbox.lease(max, lease_for)
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        self.inbox.renew(lease, lease_for)
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        self.inbox.complete(lease, attempt)
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        self.inbox.retry(lease, delay, attempt)
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        self.inbox.dead_letter(lease, attempt)
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        self.inbox.abandon(lease, attempt)
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        self.inbox.replay(id)
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        self.inbox.get(id)
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        self.inbox.list(state, limit, cursor)
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        self.inbox.stats()
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        self.inbox.purge()
    }

    fn is_durable(&self) -> bool {
        self.inbox.is_durable()
    }
}

fn delivery(id: &str) -> Delivery {
    Delivery::new(id, "ping", "1", Bytes::from(format!(r#"{{"id":"{id}"}}"#)))
}

/// Closed and reopened, the file carries on: the pending delivery leases,
/// the one whose lease ran out meanwhile is handed out again, the retry
/// keeps its schedule, the dead letter is listed, every key is still a
/// duplicate, and the capacity counts what the file holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_the_file_carries_on_where_it_left_off() {
    let file = TempFile::new("reopen");
    let lease_for = Duration::from_millis(1500);
    let [leased, retrying, dead, pending] = ["leased", "retrying", "dead", "pending"]
        .map(|name| Arc::new(delivery(&format!("evt_{name}"))));

    let inbox = SqliteInbox::open(file.path()).expect("open");
    for d in [&leased, &retrying, &dead, &pending] {
        assert_eq!(inbox.accept(d).await.unwrap(), Accept::Accepted);
    }
    let held = inbox.lease(3, lease_for).await.unwrap();
    let ids: Vec<&str> = held.iter().map(|l| l.delivery.id()).collect();
    assert_eq!(ids, [leased.id(), retrying.id(), dead.id()], "oldest first");
    let (retried, dead_lettered) =
        (failed(&held[1], "503 from downstream"), failed(&held[2], "payload does not fit"));
    assert!(inbox.retry(&held[1].lease, LONG, &retried).await.unwrap());
    assert!(inbox.dead_letter(&held[2].lease, &dead_lettered).await.unwrap());
    drop(inbox);

    let inbox = SqliteInbox::builder(file.path()).capacity(3).open().expect("reopen");
    let stats = inbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.retrying, stats.dead), (1, 1, 1, 1));
    for d in [&leased, &retrying, &dead, &pending] {
        assert_eq!(inbox.accept(d).await.unwrap(), Accept::Duplicate, "{}", d.id());
    }
    assert_eq!(inbox.accept(&delivery("evt_new").into()).await.unwrap(), Accept::Full, "3 held");

    let first = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(first.len(), 1, "only the pending one is due yet");
    assert_eq!(first[0].delivery.id(), pending.id());
    assert_eq!(first[0].delivery.body(), pending.body());
    assert_eq!(first[0].attempt, 1);
    tokio::time::sleep(lease_for + Duration::from_millis(100)).await;
    let again = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(again.len(), 1, "the lease that ran out, not the retry");
    assert_eq!(again[0].delivery.id(), leased.id());
    assert_eq!(again[0].attempt, 2);
    assert!(
        !inbox.complete(&held[0].lease, &handled(&held[0])).await.unwrap(),
        "the old lease is over"
    );

    let letters = inbox.list(State::Dead, 10, None).await.unwrap().records;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].delivery.id(), dead.id());
    assert_eq!(letters[0].last_error.as_deref(), Some("payload does not fit"));
    assert_eq!(letters[0].attempt_log, [dead_lettered], "the attempt log is kept");
    let retry = inbox.get(retrying.id()).await.unwrap().unwrap();
    assert_eq!((retry.state, retry.attempts), (State::Retrying, 1));
    assert_eq!(retry.last_error.as_deref(), Some("503 from downstream"));
    assert_eq!(retry.attempt_log, [retried]);

    assert!(inbox.complete(&first[0].lease, &handled(&first[0])).await.unwrap());
    assert_eq!(inbox.accept(&delivery("evt_new").into()).await.unwrap(), Accept::Accepted);
}

/// 200 accepts at once are answered after fewer than 200 commits: writes
/// waiting together share a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_are_committed_in_groups() {
    let file = TempFile::new("group");
    let inbox = SqliteInbox::open(file.path()).expect("open");
    let start = inbox.commit_stats();
    const N: usize = 200;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = JoinSet::new();
    for i in 0..N {
        let (inbox, barrier) = (inbox.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            inbox.accept(&delivery(&format!("evt_{i}")).into()).await.expect("accept")
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), Accept::Accepted);
    }
    let end = inbox.commit_stats();
    let (commits, ops) = (end.commits - start.commits, end.ops - start.ops);
    assert_eq!(ops, N as u64, "{end:?}");
    assert!(commits < ops, "{commits} commits for {ops} accepts: {end:?}");
    assert!(end.largest > 1, "{end:?}");
    assert_eq!(inbox.stats().await.unwrap().pending, N as u64);
}

/// The file is in WAL mode, and records its schema version; a file from a
/// newer schema is refused rather than misread.
#[tokio::test]
async fn the_file_is_in_wal_mode_and_versioned() {
    let file = TempFile::new("schema");
    let inbox = SqliteInbox::open(file.path()).expect("open");
    drop(inbox);
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, 3);

    SqliteInbox::open(file.path()).expect("reopening is idempotent");
    conn.pragma_update(None, "user_version", 99).unwrap();
    let error = SqliteInbox::open(file.path()).expect_err("a newer schema");
    assert!(error.to_string().contains("newer"), "{error}");
}

/// The schema of version 2, as that version created it.
const SCHEMA_V2: &str = "
CREATE TABLE hookwarden_delivery (
    seq         INTEGER PRIMARY KEY,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    id          TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    timestamp   INTEGER,
    received_at INTEGER NOT NULL,
    client_ip   TEXT,
    body        BLOB    NOT NULL,
    accepted_at INTEGER NOT NULL
) STRICT;
CREATE INDEX hookwarden_delivery_id ON hookwarden_delivery (id);
CREATE TABLE hookwarden_state (
    seq         INTEGER PRIMARY KEY,
    state       TEXT    NOT NULL CHECK (state = 'pending' OR state = 'leased'
        OR state = 'retrying' OR state = 'dead' OR state = 'done'),
    attempts    INTEGER NOT NULL,
    due_at      INTEGER CHECK ((due_at IS NOT NULL)
        = (state = 'pending' OR state = 'leased' OR state = 'retrying')),
    token       BLOB,
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    done_at     INTEGER CHECK ((done_at IS NOT NULL) = (state = 'done'))
) STRICT;
CREATE INDEX hookwarden_state_due ON hookwarden_state (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX hookwarden_state_done ON hookwarden_state (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX hookwarden_state_dead ON hookwarden_state (seq) WHERE state = 'dead';
CREATE TABLE hookwarden_meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
PRAGMA user_version = 2;
";

/// A file of schema version 2, with a delivery in each state (one leased
/// by a process that died), is migrated in place to version 3 when
/// opened: every delivery is still there with its state, attempts and
/// error, without a scheme or an attempt log; the inbox carries on, and
/// logs what happens from then on, across another restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_file_is_migrated_in_place() {
    let file = TempFile::new("v2");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let past = now - 60_000;
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(SCHEMA_V2).unwrap();
    // (id, state, attempts, last_error); the active ones are due, the
    // leased one's lease having run out a minute ago.
    let rows: [(&str, &str, i64, Option<&str>); 5] = [
        ("evt_pending", "pending", 0, None),
        ("evt_retrying", "retrying", 1, Some("503 from downstream")),
        ("evt_leased", "leased", 1, None),
        ("evt_dead", "dead", 5, Some("gave up")),
        ("evt_done", "done", 1, None),
    ];
    for (seq, (id, state, attempts, last_error)) in (1_i64..).zip(rows) {
        let active = matches!(state, "pending" | "retrying" | "leased");
        let due_at = active.then_some(past);
        let done_at = (state == "done").then_some(now - 1_000);
        conn.execute(
            "INSERT INTO hookwarden_delivery (seq, dedupe_key, id, event_type, version, \
             timestamp, received_at, client_ip, body, accepted_at) \
             VALUES (?1, ?2, ?2, 'ping', '1', NULL, ?3, '192.0.2.1', x'7b7d', ?3)",
            rusqlite::params![seq, id, past],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO hookwarden_state (seq, state, attempts, due_at, token, last_error, \
             updated_at, done_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7)",
            rusqlite::params![seq, state, attempts, due_at, last_error, past, done_at],
        )
        .unwrap();
    }
    drop(conn);

    let inbox = SqliteInbox::open(file.path()).expect("a version 2 file opens");
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, 3, "migrated in place");
    drop(conn);
    let stats = inbox.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.leased, stats.retrying, stats.dead, stats.done),
        (1, 1, 1, 1, 1),
        "{stats:?}"
    );
    for (id, state, attempts, last_error) in rows {
        let record = inbox.get(id).await.unwrap().unwrap_or_else(|| panic!("{id} kept"));
        assert_eq!(record.state.as_str(), state, "{id}");
        assert_eq!(record.attempts, attempts as u32, "{id}");
        assert_eq!(record.last_error.as_deref(), last_error, "{id}");
        assert_eq!(record.delivery.scheme(), None, "{id}");
        assert_eq!(record.delivery.client_ip(), Some("192.0.2.1".parse().unwrap()), "{id}");
        assert!(record.attempt_log.is_empty(), "{id}");
        assert_eq!(inbox.accept(&delivery(id).into()).await.unwrap(), Accept::Duplicate, "{id}");
    }

    let leased = inbox.lease(10, LONG).await.unwrap();
    let ids: Vec<&str> = leased.iter().map(|l| l.delivery.id()).collect();
    assert_eq!(ids, ["evt_pending", "evt_retrying", "evt_leased"]);
    for held in &leased {
        assert!(inbox.complete(&held.lease, &handled(held)).await.unwrap());
    }
    let fresh = delivery("evt_new").with_scheme("github");
    assert_eq!(inbox.accept(&fresh.into()).await.unwrap(), Accept::Accepted);
    let held = inbox.lease(1, LONG).await.unwrap().pop().unwrap();
    let error = AttemptRecord::new(1, AttemptOutcome::Failed, Duration::from_millis(7))
        .with_error("500 from downstream");
    assert!(inbox.dead_letter(&held.lease, &error).await.unwrap());
    drop(inbox);

    let inbox = SqliteInbox::open(file.path()).expect("reopen");
    let log = inbox.get("evt_leased").await.unwrap().unwrap().attempt_log;
    let outcomes: Vec<(u32, AttemptOutcome)> =
        log.iter().map(|a| (a.attempt(), a.outcome())).collect();
    assert_eq!(outcomes, [(1, AttemptOutcome::Lost), (2, AttemptOutcome::Handled)]);
    assert_eq!(log[0].finished_at(), UNIX_EPOCH + Duration::from_millis(past as u64));
    let log = inbox.get("evt_retrying").await.unwrap().unwrap().attempt_log;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempt(), log[0].outcome()), (2, AttemptOutcome::Handled));
    let record = inbox.get("evt_new").await.unwrap().unwrap();
    assert_eq!(record.delivery.scheme(), Some("github"));
    assert_eq!(record.attempt_log, [error]);
    assert_eq!(record.last_error.as_deref(), Some("500 from downstream"));
}

/// A file of schema version 1 (never released, laid out differently) is
/// refused, and left as it was.
#[tokio::test]
async fn a_version_1_file_is_refused_and_left_alone() {
    let file = TempFile::new("v1");
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE hookwarden_inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
         dedupe_key TEXT NOT NULL UNIQUE, body BLOB NOT NULL) STRICT; \
         INSERT INTO hookwarden_inbox (dedupe_key, body) VALUES ('evt_1', x'00ff'); \
         PRAGMA user_version = 1;",
    )
    .unwrap();

    let error = SqliteInbox::open(file.path()).expect_err("version 1");
    let message = error.to_string();
    assert!(message.contains("version 1"), "{message}");
    assert!(message.contains(&file.path().display().to_string()), "{message}");

    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, 1);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'hookwarden%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["hookwarden_inbox"]);
    let body: Vec<u8> = conn
        .query_row("SELECT body FROM hookwarden_inbox WHERE dedupe_key = 'evt_1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, [0x00, 0xff]);
}

/// `:memory:` cannot be durable, so it is refused.
#[test]
fn an_in_memory_database_is_refused() {
    let error = SqliteInbox::open(":memory:").expect_err("no WAL in memory");
    assert!(error.to_string().contains("WAL"), "{error}");
}

/// A write that fails does not fail the writes committed with it: here an
/// accept meets a key whose state row was deleted behind the inbox's back
/// (so the accept fails), among accepts of new keys, all at once. The
/// others are committed, and the inbox carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_fails_alone() {
    let file = TempFile::new("fails-alone");
    let inbox = SqliteInbox::open(file.path()).expect("open");
    let broken = delivery("evt_broken");
    assert_eq!(inbox.accept(&broken.clone().into()).await.unwrap(), Accept::Accepted);
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    conn.busy_timeout(Duration::from_secs(2)).unwrap();
    let deleted = conn
        .execute(
            "DELETE FROM hookwarden_state WHERE seq = \
             (SELECT seq FROM hookwarden_delivery WHERE dedupe_key = 'evt_broken')",
            [],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    drop(conn);

    const N: usize = 40;
    let barrier = Arc::new(Barrier::new(N + 1));
    let mut tasks = JoinSet::new();
    for i in 0..=N {
        let (inbox, barrier) = (inbox.clone(), barrier.clone());
        let d = Arc::new(if i == N { broken.clone() } else { delivery(&format!("evt_{i}")) });
        tasks.spawn(async move {
            barrier.wait().await;
            (d.id().to_owned(), inbox.accept(&d).await)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (id, outcome) = joined.unwrap();
        if id == "evt_broken" {
            let error = outcome.expect_err("the broken key");
            assert!(error.to_string().contains("inconsistent"), "{error}");
        } else {
            assert_eq!(outcome.unwrap(), Accept::Accepted, "{id}");
        }
    }
    assert_eq!(inbox.stats().await.unwrap().pending, N as u64);
    drop(inbox);

    let inbox = SqliteInbox::open(file.path()).expect("reopen");
    assert_eq!(inbox.stats().await.unwrap().pending, N as u64, "they were committed");
    assert_eq!(inbox.accept(&delivery("evt_after").into()).await.unwrap(), Accept::Accepted);
    let leased = inbox.lease(100, LONG).await.unwrap();
    assert_eq!(leased.len(), N + 1);
}

/// A done key past the retention is new again even before a purge; and
/// sequence numbers are never given twice, even once purged and reopened:
/// a cursor taken before still pages on to what came after.
#[tokio::test]
async fn forgotten_keys_are_new_and_cursors_outlive_a_purge() {
    let file = TempFile::new("forget");
    let retain = Duration::from_millis(300);
    let open = || SqliteInbox::builder(file.path()).retain(retain).open().expect("open");

    let inbox = open();
    let again = Arc::new(delivery("evt_again"));
    assert_eq!(inbox.accept(&again).await.unwrap(), Accept::Accepted);
    let leased = inbox.lease(1, LONG).await.unwrap();
    assert!(inbox.complete(&leased[0].lease, &handled(&leased[0])).await.unwrap());
    assert_eq!(inbox.accept(&again).await.unwrap(), Accept::Duplicate);
    tokio::time::sleep(retain + Duration::from_millis(100)).await;
    assert_eq!(inbox.accept(&again).await.unwrap(), Accept::Accepted, "forgotten, not purged");
    let record = inbox.get(again.id()).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (State::Pending, 0));
    let leased = inbox.lease(10, LONG).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].attempt, 1);
    assert!(inbox.complete(&leased[0].lease, &handled(&leased[0])).await.unwrap());

    for id in ["evt_a", "evt_b"] {
        assert_eq!(inbox.accept(&delivery(id).into()).await.unwrap(), Accept::Accepted);
    }
    for held in inbox.lease(10, LONG).await.unwrap() {
        assert!(inbox.complete(&held.lease, &handled(&held)).await.unwrap());
    }
    let page = inbox.list(State::Done, 2, None).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.delivery.id()).collect();
    assert_eq!(ids, ["evt_again", "evt_a"]);
    let cursor = page.next.expect("one more");
    tokio::time::sleep(retain + Duration::from_millis(100)).await;
    assert_eq!(inbox.purge().await.unwrap(), 3);
    drop(inbox);

    let inbox = open();
    assert_eq!(inbox.accept(&delivery("evt_later").into()).await.unwrap(), Accept::Accepted);
    let page = inbox.list(State::Pending, 10, Some(&cursor)).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.delivery.id()).collect();
    assert_eq!(ids, ["evt_later"]);
}

/// Callers that stop waiting (their call timed out, or was dropped) while
/// their write is in a batch do not keep the others of the batch from
/// their answers: each batch wakes one caller, which wakes the rest, or
/// hands that on as it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_that_stop_waiting_do_not_hold_up_the_others() {
    let file = TempFile::new("gone");
    let inbox = SqliteInbox::open(file.path()).expect("open");
    for round in 0..20 {
        const N: usize = 40;
        let barrier = Arc::new(Barrier::new(N));
        let mut tasks = JoinSet::new();
        for i in 0..N {
            let (inbox, barrier) = (inbox.clone(), barrier.clone());
            tasks.spawn(async move {
                let d = delivery(&format!("evt_{round}_{i}"));
                barrier.wait().await;
                if i % 2 == 0 {
                    // Gives up at once, or soon: often while in a batch.
                    let patience = Duration::from_micros(50 * (i as u64 % 7));
                    let _ = tokio::time::timeout(patience, inbox.accept(&d.into())).await;
                    None
                } else {
                    Some(inbox.accept(&d.into()).await)
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Some(outcome) = joined.unwrap() {
                assert_eq!(outcome.unwrap(), Accept::Accepted, "round {round}");
            }
        }
    }
    assert!(inbox.commit_stats().largest > 1);
}
