//! Dedupe: each verified event reaches the handler once.
//!
//! [`DedupeLayer`] claims the [`Envelope::dedupe_key`](crate::Envelope::dedupe_key)
//! in an [`IdempotencyStore`](crate::store::IdempotencyStore) before the
//! inner service sees the request, and settles the claim from its answer.
//! This is the synchronous mode, for a handler that answers after it has
//! processed the event:
//!
//! | the key is | answer |
//! | --- | --- |
//! | new: claimed | the handler's; a 2xx completes the claim (retained, default 7 days), anything else, an error, a panic or a cancelled request releases it so the sender's retry is processed |
//! | claimed by a delivery still being processed | 409 `in_progress` + `Retry-After` |
//! | completed | 200 `{"status":"duplicate","id":…}` |
//! | unknown: the store failed | 503 `store_unavailable` + `Retry-After` (fail closed) |
//!
//! Nothing reaches the handler unclaimed. (Handshakes such as Slack's
//! `url_verification` never get here: [`VerifyLayer`](crate::VerifyLayer)
//! answers them.)
//!
//! A claim holds for its lease (default 5 minutes): if the process dies
//! mid-handler, a delivery after the lease processes the event again. Keep
//! the lease longer than the handler ever takes.
//!
//! # A claim whose answer never came
//!
//! The store may apply a claim after the layer stopped waiting for it: the
//! call timed out (answered 503) while the server was stalled, or the
//! sender hung up while the claim was on its way. Such a claim would answer
//! 409 `in_progress` for its whole lease. So the layer makes each claim's
//! token itself, before it sends the claim, and when the call fails or is
//! dropped it releases that token in a background task on the current
//! tokio runtime: at once, then 0.25, 0.75, 1.75, 3.75 and 7.75 s later
//! (each try bounded by the store's timeout), until a release removes the
//! claim. A release removes only the claim its own token holds: it never
//! frees another delivery's claim, and does nothing if the claim never
//! landed. Each failed delivery has its own token and its own release.
//!
//! | the late claim | then |
//! | --- | --- |
//! | lands at the server before the last try | it is released, and the first retry after that is processed; until then retries get 409 `in_progress` (or 503 while the store is still stalled) |
//! | lands after the last try (a PostgreSQL statement that waits longer on a lock, say) | it holds for its lease |
//! | can't be released: the process exits first, no tokio runtime runs, or 1,024 releases of this layer already run (a long outage) | it holds for its lease, as a claim of a process that died mid-handler |
//!
//! How soon the release catches the claim depends on the store:
//!
//! * `RedisStore` sends every command over one connection, and Redis
//!   applies a connection's commands in order: the first release, sent after
//!   the claim, is applied after it once the server catches up (even if the
//!   release's own call times out meanwhile), unless the connection was
//!   replaced in between (then a later try catches it).
//! * `PostgresStore` does not cancel a statement that timed out: it runs on
//!   in the server (waiting for a lock, say). The release may go out on
//!   another pooled connection and run before the claim commits; a later
//!   try then catches it.
//! * `MemoryStore` never applies a claim late.
//!
//! A sender that hangs up after the handler answered does not stop the
//! completion (or release): it runs on in the background, so a processed
//! event is still remembered.
//!
//! # Order of layers
//!
//! Dedupe runs only on authentic requests, so that a forged request can
//! never claim (and so block) a genuine event's id: it needs the
//! [`Verified`](crate::Verified) proof left by
//! [`VerifyLayer`](crate::VerifyLayer) and the [`Envelope`](crate::Envelope)
//! left by [`EnvelopeLayer`](crate::EnvelopeLayer). Without either, every
//! request is refused with 500 `misconfigured` and an error is logged: a
//! wrong order is loud, never a silent pass.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::post};
//! use hookwarden::dedupe::DedupeLayer;
//! use hookwarden::envelope::EnvelopeLayer;
//! use hookwarden::scheme::GitHub;
//! use hookwarden::store::MemoryStore;
//! use hookwarden::{VerifyLayer, testing};
//! use http::StatusCode;
//! use http_body_util::BodyExt;
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const SECRET: &str = "It's a Secret to Everybody";
//! let github = GitHub::new([SECRET])?;
//! // GitHub's conventions: its delivery id is unsigned, so the key is a
//! // digest of the body.
//! let envelope = EnvelopeLayer::for_scheme(&github);
//! let webhooks = ServiceBuilder::new()
//!     // Outermost first: verify, read the envelope, then claim.
//!     .layer(VerifyLayer::new(github))
//!     .layer(envelope)
//!     .layer(DedupeLayer::new(MemoryStore::new()).lease(Duration::from_secs(60)));
//! let app = Router::new().route("/webhooks", post(|| async { "processed" }).route_layer(webhooks));
//!
//! // GitHub delivers the same ping twice.
//! let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
//! let delivery = || {
//!     let mut headers = testing::github(SECRET, body);
//!     headers.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap());
//!     headers.insert("x-github-event", "ping".parse().unwrap());
//!     testing::request("/webhooks", headers, &body[..])
//! };
//! let first = app.clone().oneshot(delivery()).await?;
//! assert_eq!(first.status(), StatusCode::OK);
//! assert_eq!(first.into_body().collect().await?.to_bytes(), "processed");
//!
//! let second = app.oneshot(delivery()).await?;
//! assert_eq!(second.status(), StatusCode::OK);
//! assert_eq!(
//!     second.into_body().collect().await?.to_bytes(),
//!     r#"{"status":"duplicate","id":"72d3162e-cc78-11e3-81ab-4c9367dc0958"}"#
//! );
//! # Ok(())
//! # }
//! ```
//!
//! # Reuse
//!
//! [`Claims`] is the claim, complete and release logic on its own, with the
//! same lease and retention settings and the same release of a claim whose
//! answer never came, for code of your own that claims around some work.
//! (The [`Receiver`](crate::Receiver) does not claim: its
//! [inbox](crate::inbox) dedupes as part of keeping the delivery.)

mod claims;
mod future;
mod layer;
mod service;

pub use claims::{Attempt, ClaimGuard, Claims, DEFAULT_LEASE, DEFAULT_RETAIN};
pub use future::ResponseFuture;
pub use layer::{DEFAULT_RETRY_AFTER, DedupeLayer};
pub use service::Dedupe;
