//! Refusing deliveries that did not arrive over HTTPS.
//!
//! [`RequireHttpsLayer`] answers a request that did not arrive over HTTPS
//! with 403 `https_required` (a [`Rejection::HttpsRequired`]), before a
//! byte of the body is read. A request arrived over HTTPS when:
//!
//! * **this process terminated TLS for it**: the server put a
//!   [`TlsConnection`] in the request's extensions. The `tls` feature's
//!   server ([`tls::serve`](crate::tls)) does so for every request; any
//!   other TLS server can add it with a layer per TLS connection (axum:
//!   `.layer(Extension(TlsConnection))` on the router served over TLS);
//! * or **a trusted proxy says so**: when the TCP peer is one of the
//!   proxies given to [`trust_proxies`](RequireHttpsLayer::trust_proxies),
//!   its `X-Forwarded-Proto` or RFC 7239 `Forwarded: proto=` is believed
//!   (the one you name, never both). Anyone can send these headers: from
//!   any other peer they are ignored.
//!
//! A trusted proxy that says `http` is refused even over a TLS connection
//! (the sender reached the proxy in plain text); a trusted proxy that says
//! nothing (a TCP proxy passing TLS through) leaves the decision to the
//! connection itself.
//!
//! How the headers are read:
//!
//! * `X-Forwarded-Proto`: its rightmost value (over all header lines), the
//!   one written by the proxy that connects to you. A chain of proxies whose
//!   inner hops are plain HTTP must pass the edge's value on unchanged
//!   rather than append its own, or the request is refused: fail closed.
//! * `Forwarded`: walked from the right like the client address (see
//!   [`ip`](crate::ip)): an element whose `for=` is a trusted proxy was
//!   written by a proxy behind another trusted proxy, so the walk moves
//!   left; the first element whose `for=` is not trusted (or is missing,
//!   `unknown` or obfuscated) was written by the edge proxy, and its
//!   `proto=` decides. An unparsable element the walk reaches is refused,
//!   and at most [`DEFAULT_MAX_HOPS`] elements
//!   are read.
//!
//! The peer address is read as [`IpAllowlistLayer`](crate::ip::IpAllowlistLayer)
//! reads it ([`PeerAddr`](crate::ip::PeerAddr), axum's `ConnectInfo` with
//! the `axum` feature, or [`peer_addr_from`](RequireHttpsLayer::peer_addr_from)),
//! and only when proxies are trusted: then a request without one is
//! refused with 500 `peer_address_unknown` and one ERROR line that says how
//! to fix the server.
//!
//! Refusals are logged at DEBUG under
//! [`REJECTION_TARGET`], with the reason.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use hookwarden::https::{ForwardedProto, RequireHttpsLayer, TlsConnection};
//! use hookwarden::ip::PeerAddr;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // TLS is terminated here, or by the load balancer at 10.0.0.5.
//! let https = RequireHttpsLayer::new()
//!     .trust_proxies(["10.0.0.5"], ForwardedProto::XForwardedProto)?;
//! let service = ServiceBuilder::new().layer(https).service_fn(|_: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
//! });
//! let from = |peer: &str, proto: Option<&str>| {
//!     let mut request = Request::post("/webhooks").body(Full::default()).unwrap();
//!     request.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
//!     if let Some(proto) = proto {
//!         request.headers_mut().insert("x-forwarded-proto", proto.parse().unwrap());
//!     }
//!     request
//! };
//!
//! // The load balancer says the sender used HTTPS.
//! let answer = service.clone().oneshot(from("10.0.0.5:4000", Some("https"))).await?;
//! assert_eq!(answer.status(), StatusCode::OK);
//! // Anyone else saying so is not believed.
//! let answer = service.clone().oneshot(from("203.0.113.9:4000", Some("https"))).await?;
//! assert_eq!(answer.status(), StatusCode::FORBIDDEN);
//! // A connection this process terminated TLS for.
//! let mut direct = from("203.0.113.9:4000", None);
//! direct.extensions_mut().insert(TlsConnection);
//! assert_eq!(service.oneshot(direct).await?.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Extensions, HeaderMap, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ConfigError;
use crate::future::ResponseFuture;
use crate::ip::DEFAULT_MAX_HOPS;
use crate::ip::IpRanges;
use crate::ip::forwarded::{self, Element, Refusal};
use crate::ip::peer::PeerSources;
use crate::rejection::{REJECTION_TARGET, Rejection};

const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");

/// In a request's extensions: this process terminated TLS for the
/// connection the request arrived on.
///
/// The `tls` feature's server puts it in every request; another TLS server
/// must add it per TLS connection (never on a plain listener), for example
/// with axum's `Extension(TlsConnection)` layer on the router it serves
/// over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TlsConnection;

