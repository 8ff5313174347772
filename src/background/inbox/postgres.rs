//! The PostgreSQL inbox (feature `postgres`).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::attempt::parse_array;
use super::{
    Accept, AttemptRecord, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats,
    Lease, Leased, MAX_ATTEMPT_LOG, Page, Record, Replay, State,
};
use crate::backend::postgres::{
    DEFAULT_NAMESPACE, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, Source, bounded, check_table, client,
    column, lazy_pool_from_url, migrate_under_lock, pg_error, pool_from_url_with, prepare,
};
use crate::backend::{key_digest, whole_millis};
use crate::background::event::Delivery;
use crate::error::ConfigError;
use crate::future::BoxFuture;
use crate::random::random_u128;

const DEFAULT_TABLE: &str = "hookwarden_inbox";
/// The most deliveries one [`Inbox::lease`] hands out.
const MAX_LEASE: usize = 1_000;
/// The most done rows one purge statement deletes.
const PURGE_BATCH: i64 = 1_000;
/// The most purge statements one [`Inbox::purge`] runs.
const MAX_PURGE_BATCHES: u32 = 10;
/// The most deliveries one accept statement keeps.
const MAX_ACCEPT_BATCH: usize = 256;

/// The columns that make up a [`Delivery`], in the order
/// [`PostgresInbox::delivery`] reads them.
const DELIVERY_COLUMNS: [&str; 9] = [
    "id",
    "dedupe_key",
    "event_type",
    "version",
    "sent_at",
    "received_at",
    "client_ip",
    "body",
    "scheme",
];

/// A durable inbox in PostgreSQL (feature `postgres`), shared by every
/// replica that uses the same database, table and namespace.
///
/// * One table (default `hookwarden_inbox`) holds every delivery as a row
///   with its state. It is created by an explicit
///   [`migrate`](PostgresInbox::migrate): run it once at start-up (it is
///   idempotent, and safe to run from several replicas at once), or apply
///   [`PostgresInbox::schema_sql`] with your own migration tool. Run on a
///   table made by an earlier version, it adds the delivery records'
///   columns (`scheme`, and `attempt_log`, a `jsonb` array of the last
///   attempts), without rewriting a row.
/// * Each outcome adds its attempt to the row's log in the same statement
///   that changes its state; a lease that finds a row whose lease ran out
///   logs that attempt as lost. Nothing of the log is written on accept.
/// * Accepts are committed in groups. The accepts made through one handle
///   (and its clones) while the previous group is being written are
///   gathered by a task (started by the first accept, on its runtime), up
///   to 256, and kept by one statement in one transaction, whose commit
///   waits for the disk; each accept answers once that commit is done. One
///   disk flush and one statement thus serve every accept of a group
///   ([`accept_batches`](PostgresInbox::accept_batches) counts the
///   statements). An accept alone is a group of one.
/// * The statement is an `INSERT … ON CONFLICT` on the namespace and each
///   dedupe key's digest, guarded by the capacity (a count of the
///   namespace's pending, leased and retrying rows, which a partial index
///   keeps cheap), that also says, for each delivery, why it was not
///   inserted: its key is held (duplicate; also for a second delivery with
///   the key of an earlier one in the group) or the inbox is full (nothing
///   was written for it). A done row past the retention is taken over by
///   the next delivery with its key. Rows are written in the order of
///   their keys' digests, so that two statements never wait for each
///   other's rows in a circle: the deliveries of one group, accepted
///   concurrently, are listed and leased in that order among themselves.
/// * Counting costs up to `capacity` index entries, so a group counts
///   (once) only when this handle's last count is older than a second or
///   its estimate (that count, plus what this handle accepted and finished
///   since), with the group added, is past three quarters of the capacity;
///   other groups insert unchecked. A group that counts inserts as many of
///   its deliveries as there is room for, in the order they came; the rest
///   are full. The capacity is therefore a soft limit: other replicas,
///   other handles on the namespace, and replays may overshoot it within
///   that second.
/// * [`lease`](Inbox::lease) takes the oldest due rows with
///   `FOR UPDATE SKIP LOCKED`, so replicas leasing at once never get the
///   same delivery; a leased row's due time is its lease's expiry, after
///   which it is handed out again.
/// * Every time is the database server's (`now()`), never this host's.
/// * Done rows are kept, with their completion time, for the retention
///   (default 7 days); [`purge`](Inbox::purge) deletes those past it in
///   batches of 1,000 (at most 10 batches a call), skipping rows another
///   purge holds. [`stats`](Inbox::stats) counts the done rows within
///   the retention.
/// * Connections come from a [`deadpool_postgres`] pool (default 16), and
///   every call is bounded by the inbox's timeout (default 2 s), waiting
///   for a connection included. A call cut off by the timeout answers an
///   error, and its statement may still complete on the server: an accept
///   that timed out has either kept the delivery (its group's statement
///   did) or written nothing (an accept whose caller stopped waiting
///   before its group was written is left out of it). A group's
///   statement is bounded by the timeout too.
/// * Should a group's statement fail while its connection stays up (the
///   server refused one of its deliveries, say), each of its deliveries is
///   tried again alone, so that a delivery the server refuses fails only
///   its own accept; any other failure (no connection, the timeout) is
///   every accept of the group's answer.
/// * Built from a URL, the pool sets the server's `statement_timeout` to
///   the inbox's timeout plus 1 s (unless the URL's `options` set one), so
///   a statement whose call timed out (say an accept queued behind a table
///   lock) is cancelled by the server instead of landing later; `migrate`
///   lifts it for its own transaction.
/// * Built from a URL, the inbox keeps a second pool (of the same size)
///   whose commits do not wait for the WAL to reach the disk
///   (`synchronous_commit=off`), for leases, renewals, outcomes (complete,
///   retry, dead letter, hand-back) and purges. An accept always waits for
///   the disk: the 202 means kept. What a server crash can lose is at most
///   the last fraction of a second of those other writes, each of which is
///   then redone: a lost lease or outcome leaves the delivery to be handed
///   out again, so a handler may run twice after a crash of the database
///   server, as after a crash of the receiver. This leaves the disk
///   flushes to the accepts (one a group) instead of three a delivery.
/// * Built from a URL, the first pool also has the server plan each
///   statement once per connection (`plan_cache_mode=force_generic_plan`):
///   otherwise it would plan the accept statement again for every group
///   (its plan does not depend on the group's size, but the server cannot
///   tell), which costs about as much as running it.
/// * A pool you pass with `builder_with_pool` is used for all of it, with
///   its own settings.
///
/// Built from a URL, the inbox connects without TLS (loopback or a private
/// network); for TLS, build a pool with your connector and use
/// [`builder_with_pool`](PostgresInbox::builder_with_pool) (and set a
/// `statement_timeout` in its configuration if you want the same). The
/// dispatcher polls the inbox and is woken at once by the accepts of its
/// own process; another replica's accepts are seen at its next poll.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hookwarden::event::Delivery;
/// use hookwarden::inbox::{Accept, Inbox, PostgresInbox};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = PostgresInbox::builder("postgres://app@127.0.0.1/app")
///     .namespace("orders")
///     .capacity(10_000)
///     .timeout(Duration::from_secs(1))
///     .build()?;
/// inbox.migrate().await?;
///
/// let delivery = Arc::new(Delivery::new("evt_1", "ping", "1", r#"{}"#.into()));
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Accepted);
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresInbox {
    pool: Pool,
    /// For leases and outcomes: commits that do not wait for the disk
    /// (the same pool when the user gave one).
    lazy: Pool,
    namespace: Arc<str>,
    sql: Arc<Sql>,
    capacity: i64,
    retain_ms: i64,
    timeout: Duration,
    active: Arc<ActiveEstimate>,
    accepts: Arc<AcceptQueue>,
}

