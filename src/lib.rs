//! Receiver-side webhook middleware for [tower] and axum.
//!
//! hookwarden lets only authentic deliveries through to your handler:
//! the signature is checked over the exact bytes received, in constant time,
//! against every active secret, with a tolerance window on signed
//! timestamps; bodies are bounded in size and time; every refusal is a
//! small JSON response with a stable code.
//!
//! * [`verify`]: [`VerifyLayer`], the signature-verification layer.
//! * [`scheme`]: the built-in signature schemes and the [`Scheme`] trait.
//! * [`mac`]: fixed-size MACs and constant-time multi-secret checks.
//! * [`Rejection`]: every reason a request can be refused.
//! * `testing` (feature): signers for every scheme, to test receivers.
//!
//! ```
//! use axum::{Router, routing::post};
//! use hookwarden::scheme::StandardWebhooks;
//! use hookwarden::verify::VerifyLayer;
//!
//! let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?;
//! let app: Router = Router::new()
//!     .route("/webhooks", post(|| async { "ok" }))
//!     .layer(VerifyLayer::new(scheme));
//! # let _ = app;
//! # Ok::<(), hookwarden::ConfigError>(())
//! ```
//!
//! [tower]: https://docs.rs/tower

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod ack;
pub mod clock;
pub mod dispatch;
pub mod dedupe;
pub mod envelope;
mod error;
pub mod ip;
pub mod event;
pub mod mac;
mod rejection;
pub mod telemetry;
pub mod queue;
pub mod receiver;
pub mod router;
pub mod scheme;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use dedupe::DedupeLayer;
pub use envelope::{Envelope, EnvelopeLayer};
pub use error::ConfigError;
pub use ip::{AllowlistHandle, ClientIp, IpAllowlistLayer, IpRanges, PeerAddr};
pub use receiver::{Receiver, ReceiverBuilder, ReceiverHandle, ReceiverService};
pub use rejection::{REJECTION_TARGET, Rejection};
pub use scheme::{Scheme, Verified};
pub use verify::VerifyLayer;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
