//! The SQLite inbox (feature `sqlite`): durable on one node, in one file.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Statement, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    Accept, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats, Lease, Leased,
    Page, Record, Replay, State,
};
use crate::backend::whole_millis;
use crate::background::event::Delivery;
use crate::future::BoxFuture;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_BATCH: usize = 512;
/// How many writes may wait for the writer, per batch it takes at once.
const QUEUED_BATCHES: usize = 4;
/// The most done deliveries one purge deletes.
const PURGE_BATCH: i64 = 1_000;

/// The schema version this code writes, kept in the file's `user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Schema version 1. A delivery is due (pending, retrying, or leased with
/// its lease running out) at `due_at`, which only the active states have;
/// `done_at` is set only once it is done.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS hookwarden_inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key  TEXT    NOT NULL UNIQUE,
    id          TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    timestamp   INTEGER,
    received_at INTEGER NOT NULL,
    client_ip   TEXT,
    body        BLOB    NOT NULL,
    state       TEXT    NOT NULL
        CHECK (state IN ('pending', 'leased', 'retrying', 'dead', 'done')),
    attempts    INTEGER NOT NULL,
    last_error  TEXT,
    due_at      INTEGER
        CHECK ((due_at IS NOT NULL) = (state IN ('pending', 'leased', 'retrying'))),
    token       BLOB,
    accepted_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    done_at     INTEGER CHECK ((done_at IS NOT NULL) = (state = 'done'))
) STRICT;
CREATE INDEX IF NOT EXISTS hookwarden_inbox_due
    ON hookwarden_inbox (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS hookwarden_inbox_done
    ON hookwarden_inbox (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS hookwarden_inbox_id ON hookwarden_inbox (id);
CREATE INDEX IF NOT EXISTS hookwarden_inbox_state ON hookwarden_inbox (state);
";

/// The columns [`read_record`] reads, in its order.
const COLUMNS: &str = "seq, dedupe_key, id, event_type, version, timestamp, received_at, \
                       client_ip, body, state, attempts, last_error, due_at, updated_at";

/// A durable inbox in one SQLite file (feature `sqlite`): the embedded
/// default for a receiver on one node.
///
/// * The file is in WAL mode with `synchronous=FULL`: a delivery is
///   acknowledged only once its transaction is on disk. Its schema is
///   created when the file is opened (idempotently) and versioned in the
///   file's `user_version`; a file written by a newer schema is refused.
/// * **Group commit.** Every write (accept, lease, and each change of a
///   delivery's state) goes to one writer thread, which owns the write
///   connection. It takes every write waiting (up to
///   [`max_batch`](SqliteInboxBuilder::max_batch), default 512), runs them
///   in one transaction (each in its own savepoint, so one failing write
///   does not undo the others), commits once, and only then answers each
///   caller. Under load many acknowledgements share one `fsync`;
///   [`commit_stats`](SqliteInbox::commit_stats) shows how many.
/// * Reads ([`get`](Inbox::get), [`list`](Inbox::list),
///   [`stats`](Inbox::stats)) use a connection of their own, on tokio's
///   blocking pool, and never wait for the writer.
/// * Opening an existing file carries on where it left off: pending,
///   retrying and dead deliveries are there, and those whose lease ran out
///   while the process was gone are handed out again. Times are this
///   process's wall clock, in milliseconds since the Unix epoch.
/// * The capacity (default 1024) counts pending, leased and retrying
///   deliveries, checked in the same transaction as the insert. Done
///   deliveries are kept, whole, for the retention (default 7 days), then
///   deleted by [`purge`](Inbox::purge), 1,000 at a time.
/// * Every call is bounded by the timeout (default 2 s). A write that
///   times out may still be committed afterwards, as the [`Inbox`] contract
///   allows: an accept that lands late is kept and handled.
///
/// Only one process may use a file at a time. The handle is cheap to
/// clone; when the last clone is dropped, the writer finishes the writes
/// already queued and stops.
///
/// ```
/// use std::time::Duration;
/// use hookwarden::event::Delivery;
/// use hookwarden::inbox::{Accept, Inbox, SqliteInbox};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), hookwarden::inbox::InboxError> {
/// # let dir = std::env::temp_dir().join(format!("hookwarden-doc-sqlite-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("inbox.db");
/// let inbox = SqliteInbox::builder(&path).capacity(10_000).timeout(Duration::from_secs(1)).open()?;
/// let delivery = Delivery::new("evt_1", "ping", "1", r#"{}"#.into());
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Accepted);
/// drop(inbox);
///
/// // After a restart, the file still holds the delivery.
/// let inbox = SqliteInbox::open(&path)?;
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate);
/// let leased = inbox.lease(10, Duration::from_secs(30)).await?;
/// assert_eq!(leased[0].delivery.id(), "evt_1");
/// # drop(inbox);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteInbox {
    inner: Arc<Inner>,
}