/// The way from a handle (and its clones) to the task that runs its
/// accepts in groups.
#[derive(Default)]
struct AcceptQueue {
    /// `None` until the first accept, and closed once the task stopped
    /// (when the runtime it ran on shut down).
    sender: Mutex<Option<mpsc::Sender<AcceptJob>>>,
    /// Accept statements run.
    batches: Arc<AtomicU64>,
}

/// One delivery to accept, and where its answer goes.
struct AcceptJob {
    delivery: Arc<Delivery>,
    answer: oneshot::Sender<Result<Accept, String>>,
}

/// The task that runs a handle's accepts in groups: what it needs of the
/// handle. Holding no sender of its queue, it stops once every handle
/// (and clone) is dropped.
struct AcceptBatcher {
    pool: Pool,
    namespace: Arc<str>,
    sql: Arc<Sql>,
    capacity: i64,
    retain_ms: i64,
    timeout: Duration,
    active: Arc<ActiveEstimate>,
    batches: Arc<AtomicU64>,
}

/// Why an accept statement failed.
enum Failure {
    /// The server refused it, or one of its deliveries: each may be tried
    /// alone.
    Refused(String),
    /// Anything else (no connection, the timeout).
    Failed(String),
}

/// This handle's estimate of the namespace's pending, leased and retrying
/// rows: the last count, plus what it accepted and finished since.
#[derive(Debug)]
struct ActiveEstimate {
    rows: AtomicI64,
    epoch: std::time::Instant,
    /// When the last count was taken, in ms since `epoch`; `u64::MAX`
    /// before the first.
    counted_ms: AtomicU64,
}

impl ActiveEstimate {
    const RECOUNT_MS: u64 = 1_000;

