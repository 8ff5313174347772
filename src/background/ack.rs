//! The acknowledgement: keep the delivery in the inbox, then answer 202.
//!
//! [`Ack`] is the innermost service of the [`Receiver`](crate::Receiver)
//! pipeline. It expects [`Verified`] and [`Envelope`] in the request's
//! extensions (500 `misconfigured` without them) and then, in order:
//!
//! 1. answers events no handler takes with `202 {"status":"ignored",…}`
//!    (the status is configurable) and counts them;
//! 2. writes the delivery to the [inbox](crate::inbox), deduped on the
//!    envelope's dedupe key in the same atomic step, and answers from what
//!    the inbox says: `202 {"status":"accepted","id":…}` once it holds the
//!    delivery (durably, for a durable inbox); `200
//!    {"status":"duplicate",…}` when it already did; 503 `overloaded` when
//!    it is full or shutting down, 503 `store_unavailable` when it cannot
//!    answer, both with `Retry-After`. Nothing else is written anywhere, so
//!    no answer leaves a key that turns later retries into duplicates while
//!    no delivery is kept.
//!
//! Each delivery is kept with what its record needs: the envelope, the
//! [scheme](crate::Envelope::scheme) that verified it, when it was
//! received, and the client address: the allowlist's
//! [`ClientIp`] (past trusted proxies), or without an allowlist the TCP
//! peer the server recorded (axum's `ConnectInfo`, or a
//! [`PeerAddr`](crate::ip::PeerAddr)), if it did.
//!
//! A batch (SendGrid) is kept as one delivery per event, each deduped on its
//! own key, and answered 202 once every event is kept (or was already): if
//! one cannot be kept the whole batch gets the 503, and the sender's retry
//! finds the others duplicates.
//!
//! Handshakes (Slack's `url_verification`, …) never get here:
//! [`VerifyLayer`](crate::VerifyLayer) answers them. A scheme whose sender
//! wants `204 No Content` ([`AckStyle::NoContent`], Discord) gets it for
//! accepted and duplicate deliveries.
//!
//! The handler runs later, on the [`Dispatcher`]'s workers.

use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::background::dispatch::{Dispatcher, SubmitError, Submitted};
use crate::background::event::Delivery;
use crate::envelope::Envelope;
use crate::future::BoxFuture;
use crate::ip::ClientIp;
use crate::ip::peer::recorded_peer;
use crate::rejection::Rejection;
use crate::response;
use crate::scheme::AckStyle;
use crate::scheme::Verified;
use crate::telemetry;

const TARGET: &str = "hookwarden::ack";

/// The acknowledging service; see the [module documentation](self).
#[derive(Clone)]
pub struct Ack {
    dispatcher: Dispatcher,
    retry_after: Duration,
    unknown_status: StatusCode,
    style: AckStyle,
}

