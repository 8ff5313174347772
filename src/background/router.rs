//! The event router: picks the handler for an event's (type, version).
//!
//! Handlers are async functions of [`Event<T>`](crate::background::event::Event) that
//! return `Result<(), E>`; an `Err`, a panic or a timeout is a failed
//! attempt and is retried. Older versions can be upcast to the newest
//! struct with `From`, so one handler sees one shape:
//!
//! ```
//! use hookwarden::event::{Event, EventType};
//! use hookwarden::router::EventRouter;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct UserRegisteredV1 { name: String }
//! impl EventType for UserRegisteredV1 {
//!     const TYPE: &'static str = "user.registered";
//!     const VERSION: &'static str = "1";
//! }
//!
//! #[derive(Deserialize)]
//! struct UserRegistered { display_name: String }
//! impl EventType for UserRegistered {
//!     const TYPE: &'static str = "user.registered";
//!     const VERSION: &'static str = "2";
//! }
//! impl From<UserRegisteredV1> for UserRegistered {
//!     fn from(v1: UserRegisteredV1) -> Self {
//!         Self { display_name: v1.name }
//!     }
//! }
//!
//! async fn welcome(event: Event<UserRegistered>) -> Result<(), std::convert::Infallible> {
//!     println!("welcome, {}", event.display_name);
//!     Ok(())
//! }
//!
//! let router = EventRouter::new()
//!     .payload_at("data")
//!     .on(welcome)
//!     .upcast::<UserRegisteredV1, UserRegistered>();
//! assert!(router.accepts("user.registered", "1"));
//! assert!(!router.accepts("user.deleted", "1"));
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::background::event::{Delivery, Event, EventType};
use crate::future::BoxFuture;

/// The error type handlers' errors are boxed into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future of one handler attempt.
pub(crate) type Attempt = BoxFuture<'static, Result<(), BoxError>>;

/// Starts one attempt: parses the payload, then calls the handler. A
/// payload that does not parse is an `Err` with serde's message: retrying
/// cannot fix it, so it is dead-lettered at once.
type Route = Arc<dyn Fn(Arc<Delivery>, u32) -> Result<Attempt, String> + Send + Sync>;

/// A typed handler, kept so older versions can be upcast to it.
type Typed<T> = Arc<dyn Fn(Event<T>) -> Attempt + Send + Sync>;

/// Where in the body the payload that handlers parse sits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum PayloadAt {
    #[default]
    Body,
    Field(Cow<'static, str>),
}

/// Routes events to typed handlers by (type, version).
#[derive(Clone, Default)]
pub struct EventRouter {
    routes: HashMap<Box<str>, HashMap<Box<str>, Route>>,
    typed: HashMap<(&'static str, &'static str), Arc<dyn Any + Send + Sync>>,
    catch_all: Option<Route>,
    payload: PayloadAt,
}

impl EventRouter {
    /// An empty router: every event is unknown until a handler is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse payloads from this top-level field of the body (e.g. `"data"`
    /// for Standard Webhooks) instead of the whole body.
    pub fn payload_at(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.payload = PayloadAt::Field(field.into());
        self
    }

    /// Handles `T::TYPE` at `T::VERSION` with `handler`.
    pub fn on<T, F, Fut, E>(mut self, handler: F) -> Self
    where
        T: EventType,
        F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let typed: Typed<T> = Arc::new(move |event| {
            let future = handler(event);
            Box::pin(async move { future.await.map_err(Into::into) })
        });
        self.typed.insert((T::TYPE, T::VERSION), Arc::new(typed.clone()));
        let payload = self.payload.clone();
        self.insert(
            T::TYPE,
            T::VERSION,
            Arc::new(move |delivery, attempt| {
                let value = decode::<T>(&payload, delivery.body())?;
                Ok(typed(Event::new(value, delivery, attempt)))
            }),
        );
        self
    }

    /// Parses `Old::TYPE` at `Old::VERSION` as `Old`, converts it with
    /// `From` and hands it to the handler registered for `New`.
    ///
    /// # Panics
    ///
    /// If no handler for `New` was registered before: a programming error,
    /// reported when the router is built.
    pub fn upcast<Old, New>(mut self) -> Self
    where
        Old: EventType,
        New: EventType + From<Old>,
    {
        let typed = self
            .typed
            .get(&(New::TYPE, New::VERSION))
            .and_then(|h| h.downcast_ref::<Typed<New>>())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "EventRouter::upcast: register a handler for {} v{} with `on` before upcasting {} v{} to it",
                    New::TYPE,
                    New::VERSION,
                    Old::TYPE,
                    Old::VERSION
                )
            });
        let payload = self.payload.clone();
        self.insert(
            Old::TYPE,
            Old::VERSION,
            Arc::new(move |delivery, attempt| {
                let old = decode::<Old>(&payload, delivery.body())?;
                Ok(typed(Event::new(New::from(old), delivery, attempt)))
            }),
        );
        self
    }

    /// Handles every event that no exact route takes, parsing the whole
    /// body as `T` — for example one serde-tagged enum for a whole
    /// provider, or `serde_json::Value` for a catch-all. Without it,
    /// unknown events are answered `ignored` and counted.
    pub fn catch_all<T, F, Fut, E>(self, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.catch_all_with(
            |body| serde_json::from_slice::<T>(body).map_err(|e| e.to_string()),
            handler,
        )
    }

    /// Like [`catch_all`](Self::catch_all), without parsing anything: the
    /// handler reads the exact bytes with [`Event::raw`]. For senders whose
    /// bodies are not JSON (Twilio's form posts), or to parse them yourself.
    pub fn catch_all_raw<F, Fut, E>(self, handler: F) -> Self
    where
        F: Fn(Event<()>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.catch_all_with(|_| Ok(()), handler)
    }

    fn catch_all_with<T, F, Fut, E>(
        mut self,
        parse: fn(&[u8]) -> Result<T, String>,
        handler: F,
    ) -> Self
    where
        T: Send + 'static,
        F: Fn(Event<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.catch_all = Some(Arc::new(move |delivery, attempt| {
            let value = parse(delivery.body())?;
            let future = handler(Event::new(value, delivery, attempt));
            Ok(Box::pin(async move { future.await.map_err(Into::into) }))
        }));
        self
    }

    /// Whether some handler takes this (type, version).
    pub fn accepts(&self, event_type: &str, version: &str) -> bool {
        self.catch_all.is_some() || self.exact(event_type, version).is_some()
    }

    /// Starts an attempt for `delivery`, or says why it cannot (no route, or
    /// a payload that does not parse).
    pub(crate) fn start(&self, delivery: Arc<Delivery>, attempt: u32) -> Result<Attempt, String> {
        let route = self
            .exact(delivery.event_type(), delivery.version())
            .or(self.catch_all.as_ref())
            .ok_or_else(|| "no handler for this type and version".to_owned())?;
        route(delivery, attempt)
    }

    fn exact(&self, event_type: &str, version: &str) -> Option<&Route> {
        self.routes.get(event_type)?.get(version)
    }

    fn insert(&mut self, event_type: &str, version: &str, route: Route) {
        self.routes.entry(event_type.into()).or_default().insert(version.into(), route);
    }
}