/// Configures a [`SqliteInbox`]; from [`SqliteInbox::builder`].
#[derive(Debug, Clone)]
pub struct SqliteInboxBuilder {
    path: PathBuf,
    capacity: usize,
    retain: Duration,
    timeout: Duration,
    max_batch: usize,
}

/// How the writer of a [`SqliteInbox`] has grouped writes into commits,
/// since the inbox was opened; from [`SqliteInbox::commit_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteCommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Writes committed (accepts, leases and state changes), failed ones
    /// included.
    pub ops: u64,
    /// The most writes one transaction held.
    pub largest: u64,
}

impl SqliteCommitStats {
    /// Writes per commit, on average (0 before the first commit).
    pub fn mean(&self) -> f64 {
        if self.commits == 0 { 0.0 } else { self.ops as f64 / self.commits as f64 }
    }
}

struct Inner {
    // Dropped before `_writer`: closing the queue is what stops the writer
    // thread that `_writer` waits for when dropped.
    jobs: mpsc::Sender<Job>,
    _writer: WriterThread,
    reader: Arc<Mutex<Connection>>,
    counters: Arc<Counters>,
    path: PathBuf,
    capacity: usize,
    retain: Duration,
    timeout: Duration,
    max_batch: usize,
}

/// Joins the writer thread when dropped.
struct WriterThread(Option<JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            // A panic on the writer thread has already failed its callers.
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
    largest: AtomicU64,
}

/// One write: runs inside the writer's transaction and returns what to
/// tell its caller once the transaction's fate is known.
type Job = Box<dyn for<'c> FnOnce(&mut Writer<'c>) -> Answer + Send>;
/// Tells a caller its result, given whether the transaction committed.
type Answer = Box<dyn FnOnce(Result<(), InboxError>) + Send>;