impl Ack {
    /// Acknowledges into `dispatcher`'s inbox.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            retry_after: Duration::from_secs(5),
            unknown_status: StatusCode::ACCEPTED,
            style: AckStyle::Json,
        }
    }

    /// How accepted and duplicate deliveries are answered (default JSON);
    /// the [`Receiver`](crate::Receiver) takes it from the scheme.
    pub fn style(mut self, style: AckStyle) -> Self {
        self.style = style;
        self
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

    /// A batch: each event kept in turn.
    async fn acknowledge_batch(
        self,
        envelope: Envelope,
        client_ip: Option<IpAddr>,
    ) -> Response<Full<Bytes>> {
        let mut outcome = Kept::Duplicate;
        for event in envelope.batch().unwrap_or_default() {
            let kept = match self.admit(event.envelope()) {
                Ok(()) => {
                    let delivery =
                        delivery(event.envelope().clone(), event.body(), None, client_ip);
                    let submitted = self.dispatcher.submit(delivery).await;
                    self.kept(event.envelope().id(), submitted)
                }
                Err(kept) => kept,
            };
            match kept {
                Kept::Accepted | Kept::Ignored(_) => outcome = Kept::Accepted,
                Kept::Duplicate => {}
                refused @ Kept::Refused(_) => return self.answer(&envelope, refused),
            }
        }
        self.answer(&envelope, outcome)
    }

    /// Whether an event goes to the inbox, or what became of it at once
    /// (no handler takes it; shutting down).
    fn admit(&self, envelope: &Envelope) -> Result<(), Kept> {
        let (id, event_type, version) = (envelope.id(), envelope.event_type(), envelope.version());
        if !self.dispatcher.accepts(event_type, version) {
            tracing::debug!(target: TARGET, id, r#type = event_type, version, "no handler: ignored");
            telemetry::delivery("ignored");
            self.dispatcher.count_ignored();
            return Err(Kept::Ignored(self.unknown_status));
        }
        if self.dispatcher.is_closing() {
            return Err(Kept::Refused(Rejection::Overloaded { retry_after: self.retry_after }));
        }
        Ok(())
    }

    /// What the inbox's answer to event `id`'s delivery means.
    fn kept(&self, id: &str, submitted: Result<Submitted, SubmitError>) -> Kept {
        // An outage is said once at WARN as it starts and once at INFO as
        // it ends, not once a request.
        if submitted.is_ok() && self.dispatcher.inbox_down().load(Ordering::Relaxed) {
            self.inbox_recovered();
        }
        match submitted {
            Ok(Submitted::Accepted) => {
                telemetry::delivery("accepted");
                Kept::Accepted
            }
            Ok(Submitted::Duplicate) => {
                telemetry::delivery("duplicate");
                Kept::Duplicate
            }
            Err(SubmitError::Unavailable(error)) => {
                if self.dispatcher.inbox_down().swap(true, Ordering::Relaxed) {
                    tracing::debug!(target: TARGET, %error, "inbox still unavailable");
                } else {
                    tracing::warn!(
                        target: TARGET,
                        %error,
                        "inbox unavailable: answering 503 store_unavailable until it answers again"
                    );
                }
                Kept::Refused(Rejection::StoreUnavailable { retry_after: self.retry_after })
            }
            Err(error) => {
                tracing::debug!(target: TARGET, %error, id, "not kept");
                Kept::Refused(Rejection::Overloaded { retry_after: self.retry_after })
            }
        }
    }

    fn inbox_recovered(&self) {
        if self.dispatcher.inbox_down().swap(false, Ordering::Relaxed) {
            tracing::info!(target: TARGET, "inbox available again");
        }
    }

    fn answer(&self, envelope: &Envelope, kept: Kept) -> Response<Full<Bytes>> {
        match kept {
            Kept::Ignored(status) => {
                let body = serde_json::json!({
                    "status": "ignored",
                    "id": envelope.id(),
                    "type": envelope.event_type(),
                    "version": envelope.version(),
                });
                response::json(status, body.to_string().into_bytes())
            }
            kept => self.answer_kept(envelope.id(), kept),
        }
    }

    /// The answer for an event that reached the inbox (or was refused).
    fn answer_kept(&self, id: &str, kept: Kept) -> Response<Full<Bytes>> {
        let (status, word) = match kept {
            Kept::Refused(rejection) => return reject(rejection),
            // (An ignored event alone is answered by `answer`; in a batch,
            // it counts as accepted.)
            Kept::Accepted | Kept::Ignored(_) => (StatusCode::ACCEPTED, "accepted"),
            Kept::Duplicate => (StatusCode::OK, "duplicate"),
        };
        match self.style {
            AckStyle::NoContent => response::no_content(),
            _ => response::status(status, word, id),
        }
    }
}

/// What became of one event.
enum Kept {
    Accepted,
    Duplicate,
    /// No handler takes it: answered with this status.
    Ignored(StatusCode),
    Refused(Rejection),
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
        // The allowlist's client (past trusted proxies); without one, the
        // TCP peer as the server recorded it, if it did.
        let client_ip = extensions
            .get::<ClientIp>()
            .map(|ip| ip.0)
            .or_else(|| recorded_peer(extensions).map(|ip| ip.to_canonical()));
        if envelope.batch().is_some() {
            let this = self.clone();
            return Box::pin(async move { Ok(this.acknowledge_batch(envelope, client_ip).await) });
        }
        // One event: all but the inbox's answer happens here, so the boxed
        // future holds little more than the delivery.
        if let Err(kept) = self.admit(&envelope) {
            return Box::pin(std::future::ready(Ok(self.answer(&envelope, kept))));
        }
        let delivery = delivery(envelope, verified.body(), verified.timestamp(), client_ip);
        let id = delivery.shared_id();
        let this = self.clone();
        Box::pin(async move {
            let submitted = this.dispatcher.submit(delivery).await;
            Ok(this.answer_kept(&id, this.kept(&id, submitted)))
        })
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("dispatcher", &self.dispatcher)
            .field("retry_after", &self.retry_after)
            .field("unknown_status", &self.unknown_status)
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

/// The delivery to keep for one event, made of its envelope's fields as
/// they are.
fn delivery(
    envelope: Envelope,
    body: &Bytes,
    signed_timestamp: Option<u64>,
    client_ip: Option<IpAddr>,
) -> Delivery {
    let (scheme, timestamp) = (envelope.scheme(), envelope.timestamp().or(signed_timestamp));
    // A copy, not a view: the received body usually shares the
    // connection's read buffer (several KiB), which a kept delivery would
    // otherwise keep alive, and which the server could not reuse.
    let body = Bytes::copy_from_slice(body);
    let [id, event_type, version, dedupe_key] = envelope.into_shared_fields();
    Delivery::new(id, event_type, version, body)
        .with_scheme(scheme)
        .with_dedupe_key(dedupe_key)
        .with_timestamp(timestamp)
        .with_client_ip(client_ip)
}

fn reject(rejection: Rejection) -> Response<Full<Bytes>> {
    rejection.log();
    rejection.into_response()
}
