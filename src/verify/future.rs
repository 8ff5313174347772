use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

use super::body;
use super::layer::{Config, Schemes};
use super::tenants::Resolved;
use crate::Rejection;
use crate::scheme::{Handshake, Scheme, SignedRequest, Verified};
use crate::telemetry;

/// What verification needs once the body is in: the request, the layer's
/// settings (handed back, so the future holds one reference to them), the
/// tenant and its scheme when each tenant has its own, and the slot the
/// body was read in.
pub(super) struct Collected {
    parts: Parts,
    body: Bytes,
    config: Arc<Config>,
    tenant: Option<Resolved>,
    /// Held until the signature is checked, then given back; none for a
    /// body that was all there at once.
    slot: Option<OwnedSemaphorePermit>,
    /// When the headers arrived (Unix seconds): the time the timestamp is
    /// judged by, before and after the body.
    now: u64,
}

pub(super) type Collect = Pin<Box<dyn Future<Output = Result<Collected, Rejection>> + Send>>;

/// Everything before the signature is checked, cheapest first: the
/// tenant's scheme, then the body if it is all there already (it usually
/// arrives with the headers: nothing waits on its sender, and the signature
/// is checked at once). Otherwise, before waiting for it: the scheme's
/// [`precheck`](Scheme::precheck) of the headers and a slot among the
/// [`max_inflight`](super::VerifyLayer::max_inflight) bodies waited for.
pub(super) async fn collect<B>(
    parts: Parts,
    body: B,
    config: Arc<Config>,
) -> Result<Collected, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tenant = match &config.scheme {
        Schemes::One(_) => None,
        Schemes::Tenants(tenants) => Some(tenants.resolve(&parts).await?),
    };
    // One reading of the clock for the pre-check and the verification:
    // when the request's headers arrived.
    let now = config.clock.unix_now();
    let before_waiting = || {
        let headers_only =
            SignedRequest::new(&parts.headers, &[], now, config.tolerance).with_uri(&parts.uri);
        scheme(&config, &tenant).precheck(&headers_only)?;
        config
            .inflight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Rejection::Overloaded { retry_after: config.retry_after })
    };
    let (body, slot) =
        body::collect(body, config.max_body, config.body_timeout, before_waiting).await?;
    Ok(Collected { parts, body, config, tenant, slot, now })
}

/// The scheme that verifies: the tenant's, or the layer's only one.
fn scheme<'a>(config: &'a Config, tenant: &'a Option<Resolved>) -> &'a dyn Scheme {
    match (tenant, &config.scheme) {
        (Some((scheme, _)), _) => &**scheme,
        (None, Schemes::One(scheme)) => &**scheme,
        (None, Schemes::Tenants(_)) => unreachable!("a tenant is resolved before the body"),
    }
}

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
            inner: Option<S>,
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

    pub(super) fn collecting(collect: Collect, inner: S) -> Self {
        Self { state: State::Collecting { collect, inner: Some(inner) } }
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
                StateProj::Collecting { collect, inner } => {
                    let collected = match ready!(collect.as_mut().poll(cx)) {
                        Ok(collected) => collected,
                        Err(rejection) => return Poll::Ready(Ok(reject(rejection))),
                    };
                    let mut inner = inner.take().expect("polled after completion");
                    let Collected { mut parts, body, config, tenant, slot, now } = collected;
                    let verdict = verify(&config, &parts, &body, tenant, now);
                    // The signature is checked: the next body may be read.
                    drop(slot);
                    match verdict {
                        Ok(Verdict::Pass(verified)) => {
                            parts.extensions.insert(verified.with_body(body.clone()));
                        }
                        Ok(Verdict::Handshake(handshake)) => {
                            return Poll::Ready(Ok(handshake.into_response()));
                        }
                        Err(rejection) => return Poll::Ready(Ok(reject(rejection))),
                    }
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
    Pass(Verified),
    /// A handshake: answered here.
    Handshake(Handshake),
}

fn verify(
    config: &Config,
    parts: &Parts,
    body: &Bytes,
    tenant: Option<Resolved>,
    now: u64,
) -> Result<Verdict, Rejection> {
    let scheme = scheme(config, &tenant);
    let request =
        SignedRequest::new(&parts.headers, body, now, config.tolerance).with_uri(&parts.uri);
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
        Some((_, tenant)) => verified.with_tenant(tenant),
        None => verified,
    };
    Ok(Verdict::Pass(verified))
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