impl SqliteInbox {
    /// Opens (or creates) the inbox in the file at `path`, with the default
    /// settings.
    ///
    /// # Errors
    ///
    /// As [`SqliteInboxBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, InboxError> {
        Self::builder(path).open()
    }

    /// Configures an inbox in the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteInboxBuilder {
        SqliteInboxBuilder {
            path: path.as_ref().to_path_buf(),
            capacity: DEFAULT_CAPACITY,
            retain: DEFAULT_RETAIN,
            timeout: DEFAULT_TIMEOUT,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// The file the inbox is kept in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How writes have been grouped into commits so far.
    pub fn commit_stats(&self) -> SqliteCommitStats {
        let counters = &*self.inner.counters;
        SqliteCommitStats {
            commits: counters.commits.load(Ordering::Relaxed),
            ops: counters.ops.load(Ordering::Relaxed),
            largest: counters.largest.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on the writer thread, in the next transaction, and answers
    /// once that transaction has committed.
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, InboxError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&mut Writer<'c>) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |writer: &mut Writer<'_>| {
            let result = writer.run(op, f);
            Box::new(move |committed: Result<(), InboxError>| {
                // The caller may have timed out and gone.
                let _ = reply.send(committed.and(result));
            })
        });
        let inner = &*self.inner;
        let call = async {
            inner.jobs.send(job).await.map_err(|_| stopped(op))?;
            answer.await.map_err(|_| stopped(op))?
        };
        tokio::time::timeout(inner.timeout, call)
            .await
            .unwrap_or_else(|_| Err(timed_out(op, inner.timeout)))
    }

    /// Runs `f` on the read connection, on tokio's blocking pool.
    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, InboxError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = self.inner.reader.clone();
        let task = tokio::task::spawn_blocking(move || {
            // A panic while reading leaves the connection usable.
            let conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn).map_err(|e| sql_error(op, &e))
        });
        match tokio::time::timeout(self.inner.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(InboxError::new(format!("sqlite {op} failed: {join}"))),
            Err(_) => Err(timed_out(op, self.inner.timeout)),
        }
    }

    /// Done deliveries completed at or before this time are forgotten.
    fn forgotten_before(&self) -> i64 {
        forgotten_before(now_ms(), retain_ms(self.inner.retain))
    }
}

impl SqliteInboxBuilder {
    /// How many pending, leased and retrying deliveries it holds (default
    /// 1024, at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long done deliveries are remembered (default 7 days).
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The most time one call may take (default 2 s); also how long the
    /// inbox waits for a lock held by another connection to the file.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most writes committed in one transaction (default 512, at least
    /// 1).
    pub fn max_batch(mut self, writes: usize) -> Self {
        self.max_batch = writes.max(1);
        self
    }