/// Which header trusted proxies write the sender's protocol in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedProto {
    /// `X-Forwarded-Proto: https`, its rightmost value (what most load
    /// balancers and nginx's `$scheme` write).
    XForwardedProto,
    /// RFC 7239 `Forwarded: …;proto=https`, the edge proxy's element.
    Forwarded,
}

/// The trusted proxies and where they report the protocol.
#[derive(Debug, Clone)]
struct Trust {
    proxies: IpRanges,
    source: ForwardedProto,
}

#[derive(Debug, Clone)]
struct Config {
    trust: Option<Trust>,
    peers: PeerSources,
}

/// Applies [`RequireHttps`]: refuses requests that did not arrive over
/// HTTPS with 403 `https_required`; see the [module documentation](self).
#[derive(Clone)]
pub struct RequireHttpsLayer {
    config: Arc<Config>,
}

impl RequireHttpsLayer {
    /// Lets through only requests this process terminated TLS for (a
    /// [`TlsConnection`] in their extensions); add trusted proxies with
    /// [`trust_proxies`](Self::trust_proxies).
    pub fn new() -> Self {
        Self { config: Arc::new(Config { trust: None, peers: PeerSources::new("RequireHttps") }) }
    }

    /// Believes `source` when, and only when, the TCP peer is in `proxies`.
    /// List every proxy on the path, as for the allowlist's
    /// [`trust_proxies`](crate::ip::IpAllowlistLayer::trust_proxies). Fails
    /// on an unparsable or empty list.
    pub fn trust_proxies<I>(
        mut self,
        proxies: I,
        source: ForwardedProto,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let proxies = IpRanges::parse(proxies)?;
        if proxies.is_empty() {
            return Err(ConfigError::Empty { what: "the trusted proxy list" });
        }
        Arc::make_mut(&mut self.config).trust = Some(Trust { proxies, source });
        Ok(self)
    }

    /// Also reads the peer address from the request extension `T`, as
    /// [`IpAllowlistLayer::peer_addr_from`](crate::ip::IpAllowlistLayer::peer_addr_from)
    /// does. Only needed with trusted proxies.
    pub fn peer_addr_from<T, F>(mut self, get: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> IpAddr + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).peers.add(get);
        self
    }

    /// Decides one request, logging a refusal.
    pub(crate) fn check(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<(), Rejection> {
        let tls = extensions.get::<TlsConnection>().is_some();
        let Some(trust) = &self.config.trust else {
            return if tls { Ok(()) } else { Err(refuse("plain HTTP", None)) };
        };
        let Some(peer) = self.config.peers.peer(extensions) else {
            self.config.peers.report_missing();
            let rejection = Rejection::PeerAddressUnknown;
            rejection.log();
            return Err(rejection);
        };
        let peer = peer.to_canonical();
        if !trust.proxies.contains(peer) {
            return if tls { Ok(()) } else { Err(refuse("plain HTTP", Some(peer))) };
        }
        match reported_https(trust, headers) {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err(refuse("the trusted proxy reports plain HTTP", Some(peer))),
            Ok(None) if tls => Ok(()),
            Ok(None) => Err(refuse("plain HTTP; the trusted proxy says nothing", Some(peer))),
            Err(reason) => Err(refuse(reason, Some(peer))),
        }
    }
}

impl Default for RequireHttpsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RequireHttpsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireHttpsLayer").field("trust", &self.config.trust).finish()
    }
}

impl<S> Layer<S> for RequireHttpsLayer {
    type Service = RequireHttps<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireHttps { inner, layer: self.clone() }
    }
}

fn refuse(reason: &'static str, peer: Option<IpAddr>) -> Rejection {
    let rejection = Rejection::HttpsRequired;
    match peer {
        Some(peer) => tracing::debug!(
            target: REJECTION_TARGET, code = rejection.code(), peer = %peer, reason, "request rejected"
        ),
        None => {
            tracing::debug!(target: REJECTION_TARGET, code = rejection.code(), reason, "request rejected")
        }
    }
    rejection
}

/// What a trusted proxy reports: HTTPS or not, or nothing at all.
fn reported_https(trust: &Trust, headers: &HeaderMap) -> Result<Option<bool>, Refusal> {
    let proto = match trust.source {
        ForwardedProto::XForwardedProto => x_forwarded_proto(headers)?,
        ForwardedProto::Forwarded => forwarded_proto(&trust.proxies, headers)?,
    };
    Ok(proto.map(|proto| proto.eq_ignore_ascii_case("https")))
}

