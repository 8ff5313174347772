//! The `admin` feature over real HTTP on 127.0.0.1: the token, the API,
//! `/metrics` parsed as Prometheus text, the page in headless Chromium, a
//! restart on SQLite, and the example receiver's admin listener.

#![cfg(feature = "admin")]

#[path = "../common/mod.rs"]
mod common;

mod api;
mod example;
mod harness;
mod metrics;
mod page;
#[cfg(feature = "sqlite")]
mod restart;