    /// Opens (or creates) the file, creates or checks its schema, and
    /// starts the writer thread. Blocks while it does (briefly: no network).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or written, cannot be put in WAL
    /// mode (`:memory:` cannot), or was written by a newer schema.
    pub fn open(self) -> Result<SqliteInbox, InboxError> {
        let path = self.path;
        let open_error = |e: &rusqlite::Error| {
            InboxError::new(format!("sqlite cannot open {}: {e}", path.display()))
        };
        let mut conn = Connection::open(&path).map_err(|e| open_error(&e))?;
        conn.busy_timeout(self.timeout).map_err(|e| open_error(&e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| open_error(&e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(InboxError::new(format!(
                "sqlite cannot use {} in WAL mode (journal mode {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| open_error(&e))?;
        migrate(&mut conn)?;
        let active: i64 = conn
            .query_row("SELECT COUNT(*) FROM hookwarden_inbox WHERE due_at IS NOT NULL", [], |r| {
                r.get(0)
            })
            .map_err(|e| sql_error("open", &e))?;

        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(&e))?;
        reader.busy_timeout(self.timeout).map_err(|e| open_error(&e))?;

        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel(self.max_batch.saturating_mul(QUEUED_BATCHES));
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        let settings = Settings {
            active: u64::try_from(active).unwrap_or(0),
            capacity: u64::try_from(self.capacity).unwrap_or(u64::MAX),
            retain_ms: retain_ms(self.retain),
            max_batch: self.max_batch,
        };
        let thread = std::thread::Builder::new()
            .name("hookwarden-sqlite-writer".to_owned())
            .spawn({
                let counters = counters.clone();
                move || writer_thread(&conn, queue, settings, &counters, ready_tx)
            })
            .map_err(|e| InboxError::new(format!("sqlite cannot start its writer: {e}")))?;
        let writer = WriterThread(Some(thread));
        ready.recv().unwrap_or_else(|_| Err(stopped("open")))?;

        Ok(SqliteInbox {
            inner: Arc::new(Inner {
                jobs,
                _writer: writer,
                reader: Arc::new(Mutex::new(reader)),
                counters,
                path,
                capacity: self.capacity,
                retain: self.retain,
                timeout: self.timeout,
                max_batch: self.max_batch,
            }),
        })
    }
}

/// Creates the schema in a new file, or checks an existing file's.
fn migrate(conn: &mut Connection) -> Result<(), InboxError> {
    let fail = |e: rusqlite::Error| sql_error("migrate", &e);
    let tx =
        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(fail)?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA_V1).map_err(fail)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(fail)?;
        }
        // Later versions migrate step by step from here.
        SCHEMA_VERSION => {}
        newer => {
            return Err(InboxError::new(format!(
                "sqlite inbox schema version {newer} is newer than this version supports \
                 ({SCHEMA_VERSION})"
            )));
        }
    }
    tx.commit().map_err(fail)
}

/// What the writer thread starts with.
struct Settings {
    active: u64,
    capacity: u64,
    retain_ms: i64,
    max_batch: usize,
}

/// Takes every queued write (up to the batch size), runs them in one
/// transaction, commits, then answers them; until the queue closes.
fn writer_thread(
    conn: &Connection,
    mut queue: mpsc::Receiver<Job>,
    settings: Settings,
    counters: &Counters,
    ready: std::sync::mpsc::SyncSender<Result<(), InboxError>>,
) {
    let stmts = match Statements::prepare(conn) {
        Ok(stmts) => stmts,
        Err(e) => {
            let _ = ready.send(Err(sql_error("open", &e)));
            return;
        }
    };
    let mut writer = Writer {
        stmts,
        active: settings.active,
        capacity: settings.capacity,
        retain_ms: settings.retain_ms,
        failed: None,
    };
    let _ = ready.send(Ok(()));
    let mut batch = Vec::with_capacity(settings.max_batch);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < settings.max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len() as u64;
        let active = writer.active;
        writer.failed = writer.stmts.begin.execute([]).err().map(|e| sql_error("begin", &e));
        let answers: Vec<Answer> = batch.drain(..).map(|job| job(&mut writer)).collect();
        let committed = match writer.failed.take() {
            Some(error) => Err(error),
            None => writer.stmts.commit.execute([]).map(drop).map_err(|e| sql_error("commit", &e)),
        };
        if committed.is_ok() {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.ops.fetch_add(size, Ordering::Relaxed);
            counters.largest.fetch_max(size, Ordering::Relaxed);
        } else {
            // Nothing of the batch was written; the transaction may be
            // open still (a failed commit), or not (a failed begin).
            let _ = writer.stmts.rollback.execute([]);
            writer.active = active;
        }
        for answer in answers {
            answer(committed.clone());
        }
    }
}

/// The writer thread's state: its statements, prepared once, and the
/// cached count of active deliveries.
struct Writer<'c> {
    stmts: Statements<'c>,
    /// Pending, leased and retrying deliveries, as of the last write.
    active: u64,
    capacity: u64,
    retain_ms: i64,
    /// Set when the current transaction can no longer commit.
    failed: Option<InboxError>,
}

