use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::layer::Config;
use crate::Rejection;
use crate::scheme::{Handshake, Scheme, SignedRequest, Verified};
use crate::telemetry;

/// What verification needs once the body is in: the body, the scheme, and
/// the tenant when each tenant has its own scheme.
pub(super) struct Collected {
    pub(super) body: Bytes,
    pub(super) scheme: Arc<dyn Scheme>,
    pub(super) tenant: Option<Box<str>>,
}

pub(super) type Collect = Pin<Box<dyn Future<Output = Result<Collected, Rejection>> + Send>>;

pin_project! {
    /// Response future of [`Verify`](super::Verify).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        // Reading the body; then verify and call `inner`.
        Collecting {
            collect: Collect,
            parts: Option<Parts>,
            inner: Option<S>,
            config: Arc<Config>,
        },
        // Verified: the inner service is answering.
        Calling {
            #[pin]
            future: S::Future,
        },
        // Refused before the body was read.
        Rejected {
            rejection: Option<Rejection>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn rejected(rejection: Rejection) -> Self {
        Self { state: State::Rejected { rejection: Some(rejection) } }
    }

    pub(super) fn collecting(
        collect: Collect,
        parts: Parts,
        inner: S,
        config: Arc<Config>,
    ) -> Self {
        Self {
            state: State::Collecting { collect, parts: Some(parts), inner: Some(inner), config },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: From<Bytes>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Collecting { collect, parts, inner, config } => {
                    let collected = ready!(collect.as_mut().poll(cx));
                    let mut parts = parts.take().expect("polled after completion");
                    let mut inner = inner.take().expect("polled after completion");
                    let body = match collected.and_then(|c| verify(config, c, &parts)) {
                        Ok(Verdict::Pass(verified, body)) => {
                            parts.extensions.insert(verified);
                            body
                        }
                        Ok(Verdict::Handshake(handshake)) => {
                            return Poll::Ready(Ok(handshake.into_response()));
                        }
                        Err(rejection) => return Poll::Ready(Ok(reject(rejection))),
                    };
                    let future = inner.call(Request::from_parts(parts, B::from(body)));
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Rejected { rejection } => {
                    let rejection = rejection.take().expect("polled after completion");
                    return Poll::Ready(Ok(reject(rejection)));
                }
            }
        }
    }
}

/// What an authentic request gets.
enum Verdict {
    /// An event: on to the inner service.
    Pass(Verified, Bytes),
    /// A handshake: answered here.
    Handshake(Handshake),
}

fn verify(config: &Config, collected: Collected, parts: &Parts) -> Result<Verdict, Rejection> {
    let Collected { body, scheme, tenant } = collected;
    let now = config.clock.unix_now();
    let request =
        SignedRequest::new(&parts.headers, &body, now, config.tolerance).with_uri(&parts.uri);
    let verified = scheme.verify(&request)?;
    tracing::trace!(
        target: "hookwarden::verify",
        scheme = verified.scheme(),
        "signature verified"
    );
    if let Some(handshake) = scheme.handshake(&request, &verified) {
        tracing::debug!(
            target: "hookwarden::verify",
            scheme = verified.scheme(),
            handshake = handshake.kind(),
            "handshake answered"
        );
        telemetry::delivery("handshake");
        return Ok(Verdict::Handshake(handshake));
    }
    let verified = match tenant {
        Some(tenant) => verified.with_tenant(tenant),
        None => verified,
    };
    Ok(Verdict::Pass(verified.with_body(body.clone()), body))
}

fn reject<ResBody: From<Bytes>>(rejection: Rejection) -> Response<ResBody> {
    rejection.log();
    rejection.into_response()
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
