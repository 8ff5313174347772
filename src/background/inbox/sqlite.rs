//! The SQLite inbox (feature `sqlite`): durable on one node, in one file.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Statement, params};
use tokio::sync::mpsc;

use super::attempt::parse_lines;
use super::{
    Accept, AttemptRecord, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats,
    Lease, Leased, MAX_ATTEMPT_LOG, Page, Record, Replay, State,
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
const SCHEMA_VERSION: i64 = 3;

/// Schema version 2. What a delivery was sent as never changes once it is
/// accepted, and is kept apart from its state, which changes with every
/// lease and outcome: those rewrite a short row, never the body.
///
/// Both tables share `seq`, given by the writer in order of acceptance
/// (the highest ever given is kept in `hookwarden_meta` whenever rows are
/// deleted, so a number is never given twice). A delivery is due
/// (pending, retrying, or leased with its lease running out) at `due_at`,
/// which only the active states have; `done_at` is set only once it is
/// done. Indexes are few, because each costs every write that touches it:
/// the due one leases (and, being the active deliveries only, serves
/// listing and counting them), the done one purges and counts, the dead
/// one lists and counts dead letters, and only on entering or leaving that
/// state; the id one answers `get` and `replay`, written once per delivery.
/// The checks compare the state with `OR`, not `IN (…)`: SQLite builds a
/// temporary table for a list of more than two values, on every write.
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
";

/// From schema version 2 to 3: the delivery records. The scheme that
/// verified a delivery is kept with what it was sent as; its attempt log
/// with its state, which every outcome rewrites anyway: one JSON record a
/// line, oldest first, the last [`MAX_ATTEMPT_LOG`] (a line is added and
/// the first dropped in SQL, without parsing the JSON). Rows written by
/// version 2 have neither (`NULL`). Adding a column rewrites no row, so
/// the step is quick whatever the file holds.
const SCHEMA_V3_STEP: &str = "
ALTER TABLE hookwarden_delivery ADD COLUMN scheme TEXT;
ALTER TABLE hookwarden_state ADD COLUMN attempt_log TEXT;
";

/// The columns [`read_record`] reads, in its order, from the delivery
/// table as `d` joined with the state table as `s`: all but the attempt
/// log, which leasing does not need.
const COLUMNS: &str = "d.seq, d.dedupe_key, d.id, d.event_type, d.version, d.timestamp, \
                       d.received_at, d.client_ip, d.body, s.state, s.attempts, s.last_error, \
                       s.due_at, s.updated_at, d.scheme";
/// [`COLUMNS`] and the attempt log, as [`read_full_record`] reads them.
const RECORD_COLUMNS: &str = "d.seq, d.dedupe_key, d.id, d.event_type, d.version, d.timestamp, \
                              d.received_at, d.client_ip, d.body, s.state, s.attempts, \
                              s.last_error, s.due_at, s.updated_at, d.scheme, s.attempt_log";
/// The attempt log with the record in parameter `?{0}` added as its last
/// line, and its first dropped once it holds [`MAX_ATTEMPT_LOG`].
fn log_with(param: u8) -> String {
    let full = MAX_ATTEMPT_LOG - 1;
    format!(
        "CASE WHEN attempt_log IS NULL OR attempt_log = '' THEN ?{param} \
         WHEN length(attempt_log) - length(replace(attempt_log, char(10), '')) >= {full} \
         THEN substr(attempt_log, instr(attempt_log, char(10)) + 1) || char(10) || ?{param} \
         ELSE attempt_log || char(10) || ?{param} END"
    )
}
/// The two tables joined, for [`COLUMNS`].
const JOINED: &str = "hookwarden_state s JOIN hookwarden_delivery d ON d.seq = s.seq";

/// A durable inbox in one SQLite file (feature `sqlite`): the embedded
/// default for a receiver on one node.
///
/// * The file is in WAL mode with `synchronous=FULL`: a delivery is
///   acknowledged only once its transaction is on disk. Its schema is
///   created when the file is opened (idempotently) and versioned in the
///   file's `user_version`; a file of an older schema is migrated in place
///   (version 2 to 3 adds the delivery records' columns), while a file
///   written by a newer schema, or by the unreleased schema 1, is refused
///   and left as it is.
/// * Each delivery keeps its record: the scheme that verified it, its
///   client address and received time, and its attempt log, written with
///   each outcome in the same statement as the change of state (see
///   [`Record`]).
/// * **Group commit.** Every write (accept, lease, and each change of a
///   delivery's state) goes to one writer thread, which owns the write
///   connection. It takes every write waiting (up to
///   [`max_batch`](SqliteInboxBuilder::max_batch), default 512), runs them
///   in one transaction, commits once, and only then answers each caller.
///   One failing write does not undo the others: the batch is then run
///   again, each write in a savepoint of its own. Under load many
///   acknowledgements share one `fsync`;
///   [`commit_stats`](SqliteInbox::commit_stats) shows how many.
/// * What a delivery was sent as is kept apart from its state, so a lease
///   or an outcome rewrites a short row, not the body; and there are only
///   the indexes that leasing, purging and lookups by key and by id need.
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
/// use std::sync::Arc;
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
/// let delivery = Arc::new(Delivery::new("evt_1", "ping", "1", r#"{}"#.into()));
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

/// One write waiting for the writer thread, with its caller's answer.
type Job = Box<dyn Write>;

/// A write the writer thread runs in its transaction and answers once the
/// transaction's fate is known.
trait Write: Send {
    /// Runs the write and keeps its result; whether it succeeded. May run
    /// again, in a fresh transaction, if the first one was rolled back.
    fn run(&mut self, writer: &mut Writer<'_>) -> bool;

    /// Leaves the caller its answer, given whether the transaction
    /// committed, and returns the waker that tells it so (if it waits).
    fn answer(&mut self, committed: Result<(), InboxError>) -> Option<Waker>;

    /// Has the caller, once it is woken, wake `others` too; gives them
    /// back if it no longer waits.
    fn relay(&self, others: Vec<Waker>) -> Result<(), Vec<Waker>>;
}

/// A [`Write`] made of a closure and the slot its caller waits on.
struct Call<T, F> {
    op: &'static str,
    f: F,
    result: Option<Result<T, InboxError>>,
    slot: Arc<Slot<T>>,
    answered: bool,
}

impl<T, F> Write for Call<T, F>
where
    T: Send,
    F: for<'c> FnMut(&mut Writer<'c>) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, writer: &mut Writer<'_>) -> bool {
        let result = (self.f)(writer).map_err(|e| sql_error(self.op, &e));
        let ran = result.is_ok();
        self.result = Some(result);
        ran
    }

    fn answer(&mut self, committed: Result<(), InboxError>) -> Option<Waker> {
        let answer = match (committed, self.result.take()) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(stopped(self.op)),
            (Err(error), _) => Err(error),
        };
        self.answered = true;
        let mut slot = self.slot.lock();
        slot.answer = Some(answer);
        slot.waker.take()
    }

    fn relay(&self, others: Vec<Waker>) -> Result<(), Vec<Waker>> {
        let mut slot = self.slot.lock();
        if slot.gone {
            return Err(others);
        }
        slot.relay.extend(others);
        Ok(())
    }
}