struct Statements<'c> {
    begin: Statement<'c>,
    commit: Statement<'c>,
    rollback: Statement<'c>,
    savepoint: Statement<'c>,
    release: Statement<'c>,
    rollback_to: Statement<'c>,
    find_key: Statement<'c>,
    forget_key: Statement<'c>,
    insert: Statement<'c>,
    due: Statement<'c>,
    take: Statement<'c>,
    renew: Statement<'c>,
    complete: Statement<'c>,
    retry: Statement<'c>,
    dead_letter: Statement<'c>,
    abandon: Statement<'c>,
    latest: Statement<'c>,
    replay: Statement<'c>,
    purge: Statement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        // Each finishing statement holds the lease as ?1 (key) and ?2 (token).
        const HELD: &str = "WHERE dedupe_key = ?1 AND state = 'leased' AND token = ?2";
        Ok(Self {
            begin: conn.prepare("BEGIN IMMEDIATE")?,
            commit: conn.prepare("COMMIT")?,
            rollback: conn.prepare("ROLLBACK")?,
            savepoint: conn.prepare("SAVEPOINT hookwarden_op")?,
            release: conn.prepare("RELEASE hookwarden_op")?,
            rollback_to: conn.prepare("ROLLBACK TO hookwarden_op")?,
            find_key: conn.prepare("SELECT done_at FROM hookwarden_inbox WHERE dedupe_key = ?1")?,
            forget_key: conn.prepare("DELETE FROM hookwarden_inbox WHERE dedupe_key = ?1")?,
            insert: conn.prepare(
                "INSERT INTO hookwarden_inbox (dedupe_key, id, event_type, version, timestamp, \
                 received_at, client_ip, body, state, attempts, due_at, accepted_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?9, ?9)",
            )?,
            due: conn.prepare(&format!(
                "SELECT {COLUMNS} FROM hookwarden_inbox WHERE due_at <= ?1 \
                 ORDER BY due_at, seq LIMIT ?2"
            ))?,
            take: conn.prepare(
                "UPDATE hookwarden_inbox SET state = 'leased', attempts = attempts + 1, \
                 due_at = ?1, token = ?2, updated_at = ?3 WHERE seq = ?4",
            )?,
            renew: conn.prepare(&format!(
                "UPDATE hookwarden_inbox SET due_at = ?3, updated_at = ?4 {HELD}"
            ))?,
            complete: conn.prepare(&format!(
                "UPDATE hookwarden_inbox SET state = 'done', due_at = NULL, token = NULL, \
                 done_at = ?3, updated_at = ?3 {HELD}"
            ))?,
            retry: conn.prepare(&format!(
                "UPDATE hookwarden_inbox SET state = 'retrying', due_at = ?3, token = NULL, \
                 last_error = ?4, updated_at = ?5 {HELD}"
            ))?,
            dead_letter: conn.prepare(&format!(
                "UPDATE hookwarden_inbox SET state = 'dead', due_at = NULL, token = NULL, \
                 last_error = ?3, updated_at = ?4 {HELD}"
            ))?,
            abandon: conn.prepare(&format!(
                "UPDATE hookwarden_inbox SET state = 'pending', due_at = ?3, token = NULL, \
                 attempts = MAX(attempts - 1, 0), updated_at = ?3 {HELD}"
            ))?,
            latest: conn.prepare(
                "SELECT seq, state FROM hookwarden_inbox \
                 WHERE id = ?1 AND (done_at IS NULL OR done_at > ?2) ORDER BY seq DESC LIMIT 1",
            )?,
            replay: conn.prepare(
                "UPDATE hookwarden_inbox SET state = 'pending', attempts = 0, due_at = ?1, \
                 token = NULL, updated_at = ?1 WHERE seq = ?2",
            )?,
            purge: conn.prepare(
                "DELETE FROM hookwarden_inbox WHERE seq IN \
                 (SELECT seq FROM hookwarden_inbox WHERE done_at <= ?1 LIMIT ?2)",
            )?,
        })
    }
}

