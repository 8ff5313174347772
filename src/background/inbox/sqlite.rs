//! Placeholder: the Sqlite inbox is being written.

/// The Sqlite inbox (being written).
#[derive(Debug)]
pub struct SqliteInbox;

/// Configures a [`SqliteInbox`] (being written).
#[derive(Debug)]
pub struct SqliteInboxBuilder;
