//! PostgreSQL: the pool, timeouts, errors, table names and migrations
//! shared by `PostgresStore` and `PostgresInbox`.
//!
//! Errors at run time are plain messages for the caller to wrap in its own
//! error type (`StoreError::new`, `InboxError::new`); configuration errors
//! are [`ConfigError`]s. None of them repeats the URL, which may hold a
//! password.
//!
//! A statement cut off by the client's timeout keeps running on the server
//! unless the server cancels it (an `INSERT` queued behind a table lock
//! would land once the lock is released, long after its caller gave up).
//! So a pool built from a URL asks the server for a `statement_timeout` a
//! little longer than the client's timeout ([`SERVER_GRACE`] more): a
//! statement whose caller stopped waiting is soon cancelled, and rolled
//! back, on the server. [`migrate_under_lock`] lifts it for its own
//! transaction, which may wait for a lock. A pool the user built keeps
//! whatever its own configuration says.

use std::time::Duration;

use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::FromSql;
use tokio_postgres::{NoTls, Row, Statement};

use super::whole_millis;
use crate::error::ConfigError;

/// How long one call may take unless configured otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The namespace unless configured otherwise.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";
/// The most connections a pool built from a URL opens unless configured
/// otherwise.
pub(crate) const DEFAULT_POOL_SIZE: usize = 16;
/// How much longer than the client's timeout the server lets a statement
/// run (see the module docs).
pub(crate) const SERVER_GRACE: Duration = Duration::from_secs(1);

/// Where a builder gets its connections: a URL, or a pool the user built.
pub(crate) enum Source {
    /// `postgres://…` or a `key=value` connection string; never shown.
    Url(String),
    /// A pool built by the user (TLS, or shared with the application).
    Pool(Pool),
}

impl Source {
    /// What a builder's `Debug` shows instead of the URL.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Source::Url(_) => "url",
            Source::Pool(_) => "pool",
        }
    }

    /// The pool: the user's own, or a new one for the URL (see
    /// [`pool_from_url`]).
    pub(crate) fn into_pool(
        self,
        timeout: Duration,
        pool_size: usize,
    ) -> Result<Pool, ConfigError> {
        match self {
            Source::Pool(pool) => Ok(pool),
            Source::Url(url) => pool_from_url(&url, timeout, pool_size),
        }
    }
}

/// A pool of at most `pool_size` connections to `url` (configured by
/// [`config_from_url`]), without TLS, that connects on first use;
/// connecting, waiting for a free connection and checking one are each
/// bounded by `timeout`. Fails only on a malformed URL.
pub(crate) fn pool_from_url(
    url: &str,
    timeout: Duration,
    pool_size: usize,
) -> Result<Pool, ConfigError> {
    pool_from_config(config_from_url(url, timeout)?, timeout, pool_size)
}

/// Like [`pool_from_url`], for connections whose commits do not wait for
/// the WAL to reach the disk (`synchronous_commit=off`): for writes whose
/// loss in a server crash is harmless because they can be redone (the
/// inbox's leases and outcomes), never for an acknowledgement.
pub(crate) fn lazy_pool_from_url(
    url: &str,
    timeout: Duration,
    pool_size: usize,
) -> Result<Pool, ConfigError> {
    pool_from_url_with(url, timeout, pool_size, &["synchronous_commit=off"])
}

/// Like [`pool_from_url`], with server settings (`name=value`) added to
/// the connections' options.
pub(crate) fn pool_from_url_with(
    url: &str,
    timeout: Duration,
    pool_size: usize,
    settings: &[&str],
) -> Result<Pool, ConfigError> {
    let config = with_settings(config_from_url(url, timeout)?, settings);
    pool_from_config(config, timeout, pool_size)
}

/// `config` with server settings (`name=value`) added to its options.
fn with_settings(mut config: tokio_postgres::Config, settings: &[&str]) -> tokio_postgres::Config {
    let mut options = config.get_options().unwrap_or_default().trim_end().to_owned();
    for setting in settings {
        options = format!("{options} -c {setting}");
    }
    config.options(options.trim_start());
    config
}

fn pool_from_config(
    config: tokio_postgres::Config,
    timeout: Duration,
    pool_size: usize,
) -> Result<Pool, ConfigError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .max_size(pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| ConfigError::Invalid { what: "PostgreSQL pool", reason: e.to_string() })
}

/// The connection configuration for `url`, with what the URL leaves unset
/// filled in: a connect timeout of `timeout`, the application name
/// `hookwarden`, and a server-side `statement_timeout` of `timeout` plus
/// [`SERVER_GRACE`]. That last one is added to the URL's own `options`
/// unless they already set a `statement_timeout`.
pub(crate) fn config_from_url(
    url: &str,
    timeout: Duration,
) -> Result<tokio_postgres::Config, ConfigError> {
    // The URL is not repeated in errors: it may hold a password.
    let mut config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        ConfigError::Invalid { what: "PostgreSQL URL", reason: e.to_string() }
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("hookwarden");
    }
    let options = config.get_options().unwrap_or_default().to_owned();
    // The server reads `--statement-timeout=…` as the same setting.
    if !options.contains("statement_timeout") && !options.contains("statement-timeout") {
        // The server takes at most i32::MAX ms (about 24 days).
        let ms = whole_millis(timeout.saturating_add(SERVER_GRACE)).min(i64::from(i32::MAX));
        let ours = format!("-c statement_timeout={ms}ms");
        let options =
            if options.trim().is_empty() { ours } else { format!("{} {ours}", options.trim_end()) };
        config.options(options);
    }
    Ok(config)
}

