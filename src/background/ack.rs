//! The acknowledgement: keep the delivery in the inbox, then answer 202.
//!
//! [`Ack`] is the innermost service of the [`Receiver`](crate::Receiver)
//! pipeline. It expects [`Verified`] and [`Envelope`] in the request's
//! extensions (500 `misconfigured` without them) and then, in order:
//!
//! 1. answers handshakes that need a synchronous reply (Slack's
//!    `url_verification` gets its `challenge` back) without keeping them;
//! 2. answers events no handler takes with `202 {"status":"ignored",…}`
//!    (the status is configurable) and counts them;
//! 3. writes the delivery to the [inbox](crate::inbox), deduped on the
//!    envelope's dedupe key in the same atomic step, and answers from what
//!    the inbox says: `202 {"status":"accepted","id":…}` once it holds the
//!    delivery (durably, for a durable inbox); `200
//!    {"status":"duplicate",…}` when it already did; 503 `overloaded` when
//!    it is full or shutting down, 503 `store_unavailable` when it cannot
//!    answer, both with `Retry-After`. Nothing else is written anywhere, so
//!    no answer leaves a key that turns later retries into duplicates while
//!    no delivery is kept.
//!
//! The handler runs later, on the [`Dispatcher`]'s workers.

use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::Rejection;
use crate::background::dispatch::{Dispatcher, SubmitError, Submitted};
use crate::background::event::Delivery;
use crate::envelope::Envelope;
use crate::future::BoxFuture;
use crate::response;
use crate::scheme::Verified;
use crate::telemetry;

const TARGET: &str = "hookwarden::ack";

/// The acknowledging service; see the [module documentation](self).
#[derive(Clone)]
pub struct Ack {
    dispatcher: Dispatcher,
    retry_after: Duration,
    unknown_status: StatusCode,
}

impl Ack {
    /// Acknowledges into `dispatcher`'s inbox.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            retry_after: Duration::from_secs(5),
            unknown_status: StatusCode::ACCEPTED,
        }
    }

    /// The `Retry-After` sent with 503s (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The status for events no handler takes (default 202, so the sender
    /// does not retry them forever).
    pub fn unknown_status(mut self, status: StatusCode) -> Self {
        self.unknown_status = status;
        self
    }

    async fn acknowledge(
        self,
        verified: Verified,
        envelope: Envelope,
        client_ip: Option<IpAddr>,
    ) -> Response<Full<Bytes>> {
        if envelope.is_handshake() {
            return handshake(&envelope, verified.body());
        }
        let (Some(id), Some(key)) = (envelope.id(), envelope.dedupe_key()) else {
            return reject(Rejection::MalformedEvent);
        };
        if !self.dispatcher.accepts(envelope.event_type(), envelope.version()) {
            tracing::debug!(target: TARGET, id, r#type = envelope.event_type(), version = envelope.version(), "no handler: ignored");
            telemetry::delivery("ignored");
            self.dispatcher.count_ignored();
            let body = serde_json::json!({
                "status": "ignored",
                "id": id,
                "type": envelope.event_type(),
                "version": envelope.version(),
            });
            return json(self.unknown_status, &body);
        }
        let overloaded = Rejection::Overloaded { retry_after: self.retry_after };
        if self.dispatcher.is_closing() {
            return reject(overloaded);
        }
        // A copy, not a view: the received body usually shares the
        // connection's read buffer (several KiB), which a kept delivery
        // would otherwise keep alive, and which the server could not reuse.
        let body = Bytes::copy_from_slice(verified.body());
        let delivery = Delivery::new(id, envelope.event_type(), envelope.version(), body)
            .with_dedupe_key(key)
            .with_timestamp(envelope.timestamp().or(verified.timestamp()))
            .with_client_ip(client_ip);
        match self.dispatcher.submit(delivery).await {
            Ok(Submitted::Accepted) => {
                telemetry::delivery("accepted");
                response::status(StatusCode::ACCEPTED, "accepted", id)
            }
            Ok(Submitted::Duplicate) => {
                telemetry::delivery("duplicate");
                response::status(StatusCode::OK, "duplicate", id)
            }
            Err(SubmitError::Unavailable(error)) => {
                tracing::warn!(target: TARGET, %error, "inbox unavailable");
                reject(Rejection::StoreUnavailable { retry_after: self.retry_after })
            }
            Err(error) => {
                tracing::debug!(target: TARGET, %error, id, "not kept");
                reject(overloaded)
            }
        }
    }
}

impl<B> Service<Request<B>> for Ack {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Taken, not cloned: the request ends here.
        let extensions = request.extensions_mut();
        let (Some(verified), Some(envelope)) =
            (extensions.remove::<Verified>(), extensions.remove::<Envelope>())
        else {
            tracing::error!(
                target: TARGET,
                "no `Verified` or `Envelope` in the request extensions: Ack must run inside \
                 VerifyLayer and EnvelopeLayer; refusing the request"
            );
            return Box::pin(std::future::ready(Ok(reject(Rejection::Misconfigured))));
        };
        let client_ip = extensions.get::<crate::ip::ClientIp>().map(|ip| ip.0);
        let this = self.clone();
        Box::pin(async move { Ok(this.acknowledge(verified, envelope, client_ip).await) })
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("dispatcher", &self.dispatcher)
            .field("retry_after", &self.retry_after)
            .field("unknown_status", &self.unknown_status)
            .finish()
    }
}

/// Answers a handshake; Slack's `url_verification` echoes its challenge.
fn handshake(envelope: &Envelope, body: &[u8]) -> Response<Full<Bytes>> {
    #[derive(serde::Deserialize)]
    struct Challenge<'a> {
        #[serde(borrow)]
        challenge: std::borrow::Cow<'a, str>,
    }
    telemetry::delivery("handshake");
    match serde_json::from_slice::<Challenge<'_>>(body) {
        Ok(c) if envelope.event_type() == "url_verification" => {
            json(StatusCode::OK, &serde_json::json!({ "challenge": c.challenge }))
        }
        _ => reject(Rejection::MalformedEvent),
    }
}

fn reject(rejection: Rejection) -> Response<Full<Bytes>> {
    rejection.log();
    rejection.into_response()
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    response::json(status, body.to_string().into_bytes())
}