    fn new() -> Self {
        Self {
            rows: AtomicI64::new(0),
            epoch: std::time::Instant::now(),
            counted_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Whether a group of `adding` accepts must count the rows exactly.
    fn must_count(&self, capacity: i64, adding: usize) -> bool {
        let counted = self.counted_ms.load(Ordering::Relaxed);
        let adding = i64::try_from(adding).unwrap_or(i64::MAX);
        counted == u64::MAX
            || self.now_ms().saturating_sub(counted) >= Self::RECOUNT_MS
            || self.rows.load(Ordering::Relaxed).saturating_add(adding) >= capacity - capacity / 4
    }

    fn counted(&self, rows: i64) {
        self.rows.store(rows, Ordering::Relaxed);
        self.counted_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    fn add(&self, rows: i64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

/// Configures a [`PostgresInbox`]; from [`PostgresInbox::builder`] or
/// [`PostgresInbox::builder_with_pool`].
pub struct PostgresInboxBuilder {
    source: Source,
    namespace: String,
    table: String,
    capacity: usize,
    retain: Duration,
    timeout: Duration,
    pool_size: usize,
}

/// The statements, for one table.
struct Sql {
    table: String,
    schema: String,
    accept: String,
    lease: String,
    renew: String,
    complete: String,
    retry: String,
    dead_letter: String,
    abandon: String,
    replay: String,
    get: String,
    list: String,
    stats: String,
    purge: String,
}

impl PostgresInbox {
    /// Configures an inbox that connects to `url`
    /// (`postgres://user[:password]@host[:port]/db`, or a `key=value`
    /// connection string), without TLS.
    pub fn builder(url: impl Into<String>) -> PostgresInboxBuilder {
        PostgresInboxBuilder::new(Source::Url(url.into()))
    }

    /// Configures an inbox over a pool you built (for TLS, or to share a
    /// pool with the rest of your application).
    pub fn builder_with_pool(pool: Pool) -> PostgresInboxBuilder {
        PostgresInboxBuilder::new(Source::Pool(pool))
    }

    /// The SQL that [`migrate`](Self::migrate) runs for `table`, for users
    /// who manage their schema with their own tool.
    ///
    /// # Errors
    ///
    /// When `table` is not a valid table name (see
    /// [`table`](PostgresInboxBuilder::table)).
    pub fn schema_sql(table: &str) -> Result<String, ConfigError> {
        Ok(Sql::new(table)?.schema)
    }

    /// Creates the inbox's table and indexes if they do not exist, and adds
    /// the columns a table made by an earlier version lacks.
    ///
    /// Idempotent; concurrent runs (several replicas starting at once) are
    /// serialised by an advisory lock. Not bounded by the inbox's timeout,
    /// since it may wait for that lock, but getting a connection is.
    pub async fn migrate(&self) -> Result<(), InboxError> {
        let mut client = bounded(self.timeout, "migrate", client(&self.pool, "migrate"))
            .await
            .map_err(InboxError::new)?;
        migrate_under_lock(&mut client, &self.sql.table, &self.sql.schema)
            .await
            .map_err(InboxError::new)
    }

    /// A handle on the same pool and table under another namespace, with
    /// the same capacity, retention and timeout.
    pub fn with_namespace(&self, namespace: impl AsRef<str>) -> Self {
        Self {
            namespace: namespace.as_ref().into(),
            active: Arc::new(ActiveEstimate::new()),
            accepts: Arc::default(),
            ..self.clone()
        }
    }

    /// This handle's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// How many accept statements this handle (with its clones) has run,
    /// each for a group of concurrent accepts: under load, far fewer than
    /// the accepts.
    pub fn accept_batches(&self) -> u64 {
        self.accepts.batches.load(Ordering::Relaxed)
    }

    /// The queue to this handle's accept task, started on first use (and
    /// again if the runtime it ran on has shut down).
    fn accept_queue(&self) -> mpsc::Sender<AcceptJob> {
        let mut sender = self.accepts.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = sender.as_ref().filter(|sender| !sender.is_closed()) {
            return sender.clone();
        }
        let (jobs, queue) = mpsc::channel(MAX_ACCEPT_BATCH * 4);
        let batcher = AcceptBatcher {
            pool: self.pool.clone(),
            namespace: self.namespace.clone(),
            sql: self.sql.clone(),
            capacity: self.capacity,
            retain_ms: self.retain_ms,
            timeout: self.timeout,
            active: self.active.clone(),
            batches: self.accepts.batches.clone(),
        };
        tokio::spawn(batcher.run(queue));
        *sender = Some(jobs.clone());
        jobs
    }

    /// Runs `fut` (operation `op`) within the timeout.
    async fn call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, InboxError> {
        bounded(self.timeout, op, fut).await.map_err(InboxError::new)
    }

    /// Runs `sql` with `params` on a connection from `pool`.
    async fn query(
        pool: &Pool,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, String> {
        let client = client(pool, op).await?;
        let statement = prepare(&client, op, sql).await?;
        client.query(&statement, params).await.map_err(|e| pg_error(op, &e))
    }

    /// Runs one of the statements that act only for the holder of `lease`
    /// (the namespace, the key's digest and the token are its first three
    /// parameters, `extra` follow); answers whether it acted.
    async fn finish(
        &self,
        op: &'static str,
        sql: &str,
        lease: &Lease,
        extra: &[&(dyn ToSql + Sync)],
    ) -> Result<bool, InboxError> {
        let digest = key_digest(lease.key());
        let token = lease.token().to_be_bytes();
        let (namespace, digest, token): (&str, &[u8], &[u8]) = (&self.namespace, &digest, &token);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&namespace, &digest, &token];
        params.extend_from_slice(extra);
        self.call(op, async {
            let client = client(&self.lazy, op).await?;
            let statement = prepare(&client, op, sql).await?;
            let rows = client.execute(&statement, &params).await.map_err(|e| pg_error(op, &e))?;
            Ok(rows == 1)
        })
        .await
    }

    /// The delivery in `row`'s columns from `at` on (in the order of
    /// [`DELIVERY_COLUMNS`]).
    fn delivery(row: &Row, op: &'static str, at: usize) -> Result<Delivery, String> {
        let id: String = column(row, op, at)?;
        let dedupe_key: String = column(row, op, at + 1)?;
        let event_type: String = column(row, op, at + 2)?;
        let version: String = column(row, op, at + 3)?;
        let sent_at: Option<i64> = column(row, op, at + 4)?;
        let received_at: SystemTime = column(row, op, at + 5)?;
        let client_ip: Option<IpAddr> = column(row, op, at + 6)?;
        let body: Vec<u8> = column(row, op, at + 7)?;
        let scheme: Option<String> = column(row, op, at + 8)?;
        let mut delivery = Delivery::new(id, event_type, version, Bytes::from(body))
            // Stored as the same 64 bits, so every value comes back.
            .with_timestamp(sent_at.map(|t| t as u64))
            .with_client_ip(client_ip)
            .with_received_at(received_at);
        if let Some(scheme) = scheme {
            delivery = delivery.with_scheme(scheme);
        }
        Ok(if dedupe_key == delivery.id() {
            delivery
        } else {
            delivery.with_dedupe_key(dedupe_key)
        })
    }

    /// The record in a row of the columns `get` and `list` select (the
    /// delivery's, then `state, attempts, last_error, due_at, updated_at,
    /// seq, attempt_log`), and its arrival number.
    fn record(row: &Row, op: &'static str) -> Result<(i64, Record), String> {
        let delivery = Self::delivery(row, op, 0)?;
        let at = DELIVERY_COLUMNS.len();
        let state_name: String = column(row, op, at)?;
        let state =
            State::ALL.into_iter().find(|state| state.as_str() == state_name).ok_or_else(|| {
                format!("postgres {op} failed: unknown delivery state {state_name:?}")
            })?;
        let attempts: i32 = column(row, op, at + 1)?;
        let last_error: Option<String> = column(row, op, at + 2)?;
        let due_at: SystemTime = column(row, op, at + 3)?;
        let updated_at: SystemTime = column(row, op, at + 4)?;
        let seq: i64 = column(row, op, at + 5)?;
        let log: String = column(row, op, at + 6)?;
        let log = parse_array(&log).map_err(|e| format!("postgres {op} failed: {e}"))?;
        let record = Record::new(Arc::new(delivery), state, u32::try_from(attempts).unwrap_or(0))
            .with_last_error(last_error)
            .with_due_at(matches!(state, State::Leased | State::Retrying).then_some(due_at))
            .with_updated_at(updated_at)
            .with_attempt_log(log);
        Ok((seq, record))
    }
}

impl AcceptBatcher {
    /// Takes what is queued (at least one accept, at most
    /// [`MAX_ACCEPT_BATCH`]) as one group, keeps it, and starts over; ends
    /// when the queue closes. One group at a time: the accepts that come
    /// while it is written make the next one.
    async fn run(self, mut queue: mpsc::Receiver<AcceptJob>) {
        let mut jobs = Vec::with_capacity(MAX_ACCEPT_BATCH);
        while queue.recv_many(&mut jobs, MAX_ACCEPT_BATCH).await > 0 {
            self.answer(std::mem::take(&mut jobs)).await;
            // The callers just answered may accept again at once: let them
            // queue, so that they join the next group rather than the one
            // after (without this, groups alternate big and small).
            tokio::task::yield_now().await;
        }
    }

    /// Keeps a group and answers each of its accepts. Should the server
    /// refuse the statement, each delivery is tried again alone, so that
    /// one it refuses fails only its own accept; any other failure is
    /// every accept's answer.
    async fn answer(&self, jobs: Vec<AcceptJob>) {
        // An accept whose caller stopped waiting is left out.
        let jobs: Vec<AcceptJob> = jobs.into_iter().filter(|job| !job.answer.is_closed()).collect();
        if jobs.is_empty() {
            return;
        }
        match self.keep(&jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.answer.send(Ok(outcome));
                }
            }
            Err(Failure::Refused(_)) if jobs.len() > 1 => {
                for job in jobs {
                    if job.answer.is_closed() {
                        continue;
                    }
                    let outcome = match self.keep(std::slice::from_ref(&job)).await {
                        Ok(outcomes) => Ok(outcomes[0]),
                        Err(Failure::Refused(message) | Failure::Failed(message)) => Err(message),
                    };
                    let _ = job.answer.send(outcome);
                }
            }
            Err(Failure::Refused(message) | Failure::Failed(message)) => {
                for job in jobs {
                    let _ = job.answer.send(Err(message.clone()));
                }
            }
        }
    }

    /// Runs the accept statement for a group; the outcome of each of its
    /// accepts, in order.
    async fn keep(&self, jobs: &[AcceptJob]) -> Result<Vec<Accept>, Failure> {
        // One row for each key: a later delivery with the key of an earlier
        // one is answered after it.
        let mut row_of_key: HashMap<[u8; 16], usize> = HashMap::with_capacity(jobs.len());
        let (mut keys, mut firsts) = (Vec::new(), Vec::new());
        let rows: Vec<usize> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let key = key_digest(job.delivery.dedupe_key());
                *row_of_key.entry(key).or_insert_with(|| {
                    keys.push(key);
                    firsts.push(i);
                    keys.len() - 1
                })
            })
            .collect();
        let deliveries: Vec<&Delivery> = firsts.iter().map(|&i| &*jobs[i].delivery).collect();

        let count = self.active.must_count(self.capacity, keys.len());
        self.batches.fetch_add(1, Ordering::Relaxed);
        let answers = self.statement(count, &keys, &deliveries).await?;
        let (outcomes, counted) =
            Self::outcomes(&answers, deliveries.len()).map_err(Failure::Failed)?;
        let kept = outcomes.iter().filter(|outcome| **outcome == Accept::Accepted).count() as i64;
        if count {
            self.active.counted(counted + kept);
        } else {
            self.active.add(kept);
        }
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, &row)| match outcomes[row] {
                outcome if firsts[row] == i => outcome,
                // Full: nothing was written for it either.
                Accept::Full => Accept::Full,
                _ => Accept::Duplicate,
            })
            .collect())
    }

    /// The outcome for each row of the statement (in the order of its
    /// `n` column), and the count of held rows (-1 unless counted).
    fn outcomes(answers: &[Row], rows: usize) -> Result<(Vec<Accept>, i64), String> {
        let mut outcomes = vec![None; rows];
        let mut counted = -1;
        for answer in answers {
            let n: i64 = column(answer, "accept", 0)?;
            let kept: bool = column(answer, "accept", 1)?;
            let full: bool = column(answer, "accept", 2)?;
            counted = column(answer, "accept", 3)?;
            let outcome = usize::try_from(n - 1)
                .ok()
                .and_then(|i| outcomes.get_mut(i))
                .ok_or("postgres accept failed: a stray answer")?;
            *outcome = Some(match (kept, full) {
                (true, _) => Accept::Accepted,
                (false, true) => Accept::Full,
                (false, false) => Accept::Duplicate,
            });
        }
        let outcomes = outcomes.into_iter().collect::<Option<Vec<_>>>();
        Ok((outcomes.ok_or("postgres accept failed: a delivery without an answer")?, counted))
    }

    /// The accept statement for `deliveries`, whose keys' digests are
    /// `keys` (each once), bounded by the timeout.
    async fn statement(
        &self,
        count: bool,
        keys: &[[u8; 16]],
        deliveries: &[&Delivery],
    ) -> Result<Vec<Row>, Failure> {
        let namespace: &str = &self.namespace;
        let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
        let ids: Vec<&str> = deliveries.iter().map(|d| d.id()).collect();
        let dedupe_keys: Vec<&str> = deliveries.iter().map(|d| d.dedupe_key()).collect();
        let event_types: Vec<&str> = deliveries.iter().map(|d| d.event_type()).collect();
        let versions: Vec<&str> = deliveries.iter().map(|d| d.version()).collect();
        // Stored as the same 64 bits, so every value comes back.
        let sent_at: Vec<Option<i64>> =
            deliveries.iter().map(|d| d.timestamp().map(|t| t as i64)).collect();
        let received_at: Vec<SystemTime> = deliveries.iter().map(|d| d.received_at()).collect();
        let client_ips: Vec<Option<IpAddr>> = deliveries.iter().map(|d| d.client_ip()).collect();
        let bodies: Vec<&[u8]> = deliveries.iter().map(|d| &d.body()[..]).collect();
        let schemes: Vec<Option<&str>> = deliveries.iter().map(|d| d.scheme()).collect();
        let params: [&(dyn ToSql + Sync); 14] = [
            &namespace,
            &count,
            &self.capacity,
            &self.retain_ms,
            &keys,
            &ids,
            &dedupe_keys,
            &event_types,
            &versions,
            &sent_at,
            &received_at,
            &client_ips,
            &bodies,
            &schemes,
        ];
        let run = bounded(self.timeout, "accept", async {
            let client = client(&self.pool, "accept").await?;
            let statement = prepare(&client, "accept", &self.sql.accept).await?;
            Ok(client.query(&statement, &params).await)
        });
        match run.await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) if e.is_closed() => Err(Failure::Failed(pg_error("accept", &e))),
            Ok(Err(e)) => Err(Failure::Refused(pg_error("accept", &e))),
            Err(message) => Err(Failure::Failed(message)),
        }
    }
}

