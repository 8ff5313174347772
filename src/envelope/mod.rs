//! The event envelope: id, type, version and timestamp of a verified
//! delivery, read as each sender writes them.
//!
//! [`EnvelopeLayer`] runs after [`VerifyLayer`](crate::VerifyLayer): it
//! reads the exact verified bytes from [`Verified`](crate::Verified) (the
//! request body is not touched), probes the few fields it needs without
//! parsing the whole body into a tree, and leaves an [`Envelope`] in the
//! request's extensions for the dedupe layer and your handler.
//!
//! Each [`Scheme`](crate::Scheme) says where its sender puts these fields
//! ([`Scheme::envelope`](crate::Scheme::envelope), an
//! [`EnvelopeConfig`](crate::scheme::EnvelopeConfig)); the README's schemes table lists them. A missing
//! version is the [default version](crate::scheme::EnvelopeConfig::default_version) (`"1"`
//! unless configured). Every field can be moved with an [`EnvelopeConfig`](crate::scheme::EnvelopeConfig)
//! ([`Source::Header`](crate::scheme::Source::Header),
//! [`Source::JsonPointer`](crate::scheme::Source::JsonPointer), …).
//!
//! An authentic request that is not a readable event is answered 400
//! `malformed_event`: the body is not a JSON object (or, for senders that
//! post forms or batches, not a form or a JSON array of objects), the type
//! or id is missing or empty, a field is an object, array or boolean, or a
//! wanted key appears twice in the body.
//!
//! Handshakes (Slack's `url_verification`, Discord's PING, …) never get
//! here: [`VerifyLayer`](crate::VerifyLayer) answers them.
//!
//! # Dedupe keys and what is signed
//!
//! [`Envelope::dedupe_key`] is what the inbox (or
//! [`DedupeLayer`](crate::dedupe::DedupeLayer)) keys on. Where the scheme
//! signs the id (Standard Webhooks' `webhook-id`, a body field of Stripe or
//! Slack), it is the id; where the id is an unsigned header (GitHub,
//! Shopify, …), it is a SHA-256 of the raw body, so a captured delivery
//! replayed under a fresh id is still a duplicate. See
//! [`DedupeKey`](crate::scheme::DedupeKey).
//!
//! # Batches
//!
//! A sender that posts several events in one body (SendGrid,
//! [`BodyFormat::JsonBatch`](crate::scheme::BodyFormat::JsonBatch)) gets an
//! envelope of type `batch` for the whole body, keyed on its digest, and
//! one [`Batched`] event per element with its own envelope and bytes:
//! [`Envelope::batch`]. The [`Receiver`](crate::Receiver) keeps each
//! element as its own delivery.
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
//! let stripe = Stripe::new(["whsec_test"])?;
//! // Stripe's conventions: id, type and `api_version` in the body.
//! let envelope = EnvelopeLayer::for_scheme(&stripe).default_version("2024-06-20");
//! let app: Router = Router::new().route(
//!     "/webhooks/stripe",
//!     post(on_event)
//!         .route_layer(ServiceBuilder::new().layer(VerifyLayer::new(stripe)).layer(envelope)),
//! );
//! # let _ = app;
//! # Ok::<(), hookwarden::ConfigError>(())
//! ```

mod extract;
mod layer;
mod probe;

use std::sync::Arc;

use bytes::Bytes;

pub use crate::future::ResponseFuture;
pub use layer::{EnvelopeLayer, ExtractEnvelope};

/// What a verified delivery says about itself, left in the request's
/// extensions by [`EnvelopeLayer`].
///
/// Read it in an axum handler with `Extension<Envelope>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    scheme: &'static str,
    tenant: Option<Box<str>>,
    // Shared, so that the delivery kept in the inbox takes them as they are.
    id: Arc<str>,
    id_signed: bool,
    event_type: Arc<str>,
    version: Arc<str>,
    timestamp: Option<u64>,
    dedupe_key: Arc<str>,
    batch: Option<Arc<[Batched]>>,
}

/// One event of a [batch](Envelope::batch): its envelope and its own bytes
/// (a slice of the verified body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batched {
    envelope: Envelope,
    body: Bytes,
}

impl Batched {
    /// The event's envelope, read from its element.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The element's exact bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl Envelope {
    /// The name of the scheme that verified the delivery.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The tenant whose secrets verified the delivery, when each tenant
    /// has its own ([`Tenants`](crate::verify::Tenants)).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The event id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the signature covers the id (a signed header, a body field
    /// or the body digest), rather than an unsigned header.
    pub fn id_is_signed(&self) -> bool {
        self.id_signed
    }

    /// The event type, e.g. `"invoice.paid"` or `"push"` (`"batch"` for
    /// the envelope around a batch).
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
    /// `github:sha256:…`) and tenant, if any (`github@acme:sha256:…`).
    pub fn dedupe_key(&self) -> &str {
        &self.dedupe_key
    }

    /// The id, type, version and dedupe key, moved out as they are (for
    /// the delivery the inbox keeps).
    pub(crate) fn into_shared_fields(self) -> [Arc<str>; 4] {
        [self.id, self.event_type, self.version, self.dedupe_key]
    }

    /// The events of a batch body, each with its own envelope; `None` for
    /// a body that is one event.
    pub fn batch(&self) -> Option<&[Batched]> {
        self.batch.as_deref()
    }
}
