//! The PostgreSQL inbox (feature `postgres`).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{
    Accept, Cursor, DEFAULT_CAPACITY, DEFAULT_RETAIN, Inbox, InboxError, InboxStats, Lease, Leased,
    Page, Record, Replay, State,
};
use crate::backend::postgres::{
    DEFAULT_NAMESPACE, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, Source, bounded, check_table, client,
    column, migrate_under_lock, pg_error, prepare,
};
use crate::backend::{key_digest, whole_millis};
use crate::background::event::Delivery;
use crate::error::ConfigError;
use crate::future::BoxFuture;
use crate::random::random_u64;

const DEFAULT_TABLE: &str = "hookwarden_inbox";
/// The most deliveries one [`Inbox::lease`] hands out.
const MAX_LEASE: usize = 1_000;
/// The most done rows one purge statement deletes.
const PURGE_BATCH: i64 = 1_000;
/// The most purge statements one [`Inbox::purge`] runs.
const MAX_PURGE_BATCHES: u32 = 10;

/// The columns that make up a [`Delivery`], in the order
/// [`PostgresInbox::delivery`] reads them.
const DELIVERY_COLUMNS: [&str; 8] =
    ["id", "dedupe_key", "event_type", "version", "sent_at", "received_at", "client_ip", "body"];