impl<T, F> Drop for Call<T, F> {
    fn drop(&mut self) {
        // Dropped unanswered: the writer stopped.
        if !self.answered {
            let waker = {
                let mut slot = self.slot.lock();
                slot.answer = Some(Err(stopped(self.op)));
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// Where the writer thread leaves one caller's answer.
///
/// Rather than waking every caller of a batch from its own thread (each
/// wake of a parked runtime thread is a system call, and on a shared core
/// a switch to it), the writer wakes one, which wakes the others as it is
/// polled, or as it is dropped if it stopped waiting.
struct Slot<T>(Mutex<SlotState<T>>);

struct SlotState<T> {
    answer: Option<Result<T, InboxError>>,
    /// The caller's, while it waits.
    waker: Option<Waker>,
    /// Other callers of the batch, to wake once this one is.
    relay: Vec<Waker>,
    /// The caller stopped waiting.
    gone: bool,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self(Mutex::new(SlotState { answer: None, waker: None, relay: Vec::new(), gone: false }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // Nothing panics while holding it; if something did, the state is
        // still whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The caller's side of a [`Slot`]: resolves to the answer.
struct Answer<T>(Arc<Slot<T>>);

impl<T> Future for Answer<T> {
    type Output = Result<T, InboxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (poll, relay) = {
            let mut slot = self.0.lock();
            let relay = std::mem::take(&mut slot.relay);
            let poll = match slot.answer.take() {
                Some(answer) => Poll::Ready(answer),
                None => {
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        slot.waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            };
            (poll, relay)
        };
        relay.into_iter().for_each(Waker::wake);
        poll
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        let relay = {
            let mut slot = self.0.lock();
            slot.gone = true;
            slot.waker = None;
            std::mem::take(&mut slot.relay)
        };
        relay.into_iter().for_each(Waker::wake);
    }
}

/// Answers every write of a batch: leaves each its answer, then wakes one
/// waiting caller, which wakes the others.
fn answer_all(batch: &mut Vec<Job>, committed: &Result<(), InboxError>) {
    let mut leader: Option<(usize, Waker)> = None;
    let mut others = Vec::new();
    for (i, job) in batch.iter_mut().enumerate() {
        if let Some(waker) = job.answer(committed.clone()) {
            if leader.is_none() {
                leader = Some((i, waker));
            } else {
                others.push(waker);
            }
        }
    }
    if let Some((i, waker)) = leader {
        match batch[i].relay(others) {
            Ok(()) => waker.wake(),
            Err(others) => others.into_iter().for_each(Waker::wake),
        }
    }
    batch.clear();
}

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
    /// once that transaction has committed. `f` runs a second time if the
    /// first transaction it ran in had to be rolled back (see
    /// [`Writer::commit`]).
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, InboxError>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&mut Writer<'c>) -> rusqlite::Result<T> + Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let answer = Answer(slot.clone());
        let job: Job = Box::new(Call { op, f, result: None, slot, answered: false });
        let inner = &*self.inner;
        let call = async {
            inner.jobs.send(job).await.map_err(|_| stopped(op))?;
            answer.await
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
    /// mode (`:memory:` cannot), or was written by a newer schema or by
    /// schema 1.
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
        migrate(&mut conn, &path)?;
        let (active, next_seq) = resume(&conn).map_err(|e| sql_error("open", &e))?;

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
            active,
            next_seq,
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
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), InboxError> {
    let fail = |e: rusqlite::Error| sql_error("migrate", &e);
    let tx =
        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(fail)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(fail)?;
    match version {
        // A new file gets version 2, then every step after it, in this
        // transaction: the same schema as a file migrated from version 2.
        0 | 2 => {
            if version == 0 {
                tx.execute_batch(SCHEMA_V2).map_err(fail)?;
            }
            tx.execute_batch(SCHEMA_V3_STEP).map_err(fail)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(fail)?;
        }
        // Later versions migrate step by step from here.
        SCHEMA_VERSION => {}
        // Version 1 was never released: nothing converts it.
        1 => {
            return Err(InboxError::new(format!(
                "sqlite inbox {} has schema version 1, from an unreleased version, which this \
                 version ({SCHEMA_VERSION}) does not read; it was left as it is",
                path.display()
            )));
        }
        newer => {
            return Err(InboxError::new(format!(
                "sqlite inbox schema version {newer} is newer than this version supports \
                 ({SCHEMA_VERSION})"
            )));
        }
    }
    tx.commit().map_err(fail)
}

/// How many active deliveries the file holds, and the sequence number the
/// next accepted delivery gets.
fn resume(conn: &Connection) -> rusqlite::Result<(u64, i64)> {
    let active: i64 = conn.query_row(
        "SELECT COUNT(*) FROM hookwarden_state WHERE due_at IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let last: i64 = conn.query_row(
        "SELECT MAX(IFNULL((SELECT MAX(seq) FROM hookwarden_delivery), 0), \
                    IFNULL((SELECT value FROM hookwarden_meta WHERE name = 'last_seq'), 0))",
        [],
        |r| r.get(0),
    )?;
    Ok((u64::try_from(active).unwrap_or(0), last.saturating_add(1)))
}

/// What the writer thread starts with.
struct Settings {
    active: u64,
    next_seq: i64,
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
        next_seq: settings.next_seq,
        capacity: settings.capacity,
        retain_ms: settings.retain_ms,
    };
    let _ = ready.send(Ok(()));
    let mut batch = Vec::with_capacity(settings.max_batch);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        // On a core shared with the callers (a server on one core), let
        // their threads run first: those just answered queue their next
        // writes, which then share this commit instead of waiting for the
        // next. Elsewhere this returns at once.
        std::thread::yield_now();
        while batch.len() < settings.max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = writer.commit(&mut batch);
        if committed.is_ok() {
            let size = batch.len() as u64;
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.ops.fetch_add(size, Ordering::Relaxed);
            counters.largest.fetch_max(size, Ordering::Relaxed);
        }
        answer_all(&mut batch, &committed);
    }
}

/// The writer thread's state: its statements, prepared once, and what it
/// keeps in memory of the file.
struct Writer<'c> {
    stmts: Statements<'c>,
    /// Pending, leased and retrying deliveries, as of the last write.
    active: u64,
    /// The sequence number of the next accepted delivery.
    next_seq: i64,
    capacity: u64,
    retain_ms: i64,
}

struct Statements<'c> {
    begin: Statement<'c>,
    commit: Statement<'c>,
    rollback: Statement<'c>,
    savepoint: Statement<'c>,
    release: Statement<'c>,
    rollback_to: Statement<'c>,
    find_key: Statement<'c>,
    forget_delivery: Statement<'c>,
    forget_state: Statement<'c>,
    keep_last_seq: Statement<'c>,
    insert_delivery: Statement<'c>,
    insert_state: Statement<'c>,
    due: Statement<'c>,
    take: Statement<'c>,
    /// `take` for a delivery whose lease ran out: logs the lost attempt.
    take_lost: Statement<'c>,
    renew: Statement<'c>,
    complete: Statement<'c>,
    retry: Statement<'c>,
    dead_letter: Statement<'c>,
    abandon: Statement<'c>,
    /// `abandon` of an attempt that had started: logs it.
    abandon_logged: Statement<'c>,
    latest: Statement<'c>,
    replay: Statement<'c>,
    purge_deliveries: Statement<'c>,
    purge_states: Statement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        // Each finishing statement holds the lease as ?1 (key) and ?2 (token).
        const HELD: &str = "WHERE seq = (SELECT seq FROM hookwarden_delivery WHERE dedupe_key = ?1) \
                            AND state = 'leased' AND token = ?2";
        // The done deliveries one purge deletes (?1: completed at or before).
        const PURGED: &str = "SELECT seq FROM hookwarden_state WHERE done_at <= ?1 \
                              ORDER BY done_at LIMIT ?2";
        Ok(Self {
            begin: conn.prepare("BEGIN IMMEDIATE")?,
            commit: conn.prepare("COMMIT")?,
            rollback: conn.prepare("ROLLBACK")?,
            savepoint: conn.prepare("SAVEPOINT hookwarden_op")?,
            release: conn.prepare("RELEASE hookwarden_op")?,
            rollback_to: conn.prepare("ROLLBACK TO hookwarden_op")?,
            find_key: conn.prepare(
                "SELECT d.seq, s.done_at FROM hookwarden_delivery d \
                 JOIN hookwarden_state s ON s.seq = d.seq WHERE d.dedupe_key = ?1",
            )?,
            forget_delivery: conn.prepare("DELETE FROM hookwarden_delivery WHERE seq = ?1")?,
            forget_state: conn.prepare("DELETE FROM hookwarden_state WHERE seq = ?1")?,
            keep_last_seq: conn.prepare(
                "INSERT INTO hookwarden_meta (name, value) VALUES ('last_seq', ?1) \
                 ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
            )?,
            insert_delivery: conn.prepare(
                "INSERT INTO hookwarden_delivery (seq, dedupe_key, id, event_type, version, \
                 timestamp, received_at, client_ip, body, accepted_at, scheme) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )?,
            insert_state: conn.prepare(
                "INSERT INTO hookwarden_state (seq, state, attempts, due_at, updated_at) \
                 VALUES (?1, 'pending', 0, ?2, ?2)",
            )?,
            due: conn.prepare(&format!(
                "SELECT {COLUMNS} FROM {JOINED} WHERE s.due_at <= ?1 \
                 ORDER BY s.due_at, s.seq LIMIT ?2"
            ))?,
            take: conn.prepare(
                "UPDATE hookwarden_state SET state = 'leased', attempts = attempts + 1, \
                 due_at = ?1, token = ?2, updated_at = ?3 WHERE seq = ?4",
            )?,
            take_lost: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'leased', attempts = attempts + 1, \
                 due_at = ?1, token = ?2, updated_at = ?3, attempt_log = {} WHERE seq = ?4",
                log_with(5)
            ))?,
            renew: conn.prepare(&format!(
                "UPDATE hookwarden_state SET due_at = ?3, updated_at = ?4 {HELD}"
            ))?,
            complete: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'done', due_at = NULL, token = NULL, \
                 done_at = ?3, updated_at = ?3, attempt_log = {} {HELD}",
                log_with(4)
            ))?,
            retry: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'retrying', due_at = ?3, token = NULL, \
                 last_error = ?4, updated_at = ?5, attempt_log = {} {HELD}",
                log_with(6)
            ))?,
            dead_letter: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'dead', due_at = NULL, token = NULL, \
                 last_error = ?3, updated_at = ?4, attempt_log = {} {HELD}",
                log_with(5)
            ))?,
            abandon: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'pending', due_at = ?3, token = NULL, \
                 attempts = MAX(attempts - 1, 0), updated_at = ?3 {HELD}"
            ))?,
            abandon_logged: conn.prepare(&format!(
                "UPDATE hookwarden_state SET state = 'pending', due_at = ?3, token = NULL, \
                 attempts = MAX(attempts - 1, 0), updated_at = ?3, attempt_log = {} {HELD}",
                log_with(4)
            ))?,
            latest: conn.prepare(&format!(
                "SELECT s.seq, s.state FROM {JOINED} \
                 WHERE d.id = ?1 AND (s.done_at IS NULL OR s.done_at > ?2) \
                 ORDER BY d.seq DESC LIMIT 1"
            ))?,
            replay: conn.prepare(
                "UPDATE hookwarden_state SET state = 'pending', attempts = 0, due_at = ?1, \
                 token = NULL, updated_at = ?1 WHERE seq = ?2",
            )?,
            purge_deliveries: conn
                .prepare(&format!("DELETE FROM hookwarden_delivery WHERE seq IN ({PURGED})"))?,
            purge_states: conn
                .prepare(&format!("DELETE FROM hookwarden_state WHERE seq IN ({PURGED})"))?,
        })
    }
}

