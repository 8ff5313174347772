//! Typed events: what a handler receives.
//!
//! A [`Delivery`] is an accepted webhook as it waits in the queue: its
//! envelope (id, type, version), when and from where it arrived, and the
//! exact bytes. A handler receives it as an [`Event<T>`], with the payload
//! already parsed into your serde type `T`, which names its event type and
//! version through [`EventType`]:
//!
//! ```
//! use hookwarden::event::{Event, EventType};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! struct UserRegistered {
//!     user_id: String,
//!     display_name: String,
//! }
//!
//! impl EventType for UserRegistered {
//!     const TYPE: &'static str = "user.registered";
//!     const VERSION: &'static str = "2";
//! }
//!
//! async fn welcome(event: Event<UserRegistered>) -> Result<(), std::io::Error> {
//!     println!("welcome, {} (event {}, attempt {})", event.display_name, event.id(), event.attempt());
//!     Ok(())
//! }
//! # let _ = welcome;
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::DeserializeOwned;

/// A payload type bound to one event type and version.
///
/// Register a handler for it with
/// [`EventRouter::on`](crate::background::router::EventRouter::on); older versions can be
/// upcast to it with [`EventRouter::upcast`](crate::background::router::EventRouter::upcast).
pub trait EventType: DeserializeOwned + Send + 'static {
    /// The event type, as the sender names it (e.g. `"user.registered"`).
    const TYPE: &'static str;
    /// The version this struct describes (e.g. `"2"`).
    const VERSION: &'static str;
}

/// An accepted delivery, as kept in the [inbox](crate::inbox) for the
/// workers.
///
/// Cheap to clone (reference-counted strings and bytes).
#[derive(Clone)]
pub struct Delivery {
    id: Arc<str>,
    dedupe_key: Option<Arc<str>>,
    scheme: Option<SchemeName>,
    event_type: Arc<str>,
    version: Arc<str>,
    timestamp: Option<u64>,
    received_at: SystemTime,
    client_ip: Option<IpAddr>,
    body: Bytes,
}

impl Delivery {
    /// A delivery received now.
    pub fn new(
        id: impl Into<Arc<str>>,
        event_type: impl Into<Arc<str>>,
        version: impl Into<Arc<str>>,
        body: Bytes,
    ) -> Self {
        Self {
            id: id.into(),
            dedupe_key: None,
            scheme: None,
            event_type: event_type.into(),
            version: version.into(),
            timestamp: None,
            received_at: SystemTime::now(),
            client_ip: None,
            body,
        }
    }

    /// Records the sender's timestamp (Unix seconds).
    pub fn with_timestamp(mut self, timestamp: Option<u64>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Records the client address.
    pub fn with_client_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip;
        self
    }

    /// Records when it was received.
    pub fn with_received_at(mut self, at: SystemTime) -> Self {
        self.received_at = at;
        self
    }

    /// Records the key the inbox dedupes this delivery on (default: the
    /// event id). The [`Receiver`](crate::Receiver) sets the envelope's
    /// [`dedupe_key`](crate::Envelope::dedupe_key).
    pub fn with_dedupe_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Records the name of the scheme that verified it; a `&'static str`
    /// (a scheme's own name) is kept without an allocation. The
    /// [`Receiver`](crate::Receiver) sets the envelope's
    /// [`scheme`](crate::Envelope::scheme).
    pub fn with_scheme(mut self, scheme: impl Into<Cow<'static, str>>) -> Self {
        self.scheme = Some(match scheme.into() {
            Cow::Borrowed(name) => SchemeName::Static(name),
            Cow::Owned(name) => SchemeName::Shared(name.into()),
        });
        self
    }

    /// The event id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name of the scheme that verified it (`"github"`, `"stripe"`,
    /// …), if known: a delivery submitted straight to a
    /// [`Dispatcher`](crate::dispatch::Dispatcher), or kept by an earlier
    /// version, has none.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_ref().map(SchemeName::as_str)
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The event version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The sender's timestamp, if it sent one.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// When the delivery was received.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// The client address, if known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The exact body bytes that were verified.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The key the inbox dedupes this delivery on: the envelope's dedupe
    /// key, or else the event id.
    pub fn dedupe_key(&self) -> &str {
        self.dedupe_key.as_deref().unwrap_or(&self.id)
    }

    /// [`dedupe_key`](Self::dedupe_key), shared rather than copied.
    pub(crate) fn shared_dedupe_key(&self) -> Arc<str> {
        self.dedupe_key.clone().unwrap_or_else(|| self.id.clone())
    }

    /// [`id`](Self::id), shared rather than copied.
    pub(crate) fn shared_id(&self) -> Arc<str> {
        self.id.clone()
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("dedupe_key", &self.dedupe_key())
            .field("scheme", &self.scheme())
            .field("event_type", &self.event_type)
            .field("version", &self.version)
            .field("timestamp", &self.timestamp)
            .field("client_ip", &self.client_ip)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A scheme's name: static for the schemes of this process, shared when
/// read back from a store.
#[derive(Clone)]
enum SchemeName {
    Static(&'static str),
    Shared(Arc<str>),
}

impl SchemeName {
    fn as_str(&self) -> &str {
        match self {
            SchemeName::Static(name) => name,
            SchemeName::Shared(name) => name,
        }
    }
}

/// What a handler receives: the parsed payload and everything known about
/// the delivery. Derefs to the payload.
pub struct Event<T> {
    payload: T,
    delivery: Arc<Delivery>,
    attempt: u32,
}

impl<T> Event<T> {
    pub(crate) fn new(payload: T, delivery: Arc<Delivery>, attempt: u32) -> Self {
        Self { payload, delivery, attempt }
    }

    /// The parsed payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// Takes the payload out.
    pub fn into_payload(self) -> T {
        self.payload
    }

    /// The event id.
    pub fn id(&self) -> &str {
        self.delivery.id()
    }

    /// The event type as the sender named it.
    pub fn event_type(&self) -> &str {
        self.delivery.event_type()
    }

    /// The version as the sender sent it (an upcast event keeps the version
    /// it arrived with).
    pub fn version(&self) -> &str {
        self.delivery.version()
    }

    /// The sender's timestamp (Unix seconds), if it sent one.
    pub fn timestamp(&self) -> Option<u64> {
        self.delivery.timestamp()
    }

    /// When the delivery was received.
    pub fn received_at(&self) -> SystemTime {
        self.delivery.received_at()
    }

    /// The name of the scheme that verified it, if known.
    pub fn scheme(&self) -> Option<&str> {
        self.delivery.scheme()
    }

    /// Which attempt this is, counting from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The client address, if known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.delivery.client_ip()
    }

    /// The exact bytes received.
    pub fn raw(&self) -> &Bytes {
        self.delivery.body()
    }

    /// The whole delivery.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }
}

impl<T> Deref for Event<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.payload
    }
}

impl<T: fmt::Debug> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id())
            .field("event_type", &self.event_type())
            .field("version", &self.version())
            .field("attempt", &self.attempt)
            .field("payload", &self.payload)
            .finish()
    }
}
