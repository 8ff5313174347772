//! Receiver-side webhook middleware for [tower] and axum.
//!
//! hookwarden lets only authentic deliveries through to your handler:
//! the signature is checked over the exact bytes received, in constant time,
//! against every active secret, with a tolerance window on signed
//! timestamps; bodies are bounded in size and time; every refusal is a
//! small JSON response with a stable code.
//!
//! The pipeline, one module per stage, each a tower layer usable alone:
//!
//! * [`https`]: [`RequireHttpsLayer`](https::RequireHttpsLayer), refusing
//!   deliveries that did not arrive over HTTPS; `tls` (feature): serving
//!   HTTPS with rustls, the certificate reloaded without a restart.
//! * [`ip`]: [`IpAllowlistLayer`], client addresses with an explicit proxy
//!   trust model, swappable at run time.
//! * [`verify`]: [`VerifyLayer`], signature verification over the exact
//!   bytes, with [`scheme`] holding the built-in schemes and the [`Scheme`]
//!   trait, and [`mac`] the constant-time multi-secret checks.
//! * [`envelope`]: [`EnvelopeLayer`], the event id, type and version.
//! * [`dedupe`]: [`DedupeLayer`], each event once around a handler that
//!   answers after processing, claimed in a
//!   [`store`] (in memory, Redis, PostgreSQL).
//! * [`background`]: everything after the request path, also at the crate
//!   root: [`ack`] (the 202 once the delivery is kept), [`inbox`] (where it
//!   is kept: in memory, SQLite, PostgreSQL or Redis), [`dispatch`] (the
//!   workers, with leases, retries and dead letters), [`router`] and
//!   [`event`] (typed, version-dispatched handlers).
//! * [`Receiver`]: all of the above as one service.
//! * [`Rejection`]: every reason a request can be refused;
//!   [`telemetry`]: metric names and span fields.
//! * `admin` (feature): the operator's API, page and Prometheus metrics,
//!   behind a bearer token, for a second listener.
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

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
mod backend;
pub mod background;
pub mod clock;
pub mod dedupe;
pub mod envelope;
mod error;
mod future;
pub mod https;
pub mod ip;
mod lock;
pub mod mac;
mod random;
pub mod receiver;
mod rejection;
mod response;
pub mod scheme;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
pub mod verify;

pub use background::{ack, dispatch, event, inbox, router};
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
