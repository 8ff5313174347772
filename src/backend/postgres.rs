//! PostgreSQL: the pool, timeouts, errors and migrations shared by `PostgresStore` and `PostgresInbox`.
