//! Signature verification: the layer every webhook route needs.
//!
//! [`VerifyLayer`] reads the body with a size limit and a deadline, checks
//! the signature over the exact bytes received with the configured
//! [`Scheme`](crate::scheme::Scheme), and only then calls the inner service,
//! with the same bytes as its body and the [`Verified`](crate::scheme::Verified)
//! facts in the request's extensions. Everything else is answered with a
//! [`Rejection`](crate::Rejection):
//!
//! | case | status | code |
//! | --- | --- | --- |
//! | declared or actual body over the limit | 413 | `payload_too_large` |
//! | body not received within the deadline | 408 | `body_timeout` |
//! | signature header missing | 401 | `missing_signature` |
//! | signature or timestamp unparsable | 401 | `malformed_signature` |
//! | no signature matches any active secret | 401 | `invalid_signature` |
//! | timestamp outside the tolerance window | 401 | `timestamp_out_of_tolerance` |
//! | more than [`max_inflight`](VerifyLayer::max_inflight) bodies being waited for | 503 | `overloaded` + `Retry-After` |
//!
//! # Bounded buffering
//!
//! A sender that sends its headers and then trickles the body should not
//! hold memory for free. A body that arrived whole with its headers (as a
//! small one usually does) is verified at once: nothing waits on its
//! sender. Before waiting for the rest of one that did not, the scheme's
//! [`precheck`](crate::scheme::Scheme::precheck) looks at the headers
//! alone: a missing or unparsable signature header, or a signed timestamp
//! outside the window, is answered at once (with the code the full check
//! would give). A request that passes takes one of
//! [`max_inflight`](VerifyLayer::max_inflight) slots (default 64) for as
//! long as its body is waited for and its signature checked; with none
//! free it is answered 503 `overloaded` at once. So bodies waited for never
//! hold more than `max_inflight` × [`max_body`](VerifyLayer::max_body)
//! bytes, the [body deadline](VerifyLayer::body_timeout) bounds how long a
//! slow sender keeps a slot, and slow senders holding every slot do not
//! keep out deliveries that arrive whole.
//!
//! The inner service keeps its error type: rejections are responses, so the
//! layer fits `axum::Router::layer` and `route_layer` as is.
//!
//! # Example
//!
//! ```
//! use axum::{Extension, Router, routing::post};
//! use hookwarden::scheme::{GitHub, Verified};
//! use hookwarden::verify::VerifyLayer;
//!
//! async fn on_push(Extension(verified): Extension<Verified>, body: String) -> &'static str {
//!     assert_eq!(verified.scheme(), "github");
//!     # let _ = body;
//!     "thanks"
//! }
//!
//! let verify = VerifyLayer::new(GitHub::new(["It's a Secret to Everybody"]).unwrap())
//!     .max_body(256 * 1024);
//! let app: Router = Router::new().route("/webhooks/github", post(on_push).route_layer(verify));
//! # let _ = app;
//! ```
//!
//! # Caveats
//!
//! * The body deadline uses tokio's timer: run inside a tokio runtime.
//! * The whole body is held in memory (up to the limit) while it is
//!   verified; keep the limit near the largest delivery you expect.
//! * A scheme whose signature is in the body (Mailgun) has nothing to
//!   check before it: its requests are bounded by the slots alone.

mod body;
mod future;
mod layer;
mod service;
mod tenants;

pub use future::ResponseFuture;
pub use layer::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT, DEFAULT_RETRY_AFTER,
    DEFAULT_TOLERANCE, VerifyLayer,
};
pub use service::Verify;
pub use tenants::{LookupError, MAX_TENANT_LEN, TenantKey, Tenants};