impl Writer<'_> {
    /// Runs a batch of writes in one transaction and commits it; whether
    /// it committed. Each write keeps its own result, to answer once the
    /// commit is known.
    ///
    /// The writes first run one after the other with nothing in between.
    /// Should one fail, it may have done part of its work, so the whole
    /// transaction is rolled back and the batch runs again, each write in
    /// a savepoint of its own: one that fails again is undone alone, and
    /// the others commit. Writes rarely fail (a full disk, a broken file),
    /// so most batches pay for no savepoints.
    fn commit(&mut self, batch: &mut [Job]) -> Result<(), InboxError> {
        let before = (self.active, self.next_seq);
        self.begin()?;
        if batch.iter_mut().all(|job| job.run(self)) {
            return self.end(before);
        }
        self.undo(before);
        self.begin()?;
        for job in batch.iter_mut() {
            if let Err(e) = self.run_alone(job.as_mut()) {
                self.undo(before);
                return Err(e);
            }
        }
        self.end(before)
    }

    fn begin(&mut self) -> Result<(), InboxError> {
        self.stmts.begin.execute([]).map(drop).map_err(|e| sql_error("begin", &e))
    }

    /// Commits, or rolls back if that fails.
    fn end(&mut self, before: (u64, i64)) -> Result<(), InboxError> {
        let committed =
            self.stmts.commit.execute([]).map(drop).map_err(|e| sql_error("commit", &e));
        if committed.is_err() {
            self.undo(before);
        }
        committed
    }

    /// Rolls back the transaction (if it is still open: a failed statement
    /// may have ended it), and what the writer keeps in memory with it.
    fn undo(&mut self, (active, next_seq): (u64, i64)) {
        let _ = self.stmts.rollback.execute([]);
        self.active = active;
        self.next_seq = next_seq;
    }

    /// Runs one write in a savepoint: if it fails, it alone is undone.
    /// Fails only when the transaction cannot go on.
    fn run_alone(&mut self, job: &mut dyn Write) -> Result<(), InboxError> {
        self.stmts.savepoint.execute([]).map_err(|e| sql_error("savepoint", &e))?;
        let before = (self.active, self.next_seq);
        if !job.run(self) {
            (self.active, self.next_seq) = before;
            self.stmts.rollback_to.execute([]).map_err(|e| sql_error("rollback", &e))?;
        }
        self.stmts.release.execute([]).map(drop).map_err(|e| sql_error("savepoint", &e))
    }

    fn accept(&mut self, delivery: &Delivery) -> rusqlite::Result<Accept> {
        let now = now_ms();
        let full = self.active >= self.capacity;
        // Most keys are new: try the insert first, and look at what holds
        // the key only if it is taken (or if full, since a duplicate is
        // answered as such even then).
        if !full && self.insert(delivery, now)? {
            return Ok(Accept::Accepted);
        }
        let held: Option<(i64, Option<i64>)> = self
            .stmts
            .find_key
            .query_row([delivery.dedupe_key()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match held {
            Some((seq, Some(done_at))) if done_at <= forgotten_before(now, self.retain_ms) => {
                if full {
                    return Ok(Accept::Full);
                }
                self.forget(seq)?;
                if self.insert(delivery, now)? {
                    Ok(Accept::Accepted)
                } else {
                    Err(corrupt("a forgotten key is still taken"))
                }
            }
            Some(_) => Ok(Accept::Duplicate),
            None if full => Ok(Accept::Full),
            None => Err(corrupt("a key is taken by a delivery without a state")),
        }
    }

    /// Inserts a new pending delivery; false (and nothing written) if its
    /// key is taken.
    fn insert(&mut self, delivery: &Delivery, now: i64) -> rusqlite::Result<bool> {
        let seq = self.next_seq;
        // The sender's timestamp is kept as its bit pattern.
        let timestamp = delivery.timestamp().map(|t| t as i64);
        let client_ip = delivery.client_ip().map(|ip| ip.to_string());
        let inserted = self.stmts.insert_delivery.execute(params![
            seq,
            delivery.dedupe_key(),
            delivery.id(),
            delivery.event_type(),
            delivery.version(),
            timestamp,
            to_ms(delivery.received_at()),
            client_ip,
            &delivery.body()[..],
            now,
            delivery.scheme(),
        ])?;
        if inserted == 0 {
            return Ok(false);
        }
        self.stmts.insert_state.execute(params![seq, now])?;
        self.next_seq += 1;
        self.active += 1;
        Ok(true)
    }

    /// Deletes one delivery, keeping the highest sequence number given so
    /// far, so that no later delivery gets one given before.
    fn forget(&mut self, seq: i64) -> rusqlite::Result<()> {
        self.stmts.forget_delivery.execute([seq])?;
        self.stmts.forget_state.execute([seq])?;
        self.keep_last_seq()
    }

    fn keep_last_seq(&mut self) -> rusqlite::Result<()> {
        self.stmts.keep_last_seq.execute([self.next_seq - 1]).map(drop)
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
            match record.due_at.filter(|_| record.state == State::Leased) {
                // Its lease ran out before its worker reported.
                Some(ran_out) => {
                    let lost = AttemptRecord::lost(record.attempts, ran_out).to_json();
                    self.stmts.take_lost.execute(params![until, &token[..], now, seq, lost])?
                }
                None => self.stmts.take.execute(params![until, &token[..], now, seq])?,
            };
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

    fn complete(&mut self, lease: &Lease, attempt: &str) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let changed =
            self.stmts.complete.execute(params![lease.key(), &token[..], now_ms(), attempt])?;
        self.active = self.active.saturating_sub(changed as u64);
        Ok(changed == 1)
    }

    fn retry(
        &mut self,
        lease: &Lease,
        delay: Duration,
        attempt: &Logged,
    ) -> rusqlite::Result<bool> {
        let now = now_ms();
        let due = now.saturating_add(whole_millis(delay));
        let token = lease.token().to_be_bytes();
        let (error, line) = (attempt.error.as_deref(), &attempt.line);
        let changed =
            self.stmts.retry.execute(params![lease.key(), &token[..], due, error, now, line])?;
        Ok(changed == 1)
    }

    fn dead_letter(&mut self, lease: &Lease, attempt: &Logged) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let (error, line) = (attempt.error.as_deref(), &attempt.line);
        let changed = self.stmts.dead_letter.execute(params![
            lease.key(),
            &token[..],
            error,
            now_ms(),
            line
        ])?;
        self.active = self.active.saturating_sub(changed as u64);
        Ok(changed == 1)
    }

    fn abandon(&mut self, lease: &Lease, attempt: Option<&str>) -> rusqlite::Result<bool> {
        let token = lease.token().to_be_bytes();
        let changed = match attempt {
            None => self.stmts.abandon.execute(params![lease.key(), &token[..], now_ms()])?,
            Some(line) => self.stmts.abandon_logged.execute(params![
                lease.key(),
                &token[..],
                now_ms(),
                line
            ])?,
        };
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
        // Both pick the same rows: the first leaves the state table alone.
        self.stmts.purge_deliveries.execute(params![before, PURGE_BATCH])?;
        let deleted = self.stmts.purge_states.execute(params![before, PURGE_BATCH])?;
        if deleted > 0 {
            self.keep_last_seq()?;
        }
        Ok(deleted as u64)
    }
}

