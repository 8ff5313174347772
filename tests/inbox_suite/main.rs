//! One behavioural suite, run against every inbox: in memory, SQLite,
//! PostgreSQL and Redis.
//!
//! The PostgreSQL and Redis instantiations read `HOOKWARDEN_TEST_POSTGRES_URL`
//! and `HOOKWARDEN_TEST_REDIS_URL` (`.ci/services.sh` starts both servers and
//! exports them); without them, those tests say they were skipped. With them
//! set and the server unreachable, they fail. Every test uses its own
//! namespace (or file), unique to the run, so reruns and parallel tests never
//! meet.

#[path = "../common/mod.rs"]
#[allow(dead_code)] // only the backends that need a server skip
mod common;
#[macro_use]
mod suite;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
#[path = "../common/private_redis.rs"]
mod private_redis;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
