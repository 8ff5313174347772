//! Placeholder: the Redis inbox is being written.

/// The Redis inbox (being written).
#[derive(Debug)]
pub struct RedisInbox;

/// Configures a [`RedisInbox`] (being written).
#[derive(Debug)]
pub struct RedisInboxBuilder;