/// A durable inbox in PostgreSQL (feature `postgres`), shared by every
/// replica that uses the same database, table and namespace.
///
/// * One table (default `hookwarden_inbox`) holds every delivery as a row
///   with its state. It is created by an explicit
///   [`migrate`](PostgresInbox::migrate): run it once at start-up (it is
///   idempotent, and safe to run from several replicas at once), or apply
///   [`PostgresInbox::schema_sql`] with your own migration tool.
/// * [`accept`](Inbox::accept) is one statement, committed when it
///   returns: an `INSERT … ON CONFLICT` on the namespace and the dedupe
///   key's digest, guarded by the capacity (a count of the namespace's
///   pending, leased and retrying rows, which a partial index keeps cheap),
///   that also says why nothing was inserted: the key is held (duplicate)
///   or the inbox is full. A done row past the retention is taken over by
///   the next delivery with its key. Counting costs up to `capacity` index
///   entries, so an accept counts only when this handle's last count is
///   older than a second or its estimate (that count, plus what this handle
///   accepted and finished since) is past three quarters of the capacity;
///   other accepts insert unchecked. The capacity is therefore a soft
///   limit: concurrent accepts, and other replicas within that second, may
///   overshoot it.
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
///   that timed out has either kept the delivery or written nothing.
/// * Built from a URL, the pool sets the server's `statement_timeout` to
///   the inbox's timeout plus 1 s (unless the URL's `options` set one), so
///   a statement whose call timed out (say an accept queued behind a table
///   lock) is cancelled by the server instead of landing later; `migrate`
///   lifts it for its own transaction.
///
/// Built from a URL, the inbox connects without TLS (loopback or a private
/// network); for TLS, build a pool with your connector and use
/// [`builder_with_pool`](PostgresInbox::builder_with_pool) (and set a
/// `statement_timeout` in its configuration if you want the same). The
/// dispatcher polls the inbox and is woken at once by the accepts of its
/// own process; another replica's accepts are seen at its next poll.
///
/// ```no_run
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
/// let delivery = Delivery::new("evt_1", "ping", "1", r#"{}"#.into());
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Accepted);
/// assert_eq!(inbox.accept(&delivery).await?, Accept::Duplicate);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresInbox {
    pool: Pool,
    namespace: Arc<str>,
    sql: Arc<Sql>,
    capacity: i64,
    retain_ms: i64,
    timeout: Duration,
    active: Arc<ActiveEstimate>,
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

    /// Whether the next accept must count the rows exactly.
    fn must_count(&self, capacity: i64) -> bool {
        let counted = self.counted_ms.load(Ordering::Relaxed);
        counted == u64::MAX
            || self.now_ms().saturating_sub(counted) >= Self::RECOUNT_MS
            || self.rows.load(Ordering::Relaxed) >= capacity - capacity / 4
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

    /// Creates the inbox's table and indexes if they do not exist.
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
            ..self.clone()
        }
    }

    /// This handle's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Runs `fut` (operation `op`) within the timeout.
    async fn call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, InboxError> {
        bounded(self.timeout, op, fut).await.map_err(InboxError::new)
    }

    /// Runs `sql` with `params` on a pooled connection.
    async fn query(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, String> {
        let client = client(&self.pool, op).await?;
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
            let client = client(&self.pool, op).await?;
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
        let delivery = Delivery::new(id, event_type, version, Bytes::from(body))
            // Stored as the same 64 bits, so every value comes back.
            .with_timestamp(sent_at.map(|t| t as u64))
            .with_client_ip(client_ip)
            .with_received_at(received_at);
        Ok(if dedupe_key == delivery.id() {
            delivery
        } else {
            delivery.with_dedupe_key(dedupe_key)
        })
    }

    /// The record in a row of the columns `get` and `list` select (the
    /// delivery's, then `state, attempts, last_error, due_at, updated_at,
    /// seq`), and its arrival number.
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
        let record = Record::new(Arc::new(delivery), state, u32::try_from(attempts).unwrap_or(0))
            .with_last_error(last_error)
            .with_due_at(matches!(state, State::Leased | State::Retrying).then_some(due_at))
            .with_updated_at(updated_at);
        Ok((seq, record))
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
        let pool = self.source.into_pool(self.timeout, self.pool_size)?;
        Ok(PostgresInbox {
            pool,
            namespace: self.namespace.into(),
            sql: Arc::new(sql),
            capacity: i64::try_from(self.capacity).unwrap_or(i64::MAX),
            retain_ms: whole_millis(self.retain),
            timeout: self.timeout,
            active: Arc::new(ActiveEstimate::new()),
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
        let record = format!("{delivery}, state, attempts, last_error, due_at, updated_at, seq");

        // `due_at` orders every active row: when a pending one was accepted
        // (or handed back), when a retrying one is due, when a leased one's
        // lease runs out. The partial index on active rows serves both the
        // capacity count and leasing.
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
    attempts    integer     NOT NULL DEFAULT 0,
    token       bytea,
    last_error  text,
    accepted_at timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS {name}_active_idx ON {t} (namespace, due_at, seq) WHERE {active};
CREATE INDEX IF NOT EXISTS {name}_state_idx ON {t} (namespace, state, seq);
CREATE INDEX IF NOT EXISTS {name}_id_idx ON {t} (namespace, id, seq);
CREATE INDEX IF NOT EXISTS {name}_done_idx ON {t} (namespace, done_at) WHERE state = 'done';
"
        );

        // $1 namespace, $2 key digest, $3 capacity, $4 retention in ms,
        // $5..$12 the delivery, $13 whether to count the held rows (else
        // the count is -1: room). The insert runs only if there is room; a
        // conflicting row is taken over only if it is done and past the
        // retention. Nothing inserted with room means the key is held;
        // without room, `held` tells a duplicate from a full inbox.
        let accept = format!(
            "WITH counted AS MATERIALIZED (
    SELECT CASE WHEN $13::boolean THEN (SELECT count(*) FROM (
        SELECT 1 FROM {t} WHERE namespace = $1::text AND {active} LIMIT $3::bigint
    ) AS held_rows) ELSE -1 END AS n
), room AS MATERIALIZED (
    SELECT n < $3::bigint AS ok, n FROM counted
), kept AS (
    INSERT INTO {t} AS cur (namespace, key, state, {delivery}, attempts, accepted_at, due_at,
        updated_at)
    SELECT $1::text, $2::bytea, 'pending', $5::text, $6::text, $7::text, $8::text, $9::bigint,
        $10::timestamptz, $11::inet, $12::bytea, 0, now(), now(), now()
    FROM room WHERE room.ok
    ON CONFLICT (namespace, key) DO UPDATE SET
        seq = excluded.seq, state = excluded.state, id = excluded.id,
        dedupe_key = excluded.dedupe_key, event_type = excluded.event_type,
        version = excluded.version, sent_at = excluded.sent_at,
        received_at = excluded.received_at, client_ip = excluded.client_ip, body = excluded.body,
        attempts = 0, token = NULL, last_error = NULL, accepted_at = excluded.accepted_at,
        due_at = excluded.due_at, updated_at = excluded.updated_at, done_at = NULL
    WHERE cur.state = 'done' AND cur.done_at <= now() - {retained}
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM kept), (SELECT ok FROM room), EXISTS (
    SELECT 1 FROM {t} WHERE namespace = $1::text AND key = $2::bytea
        AND NOT (state = 'done' AND done_at <= now() - {retained})
), (SELECT n FROM room)"
        );

        // $1 namespace, $2 how many, $3 one fresh token each, $4 the lease
        // in ms. Rows another replica is leasing are skipped.
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
    token = ($3::bytea[])[picked.n::int], due_at = now() + {lease_for}, updated_at = now()
FROM picked
WHERE cur.namespace = $1::text AND cur.key = picked.key
RETURNING picked.n, {}, cur.attempts",
            DELIVERY_COLUMNS.map(|c| format!("cur.{c}")).join(", ")
        );

        // $1 namespace, $2 key digest, $3 token, then each its own.
        let held =
            "namespace = $1::text AND key = $2::bytea AND state = 'leased' AND token = $3::bytea";
        let renew = format!("UPDATE {t} SET due_at = now() + {lease_for} WHERE {held}");
        let complete = format!(
            "UPDATE {t} SET state = 'done', done_at = now(), updated_at = now(), token = NULL
WHERE {held}"
        );
        let retry = format!(
            "UPDATE {t} SET state = 'retrying', due_at = now() + {delay}, last_error = $5::text,
    updated_at = now(), token = NULL
WHERE {held}"
        );
        let dead_letter = format!(
            "UPDATE {t} SET state = 'dead', last_error = $4::text, updated_at = now(), token = NULL
WHERE {held}"
        );
        let abandon = format!(
            "UPDATE {t} SET state = 'pending', due_at = now(), attempts = greatest(attempts - 1, 0),
    updated_at = now(), token = NULL
WHERE {held}"
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
    fn accept<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<Accept, InboxError>> {
        Box::pin(self.call("accept", async move {
            let namespace: &str = &self.namespace;
            let digest = key_digest(delivery.dedupe_key());
            // Stored as the same 64 bits, so every value comes back.
            let sent_at = delivery.timestamp().map(|t| t as i64);
            let count = self.active.must_count(self.capacity);
            let rows = self
                .query(
                    "accept",
                    &self.sql.accept,
                    &[
                        &namespace,
                        &&digest[..],
                        &self.capacity,
                        &self.retain_ms,
                        &delivery.id(),
                        &delivery.dedupe_key(),
                        &delivery.event_type(),
                        &delivery.version(),
                        &sent_at,
                        &delivery.received_at(),
                        &delivery.client_ip(),
                        &&delivery.body()[..],
                        &count,
                    ],
                )
                .await?;
            let row = rows.first().ok_or("postgres accept failed: no answer")?;
            let kept: bool = column(row, "accept", 0)?;
            let room: bool = column(row, "accept", 1)?;
            let held: bool = column(row, "accept", 2)?;
            if count {
                let counted: i64 = column(row, "accept", 3)?;
                self.active.counted(counted + i64::from(kept));
            } else if kept {
                self.active.add(1);
            }
            Ok(match (kept, room, held) {
                (true, _, _) => Accept::Accepted,
                // With room, the insert ran and met a held row.
                (false, true, _) | (false, false, true) => Accept::Duplicate,
                (false, false, false) => Accept::Full,
            })
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
            let tokens: Vec<[u8; 16]> = (0..max)
                .map(|_| {
                    ((u128::from(random_u64()) << 64) | u128::from(random_u64())).to_be_bytes()
                })
                .collect();
            let token_params: Vec<&[u8]> = tokens.iter().map(|t| &t[..]).collect();
            let rows = self
                .query(
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

    fn complete<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let done = self.finish("complete", &self.sql.complete, lease, &[]).await?;
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
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let delay_ms = whole_millis(delay);
            self.finish("retry", &self.sql.retry, lease, &[&delay_ms, &error]).await
        })
    }

    fn dead_letter<'a>(
        &'a self,
        lease: &'a Lease,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(async move {
            let dead = self.finish("dead_letter", &self.sql.dead_letter, lease, &[&error]).await?;
            if dead {
                self.active.add(-1);
            }
            Ok(dead)
        })
    }

    fn abandon<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.finish("abandon", &self.sql.abandon, lease, &[]))
    }

    fn replay<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Replay, InboxError>> {
        Box::pin(self.call("replay", async move {
            let namespace: &str = &self.namespace;
            let rows = self.query("replay", &self.sql.replay, &[&namespace, &id]).await?;
            let Some(row) = rows.first() else { return Ok(Replay::NotFound) };
            let replayed: bool = column(row, "replay", 1)?;
            Ok(if replayed { Replay::Replayed } else { Replay::NotDead })
        }))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        Box::pin(self.call("get", async move {
            let namespace: &str = &self.namespace;
            let rows = self.query("get", &self.sql.get, &[&namespace, &id]).await?;
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
            let rows = self
                .query("list", &self.sql.list, &[&namespace, &state.as_str(), &after, &fetch])
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
            let rows = self.query("stats", &self.sql.stats, &[&namespace, &self.retain_ms]).await?;
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
            let client = client(&self.pool, "purge").await?;
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
