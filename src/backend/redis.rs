//! Redis: the connection, timeouts and errors shared by `RedisStore` and
//! `RedisInbox`.
//!
//! Errors are plain messages for the caller to wrap in its own error type
//! (`StoreError::new`, `InboxError::new`); none of them repeats the URL,
//! which may hold a password.

use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError};

use super::key_digest;

/// How long one call may take unless configured otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// What every key starts with unless configured otherwise.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "hookwarden:";
/// The namespace unless configured otherwise.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// Where a builder gets its connection: a URL, or a manager the user built.
pub(crate) enum Source {
    /// `redis://…` or `rediss://…`; never shown.
    Url(String),
    /// A connection manager built by the user (TLS, credentials, …).
    Manager(ConnectionManager),
}

impl Source {
    /// What a builder's `Debug` shows instead of the URL.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Source::Url(_) => "url",
            Source::Manager(_) => "connection manager",
        }
    }

    /// `count` connection managers: the user's own (one), or new lazy ones
    /// for the URL (see [`connect`]). Redis reads at most 16 KiB of one
    /// connection's commands per turn of its event loop, and with
    /// `appendfsync always` it syncs once per turn: several connections let
    /// one turn (one sync) serve more callers.
    pub(crate) fn into_managers(
        self,
        timeout: Duration,
        count: usize,
    ) -> Result<Vec<ConnectionManager>, String> {
        match self {
            Source::Manager(conn) => Ok(vec![conn]),
            Source::Url(url) => (0..count.max(1)).map(|_| connect(&url, timeout)).collect(),
        }
    }

    /// The connection manager: the user's own, or a new lazy one for the
    /// URL (see [`connect`]).
    pub(crate) fn into_manager(self, timeout: Duration) -> Result<ConnectionManager, String> {
        match self {
            Source::Manager(conn) => Ok(conn),
            Source::Url(url) => connect(&url, timeout),
        }
    }
}

/// A connection manager for `url` that connects on first use and
/// reconnects by itself after the server went away; connecting and every
/// response are bounded by `timeout`. Fails only on a malformed URL.
pub(crate) fn connect(url: &str, timeout: Duration) -> Result<ConnectionManager, String> {
    // The URL is not repeated in errors: it may hold a password.
    let client = Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| format!("redis connection setup failed: {e}"))
}

/// Runs `fut` (Redis operation `op`) for at most `timeout`; a failure or
/// the timeout becomes a message naming the operation.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    op: &'static str,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("redis {op} failed: {e}")),
        Err(_) => Err(format!("redis {op} timed out after {} ms", timeout.as_millis())),
    }
}

/// One `PING`, within `timeout`.
pub(crate) async fn ping(conn: &ConnectionManager, timeout: Duration) -> Result<(), String> {
    let mut conn = conn.clone();
    bounded(
        timeout,
        "ping",
        async move { ::redis::cmd("PING").query_async::<String>(&mut conn).await },
    )
    .await
    .map(drop)
}

/// How a key is named in Redis: the first 16 bytes of its SHA-256, in hex.
pub(crate) fn digest_hex(key: &str) -> String {
    hex::encode(key_digest(key))
}