fn get(conn: &Connection, id: &str, forgotten_before: i64) -> rusqlite::Result<Option<Record>> {
    conn.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM {JOINED} \
         WHERE d.id = ?1 AND (s.done_at IS NULL OR s.done_at > ?2) ORDER BY d.seq DESC LIMIT 1"
    ))?
    .query_row(params![id, forgotten_before], read_full_record)
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
    // Each state is found through what holds it: the active ones through
    // the due index (sorted, but there are at most the capacity of them),
    // dead letters through their own index, done ones in order of the
    // table, where they are most rows. The state is in the text so that
    // the planner can use the partial indexes.
    let (from, state_is) = match state {
        State::Pending | State::Leased | State::Retrying => (
            "hookwarden_state s INDEXED BY hookwarden_state_due \
             JOIN hookwarden_delivery d ON d.seq = s.seq",
            "s.due_at IS NOT NULL AND s.state",
        ),
        State::Dead => (
            "hookwarden_state s INDEXED BY hookwarden_state_dead \
             JOIN hookwarden_delivery d ON d.seq = s.seq",
            "s.state",
        ),
        State::Done => (JOINED, "s.done_at > ?3 AND s.state"),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {RECORD_COLUMNS} FROM {from} WHERE {state_is} = '{}' AND s.seq > ?1 \
         ORDER BY s.seq LIMIT ?2",
        state.as_str()
    ))?;
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let rows = if state == State::Done {
        stmt.query_map(params![after, fetch, forgotten_before], read_full_record)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        stmt.query_map(params![after, fetch], read_full_record)?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut rows = rows;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(|(seq, _)| Cursor::new(seq.to_string())) } else { None };
    Ok(Page::new(rows.into_iter().map(|(_, record)| record).collect(), next))
}