impl fmt::Debug for PostgresInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its configuration names the user and host.
        f.debug_struct("PostgresInbox")
            .field("namespace", &self.namespace)
            .field("table", &self.sql.table)
            .field("capacity", &self.capacity)
            .field("retain", &Duration::from_millis(self.retain_ms.unsigned_abs()))
            .field("timeout", &self.timeout)
            .field("accept_batches", &self.accept_batches())
            .finish_non_exhaustive()
    }
}

impl PostgresInboxBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            capacity: DEFAULT_CAPACITY,
            retain: DEFAULT_RETAIN,
            timeout: DEFAULT_TIMEOUT,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }

    /// The namespace of the built inbox's deliveries (default
    /// `"default"`): inboxes sharing a table but not a namespace never see
    /// each other's deliveries.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The table (default `hookwarden_inbox`): lowercase letters, digits
    /// and `_`, not starting with a digit, at most 48 characters,
    /// optionally qualified by a schema (`webhooks.inbox`).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// How many pending, leased and retrying deliveries the namespace
    /// holds (default 1024, at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long done deliveries are remembered, so that redeliveries are
    /// answered as duplicates (default 7 days).
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The most time one inbox call may take, waiting for a connection
    /// included (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most connections the pool opens (default 16). Ignored with
    /// [`builder_with_pool`](PostgresInbox::builder_with_pool).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Builds the inbox. Connects lazily: nothing is sent until the first
    /// call (usually [`migrate`](PostgresInbox::migrate)).
    ///
    /// # Errors
    ///
    /// When the URL or the table name is malformed.
    pub fn build(self) -> Result<PostgresInbox, ConfigError> {
        let sql = Sql::new(&self.table)?;
        let (pool, lazy) = match self.source {
            Source::Pool(pool) => (pool.clone(), pool),
            Source::Url(url) => (
                pool_from_url_with(
                    &url,
                    self.timeout,
                    self.pool_size,
                    &["plan_cache_mode=force_generic_plan"],
                )?,
                lazy_pool_from_url(&url, self.timeout, self.pool_size)?,
            ),
        };
        Ok(PostgresInbox {
            pool,
            lazy,
            namespace: self.namespace.into(),
            sql: Arc::new(sql),
            capacity: i64::try_from(self.capacity).unwrap_or(i64::MAX),
            retain_ms: whole_millis(self.retain),
            timeout: self.timeout,
            active: Arc::new(ActiveEstimate::new()),
            accepts: Arc::default(),
        })
    }
}

