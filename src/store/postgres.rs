//! The PostgreSQL idempotency store (feature `postgres`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use super::{Claim, ClaimToken, IdempotencyStore, StoreError};
use crate::backend::postgres::{
    DEFAULT_NAMESPACE, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, Source, bounded, check_table, client,
    column, migrate_under_lock, pg_error, prepare,
};
use crate::backend::{key_digest, whole_millis};
use crate::error::ConfigError;
use crate::future::BoxFuture;

const DEFAULT_TABLE: &str = "hookwarden_idempotency";
const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_CLEANUP_BATCH: u32 = 1_000;

/// An idempotency store in PostgreSQL (feature `postgres`): dedupes across
/// every process that shares the database, and survives restarts.
///
/// * One table (default `hookwarden_idempotency`), created by an explicit
///   [`migrate`](PostgresStore::migrate): run it once at start-up (it is
///   idempotent, and safe to run from several replicas at once), or apply
///   [`PostgresStore::schema_sql`] with your own migration tool.
/// * A claim is one `INSERT … ON CONFLICT DO UPDATE` that takes over the
///   existing row only if its lease or retention ran out, and returns
///   whether it did and whether the key is done. Of any number of
///   concurrent claims, the row lock lets exactly one win.
/// * `complete` and `release` are an `UPDATE` and a `DELETE` conditioned on
///   the token and on the lease still running.
/// * Every time is the database server's (`now()`), never this host's.
/// * Rows are keyed by namespace and the first 16 bytes of the key's
///   SHA-256. Expired rows are taken over by the next claim of their key;
///   the rest are deleted in bounded batches: by
///   [`purge_expired`](PostgresStore::purge_expired), and (by default) by one
///   `complete` a minute, which then also deletes up to 1,000 expired rows
///   (after its own update, within a timeout of its own: never on the path
///   of a claim).
/// * Connections come from a [`deadpool_postgres`] pool (default 16), and
///   every call is bounded by the store's timeout (default 2 s), waiting for
///   a connection included. A connection the server dropped is replaced on
///   the next call: when the server comes back, the store works again.
/// * Built from a URL, the pool sets the server's `statement_timeout` to
///   the store's timeout plus 1 s (unless the URL's `options` set one), so
///   a statement whose call timed out (say a claim queued behind a table
///   lock) is cancelled by the server instead of landing later; `migrate`
///   lifts it for its own transaction.
///
/// Built from a URL, the store connects without TLS (loopback or a private
/// network); for TLS, build a pool with your connector and use
/// [`builder_with_pool`](PostgresStore::builder_with_pool) (and set a
/// `statement_timeout` in its configuration if you want the same).
///
/// ```no_run
/// use std::time::Duration;
/// use hookwarden::store::PostgresStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::builder("postgres://app@127.0.0.1/app")
///     .namespace("orders")
///     .timeout(Duration::from_secs(1))
///     .build()?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    namespace: Arc<str>,
    sql: Arc<Sql>,
    timeout: Duration,
    cleanup: Arc<Cleanup>,
}

/// Configures a [`PostgresStore`]; from [`PostgresStore::builder`] or
/// [`PostgresStore::builder_with_pool`].
pub struct PostgresStoreBuilder {
    source: Source,
    namespace: String,
    table: String,
    timeout: Duration,
    pool_size: usize,
    cleanup_interval: Option<Duration>,
    cleanup_batch: u32,
}

/// The statements, for one table.
struct Sql {
    table: String,
    schema: String,
    claim: String,
    complete: String,
    release: String,
    purge: String,
}

struct Cleanup {
    /// Milliseconds between automatic cleanups; 0 for none.
    every_ms: u64,
    batch: i64,
    epoch: Instant,
    /// When the next automatic cleanup is due, in ms since `epoch`.
    next_ms: AtomicU64,
}