fn decode<T: DeserializeOwned>(at: &PayloadAt, body: &[u8]) -> Result<T, String> {
    match at {
        PayloadAt::Body => serde_json::from_slice(body).map_err(|e| e.to_string()),
        PayloadAt::Field(field) => {
            let fields: HashMap<Cow<'_, str>, &RawValue> =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let raw = fields.get(&**field).ok_or_else(|| format!("missing field `{field}`"))?;
            serde_json::from_str(raw.get()).map_err(|e| format!("{field}: {e}"))
        }
    }
}

impl fmt::Debug for EventRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<String> = self
            .routes
            .iter()
            .flat_map(|(t, versions)| versions.keys().map(move |v| format!("{t} v{v}")))
            .collect();
        routes.sort();
        f.debug_struct("EventRouter")
            .field("routes", &routes)
            .field("catch_all", &self.catch_all.is_some())
            .field("payload", &self.payload)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde::Deserialize;
    use std::sync::Mutex;

    #[derive(Deserialize)]
    struct V1 {
        name: String,
    }
    impl EventType for V1 {
        const TYPE: &'static str = "user.registered";
        const VERSION: &'static str = "1";
    }

    #[derive(Deserialize)]
    struct V2 {
        display_name: String,
    }
    impl EventType for V2 {
        const TYPE: &'static str = "user.registered";
        const VERSION: &'static str = "2";
    }
    impl From<V1> for V2 {
        fn from(v1: V1) -> Self {
            Self { display_name: v1.name }
        }
    }

    fn delivery(version: &str, body: &str) -> Arc<Delivery> {
        Arc::new(Delivery::new("evt_1", "user.registered", version, Bytes::from(body.to_owned())))
    }

    #[tokio::test]
    async fn both_versions_reach_the_v2_handler() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let router = EventRouter::new()
            .payload_at("data")
            .on(move |event: Event<V2>| {
                sink.lock().unwrap().push((event.version().to_owned(), event.display_name.clone()));
                async { Ok::<_, std::io::Error>(()) }
            })
            .upcast::<V1, V2>();
        router.start(delivery("1", r#"{"data":{"name":"Ada"}}"#), 1).unwrap().await.unwrap();
        router
            .start(delivery("2", r#"{"data":{"display_name":"Grace"}}"#), 1)
            .unwrap()
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [("1".to_owned(), "Ada".to_owned()), ("2".to_owned(), "Grace".to_owned())]
        );
    }

    #[test]
    fn a_payload_that_does_not_fit_is_an_error_with_serde_s_message() {
        let router = EventRouter::new()
            .payload_at("data")
            .on(|_: Event<V2>| async { Ok::<_, std::io::Error>(()) });
        let error = router.start(delivery("2", r#"{"data":{"nom":"x"}}"#), 1).err().unwrap();
        assert!(error.contains("display_name"), "{error}");
        let error = router.start(delivery("2", r#"{"other":{}}"#), 1).err().unwrap();
        assert!(error.contains("missing field `data`"), "{error}");
        assert!(router.start(delivery("3", "{}"), 1).is_err(), "no route for v3");
    }

    #[test]
    #[should_panic(expected = "register a handler for user.registered v2")]
    fn upcasting_to_an_unregistered_type_panics_at_build() {
        let _ = EventRouter::new().upcast::<V1, V2>();
    }
}