fn stats(conn: &Connection, now: i64, forgotten_before: i64) -> rusqlite::Result<InboxStats> {
    let tx = conn.unchecked_transaction()?;
    let mut stats = InboxStats::default();
    {
        // The active deliveries are those in the due index.
        let mut stmt = tx.prepare(
            "SELECT state, COUNT(*) FROM hookwarden_state INDEXED BY hookwarden_state_due \
             WHERE due_at IS NOT NULL GROUP BY state",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let state = parse_state(row, 0)?;
            let count: i64 = row.get(1)?;
            stats.set(state, u64::try_from(count).unwrap_or(0));
        }
    }
    let dead: i64 = tx
        .prepare("SELECT COUNT(*) FROM hookwarden_state WHERE state = 'dead'")?
        .query_row([], |row| row.get(0))?;
    stats.dead = u64::try_from(dead).unwrap_or(0);
    let done: i64 = tx
        .prepare("SELECT COUNT(*) FROM hookwarden_state WHERE done_at > ?1")?
        .query_row([forgotten_before], |row| row.get(0))?;
    stats.done = u64::try_from(done).unwrap_or(0);
    let oldest: Option<i64> = tx
        .prepare(
            "SELECT d.accepted_at FROM hookwarden_state s INDEXED BY hookwarden_state_due \
             JOIN hookwarden_delivery d ON d.seq = s.seq \
             WHERE s.due_at IS NOT NULL AND s.state = 'pending' ORDER BY s.seq LIMIT 1",
        )?
        .query_row([], |row| row.get(0))
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
    let delivery = match row.get::<_, Option<String>>(14)? {
        Some(scheme) => delivery.with_scheme(scheme),
        None => delivery,
    };
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

/// Reads a row of [`RECORD_COLUMNS`]: its sequence number and the record,
/// with its attempt log.
fn read_full_record(row: &Row<'_>) -> rusqlite::Result<(i64, Record)> {
    let (seq, record) = read_record(row)?;
    let log = match row.get::<_, Option<String>>(15)? {
        None => Vec::new(),
        Some(lines) => parse_lines(&lines)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(15, Type::Text, Box::new(e)))?,
    };
    Ok((seq, record.with_attempt_log(log)))
}