/// The rightmost `X-Forwarded-Proto` value.
fn x_forwarded_proto(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(line) = headers.get_all(X_FORWARDED_PROTO).iter().next_back() else {
        return Ok(None);
    };
    let line = line.to_str().map_err(|_| "X-Forwarded-Proto is not ASCII")?;
    let value = line.rsplit(',').next().unwrap_or_default().trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err("empty X-Forwarded-Proto");
    }
    Ok(Some(value.to_owned()))
}

/// The `proto=` of the edge proxy's `Forwarded` element.
fn forwarded_proto(proxies: &IpRanges, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let mut decisive = None;
    for (seen, element) in forwarded::elements_from_right(headers).enumerate() {
        if seen == DEFAULT_MAX_HOPS {
            return Err("too many forwarding hops");
        }
        let element = Element::parse(element?)?;
        let behind_trusted_proxy = element
            .node
            .as_deref()
            .and_then(|node| forwarded::parse_node(node).ok())
            .is_some_and(|ip| proxies.contains(ip.to_canonical()));
        decisive = Some(element);
        if !behind_trusted_proxy {
            break;
        }
    }
    Ok(decisive.and_then(|element| element.proto))
}

/// A service that lets only requests that arrived over HTTPS through to
/// `S`; made by [`RequireHttpsLayer`].
pub struct RequireHttps<S> {
    inner: S,
    layer: RequireHttpsLayer,
}

impl<S> RequireHttps<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for RequireHttps<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S: fmt::Debug> fmt::Debug for RequireHttps<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireHttps")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireHttps<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.layer.check(request.extensions(), request.headers()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(source: ForwardedProto) -> Trust {
        Trust { proxies: IpRanges::parse(["10.0.0.0/8"]).unwrap(), source }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn x_forwarded_proto_is_read_from_the_right() {
        let trust = trust(ForwardedProto::XForwardedProto);
        let said = |pairs: &[(&str, &str)]| reported_https(&trust, &headers(pairs));
        assert_eq!(said(&[]), Ok(None));
        assert_eq!(said(&[("x-forwarded-proto", "https")]), Ok(Some(true)));
        assert_eq!(said(&[("x-forwarded-proto", "HTTPS")]), Ok(Some(true)));
        assert_eq!(said(&[("x-forwarded-proto", "http")]), Ok(Some(false)));
        // What the client wrote is on the left; the proxy appended.
        assert_eq!(said(&[("x-forwarded-proto", "https, http")]), Ok(Some(false)));
        assert_eq!(
            said(&[("x-forwarded-proto", "https"), ("x-forwarded-proto", "http")]),
            Ok(Some(false))
        );
        assert_eq!(said(&[("x-forwarded-proto", "http,https")]), Ok(Some(true)));
        assert!(said(&[("x-forwarded-proto", "https, ")]).is_err());
        // The other header is not read.
        assert_eq!(said(&[("forwarded", "proto=https")]), Ok(None));
    }

    #[test]
    fn forwarded_proto_is_the_edge_proxys() {
        let trust = trust(ForwardedProto::Forwarded);
        let said = |value: &str| reported_https(&trust, &headers(&[("forwarded", value)]));
        assert_eq!(said("for=192.0.2.7;proto=https"), Ok(Some(true)));
        assert_eq!(said("proto=https"), Ok(Some(true)));
        assert_eq!(said("for=192.0.2.7;proto=http"), Ok(Some(false)));
        assert_eq!(said("for=192.0.2.7"), Ok(None));
        // Behind two trusted proxies: the inner hop was plain HTTP, the
        // edge (whose `for=` is the sender) saw HTTPS.
        assert_eq!(said("for=192.0.2.7;proto=https, for=10.0.0.2;proto=http"), Ok(Some(true)));
        // A sender forging an element of a trusted hop is not reached.
        assert_eq!(said("for=10.0.0.3;proto=https, for=192.0.2.7;proto=http"), Ok(Some(false)));
        // Every hop trusted: the leftmost element.
        assert_eq!(said("for=10.0.0.9;proto=https, for=10.0.0.2;proto=http"), Ok(Some(true)));
        assert!(said("for=192.0.2.7;proto=https;proto=http").is_err());
        assert!(said("for=\"192.0.2.7").is_err());
        let long = vec!["for=10.0.0.1;proto=https"; DEFAULT_MAX_HOPS + 1].join(",");
        assert!(said(&long).is_err());
        assert_eq!(reported_https(&trust, &headers(&[("x-forwarded-proto", "https")])), Ok(None));
    }
}
