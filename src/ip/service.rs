use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::ClientIp;
use super::client_ip::resolve;
use super::layer::Config;
use crate::future::ResponseFuture;
use crate::{REJECTION_TARGET, Rejection};

/// A service that lets only allowed clients through to `S`; see the
/// [module documentation](crate::ip).
///
/// The decision is made in `call`, from the peer address and the headers:
/// the body is never touched, so a refused sender gets its answer even
/// while it is still sending.
pub struct IpAllowlist<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> IpAllowlist<S> {
    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
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

impl<S: Clone> Clone for IpAllowlist<S> {
    fn clone(&self) -> Self {
        Self::from_parts(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for IpAllowlist<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpAllowlist")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for IpAllowlist<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let Some(peer) = self.config.peers.peer(request.extensions()) else {
            self.config.peers.report_missing();
            let rejection = Rejection::PeerAddressUnknown;
            rejection.log();
            return ResponseFuture::rejected(rejection);
        };
        let client = match resolve(peer, self.config.trust.as_ref(), request.headers()) {
            Ok(client) => client,
            Err(reason) => {
                tracing::debug!(
                    target: REJECTION_TARGET,
                    code = Rejection::IpNotAllowed.code(),
                    peer = %peer,
                    reason,
                    "request rejected: forwarding headers refused"
                );
                return ResponseFuture::rejected(Rejection::IpNotAllowed);
            }
        };
        if !self.config.allow.load().contains(client) {
            tracing::debug!(
                target: REJECTION_TARGET,
                code = Rejection::IpNotAllowed.code(),
                client_ip = %client,
                peer = %peer,
                "request rejected"
            );
            return ResponseFuture::rejected(Rejection::IpNotAllowed);
        }
        request.extensions_mut().insert(ClientIp(client));
        ResponseFuture::inner(self.inner.call(request))
    }
}
