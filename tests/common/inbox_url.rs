//! A durable inbox named by a URL, for the child receiver processes that
//! the multi-process tests start. Included by path where needed.

use std::sync::Arc;

use hookwarden::inbox::Inbox;

/// The inbox at `url` (`sqlite://PATH`, `redis://…`, `postgres://…`), under
/// `namespace` where the backend has namespaces; migrated if it needs it.
///
/// # Panics
///
/// When the inbox cannot be opened, or the build lacks its feature.
pub(crate) async fn open(url: &str, namespace: &str) -> Arc<dyn Inbox> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        #[cfg(feature = "sqlite")]
        {
            Arc::new(hookwarden::inbox::SqliteInbox::builder(path).open().unwrap())
        }
        #[cfg(not(feature = "sqlite"))]
        unreachable!("built without sqlite: {path}")
    } else if url.starts_with("redis") {
        #[cfg(feature = "redis")]
        {
            let inbox =
                hookwarden::inbox::RedisInbox::builder(url).namespace(namespace).connect().await;
            Arc::new(inbox.unwrap())
        }
        #[cfg(not(feature = "redis"))]
        unreachable!("built without redis: {namespace}")
    } else {
        #[cfg(feature = "postgres")]
        {
            let inbox = hookwarden::inbox::PostgresInbox::builder(url)
                .namespace(namespace)
                .build()
                .unwrap();
            inbox.migrate().await.unwrap();
            Arc::new(inbox)
        }
        #[cfg(not(feature = "postgres"))]
        unreachable!("built without postgres: {namespace}")
    }
}
