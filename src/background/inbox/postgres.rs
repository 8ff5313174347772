//! Placeholder: the Postgres inbox is being written.

/// The Postgres inbox (being written).
#[derive(Debug)]
pub struct PostgresInbox;

/// Configures a [`PostgresInbox`] (being written).
#[derive(Debug)]
pub struct PostgresInboxBuilder;
