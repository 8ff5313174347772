//! The mutex the in-memory store and inbox lock with.
//!
//! std's, except in a build with `RUSTFLAGS="--cfg hookwarden_shuttle"`:
//! then shuttle's, so that every lock taken is a point where shuttle's
//! scheduler may switch threads, and `tests/races.rs` explores the
//! interleavings of their critical sections (and finds any deadlock). That
//! build is only for that test: shuttle's locks work only inside
//! `shuttle::check_*`.

#[cfg(hookwarden_shuttle)]
pub(crate) use shuttle::sync::{Mutex, MutexGuard};
#[cfg(not(hookwarden_shuttle))]
pub(crate) use std::sync::{Mutex, MutexGuard};
