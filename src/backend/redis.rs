//! Redis: the connection, timeouts and errors shared by `RedisStore` and `RedisInbox`.