impl fmt::Debug for PostgresInboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresInboxBuilder")
            .field("source", &self.source.describe())
            .field("namespace", &self.namespace)
            .field("table", &self.table)
            .field("capacity", &self.capacity)
            .field("retain", &self.retain)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl Sql {
    fn new(table: &str) -> Result<Self, ConfigError> {
        let name = check_table(table)?;
        let t = table;
        let active = "state IN ('pending', 'leased', 'retrying')";
        let ms = |param: u8| format!("${param}::bigint * interval '1 millisecond'");
        let (retained, lease_for, delay) = (ms(4), ms(4), ms(4));
        let delivery = DELIVERY_COLUMNS.join(", ");
        let record = format!(
            "{delivery}, state, attempts, last_error, due_at, updated_at, seq, attempt_log::text"
        );
        // The attempt log with `entry` added last, and its first dropped
        // once it holds `MAX_ATTEMPT_LOG`.
        let log_with = |entry: &str| {
            format!(
                "(CASE WHEN jsonb_array_length(attempt_log) >= {MAX_ATTEMPT_LOG} \
                 THEN attempt_log - 0 ELSE attempt_log END) || jsonb_build_array({entry})"
            )
        };

        // `due_at` orders every active row: when a pending one was accepted
        // (or handed back), when a retrying one is due, when a leased one's
        // lease runs out. The partial index on active rows serves both the
        // capacity count and leasing. A table made by an earlier version
        // gets the delivery records' columns (`scheme`, `attempt_log`): an
        // `ADD COLUMN` with a constant default rewrites no row.
        let schema = format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    namespace   text        NOT NULL,
    key         bytea       NOT NULL,
    seq         bigint      GENERATED BY DEFAULT AS IDENTITY,
    state       text        NOT NULL
        CHECK (state IN ('pending', 'leased', 'retrying', 'dead', 'done')),
    id          text        NOT NULL,
    dedupe_key  text        NOT NULL,
    event_type  text        NOT NULL,
    version     text        NOT NULL,
    sent_at     bigint,
    received_at timestamptz NOT NULL,
    client_ip   inet,
    body        bytea       NOT NULL,
    scheme      text,
    attempts    integer     NOT NULL DEFAULT 0,
    token       bytea,
    last_error  text,
    attempt_log jsonb       NOT NULL DEFAULT '[]',
    accepted_at timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (namespace, key)
);
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS scheme text;
ALTER TABLE {t} ADD COLUMN IF NOT EXISTS attempt_log jsonb NOT NULL DEFAULT '[]';
CREATE INDEX IF NOT EXISTS {name}_active_idx ON {t} (namespace, due_at, seq) WHERE {active};
CREATE INDEX IF NOT EXISTS {name}_state_idx ON {t} (namespace, state, seq);
CREATE INDEX IF NOT EXISTS {name}_id_idx ON {t} (namespace, id, seq);
CREATE INDEX IF NOT EXISTS {name}_done_idx ON {t} (namespace, done_at) WHERE state = 'done';
"
        );

        // $1 namespace, $2 whether to count the held rows (else the count
        // is -1: room for all), $3 capacity, $4 retention in ms, $5..$13 an
        // array each: the keys' digests (each once), then the deliveries'
        // columns. Only when counting is each key looked up first (one
        // index probe each), to give the room to deliveries whose key is
        // not held, in the order they came; the rest are full. Rows are
        // inserted in the order of their keys. A conflicting row is taken
        // over only if it is done and past the retention. One inserted but
        // not kept met a held row: a duplicate, like one found held first.
        let accept = format!(
            "WITH input AS MATERIALIZED (
    SELECT * FROM unnest($5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[],
        $10::bigint[], $11::timestamptz[], $12::inet[], $13::bytea[], $14::text[])
        WITH ORDINALITY AS d(key, {delivery}, n)
), counted AS MATERIALIZED (
    SELECT CASE WHEN $2::boolean THEN (SELECT count(*) FROM (
        SELECT 1 FROM {t} WHERE namespace = $1::text AND {active} LIMIT $3::bigint
    ) AS held_rows) ELSE -1 END AS n
), checked AS MATERIALIZED (
    SELECT input.*, found.held IS NOT NULL AS held FROM input
    LEFT JOIN LATERAL (
        SELECT true AS held FROM {t}
        WHERE $2::boolean AND namespace = $1::text AND key = input.key
            AND NOT (state = 'done' AND done_at <= now() - {retained})
        ORDER BY namespace, key LIMIT 1
    ) AS found ON true
), placed AS MATERIALIZED (
    SELECT checked.*, NOT held AND (counted.n < 0
        OR count(*) FILTER (WHERE NOT held) OVER (ORDER BY checked.n) <= $3::bigint - counted.n
    ) AS room
    FROM checked CROSS JOIN counted
), kept AS (
    INSERT INTO {t} AS cur (namespace, key, state, {delivery}, attempts, accepted_at, due_at,
        updated_at)
    SELECT $1::text, key, 'pending', {delivery}, 0, now(), now(), now()
    FROM placed WHERE room
    ORDER BY key
    ON CONFLICT (namespace, key) DO UPDATE SET
        seq = excluded.seq, state = excluded.state, id = excluded.id,
        dedupe_key = excluded.dedupe_key, event_type = excluded.event_type,
        version = excluded.version, sent_at = excluded.sent_at,
        received_at = excluded.received_at, client_ip = excluded.client_ip, body = excluded.body,
        scheme = excluded.scheme, attempt_log = '[]',
        attempts = 0, token = NULL, last_error = NULL, accepted_at = excluded.accepted_at,
        due_at = excluded.due_at, updated_at = excluded.updated_at, done_at = NULL
    WHERE cur.state = 'done' AND cur.done_at <= now() - {retained}
    RETURNING cur.key
)
SELECT placed.n, kept.key IS NOT NULL, NOT placed.held AND NOT placed.room, counted.n
FROM placed CROSS JOIN counted
LEFT JOIN kept ON kept.key = placed.key"
        );

        // $1 namespace, $2 how many, $3 one fresh token each, $4 the lease
        // in ms. Rows another replica is leasing are skipped. A row still
        // leased lost its lease: that attempt is logged as lost, when the
        // lease ran out (the old `due_at`: on the right of SET, a column is
        // the row's value before the update).
        let lost = log_with(
            "jsonb_build_object('n', cur.attempts, 'outcome', 'lost', \
             'at', floor(extract(epoch FROM cur.due_at) * 1000)::bigint)",
        );
        let lease = format!(
            "WITH due AS MATERIALIZED (
    SELECT key, due_at, seq FROM {t}
    WHERE namespace = $1::text AND {active} AND due_at <= now()
    ORDER BY due_at, seq
    LIMIT $2::bigint
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT key, row_number() OVER (ORDER BY due_at, seq) AS n FROM due
)
UPDATE {t} AS cur SET state = 'leased', attempts = cur.attempts + 1,
    token = ($3::bytea[])[picked.n::int], due_at = now() + {lease_for}, updated_at = now(),
    attempt_log = CASE WHEN cur.state = 'leased' THEN {lost} ELSE cur.attempt_log END