/// Checks a table name: lowercase letters, digits and `_`, not starting
/// with a digit, at most 48 characters, optionally qualified by a schema
/// (`webhooks.inbox`). Returns the name without its schema (to name
/// indexes after it), so that it can be put into SQL as it is.
pub(crate) fn check_table(table: &str) -> Result<&str, ConfigError> {
    let valid_ident = |s: &str| {
        !s.is_empty()
            && s.len() <= 48
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let (schema, name) = match table.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, table),
    };
    if valid_ident(name) && schema.is_none_or(valid_ident) {
        Ok(name)
    } else {
        Err(ConfigError::Invalid {
            what: "PostgreSQL table",
            reason: format!(
                "{table:?} is not a table name (lowercase letters, digits and _, \
                 optionally schema.table)"
            ),
        })
    }
}

/// Runs `fut` (operation `op`) for at most `timeout`, waiting for a pooled
/// connection included; the timeout becomes a message naming the
/// operation.
///
/// A statement cut off by the timeout may still run to its end on the
/// server: the caller cannot know whether it did. On a pool built from a
/// URL the server cancels it soon after (see the module docs), but it may
/// have committed before that.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    op: &'static str,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| {
        Err(format!("postgres {op} timed out after {} ms", timeout.as_millis()))
    })
}

/// A connection from `pool`, for operation `op`.
pub(crate) async fn client(pool: &Pool, op: &'static str) -> Result<Client, String> {
    pool.get().await.map_err(|e| format!("postgres {op} failed: {e}"))
}

/// `sql` prepared on `client`, from its statement cache when it was
/// prepared before.
pub(crate) async fn prepare(
    client: &Client,
    op: &'static str,
    sql: &str,
) -> Result<Statement, String> {
    client.prepare_cached(sql).await.map_err(|e| pg_error(op, &e))
}

/// Column `idx` of `row`, as a `T`.
pub(crate) fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    op: &'static str,
    idx: usize,
) -> Result<T, String> {
    row.try_get(idx).map_err(|e| pg_error(op, &e))
}

/// A message from a driver error, with the server's message and SQLSTATE
/// when there is one (never the connection string).
pub(crate) fn pg_error(op: &str, e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("postgres {op} failed: {} ({})", db.message(), db.code().code()),
        None => format!("postgres {op} failed: {e}"),
    }
}

/// Runs `sql` (`CREATE … IF NOT EXISTS` statements) in one transaction
/// that first takes the advisory lock named `lock_name`, so that several
/// replicas migrating at once take turns. Not bounded: it may wait for the
/// lock, so it also lifts the server-side `statement_timeout` for its
/// transaction (`SET LOCAL`: the connection keeps its own afterwards).
pub(crate) async fn migrate_under_lock(
    client: &mut tokio_postgres::Client,
    lock_name: &str,
    sql: &str,
) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| pg_error("migrate", &e))?;
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(|e| pg_error("migrate", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_name])
        .await
        .map_err(|e| pg_error("migrate", &e))?;
    tx.batch_execute(sql).await.map_err(|e| pg_error("migrate", &e))?;
    tx.commit().await.map_err(|e| pg_error("migrate", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        assert_eq!(check_table("hookwarden_inbox").unwrap(), "hookwarden_inbox");
        assert_eq!(check_table("webhooks.inbox_2").unwrap(), "inbox_2");
        for bad in ["", "Caps", "1abc", "a;drop table x", "a.b.c", "a.", ".a", "\"q\""] {
            assert!(check_table(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_table(&"a".repeat(49)).is_err());
    }

    #[test]
    fn bad_urls_are_config_errors_without_the_url() {
        let err =
            pool_from_url("postgres://u:hunter2@host:notaport/db", DEFAULT_TIMEOUT, 4).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_get_a_server_statement_timeout_past_the_client_one() {
        let config = config_from_url("postgres://u@host/db", Duration::from_millis(1500)).unwrap();
        assert_eq!(config.get_options(), Some("-c statement_timeout=2500ms"));

        // Added to the URL's own options, unless they set it themselves.
        let url = "postgres://u@host/db?options=-c%20search_path%3Dwebhooks";
        let config = config_from_url(url, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(
            config.get_options(),
            Some("-c search_path=webhooks -c statement_timeout=3000ms")
        );
        let url = "host=h user=u options='-c statement_timeout=10s'";
        let config = config_from_url(url, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(config.get_options(), Some("-c statement_timeout=10s"));

        // Settings of a pool's own come after.
        let config = config_from_url("postgres://u@host/db", DEFAULT_TIMEOUT).unwrap();
        let config = with_settings(config, &["synchronous_commit=off", "a=b"]);
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=3000ms -c synchronous_commit=off -c a=b")
        );

        // Past what the server accepts: its largest value.
        let config = config_from_url("postgres://u@host/db", Duration::MAX).unwrap();
        assert_eq!(config.get_options(), Some("-c statement_timeout=2147483647ms"));
    }
}
