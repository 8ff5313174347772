//! The TCP peer address, for servers that do not record it themselves.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

/// The TCP peer address of the connection a request arrived on.
///
/// axum records the peer as `ConnectInfo<SocketAddr>` (see
/// [`IpAllowlistLayer::peer_addr_from`](super::IpAllowlistLayer::peer_addr_from));
/// a plain hyper server records nothing, so put this extension in every
/// request. `PeerAddr` is itself a layer that does so: build the service per
/// connection, where the remote address is known.
///
/// ```no_run
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use hookwarden::ip::{IpAllowlistLayer, PeerAddr};
/// use hyper_util::rt::TokioIo;
/// use hyper_util::service::TowerToHyperService;
/// use tower::ServiceBuilder;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let allowlist = IpAllowlistLayer::new(["192.0.2.0/24"])?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// loop {
///     let (stream, remote) = listener.accept().await?;
///     let service = ServiceBuilder::new()
///         .layer(PeerAddr(remote))
///         .layer(allowlist.clone())
///         .service_fn(|_request: Request<hyper::body::Incoming>| async {
///             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
///         });
///     tokio::spawn(
///         hyper::server::conn::http1::Builder::new()
///             .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
///     );
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

impl<S> Layer<S> for PeerAddr {
    type Service = SetPeerAddr<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetPeerAddr { inner, peer: *self }
    }
}

/// A service that puts a [`PeerAddr`] in every request's extensions; made
/// by using `PeerAddr` as a layer.
#[derive(Debug, Clone)]
pub struct SetPeerAddr<S> {
    inner: S,
    peer: PeerAddr,
}

impl<S> SetPeerAddr<S> {
    /// Wraps `inner`, recording `peer` in every request.
    pub fn new(inner: S, peer: SocketAddr) -> Self {
        Self { inner, peer: PeerAddr(peer) }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for SetPeerAddr<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}

/// The peer address the server recorded in a request's extensions without
/// being told where: a [`PeerAddr`], else (with the `axum` feature) axum's
/// `ConnectInfo<SocketAddr>` or `MockConnectInfo<SocketAddr>`.
pub(crate) fn recorded_peer(extensions: &Extensions) -> Option<IpAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    {
        use axum::extract::ConnectInfo;
        use axum::extract::connect_info::MockConnectInfo;
        if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            return Some(addr.ip());
        }
        if let Some(MockConnectInfo(addr)) = extensions.get::<MockConnectInfo<SocketAddr>>() {
            return Some(addr.ip());
        }
    }
    None
}

/// Reads the peer address from a request's extensions.
type PeerSource = Arc<dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync>;

/// Where a layer finds the peer address: [`PeerAddr`] first, then (with
/// the `axum` feature) axum's `ConnectInfo<SocketAddr>` and
/// `MockConnectInfo`, then the sources its user added, in order.
#[derive(Clone)]
pub(crate) struct PeerSources {
    /// The layer, as its user knows it (for the error line).
    layer: &'static str,
    added: Vec<PeerSource>,
    /// Whether the missing-peer-address error was logged already.
    warned: Arc<AtomicBool>,
}

impl PeerSources {
    pub(crate) fn new(layer: &'static str) -> Self {
        Self { layer, added: Vec::new(), warned: Arc::new(AtomicBool::new(false)) }
    }

    /// Also reads the peer from the extension `T`.
    pub(crate) fn add<T, F>(&mut self, get: F)
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> IpAddr + Send + Sync + 'static,
    {
        self.added.push(Arc::new(move |extensions| extensions.get::<T>().map(&get)));
    }

    /// The peer address, if the server recorded it.
    pub(crate) fn peer(&self, extensions: &Extensions) -> Option<IpAddr> {
        recorded_peer(extensions)
            .or_else(|| self.added.iter().find_map(|source| source(extensions)))
    }

    /// Says once, at ERROR, how to fix a server that does not provide the
    /// peer address.
    pub(crate) fn report_missing(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::error!(
                target: "hookwarden::ip",
                "{}: the request carries no peer address, so every request is refused \
                 with 500 `peer_address_unknown`. With axum, serve \
                 `app.into_make_service_with_connect_info::<SocketAddr>()` and configure the \
                 layer with `.peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip())`; \
                 or enable the `axum` feature, which reads `ConnectInfo` by itself; \
                 with plain hyper, put `hookwarden::ip::PeerAddr(remote_addr)` in each \
                 request's extensions (e.g. `.layer(PeerAddr(remote_addr))` per connection).",
                self.layer
            );
        }
    }
}

impl fmt::Debug for PeerSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSources").field("added", &self.added.len()).finish_non_exhaustive()
    }
}
