//! The `admin` feature over real HTTP on 127.0.0.1: the token, the API,
//! `/metrics` parsed as Prometheus text, the page in headless Chromium, a
//! restart on SQLite, and the example receiver's admin listener.

#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;

#[cfg(not(feature = "admin"))]
#[test]
fn the_admin_tests_need_the_admin_feature() {
    common::skip("admin: built without the `admin` feature");
}

#[cfg(feature = "admin")]
mod api;
#[cfg(feature = "admin")]
mod example;
#[cfg(feature = "admin")]
mod harness;
#[cfg(feature = "admin")]
mod metrics;
#[cfg(feature = "admin")]
mod page;
#[cfg(all(feature = "admin", feature = "sqlite"))]
mod restart;
#[cfg(all(feature = "admin", not(feature = "sqlite")))]
#[test]
fn the_restart_test_needs_the_sqlite_feature() {
    common::skip("admin after a restart: built without the `sqlite` feature");
}
