//! Futures shared across the crate: [`BoxFuture`], the shape of every
//! object-safe async method (stores, inboxes, handlers), and the response
//! future of layers that decide in `call`: either the inner service's
//! future, or a refusal rendered as a response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::Rejection;

/// A boxed, sendable future, as returned by the methods of
/// [`IdempotencyStore`](crate::store::IdempotencyStore) and
/// [`Inbox`](crate::inbox::Inbox).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pin_project! {
    /// Response future of [`IpAllowlist`](crate::ip::IpAllowlist) and
    /// [`ExtractEnvelope`](crate::envelope::ExtractEnvelope): the inner
    /// service's answer, or a rejection decided before calling it.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // Let through: the inner service is answering.
        Inner {
            #[pin]
            future: F,
        },
        // Refused in `call`.
        Rejected {
            rejection: Option<Rejection>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self { state: State::Inner { future } }
    }

    /// A refusal; the caller has logged it.
    pub(crate) fn rejected(rejection: Rejection) -> Self {
        Self { state: State::Rejected { rejection: Some(rejection) } }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Rejected { rejection } => {
                let rejection = rejection.take().expect("polled after completion");
                Poll::Ready(Ok(rejection.into_response()))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
