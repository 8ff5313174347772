//! The event envelope: id, type, version and timestamp of a verified
//! delivery, read as each sender writes them.
//!
//! [`EnvelopeLayer`] runs after [`VerifyLayer`](crate::VerifyLayer): it
//! reads the exact verified bytes from [`Verified`](crate::Verified) (the
//! request body is not touched), probes the few fields it needs without
//! parsing the whole body into a tree, and leaves an [`Envelope`] in the
//! request's extensions for the dedupe layer and your handler.
//!
//! | preset | id | type | version | timestamp |
//! | --- | --- | --- | --- | --- |
//! | Standard Webhooks | `webhook-id` (signed) | body `type` | body `version` | `webhook-timestamp` (signed) |
//! | GitHub | `X-GitHub-Delivery` | `X-GitHub-Event` | — | — |
//! | Stripe | body `id` | body `type` | body `api_version` | body `created`, else the signed `t` |
//! | Slack | body `event_id` | body `type` | — | body `event_time`, else the signed timestamp |
//! | Shopify | `X-Shopify-Webhook-Id`, else `X-Shopify-Event-Id` | `X-Shopify-Topic` | `X-Shopify-API-Version` | — |
//! | Logto | none sent: SHA-256 of the body | body `event` | — | — |
//! | generic | body `/id`, else `X-Webhook-Id` | body `/type` | body `/version` | the signed timestamp, if any |
//!
//! A missing version is the [default version](EnvelopeConfig::default_version)
//! (`"1"` unless configured). Every field can be moved with an
//! [`EnvelopeConfig`] ([`Source::Header`], [`Source::JsonPointer`], …).
//!
//! An authentic request that is not a readable event is answered 400
//! `malformed_event`: the body is not a JSON object (even when every field
//! comes from headers), the type or id is missing or empty, a field is an
//! object, array or boolean, or a wanted key appears twice in the body.
//!
//! # Dedupe keys and what is signed
//!
//! [`Envelope::dedupe_key`] is what [`DedupeLayer`](crate::dedupe::DedupeLayer)
//! claims. By default it is the event id; Standard Webhooks signs its id,
//! Stripe and Slack carry it in the signed body, but GitHub and Shopify send
//! it in a header no signature covers, so a captured delivery replayed with
//! a fresh id would be processed again. [`DedupeKey::SignedIdOrDigest`] keys
//! those schemes on a SHA-256 of the raw body instead; see [`DedupeKey`].
//!
//! # Slack
//!
//! Only JSON Events API callbacks are events. Slash commands and
//! interactivity payloads are form-encoded: give them a route with
//! [`VerifyLayer`](crate::VerifyLayer) alone, or they are refused as
//! `malformed_event`. Slack's `url_verification` handshake carries no
//! `event_id`: its envelope has no id ([`Envelope::is_handshake`] is true),
//! the dedupe layer lets it through unclaimed, and the handler (or a later
//! layer) answers its `challenge`. Other notices without an `event_id`
//! (`app_rate_limited`) are `malformed_event` unless declared with
//! [`EnvelopeConfig::handshake_type`].
//!
//! # Example
//!
//! ```
//! use axum::{Extension, Router, routing::post};
//! use hookwarden::envelope::{Envelope, EnvelopeLayer};
//! use hookwarden::scheme::Stripe;
//! use hookwarden::verify::VerifyLayer;
//! use tower::ServiceBuilder;
//!
//! async fn on_event(Extension(event): Extension<Envelope>) -> &'static str {
//!     tracing::info!(id = event.id(), r#type = event.event_type(), "stripe event");
//!     "ok"
//! }
//!
//! let app: Router = Router::new().route(
//!     "/webhooks/stripe",
//!     post(on_event).route_layer(
//!         ServiceBuilder::new()
//!             .layer(VerifyLayer::new(Stripe::new(["whsec_test"])?))
//!             // The preset follows the verifying scheme; or fix one with
//!             // `EnvelopeLayer::preset(Preset::Stripe)`.
//!             .layer(EnvelopeLayer::new().default_version("2024-06-20")),
//!     ),
//! );
//! # let _ = app;
//! # Ok::<(), hookwarden::ConfigError>(())
//! ```

mod config;
mod extract;
mod layer;
mod probe;

pub use crate::future::ResponseFuture;
pub use config::{DEFAULT_VERSION, DedupeKey, EnvelopeConfig, JsonPointer, Preset, Source};
pub use layer::{EnvelopeLayer, ExtractEnvelope};

/// What a verified delivery says about itself, left in the request's
/// extensions by [`EnvelopeLayer`].
///
/// Read it in an axum handler with `Extension<Envelope>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    scheme: &'static str,
    id: Option<Box<str>>,
    id_signed: bool,
    event_type: Box<str>,
    version: Box<str>,
    timestamp: Option<u64>,
    dedupe_key: Option<Box<str>>,
    handshake: bool,
}

impl Envelope {
    /// The name of the scheme that verified the delivery.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The event id; `None` only for a [handshake](Self::is_handshake)
    /// that carries none.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Whether the signature covers the id (a signed header, a body field
    /// or the body digest), rather than an unsigned header.
    pub fn id_is_signed(&self) -> bool {
        self.id_signed
    }

    /// The event type, e.g. `"invoice.paid"` or `"push"`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The event version, or the default version when the event has none.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// When the event happened or was sent, in Unix seconds, where the
    /// sender says.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// The idempotency key, namespaced by scheme (`stripe:id:evt_…`,
    /// `github:sha256:…`); `None` exactly when there is no id.
    pub fn dedupe_key(&self) -> Option<&str> {
        self.dedupe_key.as_deref()
    }

    /// Whether this is a handshake (Slack's `url_verification`): answered
    /// synchronously, never deduplicated.
    pub fn is_handshake(&self) -> bool {
        self.handshake
    }
}