impl Writer<'_> {
    /// Runs one write in a savepoint of the current transaction: if it
    /// fails, it is undone alone and the rest of the batch carries on.
    fn run<T>(
        &mut self,
        op: &'static str,
        f: impl FnOnce(&mut Self) -> rusqlite::Result<T>,
    ) -> Result<T, InboxError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.stmts.savepoint.execute([]).map_err(|e| sql_error(op, &e))?;
        let active = self.active;
        match f(self) {
            Ok(value) => match self.stmts.release.execute([]) {
                Ok(_) => Ok(value),
                Err(e) => Err(self.fail(op, &e)),
            },
            Err(error) => {
                self.active = active;
                let undone = self.stmts.rollback_to.execute([]);
                if let Err(e) = undone.and_then(|_| self.stmts.release.execute([])) {
                    self.fail(op, &e);
                }
                Err(sql_error(op, &error))
            }
        }
    }

    /// Marks the transaction as unable to commit.
    fn fail(&mut self, op: &'static str, error: &rusqlite::Error) -> InboxError {
        let error = sql_error(op, error);
        self.failed = Some(error.clone());
        error
    }

    fn accept(&mut self, delivery: &Delivery) -> rusqlite::Result<Accept> {
        let now = now_ms();
        let key = delivery.dedupe_key();
        let held: Option<Option<i64>> =
            self.stmts.find_key.query_row([key], |row| row.get(0)).optional()?;
        let forgotten = match held {
            None => false,
            Some(Some(done_at)) if done_at <= forgotten_before(now, self.retain_ms) => true,
            Some(_) => return Ok(Accept::Duplicate),
        };
        if self.active >= self.capacity {
            return Ok(Accept::Full);
        }
        if forgotten {
            self.stmts.forget_key.execute([key])?;
        }
        // The sender's timestamp is kept as its bit pattern.
        let timestamp = delivery.timestamp().map(|t| t as i64);
        let client_ip = delivery.client_ip().map(|ip| ip.to_string());
        self.stmts.insert.execute(params![
            key,
            delivery.id(),
            delivery.event_type(),
            delivery.version(),
            timestamp,
            to_ms(delivery.received_at()),
            client_ip,
            &delivery.body()[..],
            now,
        ])?;
        self.active += 1;
        Ok(Accept::Accepted)
    }

    fn lease(&mut self, max: usize, lease_for: Duration) -> rusqlite::Result<Vec<Leased>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let due = self
            .stmts
            .due
            .query_map(params![now, limit], read_record)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let until = now.saturating_add(whole_millis(lease_for));
        let mut leased = Vec::with_capacity(due.len());
        for (seq, record) in due {
            let lease = Lease::random(record.delivery.dedupe_key());
            let token = lease.token().to_be_bytes();
            self.stmts.take.execute(params![until, &token[..], now, seq])?;
            leased.push(Leased {
                delivery: record.delivery,
                attempt: record.attempts.saturating_add(1),
                lease,
            });
        }
        Ok(leased)
    }

    fn renew(&mut self, lease: &Lease, lease_for: Duration) -> rusqlite::Result<bool> {
        let now = now_ms();
        let until = now.saturating_add(whole_millis(lease_for));
        let token = lease.token().to_be_bytes();
        let changed = self.stmts.renew.execute(params![lease.key(), &token[..], until, now])?;
        Ok(changed == 1)
    }

    fn complete(&mut self, lease: &Lease) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let changed = self.stmts.complete.execute(params![lease.key(), &token[..], now_ms()])?;
        self.active = self.active.saturating_sub(changed as u64);
        Ok(changed == 1)
    }

    fn retry(&mut self, lease: &Lease, delay: Duration, error: &str) -> rusqlite::Result<bool> {
        let now = now_ms();
        let due = now.saturating_add(whole_millis(delay));
        let token = lease.token().to_be_bytes();
        let changed =
            self.stmts.retry.execute(params![lease.key(), &token[..], due, error, now])?;
        Ok(changed == 1)
    }

    fn dead_letter(&mut self, lease: &Lease, error: &str) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let changed =
            self.stmts.dead_letter.execute(params![lease.key(), &token[..], error, now_ms()])?;
        self.active = self.active.saturating_sub(changed as u64);
        Ok(changed == 1)
    }

    fn abandon(&mut self, lease: &Lease) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let changed = self.stmts.abandon.execute(params![lease.key(), &token[..], now_ms()])?;
        Ok(changed == 1)
    }

    fn replay(&mut self, id: &str) -> rusqlite::Result<Replay> {
        let now = now_ms();
        let before = forgotten_before(now, self.retain_ms);
        let latest: Option<(i64, String)> = self
            .stmts
            .latest
            .query_row(params![id, before], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match latest {
            None => Ok(Replay::NotFound),
            Some((_, state)) if state != State::Dead.as_str() => Ok(Replay::NotDead),
            Some((seq, _)) => {
                self.stmts.replay.execute(params![now, seq])?;
                self.active += 1;
                Ok(Replay::Replayed)
            }
        }
    }

    fn purge(&mut self) -> rusqlite::Result<u64> {
        let before = forgotten_before(now_ms(), self.retain_ms);
        let deleted = self.stmts.purge.execute(params![before, PURGE_BATCH])?;
        Ok(deleted as u64)
    }
}

