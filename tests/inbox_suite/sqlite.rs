//! The suite against this backend: being written.