FROM picked
WHERE cur.namespace = $1::text AND cur.key = picked.key
RETURNING picked.n, {}, cur.attempts",
            DELIVERY_COLUMNS.map(|c| format!("cur.{c}")).join(", ")
        );

        // $1 namespace, $2 key digest, $3 token, then each its own; the
        // attempt's record comes as JSON text.
        let held =
            "namespace = $1::text AND key = $2::bytea AND state = 'leased' AND token = $3::bytea";
        let renew = format!("UPDATE {t} SET due_at = now() + {lease_for} WHERE {held}");
        let complete = format!(
            "UPDATE {t} SET state = 'done', done_at = now(), updated_at = now(), token = NULL,
    attempt_log = {}
WHERE {held}",
            log_with("$4::text::jsonb")
        );
        let retry = format!(
            "UPDATE {t} SET state = 'retrying', due_at = now() + {delay}, last_error = $5::text,
    updated_at = now(), token = NULL, attempt_log = {}
WHERE {held}",
            log_with("$6::text::jsonb")
        );
        let dead_letter = format!(
            "UPDATE {t} SET state = 'dead', last_error = $4::text, updated_at = now(), token = NULL,
    attempt_log = {}
WHERE {held}",
            log_with("$5::text::jsonb")
        );
        // $4 the attempt's record, or NULL for one never started.
        let abandon = format!(
            "UPDATE {t} SET state = 'pending', due_at = now(), attempts = greatest(attempts - 1, 0),
    updated_at = now(), token = NULL,
    attempt_log = CASE WHEN $4::text IS NULL THEN attempt_log ELSE {} END
WHERE {held}",
            log_with("$4::text::jsonb")
        );

        // $1 namespace, $2 event id: the latest delivery with it.
        let replay = format!(
            "WITH target AS MATERIALIZED (
    SELECT key, state FROM {t} WHERE namespace = $1::text AND id = $2::text
    ORDER BY seq DESC LIMIT 1
    FOR UPDATE
), replayed AS (
    UPDATE {t} AS cur SET state = 'pending', attempts = 0, due_at = now(), updated_at = now()
    FROM target
    WHERE cur.namespace = $1::text AND cur.key = target.key AND target.state = 'dead'
    RETURNING 1
)
SELECT target.state, EXISTS (SELECT 1 FROM replayed) FROM target"
        );
        let get = format!(
            "SELECT {record} FROM {t} WHERE namespace = $1::text AND id = $2::text
ORDER BY seq DESC LIMIT 1"
        );
        // $1 namespace, $2 state, $3 after this arrival number, $4 how many.
        let list = format!(
            "SELECT {record} FROM {t}
WHERE namespace = $1::text AND state = $2::text AND seq > $3::bigint
ORDER BY seq LIMIT $4::bigint"
        );
        // $1 namespace, $2 retention in ms.
        let stats = format!(
            "SELECT
    count(*) FILTER (WHERE state = 'pending'),
    count(*) FILTER (WHERE state = 'leased'),
    count(*) FILTER (WHERE state = 'retrying'),
    count(*) FILTER (WHERE state = 'dead'),
    count(*) FILTER (WHERE state = 'done' AND done_at > now() - {}),
    extract(epoch FROM now() - min(accepted_at) FILTER (WHERE state = 'pending'))::float8
FROM {t} WHERE namespace = $1::text",
            ms(2)
        );
        // $1 namespace, $2 retention in ms, $3 batch. ARRAY(…) runs the
        // subquery once; rows another purge holds are skipped.
        let purge = format!(
            "DELETE FROM {t} WHERE namespace = $1::text AND key = ANY(ARRAY(
    SELECT key FROM {t}
    WHERE namespace = $1::text AND state = 'done' AND done_at <= now() - {past}
    LIMIT $3::bigint
    FOR UPDATE SKIP LOCKED
)) AND state = 'done' AND done_at <= now() - {past}",
            past = ms(2)
        );
        Ok(Self {
            table: table.to_owned(),
            schema,
            accept,
            lease,
            renew,
            complete,
            retry,
            dead_letter,
            abandon,
            replay,
            get,
            list,
            stats,
            purge,
        })
    }
}

