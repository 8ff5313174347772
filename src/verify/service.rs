use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::body;
use super::future::{Collect, ResponseFuture, collect};
use super::layer::Config;
use crate::Rejection;

/// A service that lets only requests with a valid signature through to
/// `S`; see the [module documentation](crate::verify).
pub struct Verify<S, B = Full<Bytes>> {
    inner: S,
    config: Arc<Config>,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> Verify<S, B> {
    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config, _body: PhantomData }
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

impl<S: Clone, B> Clone for Verify<S, B> {
    fn clone(&self) -> Self {
        Self::from_parts(self.inner.clone(), self.config.clone())
    }
}

impl<S: fmt::Debug, B> fmt::Debug for Verify<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verify").field("inner", &self.inner).field("config", &self.config).finish()
    }
}

impl<S, B, ReqBody, ResBody> Service<Request<ReqBody>> for Verify<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: From<Bytes>,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        if body::declared_too_large(&parts.headers, self.config.max_body) {
            return ResponseFuture::rejected(Rejection::PayloadTooLarge);
        }
        // Call the service that was polled ready; keep a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let collect: Collect = Box::pin(collect(parts, body, self.config.clone()));
        ResponseFuture::collecting(collect, inner)
    }
}
