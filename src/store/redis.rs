//! The Redis idempotency store (feature `redis`).

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{RedisError, Script};

use super::{Claim, ClaimToken, IdempotencyStore, StoreError};
use crate::backend::redis::{
    DEFAULT_KEY_PREFIX, DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, Source, bounded, digest_hex, ping,
};
use crate::backend::whole_millis;
use crate::future::BoxFuture;

/// The value of a completed key (a claim's value is its token, in hex).
const DONE: &str = "done";

/// Sets the key to "done" for ARGV[2] ms if it still holds token ARGV[1].
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
    return 1
end
return 0",
    )
});

/// Deletes the key if it still holds token ARGV[1].
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0",
    )
});

/// An idempotency store in Redis (feature `redis`): dedupes across every
/// process that shares the server.
///
/// * A claim is `SET key token NX PX lease`, in a `MULTI` with a `GET` of
///   the key, so one round trip tells claimed, in flight or done. Of any
///   number of concurrent claims, Redis lets exactly one `SET NX` through.
/// * `complete` and `release` are Lua scripts that compare the stored token
///   before they set (to `done`, for the retention) or delete, so a worker
///   whose lease ran out cannot touch a newer claim. Expiry is Redis's own.
/// * Keys are `{prefix}{namespace}:{digest}`: the prefix (default
///   `hookwarden:`), the store's namespace, and the first 16 bytes of the
///   key's SHA-256, in hex.
/// * The connection is a [`ConnectionManager`], which reconnects on its own
///   after the server went away; every call is bounded by the store's
///   timeout (default 2 s), and fails with a [`StoreError`] past it. While
///   the server is unreachable every call fails: never a claim without it.
///
/// Millisecond precision: leases and retentions shorter than 1 ms are
/// rounded up to 1 ms.
///
/// ```no_run
/// use std::time::Duration;
/// use hookwarden::store::RedisStore;
///
/// # async fn run() -> Result<(), hookwarden::store::StoreError> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379/")
///     .namespace("orders")
///     .timeout(Duration::from_secs(1))
///     .connect()
///     .await?;
/// let billing = store.with_namespace("billing");
/// # let _ = billing;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    namespace: Arc<str>,
    key_prefix: Arc<str>,
    /// `{key_prefix}{namespace}:`
    key_base: Arc<str>,
    timeout: Duration,
}

/// Configures a [`RedisStore`]; from [`RedisStore::builder`] or
/// [`RedisStore::builder_with_manager`].
pub struct RedisStoreBuilder {
    source: Source,
    namespace: String,
    key_prefix: String,
    timeout: Duration,
}

impl RedisStore {
    /// Configures a store that connects to `url` (`redis://[user:pass@]host[:port][/db]`,
    /// or `rediss://` where the `redis` crate was built with TLS).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Source::Url(url.into()))
    }

    /// Configures a store over a connection manager you built (for TLS,
    /// credentials providers, or your own reconnect settings).
    pub fn builder_with_manager(manager: ConnectionManager) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Source::Manager(manager))
    }

    /// A handle on the same connection under another namespace.
    pub fn with_namespace(&self, namespace: impl AsRef<str>) -> Self {
        let namespace = namespace.as_ref();
        Self {
            conn: self.conn.clone(),
            namespace: namespace.into(),
            key_prefix: self.key_prefix.clone(),
            key_base: format!("{}{namespace}:", self.key_prefix).into(),
            timeout: self.timeout,
        }
    }

    /// This handle's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Checks that the server answers, within the timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        ping(&self.conn, self.timeout).await.map_err(StoreError::new)
    }

    fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.key_base.len() + 32);
        out.push_str(&self.key_base);
        out.push_str(&digest_hex(key));
        out
    }

    /// Runs `fut` (Redis operation `op`) within the timeout.
    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, op, fut).await.map_err(StoreError::new)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its address could carry credentials.
        f.debug_struct("RedisStore")
            .field("namespace", &self.namespace)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The namespace of the built store's keys (default `"default"`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// What every key starts with (default `"hookwarden:"`), to keep them
    /// apart from the rest of a shared Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The most time one store call may take, connecting included
    /// (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the store and checks that the server answers (one `PING`,
    /// within the timeout). Must run inside a Tokio runtime.
    ///
    /// Fails on a malformed URL, or when the server does not answer; after
    /// that, the store reconnects by itself whenever the server comes back.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let conn = self.source.into_manager(self.timeout).map_err(StoreError::new)?;
        let store = RedisStore {
            conn,
            namespace: self.namespace.as_str().into(),
            key_base: format!("{}{}:", self.key_prefix, self.namespace).into(),
            key_prefix: self.key_prefix.into(),
            timeout: self.timeout,
        };
        store.ping().await?;
        Ok(store)
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("source", &self.source.describe())
            .field("namespace", &self.namespace)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl IdempotencyStore for RedisStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let key = self.redis_key(key);
            let value = token.to_hex();
            let mut conn = self.conn.clone();
            let (current,): (Option<String>,) = self
                .bounded("claim", async {
                    ::redis::pipe()
                        .atomic()
                        .cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .arg("NX")
                        .arg("PX")
                        .arg(whole_millis(lease))
                        .ignore()
                        .cmd("GET")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            Ok(match current.as_deref() {
                Some(v) if v == value => Claim::Claimed(token.clone()),
                Some(DONE) => Claim::Done,
                // Another claim's token; or (a lease of a millisecond) the
                // key expired within the transaction: not ours either way.
                _ => Claim::InFlight,
            })
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.redis_key(key);
            let mut conn = self.conn.clone();
            let done: i64 = self
                .bounded("complete", async {
                    COMPLETE
                        .key(&key)
                        .arg(token.to_hex())
                        .arg(whole_millis(retain))
                        .invoke_async(&mut conn)
                        .await
                })
                .await?;
            Ok(done == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.redis_key(key);
            let mut conn = self.conn.clone();
            let released: i64 = self
                .bounded("release", async {
                    RELEASE.key(&key).arg(token.to_hex()).invoke_async(&mut conn).await
                })
                .await?;
            Ok(released == 1)
        })
    }
}
