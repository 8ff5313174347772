use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::claims::{Attempt, ClaimGuard};
use crate::Rejection;
use crate::response;
use crate::store::StoreError;

type Claiming = Pin<Box<dyn Future<Output = Result<Attempt, StoreError>> + Send>>;
type Finishing = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send>>;

pin_project! {
    /// Response future of [`Dedupe`](super::Dedupe).
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
        // Waiting for the store to answer the claim.
        Claiming {
            claim: Claiming,
            request: Option<Request<B>>,
            inner: Option<S>,
            id: Box<str>,
            retry_after: Duration,
        },
        // The handler is running; the guard releases the claim if this
        // future is dropped.
        Calling {
            #[pin]
            future: S::Future,
            guard: Option<ClaimGuard>,
        },
        // Completing or releasing the claim, then answering; if this
        // future is dropped first, the finish runs on in the background.
        Finishing {
            finish: Finish,
            outcome: Option<Result<S::Response, S::Error>>,
        },
        // Answered without calling the handler.
        Ready {
            response: Option<S::Response>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn ready(response: S::Response) -> Self {
        Self { state: State::Ready { response: Some(response) } }
    }

    pub(super) fn claiming(
        claim: Claiming,
        request: Request<B>,
        inner: S,
        id: Box<str>,
        retry_after: Duration,
    ) -> Self {
        Self {
            state: State::Claiming {
                claim,
                request: Some(request),
                inner: Some(inner),
                id,
                retry_after,
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Claiming { claim, request, inner, id, retry_after } => {
                    let attempt = ready!(claim.as_mut().poll(cx));
                    let guard = match attempt {
                        Ok(Attempt::Claimed(guard)) => guard,
                        Ok(Attempt::Done) => {
                            tracing::debug!(
                                target: "hookwarden::dedupe",
                                "duplicate of a processed event"
                            );
                            return Poll::Ready(Ok(duplicate(id)));
                        }
                        Ok(Attempt::InFlight) => {
                            let rejection = Rejection::InProgress { retry_after: *retry_after };
                            rejection.log();
                            return Poll::Ready(Ok(rejection.into_response()));
                        }
                        Err(error) => {
                            tracing::warn!(
                                target: "hookwarden::dedupe",
                                %error,
                                "cannot claim the event; answering 503 store_unavailable"
                            );
                            let rejection =
                                Rejection::StoreUnavailable { retry_after: *retry_after };
                            return Poll::Ready(Ok(rejection.into_response()));
                        }
                    };
                    let request = request.take().expect("polled after completion");
                    let mut inner = inner.take().expect("polled after completion");
                    let future = inner.call(request);
                    this.state.set(State::Calling { future, guard: Some(guard) });
                }
                StateProj::Calling { future, guard } => {
                    let outcome = ready!(future.poll(cx));
                    let Some(guard) = guard.take() else {
                        return Poll::Ready(outcome);
                    };
                    let completing = matches!(&outcome, Ok(r) if r.status().is_success());
                    let finish = Finish::new(guard, completing);
                    this.state.set(State::Finishing { finish, outcome: Some(outcome) });
                }
                StateProj::Finishing { finish, outcome } => {
                    ready!(finish.poll(cx));
                    return Poll::Ready(outcome.take().expect("polled after completion"));
                }
                StateProj::Ready { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")));
                }
            }
        }
    }
}

/// Completes (after a 2xx) or releases the claim. Dropped before the store
/// answered (the sender hung up), it is spawned to run to its end, so a
/// processed event is still completed; outside a tokio runtime the claim
/// lapses after its lease.
struct Finish {
    future: Option<Finishing>,
    completing: bool,
}

impl Finish {
    fn new(guard: ClaimGuard, completing: bool) -> Self {
        let future: Finishing =
            if completing { Box::pin(guard.complete()) } else { Box::pin(guard.release()) };
        Self { future: Some(future), completing }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let future = self.future.as_mut().expect("polled after completion");
        let finished = ready!(future.as_mut().poll(cx));
        self.future = None;
        report(finished, self.completing);
        Poll::Ready(())
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else { return };
        let completing = self.completing;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { report(future.await, completing) });
            }
            Err(_) => tracing::warn!(
                target: "hookwarden::dedupe",
                "a claim was abandoned outside a tokio runtime; it lapses after its lease"
            ),
        }
    }
}

fn report(finished: Result<bool, StoreError>, completing: bool) {
    let action = if completing { "complete" } else { "release" };
    match finished {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            target: "hookwarden::dedupe",
            action,
            "the claim's lease ran out while the handler was running; \
             another delivery may have been processed too: raise the lease"
        ),
        Err(error) => tracing::warn!(
            target: "hookwarden::dedupe",
            action,
            %error,
            "could not finish the claim; it lapses after its lease"
        ),
    }
}

/// `200 {"status":"duplicate","id":…}`: the event was already processed.
fn duplicate<ResBody: From<Bytes>>(id: &str) -> Response<ResBody> {
    #[derive(serde::Serialize)]
    struct Duplicate<'a> {
        status: &'static str,
        id: &'a str,
    }
    let body = serde_json::to_vec(&Duplicate { status: "duplicate", id })
        .expect("a struct of strings serializes");
    response::json(StatusCode::OK, body)
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