fn get(conn: &Connection, id: &str, forgotten_before: i64) -> rusqlite::Result<Option<Record>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS} FROM hookwarden_inbox \
             WHERE id = ?1 AND (done_at IS NULL OR done_at > ?2) ORDER BY seq DESC LIMIT 1"
        ),
        params![id, forgotten_before],
        read_record,
    )
    .optional()
    .map(|found| found.map(|(_, record)| record))
}

fn list(
    conn: &Connection,
    state: State,
    limit: usize,
    after: i64,
    forgotten_before: i64,
) -> rusqlite::Result<Page> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM hookwarden_inbox \
         WHERE state = ?1 AND seq > ?2 AND (done_at IS NULL OR done_at > ?3) \
         ORDER BY seq LIMIT ?4"
    ))?;
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let mut rows = stmt
        .query_map(params![state.as_str(), after, forgotten_before, fetch], read_record)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(|(seq, _)| Cursor::new(seq.to_string())) } else { None };
    Ok(Page::new(rows.into_iter().map(|(_, record)| record).collect(), next))
}

fn stats(conn: &Connection, now: i64, forgotten_before: i64) -> rusqlite::Result<InboxStats> {
    let tx = conn.unchecked_transaction()?;
    let mut stats = InboxStats::default();
    {
        let mut stmt = tx.prepare(
            "SELECT state, COUNT(*) FROM hookwarden_inbox \
             WHERE state IN ('pending', 'leased', 'retrying', 'dead') GROUP BY state",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let state = parse_state(row, 0)?;
            let count: i64 = row.get(1)?;
            stats.set(state, u64::try_from(count).unwrap_or(0));
        }
    }
    let done: i64 = tx.query_row(
        "SELECT COUNT(*) FROM hookwarden_inbox WHERE done_at > ?1",
        [forgotten_before],
        |row| row.get(0),
    )?;
    stats.done = u64::try_from(done).unwrap_or(0);
    let oldest: Option<i64> = tx
        .query_row(
            "SELECT accepted_at FROM hookwarden_inbox WHERE state = 'pending' \
             ORDER BY seq LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    stats.oldest_pending = oldest.map(|accepted| {
        Duration::from_millis(u64::try_from(now.saturating_sub(accepted)).unwrap_or(0))
    });
    tx.finish()?;
    Ok(stats)
}

/// Reads a row of [`COLUMNS`]: its sequence number and the record.
fn read_record(row: &Row<'_>) -> rusqlite::Result<(i64, Record)> {
    let client_ip = row
        .get::<_, Option<String>>(7)?
        .map(|ip| ip.parse::<IpAddr>())
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(7, Type::Text, Box::new(e)))?;
    let timestamp: Option<i64> = row.get(5)?;
    let delivery = Delivery::new(
        row.get::<_, String>(2)?,
        row.get::<_, String>(3)?,
        row.get::<_, String>(4)?,
        Bytes::from(row.get::<_, Vec<u8>>(8)?),
    )
    .with_dedupe_key(row.get::<_, String>(1)?)
    .with_timestamp(timestamp.map(|t| t as u64))
    .with_client_ip(client_ip)
    .with_received_at(from_ms(row.get(6)?));
    let state = parse_state(row, 9)?;
    let attempts = u32::try_from(row.get::<_, i64>(10)?).unwrap_or(0);
    let due_at = row
        .get::<_, Option<i64>>(12)?
        .filter(|_| matches!(state, State::Leased | State::Retrying))
        .map(from_ms);
    let record = Record::new(Arc::new(delivery), state, attempts)
        .with_last_error(row.get(11)?)
        .with_due_at(due_at)
        .with_updated_at(from_ms(row.get(13)?));
    Ok((row.get(0)?, record))
}

