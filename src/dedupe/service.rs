use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::claims::Claims;
use super::future::ResponseFuture;
use crate::Rejection;
use crate::envelope::Envelope;
use crate::scheme::Verified;

/// A service that lets each verified event through to `S` once; see the
/// [module documentation](crate::dedupe).
#[derive(Clone)]
pub struct Dedupe<S> {
    inner: S,
    claims: Claims,
    retry_after: Duration,
}

impl<S> Dedupe<S> {
    pub(crate) fn from_parts(inner: S, claims: Claims, retry_after: Duration) -> Self {
        Self { inner, claims, retry_after }
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

impl<S: fmt::Debug> fmt::Debug for Dedupe<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedupe")
            .field("inner", &self.inner)
            .field("claims", &self.claims)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Dedupe<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let extensions = request.extensions();
        let missing = match (extensions.get::<Verified>(), extensions.get::<Envelope>()) {
            (None, _) => Some("Verified"),
            (Some(_), None) => Some("Envelope"),
            (Some(_), Some(_)) => None,
        };
        if let Some(missing) = missing {
            tracing::error!(
                target: "hookwarden::dedupe",
                missing,
                "no `{missing}` in the request extensions: the layers are in the wrong order; \
                 DedupeLayer must run inside VerifyLayer and EnvelopeLayer \
                 (order: Verify, then Envelope, then Dedupe); refusing the request"
            );
            return ResponseFuture::ready(Rejection::Misconfigured.into_response());
        }
        let envelope = extensions.get::<Envelope>().expect("checked above");
        let key: Box<str> = envelope.dedupe_key().into();
        let id: Box<str> = envelope.id().into();
        // Call the service that was polled ready; keep a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let claims = self.claims.clone();
        let claim = Box::pin(async move { claims.claim(&key).await });
        ResponseFuture::claiming(claim, request, inner, id, self.retry_after)
    }
}