/// A failed attempt as the writer keeps it: its error (the record's
/// `last_error`) and its line of the attempt log.
struct Logged {
    error: Option<String>,
    line: String,
}

impl Logged {
    fn new(attempt: &AttemptRecord) -> Self {
        Self { error: attempt.error().map(str::to_owned), line: attempt.to_json() }
    }
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

/// An error for a file whose tables disagree with each other.
fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some(format!("inconsistent inbox: {what}")),
    )
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
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
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

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, line) = (lease.clone(), attempt.to_json());
        Box::pin(self.write("complete", move |w| w.complete(&lease, &line)))
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, attempt) = (lease.clone(), Logged::new(attempt));
        Box::pin(self.write("retry", move |w| w.retry(&lease, delay, &attempt)))
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, attempt) = (lease.clone(), Logged::new(attempt));
        Box::pin(self.write("dead letter", move |w| w.dead_letter(&lease, &attempt)))
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        let (lease, line) = (lease.clone(), attempt.map(AttemptRecord::to_json));
        Box::pin(self.write("abandon", move |w| w.abandon(&lease, line.as_deref())))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Wakes {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    type Op = fn(&mut Writer<'_>) -> rusqlite::Result<i64>;

    /// A write that ran and returned `value`, and its caller, waiting.
    fn waiting(value: i64) -> (Box<Call<i64, Op>>, Answer<i64>, Arc<Wakes>) {
        let slot = Arc::new(Slot::new());
        let f: Op = |_| Ok(0);
        let call =
            Call { op: "test", f, result: Some(Ok(value)), slot: slot.clone(), answered: false };
        let mut answer = Answer(slot);
        let wakes = Arc::new(Wakes::default());
        assert!(poll(&mut answer, &wakes).is_pending());
        (Box::new(call), answer, wakes)
    }

    fn poll(answer: &mut Answer<i64>, wakes: &Arc<Wakes>) -> Poll<Result<i64, InboxError>> {
        let waker = Waker::from(wakes.clone());
        Pin::new(answer).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_batch_wakes_one_caller_which_wakes_the_others() {
        let (calls, mut answers, wakes): (Vec<_>, Vec<_>, Vec<_>) =
            (0..3).map(waiting).fold((vec![], vec![], vec![]), |mut all, (c, a, w)| {
                all.0.push(c as Job);
                all.1.push(a);
                all.2.push(w);
                all
            });
        let mut batch = calls;
        answer_all(&mut batch, &Ok(()));
        assert!(batch.is_empty());
        let counts: Vec<usize> = wakes.iter().map(|w| w.count()).collect();
        assert_eq!(counts, [1, 0, 0], "only the first is woken by the writer");
        assert!(matches!(poll(&mut answers[0], &wakes[0]), Poll::Ready(Ok(0))));
        let counts: Vec<usize> = wakes.iter().map(|w| w.count()).collect();
        assert_eq!(counts, [1, 1, 1], "it wakes the others");
        assert!(matches!(poll(&mut answers[1], &wakes[1]), Poll::Ready(Ok(1))));
        assert!(matches!(poll(&mut answers[2], &wakes[2]), Poll::Ready(Ok(2))));
    }

    #[test]
    fn a_failed_commit_answers_every_caller_with_its_error() {
        let (first, mut first_answer, first_wakes) = waiting(0);
        let (second, mut second_answer, second_wakes) = waiting(1);
        let mut batch: Vec<Job> = vec![first, second];
        answer_all(&mut batch, &Err(InboxError::new("disk full")));
        assert!(matches!(poll(&mut first_answer, &first_wakes), Poll::Ready(Err(_))));
        assert_eq!(second_wakes.count(), 1);
        assert!(matches!(poll(&mut second_answer, &second_wakes), Poll::Ready(Err(_))));
    }

    #[test]
    fn a_caller_gone_before_the_relay_gives_it_back() {
        let (mut leader, answer, _) = waiting(0);
        // Kept: a write dropped unanswered wakes its caller.
        let (_follower_call, _follower_answer, follower) = waiting(1);
        assert!(leader.answer(Ok(())).is_some());
        drop(answer);
        let others = vec![Waker::from(follower.clone())];
        let back = leader.relay(others).expect_err("the caller is gone");
        assert_eq!(back.len(), 1);
    }

    #[test]
    fn a_caller_dropped_after_the_relay_wakes_the_others() {
        let (mut leader, answer, _) = waiting(0);
        // Kept: a write dropped unanswered wakes its caller.
        let (_follower_call, _follower_answer, follower) = waiting(1);
        assert!(leader.answer(Ok(())).is_some());
        leader.relay(vec![Waker::from(follower.clone())]).expect("the caller waits");
        assert_eq!(follower.count(), 0);
        drop(answer);
        assert_eq!(follower.count(), 1);
    }

    #[test]
    fn a_write_dropped_unanswered_tells_its_caller() {
        let (call, mut answer, wakes) = waiting(0);
        drop(call);
        assert_eq!(wakes.count(), 1);
        let Poll::Ready(Err(error)) = poll(&mut answer, &wakes) else { panic!("no answer") };
        assert!(error.to_string().contains("stopped"), "{error}");
    }
}