fn parse_state(row: &Row<'_>, column: usize) -> rusqlite::Result<State> {
    row.get::<_, String>(column)?
        .parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e)))
}

/// This process's wall clock, in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

fn to_ms(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn from_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    let at =
        if ms >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) };
    at.unwrap_or(UNIX_EPOCH)
}

fn retain_ms(retain: Duration) -> i64 {
    i64::try_from(retain.as_millis()).unwrap_or(i64::MAX)
}

/// Done deliveries completed at or before the returned time are past the
/// retention.
fn forgotten_before(now: i64, retain_ms: i64) -> i64 {
    now.saturating_sub(retain_ms)
}

fn sql_error(op: &str, error: &rusqlite::Error) -> InboxError {
    InboxError::new(format!("sqlite {op} failed: {error}"))
}

fn stopped(op: &str) -> InboxError {
    InboxError::new(format!("sqlite {op} failed: the writer has stopped"))
}

fn timed_out(op: &str, timeout: Duration) -> InboxError {
    InboxError::new(format!("sqlite {op} timed out after {} ms", timeout.as_millis()))
}

impl fmt::Debug for SqliteInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("SqliteInbox")
            .field("path", &inner.path)
            .field("capacity", &inner.capacity)
            .field("retain", &inner.retain)
            .field("timeout", &inner.timeout)
            .field("max_batch", &inner.max_batch)
            .field("commits", &self.commit_stats())
            .finish()
    }
}

impl Inbox for SqliteInbox {
    fn accept<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<Accept, InboxError>> {
        let delivery = delivery.clone();
        Box::pin(self.write("accept", move |w| w.accept(&delivery)))
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        Box::pin(self.write("lease", move |w| w.lease(max, lease_for)))
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let lease = lease.clone();
        Box::pin(self.write("renew", move |w| w.renew(&lease, lease_for)))
    }

    fn complete<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<bool, InboxError>> {
        let lease = lease.clone();
        Box::pin(self.write("complete", move |w| w.complete(&lease)))
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, error) = (lease.clone(), error.to_owned());
        Box::pin(self.write("retry", move |w| w.retry(&lease, delay, &error)))
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, error) = (lease.clone(), error.to_owned());
        Box::pin(self.write("dead letter", move |w| w.dead_letter(&lease, &error)))
    }

    fn abandon<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<bool, InboxError>> {
        let lease = lease.clone();
        Box::pin(self.write("abandon", move |w| w.abandon(&lease)))
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        let id = id.to_owned();
        Box::pin(self.write("replay", move |w| w.replay(&id)))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        let (id, before) = (id.to_owned(), self.forgotten_before());
        Box::pin(self.read("get", move |conn| get(conn, &id, before)))
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        let after = match cursor.map(|c| c.as_str().parse::<i64>()) {
            None => 0,
            Some(Ok(seq)) => seq,
            Some(Err(_)) => {
                return Box::pin(std::future::ready(Err(InboxError::new("malformed cursor"))));
            }
        };
        if limit == 0 {
            return Box::pin(std::future::ready(Ok(Page::default())));
        }
        let before = self.forgotten_before();
        Box::pin(self.read("list", move |conn| list(conn, state, limit, after, before)))
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        let now = now_ms();
        let before = forgotten_before(now, retain_ms(self.inner.retain));
        Box::pin(self.read("stats", move |conn| stats(conn, now, before)))
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        Box::pin(self.write("purge", |w| w.purge()))
    }

    fn is_durable(&self) -> bool {
        true
    }
}