impl PostgresStore {
    /// Configures a store that connects to `url` (`postgres://user[:password]@host[:port]/db`,
    /// or a `key=value` connection string), without TLS.
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Source::Url(url.into()))
    }

    /// Configures a store over a pool you built (for TLS, or to share a pool
    /// with the rest of your application).
    pub fn builder_with_pool(pool: Pool) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(Source::Pool(pool))
    }

    /// The SQL that [`migrate`](Self::migrate) runs for `table`, for users
    /// who manage their schema with their own tool.
    ///
    /// # Errors
    ///
    /// When `table` is not a valid table name (see
    /// [`table`](PostgresStoreBuilder::table)).
    pub fn schema_sql(table: &str) -> Result<String, ConfigError> {
        Ok(Sql::new(table)?.schema)
    }

    /// Creates the store's table and index if they do not exist.
    ///
    /// Idempotent; concurrent runs (several replicas starting at once) are
    /// serialised by an advisory lock. Not bounded by the store's timeout,
    /// since it may wait for that lock, but connecting is.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = client(&self.pool, "migrate").await.map_err(StoreError::new)?;
        migrate_under_lock(&mut client, &self.sql.table, &self.sql.schema)
            .await
            .map_err(StoreError::new)
    }

    /// Deletes up to the cleanup batch (default 1,000) of expired rows, of
    /// every namespace; returns how many it deleted. Bounded by the timeout.
    ///
    /// Safe to run from several processes at once: rows another cleanup is
    /// deleting are skipped.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.bounded("purge", async {
            let client = client(&self.pool, "purge").await?;
            let stmt = prepare(&client, "purge", &self.sql.purge).await?;
            client.execute(&stmt, &[&self.cleanup.batch]).await.map_err(|e| pg_error("purge", &e))
        })
        .await
    }

    /// A handle on the same pool and table under another namespace.
    pub fn with_namespace(&self, namespace: impl AsRef<str>) -> Self {
        Self { namespace: namespace.as_ref().into(), ..self.clone() }
    }

    /// This handle's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Runs `fut` (operation `op`) within the timeout.
    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, String>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, op, fut).await.map_err(StoreError::new)
    }

    async fn complete_row(
        &self,
        key: &str,
        token: &ClaimToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        self.bounded("complete", async move {
            let digest = key_digest(key);
            let token_bytes = token.as_u128().to_be_bytes();
            let client = client(&self.pool, "complete").await?;
            let stmt = prepare(&client, "complete", &self.sql.complete).await?;
            let rows = client
                .execute(
                    &stmt,
                    &[&&*self.namespace, &&digest[..], &&token_bytes[..], &whole_millis(retain)],
                )
                .await
                .map_err(|e| pg_error("complete", &e))?;
            Ok(rows == 1)
        })
        .await
    }

    /// Whether this completion should also clean up (at most one per
    /// interval, across every handle of the store).
    fn cleanup_due(&self) -> bool {
        let cleanup = &*self.cleanup;
        if cleanup.every_ms == 0 {
            return false;
        }
        let now = u64::try_from(cleanup.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = cleanup.next_ms.load(Ordering::Relaxed);
        now >= due
            && cleanup
                .next_ms
                .compare_exchange(due, now + cleanup.every_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its configuration names the user and host.
        f.debug_struct("PostgresStore")
            .field("namespace", &self.namespace)
            .field("table", &self.sql.table)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            pool_size: DEFAULT_POOL_SIZE,
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            cleanup_batch: DEFAULT_CLEANUP_BATCH,
        }
    }

    /// The namespace of the built store's keys (default `"default"`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The table (default `hookwarden_idempotency`): lowercase letters,
    /// digits and `_`, not starting with a digit, optionally qualified by a
    /// schema (`webhooks.idempotency`).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The most time one store call may take, waiting for a connection
    /// included (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most connections the pool opens (default 16). Ignored with
    /// [`builder_with_pool`](PostgresStore::builder_with_pool).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How often one `complete` also deletes a batch of expired rows
    /// (default every 60 s, across every handle of the store); `None` for
    /// never (then call
    /// [`purge_expired`](PostgresStore::purge_expired) yourself).
    pub fn cleanup_interval(mut self, interval: Option<Duration>) -> Self {
        self.cleanup_interval = interval;
        self
    }

    /// The most expired rows one cleanup deletes (default 1,000).
    pub fn cleanup_batch(mut self, rows: u32) -> Self {
        self.cleanup_batch = rows.max(1);
        self
    }

    /// Builds the store. Connects lazily: nothing is sent until the first
    /// call (usually [`migrate`](PostgresStore::migrate)).
    ///
    /// # Errors
    ///
    /// When the URL or the table name is malformed.
    pub fn build(self) -> Result<PostgresStore, ConfigError> {
        let sql = Sql::new(&self.table)?;
        let pool = self.source.into_pool(self.timeout, self.pool_size)?;
        let every_ms = self
            .cleanup_interval
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        Ok(PostgresStore {
            pool,
            namespace: self.namespace.into(),
            sql: Arc::new(sql),
            timeout: self.timeout,
            cleanup: Arc::new(Cleanup {
                every_ms,
                batch: i64::from(self.cleanup_batch),
                epoch: Instant::now(),
                next_ms: AtomicU64::new(every_ms),
            }),
        })
    }
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("source", &self.source.describe())
            .field("namespace", &self.namespace)
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .field("pool_size", &self.pool_size)
            .field("cleanup_interval", &self.cleanup_interval)
            .field("cleanup_batch", &self.cleanup_batch)
            .finish()
    }
}

