//! The demo catalogue: the canonical auth-service event that webhook
//! guides use, in two versions, and a catch-all for every other type.
//!
//! Shared by the `receiver` example and the tests that drive it.

use std::sync::Arc;
use std::time::Duration;

use hookwarden::event::{Event, EventType};
use hookwarden::router::EventRouter;
use serde::Deserialize;

/// `user.registered`, version 1, as most senders write it:
/// `{"event":"user.registered","timestamp":…,"data":{"user_id","email","username","registered_at"}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserRegisteredV1 {
    user_id: String,
    email: String,
    username: String,
    registered_at: serde_json::Value,
}

impl EventType for UserRegisteredV1 {
    const TYPE: &'static str = "user.registered";
    const VERSION: &'static str = "1";
}

/// `user.registered`, version 2: `username` renamed to `display_name`.
/// Version 1 events are upcast to this, so one handler serves both.
#[derive(Debug, Deserialize)]
pub(crate) struct UserRegistered {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) registered_at: serde_json::Value,
}

impl EventType for UserRegistered {
    const TYPE: &'static str = "user.registered";
    const VERSION: &'static str = "2";
}

impl From<UserRegisteredV1> for UserRegistered {
    fn from(v1: UserRegisteredV1) -> Self {
        Self {
            user_id: v1.user_id,
            email: v1.email,
            display_name: v1.username,
            registered_at: v1.registered_at,
        }
    }
}

/// How the demo handlers behave.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Demo {
    /// Each handler sleeps this long.
    pub(crate) delay: Duration,
    /// Each handler fails the first this many attempts of every event.
    pub(crate) fail_first: u32,
}

impl Demo {
    async fn work<T>(&self, event: &Event<T>) -> Result<(), String> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if event.attempt() <= self.fail_first {
            return Err(format!(
                "demo failure of attempt {} (--fail-first {})",
                event.attempt(),
                self.fail_first
            ));
        }
        Ok(())
    }
}

/// What a handler reports for each event it finished: one JSON object
/// (`id`, `type`, `version`, `attempt`, `handler`, and for
/// `user.registered` the `user_id` and `display_name`).
pub(crate) type Report = Arc<dyn Fn(serde_json::Value) + Send + Sync>;

fn line<T>(event: &Event<T>, handler: &str) -> serde_json::Value {
    serde_json::json!({
        "id": event.id(),
        "type": event.event_type(),
        "version": event.version(),
        "attempt": event.attempt(),
        "handler": handler,
    })
}

/// The catalogue: `user.registered` v1 and v2 to one typed handler, the
/// rest to a catch-all. Payloads are read at `data`.
pub(crate) fn router(demo: Demo, report: Report) -> EventRouter {
    let typed = report.clone();
    EventRouter::new()
        .payload_at("data")
        .on(move |event: Event<UserRegistered>| {
            let report = typed.clone();
            async move {
                demo.work(&event).await?;
                let mut line = line(&event, "user_registered");
                line["user_id"] = event.user_id.as_str().into();
                line["display_name"] = event.display_name.as_str().into();
                let _ = (&event.email, &event.registered_at);
                report(line);
                Ok::<_, String>(())
            }
        })
        .upcast::<UserRegisteredV1, UserRegistered>()
        // Every other event, whatever its body (JSON, or a form post).
        .catch_all_raw(move |event: Event<()>| {
            let report = report.clone();
            async move {
                demo.work(&event).await?;
                report(line(&event, "catch_all"));
                Ok::<_, String>(())
            }
        })
}
