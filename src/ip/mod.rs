//! IP allowlisting: the first layer of a webhook route.
//!
//! [`IpAllowlistLayer`] lets a request through only when its client address
//! is in the allowlist, and answers everything else with a
//! [`Rejection`](crate::Rejection) before a byte of the body is read:
//!
//! | case | status | code |
//! | --- | --- | --- |
//! | client not in the allowlist, or forwarding headers refused | 403 | `ip_not_allowed` |
//! | no peer address (the server is misconfigured) | 500 | `peer_address_unknown` |
//!
//! * **The client** is the TCP peer, read from a [`PeerAddr`] extension
//!   (plain hyper: use `PeerAddr` as a layer per connection) or from any
//!   extension you name with
//!   [`peer_addr_from`](IpAllowlistLayer::peer_addr_from) (axum:
//!   `ConnectInfo<SocketAddr>`). When there is none, the request is refused
//!   with a 500 and one ERROR line says how to fix the server: a
//!   misconfiguration is loud, never a silent pass.
//! * **Trusted proxies.** Only when the peer is in a configured
//!   trusted-proxy list are forwarding headers believed; see
//!   [`ClientIpSource`] and the section below.
//! * **Matching** uses sorted, merged ranges ([`IpRanges`]): a binary search,
//!   fast with thousands of CIDRs. IPv4-mapped IPv6 addresses
//!   (`::ffff:a.b.c.d`, what a dual-stack `[::]` listener reports for IPv4
//!   clients) are normalised to IPv4, in the rules and in the client.
//! * **Run-time updates.** An [`AllowlistHandle`] swaps the whole list
//!   atomically while requests are flowing; [`providers`] parses GitHub's
//!   and Stripe's published address lists.
//! * **Downstream.** The allowed client's address is put in the request
//!   extensions as [`ClientIp`].
//!
//! Refusals are logged at DEBUG under
//! [`REJECTION_TARGET`](crate::REJECTION_TARGET), with the client address.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::net::SocketAddr;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use hookwarden::ip::{ClientIp, IpAllowlistLayer, PeerAddr};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let allowlist = IpAllowlistLayer::new(["192.0.2.0/24", "2001:db8::/32"])?;
//!
//! // What a plain hyper server would build for a connection from `peer`.
//! let service_for = |peer: SocketAddr| {
//!     ServiceBuilder::new().layer(PeerAddr(peer)).layer(allowlist.clone()).service_fn(
//!         |request: Request<Full<Bytes>>| async move {
//!             let client = request.extensions().get::<ClientIp>().map(|ip| ip.to_string());
//!             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(client.unwrap_or_default()))))
//!         },
//!     )
//! };
//!
//! let allowed = service_for("192.0.2.10:50000".parse()?).oneshot(Request::new(Full::default()));
//! assert_eq!(allowed.await?.status(), StatusCode::OK);
//!
//! let denied = service_for("203.0.113.9:50000".parse()?).oneshot(Request::new(Full::default()));
//! assert_eq!(denied.await?.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```
//!
//! With axum, read the peer from `ConnectInfo` and serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`:
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::{Router, extract::ConnectInfo, routing::post};
//! use hookwarden::ip::IpAllowlistLayer;
//!
//! let allowlist = IpAllowlistLayer::new(["192.0.2.0/24"])?
//!     .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip());
//! let app: Router = Router::new().route("/webhooks", post(|| async { "ok" })).layer(allowlist);
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//! # let _ = app;
//! # Ok::<(), hookwarden::ConfigError>(())
//! ```
//!
//! In tests, `axum::extract::connect_info::MockConnectInfo` stores a
//! `MockConnectInfo<SocketAddr>` instead: add
//! `.peer_addr_from(|mock: &MockConnectInfo<SocketAddr>| mock.0.ip())`.
//!
//! # Trusted proxies
//!
#![doc = include_str!("../docs/behind_a_proxy.md")]
//!
//! ## How the forwarding headers are read
//!
//! * `X-Forwarded-For`: every header line, in order, as one list; walked
//!   from the right. Trusted addresses are skipped; the first untrusted one
//!   is the client. If every entry is trusted, the leftmost one is the
//!   client; with no header at all, the peer is. Entries may carry a port.
//! * `Forwarded`: the same walk over the elements' `for=` nodes, quoted IPv6
//!   with a port included. An element without `for=`, an `unknown` or
//!   obfuscated (`_hidden`) node is refused, not skipped: the client behind
//!   it cannot be known.
//! * A single-value header (`X-Real-IP`, `CF-Connecting-IP`): exactly one
//!   address, else refused; without the header, the peer is the client.
//!
//! Any unparsable entry the walk reaches is refused (403), and the walk reads
//! at most [`max_hops`](IpAllowlistLayer::max_hops) entries (default
//! [`DEFAULT_MAX_HOPS`]) before refusing, so a long chain costs little.
//!
//! # Caveats
//!
//! * An IPv6 rule wider than `::ffff:0:0/96`, such as `::/0`, matches IPv6
//!   clients only; allow IPv4 explicitly (`0.0.0.0/0`).
//! * A refused request's body is not read. The inner service was polled
//!   ready but not called, as with other tower layers that reject early.

mod client_ip;
pub(crate) mod forwarded;
mod layer;
pub(crate) mod peer;
pub mod providers;
mod ranges;
mod service;

pub use crate::future::ResponseFuture;
pub use client_ip::{ClientIp, ClientIpSource, DEFAULT_MAX_HOPS};
pub use layer::{AllowlistHandle, IpAllowlistLayer};
pub use peer::{PeerAddr, SetPeerAddr};
pub use ranges::IpRanges;
pub use service::IpAllowlist;