impl Inbox for PostgresInbox {
    fn accept<'a>(
        &'a self,
        delivery: &'a Arc<Delivery>,
    ) -> BoxFuture<'a, Result<Accept, InboxError>> {
        Box::pin(self.call("accept", async move {
            let stopped = "postgres accept failed: the accept task stopped";
            let (answer, outcome) = oneshot::channel();
            let job = AcceptJob { delivery: delivery.clone(), answer };
            self.accept_queue().send(job).await.map_err(|_| stopped)?;
            outcome.await.map_err(|_| stopped)?
        }))
    }

    fn lease(
        &self,
        max: usize,
        lease_for: Duration,
    ) -> BoxFuture<'_, Result<Vec<Leased>, InboxError>> {
        Box::pin(self.call("lease", async move {
            let max = max.min(MAX_LEASE);
            if max == 0 {
                return Ok(Vec::new());
            }
            let namespace: &str = &self.namespace;
            let tokens: Vec<[u8; 16]> = (0..max).map(|_| random_u128().to_be_bytes()).collect();
            let token_params: Vec<&[u8]> = tokens.iter().map(|t| &t[..]).collect();
            let rows = Self::query(
                &self.lazy,
                "lease",
                &self.sql.lease,
                &[&namespace, &(max as i64), &token_params, &whole_millis(lease_for)],
            )
            .await?;
            let mut leased = Vec::with_capacity(rows.len());
            for row in &rows {
                let n: i64 = column(row, "lease", 0)?;
                let delivery = Self::delivery(row, "lease", 1)?;
                let attempts: i32 = column(row, "lease", 1 + DELIVERY_COLUMNS.len())?;
                let token = usize::try_from(n - 1)
                    .ok()
                    .and_then(|i| tokens.get(i))
                    .ok_or("postgres lease failed: a row without a token")?;
                let lease = Lease::new(delivery.dedupe_key(), u128::from_be_bytes(*token));
                leased.push((
                    n,
                    Leased {
                        delivery: Arc::new(delivery),
                        attempt: u32::try_from(attempts).unwrap_or(0),
                        lease,
                    },
                ));
            }
            // RETURNING keeps no order: oldest due first again.
            leased.sort_unstable_by_key(|(n, _)| *n);
            Ok(leased.into_iter().map(|(_, leased)| leased).collect())
        }))
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        lease_for: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let lease_ms = whole_millis(lease_for);
            self.finish("renew", &self.sql.renew, lease, &[&lease_ms]).await
        })
    }

    fn complete<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let line = attempt.to_json();
            let done = self.finish("complete", &self.sql.complete, lease, &[&line]).await?;
            if done {
                self.active.add(-1);
            }
            Ok(done)
        })
    }

    fn retry<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let (delay_ms, error, line) = (whole_millis(delay), attempt.error(), attempt.to_json());
            self.finish("retry", &self.sql.retry, lease, &[&delay_ms, &error, &line]).await
        })
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: &'a AttemptRecord,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let (error, line) = (attempt.error(), attempt.to_json());
            let dead =
                self.finish("dead_letter", &self.sql.dead_letter, lease, &[&error, &line]).await?;
            if dead {
                self.active.add(-1);
            }
            Ok(dead)
        })
    }

    fn abandon<'a>(
        &'a self,
        lease: &'a Lease,
        attempt: Option<&'a AttemptRecord>,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let line = attempt.map(AttemptRecord::to_json);
            self.finish("abandon", &self.sql.abandon, lease, &[&line]).await
        })
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        Box::pin(self.call("replay", async move {
            let namespace: &str = &self.namespace;
            let rows =
                Self::query(&self.pool, "replay", &self.sql.replay, &[&namespace, &id]).await?;
            let Some(row) = rows.first() else { return Ok(Replay::NotFound) };
            let replayed: bool = column(row, "replay", 1)?;
            Ok(if replayed { Replay::Replayed } else { Replay::NotDead })
        }))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        Box::pin(self.call("get", async move {
            let namespace: &str = &self.namespace;
            let rows = Self::query(&self.pool, "get", &self.sql.get, &[&namespace, &id]).await?;
            rows.first().map(|row| Self::record(row, "get").map(|(_, r)| r)).transpose()
        }))
    }

    fn list<'a>(
        &'a self,
        state: State,
        limit: usize,
        cursor: Option<&'a Cursor>,
    ) -> BoxFuture<'a, Result<Page, InboxError>> {
        Box::pin(self.call("list", async move {
            let after = match cursor {
                None => 0,
                Some(cursor) => cursor.as_str().parse::<i64>().map_err(|_| "malformed cursor")?,
            };
            let namespace: &str = &self.namespace;
            // One more than asked, to know whether there is a next page.
            let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
            let rows = Self::query(
                &self.pool,
                "list",
                &self.sql.list,
                &[&namespace, &state.as_str(), &after, &fetch],
            )
            .await?;
            let mut records = Vec::with_capacity(rows.len().min(limit));
            let mut last = None;
            for row in rows.iter().take(limit) {
                let (seq, record) = Self::record(row, "list")?;
                records.push(record);
                last = Some(seq);
            }
            let next = (rows.len() > limit).then(|| last.map(|seq| Cursor::new(seq.to_string())));
            Ok(Page::new(records, next.flatten()))
        }))
    }

    fn stats(&self) -> BoxFuture<'_, Result<InboxStats, InboxError>> {
        Box::pin(self.call("stats", async move {
            let namespace: &str = &self.namespace;
            let rows =
                Self::query(&self.pool, "stats", &self.sql.stats, &[&namespace, &self.retain_ms])
                    .await?;
            let row = rows.first().ok_or("postgres stats failed: no answer")?;
            let mut stats = InboxStats::default();
            for (i, state) in State::ALL.into_iter().enumerate() {
                let count: i64 = column(row, "stats", i)?;
                stats.set(state, u64::try_from(count).unwrap_or(0));
            }
            let oldest: Option<f64> = column(row, "stats", State::ALL.len())?;
            stats.oldest_pending = oldest.map(|secs| Duration::from_secs_f64(secs.max(0.0)));
            Ok(stats)
        }))
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        Box::pin(self.call("purge", async move {
            let namespace: &str = &self.namespace;
            let client = client(&self.lazy, "purge").await?;
            let statement = prepare(&client, "purge", &self.sql.purge).await?;
            let mut purged = 0;
            for _ in 0..MAX_PURGE_BATCHES {
                let deleted = client
                    .execute(&statement, &[&namespace, &self.retain_ms, &PURGE_BATCH])
                    .await
                    .map_err(|e| pg_error("purge", &e))?;
                purged += deleted;
                if deleted < PURGE_BATCH as u64 {
                    break;
                }
            }
            Ok(purged)
        }))
    }

    fn is_durable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_sql_checks_the_table_name() {
        let sql = PostgresInbox::schema_sql("webhooks.inbox").unwrap();
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS webhooks.inbox ("), "{sql}");
        assert!(sql.contains("inbox_active_idx"), "{sql}");
        assert!(PostgresInbox::schema_sql("inbox; DROP TABLE x").is_err());
    }

    #[test]
    fn neither_the_builder_nor_the_inbox_shows_the_url() {
        let builder = PostgresInbox::builder("postgres://app:hunter2@127.0.0.1:1/app");
        assert!(!format!("{builder:?}").contains("hunter2"));
        let inbox = builder.build().unwrap();
        let shown = format!("{inbox:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("127.0.0.1"), "{shown}");
        let err =
            PostgresInbox::builder("postgres://u:hunter2@host:notaport/db").build().unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