impl Sql {
    fn new(table: &str) -> Result<Self, ConfigError> {
        let name = check_table(table)?;
        let t = table;
        let schema = format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    namespace  text        NOT NULL,
    key        bytea       NOT NULL,
    token      bytea       NOT NULL,
    done       boolean     NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS {name}_expires_at_idx ON {t} (expires_at);
"
        );
        // The row is taken over only when it expired; otherwise it is left
        // as it is, and RETURNING tells whose it is.
        let claim = format!(
            "INSERT INTO {t} AS cur (namespace, key, token, done, expires_at)
VALUES ($1, $2, $3, false, now() + $4::bigint * interval '1 millisecond')
ON CONFLICT (namespace, key) DO UPDATE SET
    token = CASE WHEN cur.expires_at <= now() THEN excluded.token ELSE cur.token END,
    done = CASE WHEN cur.expires_at <= now() THEN false ELSE cur.done END,
    expires_at = CASE WHEN cur.expires_at <= now() THEN excluded.expires_at ELSE cur.expires_at END
RETURNING token = $3 AS claimed, done"
        );
        let complete = format!(
            "UPDATE {t} SET done = true, expires_at = now() + $4::bigint * interval '1 millisecond'
WHERE namespace = $1 AND key = $2 AND token = $3 AND NOT done AND expires_at > now()"
        );
        let release = format!(
            "DELETE FROM {t}
WHERE namespace = $1 AND key = $2 AND token = $3 AND NOT done AND expires_at > now()"
        );
        // ARRAY(…) runs the subquery once (an IN could run it again per
        // row, past the limit); rows another cleanup holds are skipped.
        let purge = format!(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {t} WHERE expires_at <= now()
    LIMIT $1 FOR UPDATE SKIP LOCKED
)) AND expires_at <= now()"
        );
        Ok(Self { table: table.to_owned(), schema, claim, complete, release, purge })
    }
}

impl IdempotencyStore for PostgresStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(self.bounded("claim", async move {
            let digest = key_digest(key);
            let token_bytes = token.as_u128().to_be_bytes();
            let client = client(&self.pool, "claim").await?;
            let stmt = prepare(&client, "claim", &self.sql.claim).await?;
            let row = client
                .query_one(
                    &stmt,
                    &[&&*self.namespace, &&digest[..], &&token_bytes[..], &whole_millis(lease)],
                )
                .await
                .map_err(|e| pg_error("claim", &e))?;
            let claimed: bool = column(&row, "claim", 0)?;
            let done: bool = column(&row, "claim", 1)?;
            // A completed row keeps its token: done comes first.
            Ok(match (claimed, done) {
                (_, true) => Claim::Done,
                (true, false) => Claim::Claimed(token.clone()),
                (false, false) => Claim::InFlight,
            })
        }))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = self.complete_row(key, token, retain).await?;
            if self.cleanup_due() {
                // Here, off the path that answers the sender, and bounded on
                // its own: a slow or failed cleanup does not fail the call.
                if let Err(e) = self.purge_expired().await {
                    tracing::debug!(target: "hookwarden::store", error = %e, "expired-row cleanup failed");
                }
            }
            Ok(done)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.bounded("release", async move {
            let digest = key_digest(key);
            let token_bytes = token.as_u128().to_be_bytes();
            let client = client(&self.pool, "release").await?;
            let stmt = prepare(&client, "release", &self.sql.release).await?;
            let rows = client
                .execute(&stmt, &[&&*self.namespace, &&digest[..], &&token_bytes[..]])
                .await
                .map_err(|e| pg_error("release", &e))?;
            Ok(rows == 1)
        }))
    }
}
